"""One call's session timer at run time (RFC 4028 §10): refresh it, or notice that the peer stopped.

Theory of operation: `session_timer.py` decides what was negotiated; this watch
acts on it for one leg.  `RefreshWatch.start(timer)` replaces whatever ran
before (a refresh received or answered restarts it; `None` stops it):

- we refresh: at `refresh_after` (half the interval) the leg sends a refresh,
  UPDATE when the peer allows it, else a re-INVITE (`RefreshingLeg.send_refresh`).
  A 2xx renews the timer; 408/481 end the call; 422 retries at once with the
  larger interval; anything else is retried every `RETRY_AFTER` s until the
  session would expire, when the call ends as a session timeout.
- the peer refreshes: no refresh by `expire_after` ends the call as a session
  timeout (the leg hangs up with BYE).

Time is an input: the watch reads and sleeps on a `Clock`.  `LoopClock` is the
event loop's; `ScaledClock(0.01)` runs RFC intervals (90 s at least) a hundred
times faster, for tests only (`SofiaCallHandler.refresh_clock`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from .message import Response
from .session_timer import (
    EndSession,
    Renewed,
    SessionTimer,
    TimerPolicy,
    refresh_outcome,
)

log = logging.getLogger("mod_sofia.session_refresh")

RETRY_AFTER = 4.0  # RFC 3261 14.1's longest 491 back-off; also the pause after a 5xx


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The running event loop's time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ScaledClock:
    """Session time running `1 / factor` times faster than the loop's (tests only)."""

    def __init__(self, factor: float) -> None:
        self.factor = factor

    def now(self) -> float:
        return asyncio.get_running_loop().time() / self.factor

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.factor)


class RefreshingLeg(Protocol):
    """What the watch needs from its call leg (`calls.SipCall`)."""

    @property
    def timer_policy(self) -> TimerPolicy: ...

    @property
    def peer_allows_update(self) -> bool: ...

    async def send_refresh(self, interval: int, use_invite: bool) -> Response:
        """Send one refresh (RFC 4028 §7.4) and return its final response (408 when none came)."""
        ...

    def session_expired(self) -> None:
        """No refresh in time: end the call (BYE, RECOVERY_ON_TIMER_EXPIRE)."""
        ...

    def refresh_failed(self, status: int) -> None:
        """Our refresh got 408/481: the dialog is gone, end the call (BYE)."""
        ...


def timer_tags(response: Response) -> list[str]:
    """The option tags a message supports, from Supported and Require."""
    return [tag.lower() for tag in (*response.values("Supported"), *response.values("Require"))]


class RefreshWatch:
    """See the module docstring."""

    def __init__(self, leg: RefreshingLeg, clock: Clock) -> None:
        self.leg = leg
        self.clock = clock
        self.timer: SessionTimer | None = None
        self.refreshes = 0  # refreshes of ours that got a 2xx
        self.update_refused = False  # the peer answered our UPDATE 405/501: re-INVITE from then on
        self._task: asyncio.Task[None] | None = None

    def start(self, timer: SessionTimer | None) -> None:
        """Run `timer` from now, replacing what ran (None: stop)."""
        self.stop()
        self.timer = timer
        if timer is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(timer))

    def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self, timer: SessionTimer | None) -> None:
        while timer is not None:
            self.timer = timer
            if not timer.we_refresh:
                await self.clock.sleep(timer.expire_after)
                self.leg.session_expired()
                return
            timer = await self._refresh(timer)

    async def _refresh(self, timer: SessionTimer) -> SessionTimer | None:
        """Refresh at half the interval until a 2xx; returns the timer that follows (None: done)."""
        clock = self.clock
        expires_at = clock.now() + timer.expire_after
        await clock.sleep(timer.refresh_after)
        interval, use_invite = timer.interval, self.update_refused or not self.leg.peer_allows_update
        while True:
            try:
                response = await self.leg.send_refresh(interval, use_invite)
            except Exception:  # a failure to send must end the call, not the watch alone
                log.exception("session refresh could not be sent")
                self.leg.refresh_failed(408)
                return None
            outcome = refresh_outcome(
                self.leg.timer_policy,
                interval,
                method=response.cseq.method,
                status=response.status,
                session_expires=response.get("Session-Expires"),
                min_se=response.get("Min-SE"),
                supported=timer_tags(response),
            )
            if isinstance(outcome, Renewed):
                self.refreshes += 1
                return outcome.timer
            if isinstance(outcome, EndSession):
                self.leg.refresh_failed(outcome.status)
                return None
            changed = (outcome.interval, outcome.use_invite) != (interval, use_invite)
            if outcome.use_invite and not use_invite and outcome.at_once:
                self.update_refused = True
            interval, use_invite = outcome.interval, outcome.use_invite
            if not (outcome.at_once and changed):  # the same request again waits, never loops
                left = expires_at - clock.now()
                if left <= RETRY_AFTER:
                    log.info("refresh got %d and the session expires before a retry", response.status)
                    self.leg.session_expired()
                    return None
                await clock.sleep(RETRY_AFTER)


__all__ = ["Clock", "LoopClock", "RefreshWatch", "RefreshingLeg", "ScaledClock", "timer_tags"]
