"""Writes CDRs off the event loop, many per transaction.

A session in REPORTING awaits `write(record)`, which resolves only after the
row is committed, so a CDR is never lost to a stop that follows.  A commit
costs far more than a row, so the writer gathers: once woken it waits
`gather` seconds (50 ms) for the hangups that follow before it writes them
all in one transaction, and CDRs that arrive while a batch is being written
go into the next one.  At a few hundred calls a second that is one commit per
dozens of calls instead of one each; the price is that a leg stays in
REPORTING up to `gather` longer (its signalling is over by then).

`stop()` writes whatever is queued at once, after the batch in flight.
"""

from __future__ import annotations

import asyncio
import logging

from .store import Store
from .store.records import CdrRecord

log = logging.getLogger("switchcore.cdr")

MAX_BATCH = 200
GATHER_S = 0.05

_Pending = tuple[CdrRecord, "asyncio.Future[None]"]


class CdrWriter:
    def __init__(self, store: Store, gather: float = GATHER_S) -> None:
        self.store = store
        self.gather = gather
        self.transactions = 0  # batches committed (or tried): what gathering saves
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushing: asyncio.Task[None] | None = None

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
            if len(self._queue) < MAX_BATCH:
                await asyncio.sleep(self.gather)  # let the hangups of the next moments join in
            await self._drain()

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            # Shielded: a stop() that cancels the loop mid-write must not orphan the batch's
            # waiters; stop() awaits the write in flight instead.
            self._flushing = asyncio.ensure_future(self._flush(batch))
            await asyncio.shield(self._flushing)

    async def _flush(self, batch: list[_Pending]) -> None:
        self.transactions += 1
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
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        await self._drain()
