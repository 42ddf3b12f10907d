"""Comfort silence: one task per media clock, silence only for calls that sent nothing in a tick."""

from __future__ import annotations

import asyncio

from modules.mod_verto.silence import SilenceFill
from switchcore.media.clock import MediaClock


class Call:
    def __init__(self) -> None:
        self.packets_sent = 0
        self.silences = 0

    def send_silence(self) -> None:
        self.silences += 1
        self.packets_sent += 1


async def talk(clock: MediaClock, call: Call) -> None:
    while True:
        await clock.tick()
        call.packets_sent += 1  # what a session's write does every tick


async def test_a_silent_call_gets_silence_every_tick_and_a_talking_one_none():
    clock = MediaClock(10)
    clock.start()
    talker, quiet = Call(), Call()
    talking = asyncio.get_running_loop().create_task(talk(clock, talker))
    try:
        SilenceFill.join(clock, talker)
        SilenceFill.join(clock, quiet)
        fill = SilenceFill._by_clock[clock]
        start = clock.tick_count
        for _ in range(20):
            await clock.tick()
        ticks = clock.tick_count - start
        assert ticks - 2 <= quiet.silences <= ticks
        assert talker.silences <= 1  # at most the tick it joined on
        SilenceFill.leave(clock, talker)
        SilenceFill.leave(clock, quiet)
        assert clock not in SilenceFill._by_clock
        await asyncio.sleep(0.05)
        assert fill.task is not None and fill.task.done()
    finally:
        talking.cancel()
        clock.stop()


async def test_a_stopped_clock_ends_the_fill_and_a_new_join_starts_another():
    clock = MediaClock(10)
    clock.start()
    call = Call()
    SilenceFill.join(clock, call)
    first = SilenceFill._by_clock[clock]
    await asyncio.sleep(0.05)
    clock.stop()
    await asyncio.sleep(0.02)
    assert first.task is not None and first.task.done()
    assert clock not in SilenceFill._by_clock
    clock.start()
    try:
        sent = call.silences
        SilenceFill.join(clock, call)
        assert SilenceFill._by_clock[clock] is not first
        await asyncio.sleep(0.1)
        assert call.silences > sent
    finally:
        SilenceFill.leave(clock, call)
        clock.stop()
