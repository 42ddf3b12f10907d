"""Writes CDRs off the event loop, many per transaction when calls end together.

A session in REPORTING awaits `write(record)`, which resolves only after the
row is committed, so a CDR is never lost to a stop that follows; CDRs that
arrive while a batch is being written go into the next batch, which turns a
burst of hangups into a few transactions instead of one each.
"""

from __future__ import annotations

import asyncio
import logging

from .store import Store
from .store.records import CdrRecord

log = logging.getLogger("switchcore.cdr")

MAX_BATCH = 200


class CdrWriter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: list[tuple[CdrRecord, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="cdr writer")

    async def write(self, record: CdrRecord) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((record, done))
        self._wake.set()
        await asyncio.shield(done)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._flush(batch)

    async def _flush(self, batch: list[tuple[CdrRecord, asyncio.Future[None]]]) -> None:
        try:
            await asyncio.to_thread(self.store.write_cdrs, [record for record, _ in batch])
        except Exception as exc:
            log.error("writing %d CDRs failed (%s); trying one by one", len(batch), exc)
            for record, done in batch:
                try:
                    await asyncio.to_thread(self.store.write_cdr, record)
                except Exception:
                    log.exception("[%s] CDR lost: the store refused it", record.uuid)
                if not done.done():
                    done.set_result(None)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._flush(batch)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
