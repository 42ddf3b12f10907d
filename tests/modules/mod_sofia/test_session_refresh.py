"""The per-call session timer watch (RFC 4028 §10) on a fake clock, with a scripted leg.

The fake clock's `sleep` moves virtual time forward at once, so a 90 s interval
runs in microseconds and every refresh is seen at the second it was due.
"""

from __future__ import annotations

import asyncio

import pytest

from modules.mod_sofia.message import Request, Response, make_request, make_response
from modules.mod_sofia.session_refresh import RETRY_AFTER, RefreshWatch, ScaledClock
from modules.mod_sofia.session_timer import SessionTimer, TimerPolicy

POLICY = TimerPolicy(enabled=True, session_expires=1800, min_se=90)


class FakeClock:
    def __init__(self) -> None:
        self.time = 0.0

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        self.time += seconds
        await asyncio.sleep(0)


def request(method: str) -> Request:
    return make_request(
        method,
        "sip:peer@127.0.0.1:5060",
        from_addr="<sip:switch@127.0.0.1>;tag=a",
        to_addr="<sip:peer@127.0.0.1>;tag=b",
        call_id="watch-test",
        cseq=2,
        via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKwatch",
    )


class ScriptedLeg:
    """Answers each refresh with the next scripted (status, headers); then waits for ever."""

    def __init__(
        self, clock: FakeClock, script: list[tuple[int, list[tuple[str, str]]]], update: bool = True
    ):
        self.clock = clock
        self.script = list(script)
        self.update = update
        self.sent: list[tuple[float, str, int]] = []  # (when, method, interval)
        self.expired_at: float | None = None
        self.failed: int | None = None
        self.done = asyncio.Event()

    @property
    def timer_policy(self) -> TimerPolicy:
        return POLICY

    @property
    def peer_allows_update(self) -> bool:
        return self.update

    async def send_refresh(self, interval: int, use_invite: bool) -> Response:
        method = "INVITE" if use_invite else "UPDATE"
        self.sent.append((self.clock.now(), method, interval))
        if not self.script:
            self.done.set()
            await asyncio.Event().wait()
        status, headers = self.script.pop(0)
        if status < 0:
            raise OSError("network unreachable")
        return make_response(request(method), status, headers=headers)

    def session_expired(self) -> None:
        self.expired_at = self.clock.now()
        self.done.set()

    def refresh_failed(self, status: int) -> None:
        self.failed = status
        self.done.set()


async def run(leg: ScriptedLeg, timer: SessionTimer) -> RefreshWatch:
    watch = RefreshWatch(leg, leg.clock)
    watch.start(timer)
    await asyncio.wait_for(leg.done.wait(), 2)
    watch.stop()
    return watch


OK_UAC = (200, [("Session-Expires", "120;refresher=uac"), ("Supported", "timer")])


async def test_the_refresher_sends_update_at_half_the_interval_and_again_after_each_2xx() -> None:
    clock = FakeClock()
    leg = ScriptedLeg(clock, [OK_UAC, OK_UAC])
    watch = await run(leg, SessionTimer(120, we_refresh=True))
    assert leg.sent == [(60.0, "UPDATE", 120), (120.0, "UPDATE", 120), (180.0, "UPDATE", 120)]
    assert watch.refreshes == 2 and leg.expired_at is None and leg.failed is None


async def test_without_update_in_the_peers_allow_the_refresh_is_a_reinvite() -> None:
    leg = ScriptedLeg(FakeClock(), [OK_UAC], update=False)
    await run(leg, SessionTimer(120, we_refresh=True))
    assert [method for _, method, _ in leg.sent] == ["INVITE", "INVITE"]


async def test_update_refused_with_501_is_sent_again_at_once_as_a_reinvite() -> None:
    leg = ScriptedLeg(FakeClock(), [(501, []), OK_UAC])
    await run(leg, SessionTimer(120, we_refresh=True))
    assert leg.sent[:2] == [(60.0, "UPDATE", 120), (60.0, "INVITE", 120)]
    assert leg.sent[2] == (120.0, "INVITE", 120)


@pytest.mark.parametrize("status", [408, 481])
async def test_408_or_481_to_a_refresh_ends_the_call(status: int) -> None:
    leg = ScriptedLeg(FakeClock(), [(status, [])])
    await run(leg, SessionTimer(120, we_refresh=True))
    assert leg.failed == status and len(leg.sent) == 1


async def test_422_makes_the_refresh_go_again_at_once_with_the_peers_minimum() -> None:
    leg = ScriptedLeg(FakeClock(), [(422, [("Min-SE", "300")]), OK_UAC])
    await run(leg, SessionTimer(120, we_refresh=True))
    assert leg.sent[:2] == [(60.0, "UPDATE", 120), (60.0, "UPDATE", 300)]


async def test_a_peer_that_keeps_answering_422_with_the_same_minimum_is_not_flooded() -> None:
    leg = ScriptedLeg(FakeClock(), [(422, [("Min-SE", "300")])] * 3)
    await run(leg, SessionTimer(120, we_refresh=True))
    times = [when for when, _, _ in leg.sent]
    assert times[:2] == [60.0, 60.0] and times[2] == 60.0 + RETRY_AFTER


async def test_failed_refreshes_are_retried_until_the_session_would_expire() -> None:
    leg = ScriptedLeg(FakeClock(), [(500, [])] * 20)
    await run(leg, SessionTimer(120, we_refresh=True))
    # expire_after = 120 - 32 = 88: tries at 60, 64, 68, ... while a retry still fits before it.
    assert [when for when, _, _ in leg.sent] == [60.0, 64.0, 68.0, 72.0, 76.0, 80.0, 84.0]
    assert leg.expired_at == 84.0 and leg.failed is None


async def test_a_2xx_naming_the_peer_refresher_turns_the_watch_into_an_expiry_watch() -> None:
    leg = ScriptedLeg(
        FakeClock(), [(200, [("Session-Expires", "120;refresher=uas"), ("Supported", "timer")])]
    )
    await run(leg, SessionTimer(120, we_refresh=True))
    assert len(leg.sent) == 1
    assert leg.expired_at == 60.0 + 88.0


async def test_when_the_peer_refreshes_silence_until_expire_after_ends_the_call() -> None:
    leg = ScriptedLeg(FakeClock(), [])
    await run(leg, SessionTimer(1800, we_refresh=False))
    assert leg.sent == [] and leg.expired_at == 1800 - 32


async def test_a_refresh_received_in_time_restarts_the_expiry_watch() -> None:
    clock = FakeClock()
    leg = ScriptedLeg(clock, [])
    watch = RefreshWatch(leg, clock)
    watch.start(SessionTimer(120, we_refresh=False))
    await asyncio.sleep(0)
    clock.time = 50.0  # the peer's refresh arrives before 88 s
    watch.start(SessionTimer(120, we_refresh=False))
    await asyncio.wait_for(leg.done.wait(), 2)
    assert leg.expired_at == 50.0 + 88.0
    watch.start(None)
    assert not watch.running


async def test_the_scaled_clock_compresses_session_time_for_tests() -> None:
    clock = ScaledClock(0.001)
    loop = asyncio.get_running_loop()
    start, session_start = loop.time(), clock.now()
    await clock.sleep(50)  # 50 s of session time
    assert 0.04 <= loop.time() - start < 1.0
    assert clock.now() - session_start >= 49.0


async def test_a_refresh_that_cannot_be_sent_ends_the_call_as_no_answer_would() -> None:
    leg = ScriptedLeg(FakeClock(), [(-1, [])])
    watch = await run(leg, SessionTimer(120, we_refresh=True))
    assert leg.failed == 408 and not watch.running
