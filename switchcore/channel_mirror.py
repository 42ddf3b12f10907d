"""Mirrors live channels into the store, about once a second, for other nodes and tools.

Calls never wait for it: sessions only mark themselves changed or gone, and a
background task writes what changed since its last pass in one transaction.
A channel that lives and dies between two passes costs no write at all.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .store import Store
from .store.records import ChannelRecord

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("switchcore.channels")

INTERVAL_S = 1.0


class ChannelMirror:
    def __init__(self, store: Store, node: str) -> None:
        self.store = store
        self.node = node
        self._dirty: dict[str, Session] = {}
        self._written: set[str] = set()
        self._gone: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="channel mirror")

    def changed(self, session: Session) -> None:
        self._dirty[session.uuid] = session

    def gone(self, session: Session) -> None:
        if self._dirty.pop(session.uuid, None) is not None and session.uuid not in self._written:
            return  # never written: nothing to remove
        self._gone.add(session.uuid)  # written, or being written right now

    def _record(self, s: Session) -> ChannelRecord:
        p = s.profile
        return ChannelRecord(
            uuid=s.uuid,
            name=s.name,
            created=datetime.fromtimestamp(s.created, UTC),
            direction=s.direction,
            state=s.state,
            callstate=s.call_state,
            cid_name=p.caller_id_name,
            cid_num=p.caller_id_number,
            ip_addr=p.network_addr,
            dest=p.destination_number,
            context=p.context,
            application=s.current_app,
            application_data=s.current_app_data[:255],
            read_codec=s.driver.read_codec,
            write_codec=s.driver.write_codec,
            call_uuid=s.partner.uuid if s.partner is not None else "",
            node=self.node,
        )

    async def flush(self) -> None:
        dirty, self._dirty = self._dirty, {}
        gone, self._gone = list(self._gone), set()
        upserts = [self._record(s) for s in dirty.values() if not s.hungup]
        if not upserts and not gone:
            return
        try:
            await asyncio.to_thread(self.store.sync_channels, upserts, gone)
        except Exception as exc:
            log.warning("mirroring %d live channels failed: %s", len(upserts) + len(gone), exc)
            return
        self._written.update(c.uuid for c in upserts)
        self._written.difference_update(gone)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            await self.flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._dirty.clear()
        self._gone.update(self._written)
        await self.flush()
