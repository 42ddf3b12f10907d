"""Comfort silence for Verto calls that have nothing to send, one task per media clock.

A call's audio leaves the moment the session writes a frame (srtp_path.py),
so a talking call costs no timer of its own.  A call whose session writes
nothing for a while (parked, held, between applications) still sends its
codec's silence every 20 ms, as aiortc's sender did, so the browser's stream
never stalls.  One task for all calls on a clock does that: at each tick, a
call that sent nothing since the previous tick gets one silence packet.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import ClassVar, Protocol

from switchcore.media.clock import ClockStopped, MediaClock


class Silent(Protocol):
    """A call the fill looks after: how many packets it sent, and how to send silence."""

    @property
    def packets_sent(self) -> int: ...

    def send_silence(self) -> None: ...


class SilenceFill:
    """The calls of one clock; see the module docstring.  `join`/`leave` start and stop its task."""

    _by_clock: ClassVar[dict[MediaClock, SilenceFill]] = {}

    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        self.calls: dict[Silent, int] = {}  # call -> packets_sent at the previous tick
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def join(cls, clock: MediaClock, call: Silent) -> None:
        fill = cls._by_clock.get(clock)
        if fill is None or fill.task is None or fill.task.done():
            fill = cls._by_clock[clock] = SilenceFill(clock)
            fill.task = asyncio.get_running_loop().create_task(fill._run())
        fill.calls[call] = call.packets_sent

    @classmethod
    def leave(cls, clock: MediaClock, call: Silent) -> None:
        fill = cls._by_clock.get(clock)
        if fill is None:
            return
        fill.calls.pop(call, None)
        if not fill.calls:
            del cls._by_clock[clock]
            if fill.task is not None:
                fill.task.cancel()

    async def _run(self) -> None:
        with contextlib.suppress(ClockStopped):
            while self.calls:
                await self.clock.tick()
                calls = self.calls
                for call, before in list(calls.items()):
                    if call.packets_sent == before:
                        call.send_silence()
                    if call in calls:
                        calls[call] = call.packets_sent
        if self._by_clock.get(self.clock) is self:
            del self._by_clock[self.clock]
