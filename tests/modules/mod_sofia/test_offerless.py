"""Delayed offer (RFC 3261 13.2.1, RFC 3264 5): INVITEs and re-INVITEs without SDP, in process.

The switch offers in its 183/200 and takes the answer from the ACK; an ACK without the answer
ends the call with a BYE (RFC 3261 13.3.1.4).  Media is proven by the echo extension 9196
sending a raw phone's own tone back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_sofia.message import Response
from switchcore.causes import HangupCause
from switchcore.core import Switch
from switchcore.session import Session
from tests.peers.audio import describe, tone_present

from .raw_ua import RawPhone, RtpPeer, boot_switch, media_port, sdp, wait_until

pytestmark = pytest.mark.timeout(60)

EARLY_THEN_ECHO = """
    <extension name="early_then_echo">
      <condition field="destination_number" expression="^9183$">
        <action application="pre_answer"/>
        <action application="sleep" data="300"/>
        <action application="answer"/>
        <action application="echo"/>
      </condition>
    </extension>
"""


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Switch, RawPhone]]:
    async with boot_switch(tmp_path, EARLY_THEN_ECHO) as (switch, port):
        phone = await RawPhone(port, 700).open()
        try:
            yield switch, phone
        finally:
            await switch.stop()
            phone.close()


def leg_of(switch: Switch, call_id: str) -> Session:
    for session in switch.sessions.values():
        if session.variables.get("sip_call_id") == call_id:
            return session
    raise AssertionError(f"no session for Call-ID {call_id}")


async def echoed(peer: RtpPeer, freq: float, seconds: float = 1.2) -> None:
    since = peer.mark()
    await asyncio.sleep(seconds)
    samples = peer.samples(since)
    assert tone_present(samples, 8000, freq, skip_seconds=0.2), (
        f"the echo should carry {freq} Hz: {describe(samples, 8000, 0.2)}"
    )


async def test_invite_without_sdp_gets_our_offer_in_the_200_and_media_flows_after_the_acks_answer(
    rig: tuple[Switch, RawPhone],
) -> None:
    switch, phone = rig
    leg = phone.invite("9196", offer=False)
    ok = await phone.response(leg.invite.call_id, "INVITE")
    assert ok.status == 200 and ok.content_type == "application/sdp"
    offered = ok.body.decode()
    assert "m=audio " in offered and "PCMU/8000" in offered
    phone.confirm(leg, ok)  # the ACK carries our answer
    await echoed(phone.rtp, 700)
    session = leg_of(switch, leg.invite.call_id)
    assert session.driver.read_codec == "PCMU"
    assert session.variables["endpoint_disposition"] == "RECEIVED_NOSDP"


async def test_offerless_invite_sees_the_offer_in_the_183_and_the_same_one_in_the_200(
    rig: tuple[Switch, RawPhone],
) -> None:
    _, phone = rig
    leg = phone.invite("9183", offer=False)
    early = await phone.response(leg.invite.call_id, "INVITE", final=False)
    while early.status < 180:
        early = await phone.response(leg.invite.call_id, "INVITE", final=False)
    assert early.status == 183 and b"m=audio " in early.body
    ok = await phone.response(leg.invite.call_id, "INVITE")
    assert ok.status == 200
    assert ok.body == early.body  # one offer; the ACK answers it
    phone.confirm(leg, ok)
    await echoed(phone.rtp, 700)


async def test_ack_without_the_answer_our_offer_needs_ends_the_call_with_bye(
    rig: tuple[Switch, RawPhone],
) -> None:
    switch, phone = rig
    leg = phone.invite("9196", offer=False)
    ok = await phone.response(leg.invite.call_id, "INVITE")
    session = leg_of(switch, leg.invite.call_id)
    phone.confirm(leg, ok, ack_body=b"")
    await asyncio.wait_for(leg.ended.wait(), 5)
    bye = next(r for r in leg.requests if r.method == "BYE")
    assert "cause=96" in (bye.get("Reason") or "")
    assert session.cause is HangupCause.MANDATORY_IE_MISSING


async def test_reinvite_without_sdp_gets_our_current_session_and_the_acks_answer_moves_the_media(
    rig: tuple[Switch, RawPhone],
) -> None:
    switch, phone = rig
    leg = await phone.call("9196")
    await echoed(phone.rtp, 700)
    call = leg_of(switch, leg.invite.call_id).driver.call  # type: ignore[attr-defined]
    assert leg.answer is not None and leg.dialog is not None
    ok: Response = await phone.request(leg, "INVITE")  # no body: "send me an offer"
    assert ok.status == 200 and media_port(ok.body) == media_port(leg.answer.body)
    assert ok.body == leg.answer.body  # our session unchanged, o= version included (RFC 3264 8)
    moved = RtpPeer(1100)
    await moved.open()
    try:
        assert leg.dialog.local_seq is not None
        ack = leg.dialog.create_ack(
            leg.dialog.local_seq,
            phone.via,
            body=sdp(moved.port, session_version=2),
            content_type="application/sdp",
        )
        phone.send(ack)
        phone.rtp.close()  # the old stream stops; the new port sends another tone
        await wait_until(
            lambda: call.negotiated.remote_addr == ("127.0.0.1", moved.port), what="answer applied"
        )
        moved.start(media_port(ok.body))
        await echoed(moved, 1100)
    finally:
        moved.close()


async def test_reinvite_without_sdp_whose_ack_has_no_answer_ends_the_call(
    rig: tuple[Switch, RawPhone],
) -> None:
    switch, phone = rig
    leg = await phone.call("9196")
    session = leg_of(switch, leg.invite.call_id)
    ok = await phone.request(leg, "INVITE")
    assert ok.status == 200 and leg.dialog is not None and leg.dialog.local_seq is not None
    phone.send(leg.dialog.create_ack(leg.dialog.local_seq, phone.via))
    await asyncio.wait_for(leg.ended.wait(), 5)
    assert session.cause is HangupCause.MANDATORY_IE_MISSING
