"""The shared media clock, in real (short) time."""

from __future__ import annotations

import asyncio
import time

import pytest

from switchcore.media.clock import ClockStopped, MediaClock


async def test_ticks_come_every_interval_and_count_up() -> None:
    async with MediaClock(20) as clock:
        loop = asyncio.get_running_loop()
        numbers = [await clock.tick() for _ in range(25)]
        elapsed = loop.time() - clock.started_at
    stats = clock.stats()
    # on a quiet machine: 1..25, no misses; a loaded CI box may skip one
    assert numbers[0] >= 1 and numbers == sorted(set(numbers))
    assert numbers[-1] - numbers[0] - 24 == stats.missed_ticks
    assert elapsed == pytest.approx(numbers[-1] * 0.020, abs=0.02)
    assert stats.ticks == 25
    assert stats.mean_lateness_ms < 5


async def test_slow_work_between_ticks_does_not_drift_the_clock() -> None:
    async with MediaClock(20) as clock:
        loop = asyncio.get_running_loop()
        for _ in range(30):
            await clock.tick()
            time.sleep(0.008)  # 8 ms of "mixing" each tick, blocking the loop
        number = await clock.tick()
        now = loop.time()
    # deadlines are absolute: tick 31 is due 620 ms after start whatever the work did
    assert number == 31
    assert now - clock.started_at == pytest.approx(0.62, abs=0.02)  # relative sleeps would be 250+ ms late


async def test_a_stalled_loop_skips_missed_ticks_instead_of_bursting() -> None:
    async with MediaClock(20) as clock:
        await clock.tick()
        time.sleep(0.075)  # the loop is stuck past three deadlines
        late = await clock.tick()
        after = await clock.tick()
    assert late >= 4  # the index says how many intervals passed
    assert after == late + 1
    stats = clock.stats()
    assert stats.missed_ticks >= 2 and stats.late_ticks >= 1
    assert stats.max_lateness_ms >= 30


async def test_one_tick_wakes_a_thousand_waiters_in_one_pass() -> None:
    clock = MediaClock(20)
    clock.start()
    seen: list[list[int]] = [[] for _ in range(1000)]

    async def channel(i: int) -> None:
        for _ in range(10):
            seen[i].append(await clock.tick())

    await asyncio.gather(*(channel(i) for i in range(1000)))
    clock.stop()
    # Every waiter saw the same ticks: one timer callback woke them all (its cost is bench/'s business).
    assert all(s == seen[0] for s in seen)
    assert seen[0] == sorted(set(seen[0])) and len(seen[0]) == 10
    assert clock.stats().ticks >= 10


async def test_cancelling_one_waiter_leaves_the_others_waiting() -> None:
    async with MediaClock(20) as clock:
        victim = asyncio.create_task(clock.tick())
        survivor = asyncio.create_task(clock.tick())
        await asyncio.sleep(0)
        victim.cancel()
        assert await survivor == 1
        with pytest.raises(asyncio.CancelledError):
            await victim


async def test_stop_wakes_waiters_with_clock_stopped() -> None:
    clock = MediaClock(1000)
    clock.start()
    waiter = asyncio.create_task(clock.tick())
    await asyncio.sleep(0)
    assert clock.waiters == 1
    clock.stop()
    with pytest.raises(ClockStopped, match="stopped"):
        await waiter
    assert not clock.running


async def test_tick_on_a_stopped_clock_raises() -> None:
    clock = MediaClock()
    with pytest.raises(ClockStopped, match="not running"):
        await clock.tick()


async def test_start_twice_keeps_one_timer_and_restart_counts_afresh() -> None:
    clock = MediaClock(10)
    clock.start()
    clock.start()
    assert await clock.tick() == 1
    clock.stop()
    clock.start()
    assert await clock.tick() == 1
    assert clock.stats().ticks == 1
    clock.stop()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_ms must be positive"):
        MediaClock(0)
