"""The CDR writer: each write resolves after its commit; hangups close together share a transaction."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from pathlib import Path

from switchcore.causes import HangupCause
from switchcore.cdr_writer import CdrWriter
from switchcore.store import Store
from switchcore.store.records import CdrRecord


def cdr(n: int) -> CdrRecord:
    now = datetime.now(UTC)
    return CdrRecord(
        uuid=f"leg-{n}", direction="inbound", start=now, end=now, hangup_cause=HangupCause.NORMAL_CLEARING
    )


class SlowStore:
    """Records each batch; a write takes `delay` seconds in the writer's thread."""

    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.release = threading.Event()

    def write_cdrs(self, cdrs: list[CdrRecord]) -> None:
        if self.delay:
            self.release.wait(self.delay)
        self.batches.append([c.uuid for c in cdrs])


async def test_hangups_within_the_gather_window_share_one_transaction() -> None:
    store = SlowStore()
    writer = CdrWriter(store, gather=0.05)  # type: ignore[arg-type]
    writer.start()
    first = asyncio.ensure_future(writer.write(cdr(0)))
    await asyncio.sleep(0.01)
    rest = [asyncio.ensure_future(writer.write(cdr(n))) for n in range(1, 6)]
    await asyncio.wait_for(asyncio.gather(first, *rest), 2)
    assert store.batches == [[f"leg-{n}" for n in range(6)]]
    assert writer.transactions == 1
    await writer.stop()


async def test_a_write_resolves_only_after_its_batch_is_stored() -> None:
    store = SlowStore(delay=0.2)
    writer = CdrWriter(store, gather=0.0)  # type: ignore[arg-type]
    writer.start()
    pending = asyncio.ensure_future(writer.write(cdr(1)))
    await asyncio.sleep(0.05)
    assert not pending.done() and store.batches == []
    store.release.set()
    await asyncio.wait_for(pending, 2)
    assert store.batches == [["leg-1"]]
    await writer.stop()


async def test_stop_writes_what_is_queued_and_what_is_in_flight(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'cdr.db'}")
    store.open()
    try:
        writer = CdrWriter(store, gather=10.0)  # nothing would be written before stop()
        writer.start()
        waiting = [asyncio.ensure_future(writer.write(cdr(n))) for n in range(3)]
        await asyncio.sleep(0.05)
        assert store.cdrs() == []
        await writer.stop()
        await asyncio.wait_for(asyncio.gather(*waiting), 2)
        assert sorted(c.uuid for c in store.cdrs()) == ["leg-0", "leg-1", "leg-2"]
    finally:
        store.close()


async def test_stop_during_a_write_keeps_its_waiters() -> None:
    store = SlowStore(delay=0.3)
    writer = CdrWriter(store, gather=0.0)  # type: ignore[arg-type]
    writer.start()
    pending = asyncio.ensure_future(writer.write(cdr(7)))
    await asyncio.sleep(0.05)  # the batch is being written in the thread
    await asyncio.wait_for(writer.stop(), 2)
    await asyncio.wait_for(pending, 1)
    assert store.batches == [["leg-7"]]
