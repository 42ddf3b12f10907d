"""Session timers (RFC 4028) on real calls through the switch, with raw SIP phones and compressed time.

Phone A calls phone B through the switch (`raw_ua.boot_switch`); the external profile runs its
session timers on `ScaledClock(SCALE)`, so a 120 s interval (the profile's minimum) lasts 1.2 s:
a refresh is due after 0.6 s, and a peer that refreshes is given up after 0.88 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_sofia.endpoint import endpoint
from modules.mod_sofia.message import Request, Response, make_response, new_tag
from modules.mod_sofia.session_refresh import ScaledClock
from switchcore.causes import HangupCause, cause_from_sip
from switchcore.core import Switch
from switchcore.session import Session
from tests.peers.audio import describe, tone_present

from .raw_ua import Leg, RawPhone, boot_switch, sdp, wait_until

pytestmark = pytest.mark.timeout(30)

SCALE = 0.01
TIMER_UA = [("Supported", "timer"), ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")]
Rig = tuple[Switch, RawPhone, RawPhone]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with boot_switch(tmp_path) as (switch, port):
        endpoint.handlers["external"].refresh_clock = ScaledClock(SCALE)
        a = await RawPhone(port, 600).open()
        b = await RawPhone(port, 1000).open()
        try:
            yield switch, a, b
        finally:
            await switch.stop()  # while the phones still answer its BYEs
            a.close()
            b.close()


async def connect(a: RawPhone, b: RawPhone, headers: list[tuple[str, str]]) -> tuple[Leg, Response]:
    """A calls B with these headers; returns A's leg (ACKed) and the switch's 200 to A."""
    answering = asyncio.get_running_loop().create_task(b.answer())
    leg = a.invite(b.user, headers=headers)
    ok = await a.response(leg.invite.call_id, "INVITE", timeout=10)
    assert ok.status == 200, f"{ok.status} {ok.reason}"
    a.confirm(leg, ok)
    await answering
    return leg, ok


def leg_of(switch: Switch, call_id: str) -> Session:
    for session in switch.sessions.values():
        if session.variables.get("sip_call_id") == call_id:
            return session
    raise AssertionError(f"no session for Call-ID {call_id}")


def received(leg: Leg, method: str) -> list[Request]:
    return [r for r in leg.requests if r.method == method]


async def hears(phone: RawPhone, freq: float, seconds: float = 1.0) -> None:
    since = phone.rtp.mark()
    await asyncio.sleep(seconds)
    samples = phone.rtp.samples(since)
    assert tone_present(samples, 8000, freq, skip_seconds=0.2), describe(samples, 8000, 0.2)


async def test_the_2xx_names_the_uac_refresher_with_require_timer_and_lists_timer_in_supported(
    rig: Rig,
) -> None:
    _, a, b = rig
    leg, ok = await connect(a, b, [*TIMER_UA, ("Session-Expires", "1800")])
    assert ok.get("Session-Expires") == "1800;refresher=uac"
    assert "timer" in ok.values("Require")
    assert "timer" in ok.values("Supported")
    assert leg.dialog is not None


async def test_the_switch_refreshes_with_update_when_it_is_the_refresher(rig: Rig) -> None:
    switch, a, b = rig
    a.answers["UPDATE"] = (200, [("Session-Expires", "120;refresher=uac"), ("Require", "timer")])
    leg, ok = await connect(a, b, [*TIMER_UA, ("Session-Expires", "120;refresher=uas")])
    assert ok.get("Session-Expires") == "120;refresher=uas"
    assert "timer" not in ok.values("Require")  # RFC 4028 §9: Require only when the UAC refreshes
    await wait_until(lambda: len(received(leg, "UPDATE")) >= 2, 5, "two UPDATE refreshes")
    update = received(leg, "UPDATE")[0]
    assert update.body == b""  # RFC 3311: a refresh without an offer
    assert update.get("Session-Expires") == "120;refresher=uac"
    assert update.get("Min-SE") == "120"
    assert received(leg, "INVITE") == []
    assert not leg_of(switch, leg.invite.call_id).hungup
    await hears(a, 1000)


async def test_without_update_in_the_peers_allow_the_switch_refreshes_with_a_reinvite_and_acks_it(
    rig: Rig,
) -> None:
    switch, a, b = rig
    leg, ok = await connect(a, b, [("Supported", "timer"), ("Session-Expires", "120;refresher=uas")])
    await wait_until(lambda: received(leg, "INVITE"), 5, "a re-INVITE refresh")
    reinvite = received(leg, "INVITE")[0]
    # RFC 3264 8: the session as it stands, the same o= line as our 200's (version unchanged).
    origin = [line for line in reinvite.body.decode().splitlines() if line.startswith("o=")]
    assert origin and origin == [line for line in ok.body.decode().splitlines() if line.startswith("o=")]
    assert reinvite.get("Session-Expires") == "120;refresher=uac"
    await wait_until(
        lambda: any(r.cseq.number == reinvite.cseq.number for r in received(leg, "ACK")),
        3,
        "ACK of the refresh",
    )
    assert not leg_of(switch, leg.invite.call_id).hungup
    await hears(a, 1000)
    await hears(b, 600)


async def test_the_switch_hangs_up_with_bye_when_the_peer_stops_refreshing(rig: Rig) -> None:
    switch, a, b = rig
    loop = asyncio.get_running_loop()
    leg, ok = await connect(a, b, [*TIMER_UA, ("Session-Expires", "120;refresher=uac")])
    assert ok.get("Session-Expires") == "120;refresher=uac" and "timer" in ok.values("Require")
    session = leg_of(switch, leg.invite.call_id)
    start = loop.time()
    await asyncio.wait_for(leg.ended.wait(), 5)
    # RFC 4028 §10: given up at 120 - 32 = 88 s of session time.
    assert loop.time() - start >= 0.8 * 88 * SCALE
    [bye] = received(leg, "BYE")
    assert bye.get("Reason") == 'SIP;cause=408;text="Session timeout"'
    await wait_until(lambda: session.hungup, 3, "the A-leg to hang up")
    assert session.cause is HangupCause.RECOVERY_ON_TIMER_EXPIRE
    [b_leg] = b.legs.values()
    await asyncio.wait_for(b_leg.ended.wait(), 5)  # the bridge takes B down too


async def test_refreshes_from_the_peer_keep_the_call_and_one_that_hands_over_the_refresher_is_answered(
    rig: Rig,
) -> None:
    switch, a, b = rig
    leg, _ = await connect(a, b, [*TIMER_UA, ("Session-Expires", "120;refresher=uac")])
    session = leg_of(switch, leg.invite.call_id)
    for _ in range(2):  # UPDATE refreshes at 0.5 s of every 0.88 s deadline
        await asyncio.sleep(50 * SCALE)
        refresh = await a.request(leg, "UPDATE", [*TIMER_UA, ("Session-Expires", "120;refresher=uac")])
        assert refresh.status == 200
        assert refresh.get("Session-Expires") == "120;refresher=uac" and "timer" in refresh.values("Require")
    assert not session.hungup  # past the first deadline: the refreshes counted
    # A re-INVITE that makes the switch the refresher (FreeSWITCH's complaint 13) is answered...
    handover = await a.request(
        leg,
        "INVITE",
        [*TIMER_UA, ("Session-Expires", "120;refresher=uas")],
        body=sdp(a.rtp.port, session_version=2),
        content_type="application/sdp",
    )
    assert handover.status == 200
    assert handover.get("Session-Expires") == "120;refresher=uas"
    assert "timer" not in handover.values("Require")
    assert leg.dialog is not None
    a.send(leg.dialog.create_ack(handover.cseq.number, a.via))
    # ... and the switch refreshes from then on (A allows UPDATE).
    await wait_until(lambda: received(leg, "UPDATE"), 5, "the switch's UPDATE after the handover")
    assert received(leg, "BYE") == [] and not session.hungup
    await hears(b, 600)


async def test_a_refresh_answered_481_ends_the_call_with_bye(rig: Rig) -> None:
    switch, a, b = rig
    a.answers["UPDATE"] = (481, [])
    leg, _ = await connect(a, b, [*TIMER_UA, ("Session-Expires", "120;refresher=uas")])
    session = leg_of(switch, leg.invite.call_id)
    await asyncio.wait_for(leg.ended.wait(), 5)
    assert len(received(leg, "UPDATE")) == 1
    await wait_until(lambda: session.hungup, 3, "the A-leg to hang up")
    assert session.cause is cause_from_sip(481)


async def test_too_small_an_interval_gets_422_with_our_minimum_and_a_malformed_one_400(rig: Rig) -> None:
    switch, a, b = rig
    small = a.invite(b.user, headers=[*TIMER_UA, ("Session-Expires", "90")])
    refused = await a.response(small.invite.call_id, "INVITE")
    assert refused.status == 422 and refused.get("Min-SE") == "120"
    bad = a.invite(b.user, headers=[*TIMER_UA, ("Session-Expires", "soon")])
    assert (await a.response(bad.invite.call_id, "INVITE")).status == 400
    assert b.incoming.empty() and not switch.sessions  # refused before routing
    # The retry with our minimum gets through (RFC 4028 §7.4).
    leg, ok = await connect(a, b, [*TIMER_UA, ("Session-Expires", "120"), ("Min-SE", "120")])
    assert ok.get("Session-Expires") == "120;refresher=uac"
    assert leg.dialog is not None


async def test_a_b_leg_refused_with_422_is_invited_again_with_the_min_se_it_named(rig: Rig) -> None:
    switch, a, b = rig
    calling = asyncio.get_running_loop().create_task(a.call(b.user, headers=TIMER_UA))
    first = await asyncio.wait_for(b.incoming.get(), 5)
    assert first.get("Session-Expires") == "1800" and first.get("Min-SE") == "120"  # RFC 4028 §7.1
    b.send(make_response(first, 422, to_tag=new_tag(), headers=[("Min-SE", "3600")]))
    second = await asyncio.wait_for(b.incoming.get(), 5)
    b.incoming.put_nowait(second)  # for b.answer()
    assert second.call_id == first.call_id and second.cseq.number == first.cseq.number + 1
    assert second.get("Session-Expires") == "3600" and second.get("Min-SE") == "3600"
    await b.answer()
    leg = await calling
    assert not leg_of(switch, leg.invite.call_id).hungup
    await hears(a, 1000)


async def test_with_timers_disabled_require_timer_gets_420_and_nothing_else_mentions_timers(
    tmp_path: Path,
) -> None:
    async with boot_switch(tmp_path, external_params={"enable-timer": "false"}) as (switch, port):
        a = await RawPhone(port, 600).open()
        b = await RawPhone(port, 1000).open()
        try:
            required = a.invite(b.user, headers=[("Require", "timer"), ("Session-Expires", "1800")])
            refused = await a.response(required.invite.call_id, "INVITE")
            assert refused.status == 420 and refused.get("Unsupported") == "timer"
            leg, ok = await connect(a, b, [*TIMER_UA, ("Session-Expires", "1800")])
            assert "Session-Expires" not in ok and "timer" not in ok.values("Require")
            assert "timer" not in ok.values("Supported") and "replaces" in ok.values("Supported")
            [b_leg] = b.legs.values()
            assert "Session-Expires" not in b_leg.invite and "timer" not in b_leg.invite.values("Supported")
            update = await a.request(leg, "UPDATE", [*TIMER_UA, ("Session-Expires", "1800")])
            assert update.status == 200 and "Session-Expires" not in update
        finally:
            await switch.stop()
            a.close()
            b.close()


async def test_a_reinvite_refresh_left_unanswered_ends_the_call_and_a_crossing_reinvite_gets_491(
    rig: Rig,
) -> None:
    switch, a, b = rig
    a.answers["INVITE"] = (0, [])  # A sits on the switch's re-INVITE: Timer B (64*T1, T1 100 ms) runs out
    leg, _ = await connect(a, b, [("Supported", "timer"), ("Session-Expires", "120;refresher=uas")])
    session = leg_of(switch, leg.invite.call_id)
    await wait_until(lambda: received(leg, "INVITE"), 5, "the switch's re-INVITE refresh")
    crossing = await a.request(
        leg, "INVITE", body=sdp(a.rtp.port, session_version=2), content_type="application/sdp"
    )
    assert crossing.status == 491  # RFC 3261 14.2 glare
    await asyncio.wait_for(leg.ended.wait(), 15)
    await wait_until(lambda: session.hungup, 3, "the A-leg to hang up")
    assert session.cause is HangupCause.RECOVERY_ON_TIMER_EXPIRE  # the synthesized 408 (RFC 4028 §10)
