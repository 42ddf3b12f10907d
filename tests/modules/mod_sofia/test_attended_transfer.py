"""Attended transfer (REFER with Replaces, RFC 5589 7) and INVITE with Replaces (RFC 3891), in process.

Three raw SIP phones on loopback each send their own PCMU tone; the switch is the real one
(`raw_ua.boot_switch`), where a destination number is the port of the phone that answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_sofia.message import make_response, new_tag
from switchcore.causes import HangupCause
from switchcore.core import Switch
from switchcore.events import Event
from switchcore.session import Session
from tests.peers.audio import describe, tone_present

from .raw_ua import Leg, RawPhone, boot_switch, escaped, replaces_of, sdp, wait_until

pytestmark = pytest.mark.timeout(60)

Rig = tuple[Switch, RawPhone, RawPhone, RawPhone]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with boot_switch(tmp_path) as (switch, port):
        a = await RawPhone(port, 600).open()
        b = await RawPhone(port, 1000).open()
        c = await RawPhone(port, 1400).open()
        try:
            yield switch, a, b, c
        finally:
            await switch.stop()  # while the phones still answer its BYEs
            for phone in (a, b, c):
                phone.close()


async def connect(caller: RawPhone, callee: RawPhone) -> tuple[Leg, Leg]:
    answering = asyncio.get_running_loop().create_task(callee.answer())
    out = await caller.call(callee.user)
    return out, await answering


def leg_of(switch: Switch, call_id: str) -> Session:
    for session in switch.sessions.values():
        if session.variables.get("sip_call_id") == call_id:
            return session
    raise AssertionError(f"no session for Call-ID {call_id}")


async def hears(phone: RawPhone, freq: float, seconds: float = 1.2) -> None:
    since = phone.rtp.mark()
    await asyncio.sleep(seconds)
    samples = phone.rtp.samples(since)
    assert tone_present(samples, 8000, freq, skip_seconds=0.2), (
        f"phone {phone.user} should hear {freq} Hz: {describe(samples, 8000, 0.2)}"
    )


def custom_events(switch: Switch) -> list[Event]:
    got: list[Event] = []
    switch.events.listen(got.append, names=["CUSTOM"])
    return got


# ---- REFER with Replaces ----------------------------------------------------------------------


@pytest.mark.slow
async def test_refer_with_replaces_bridges_the_far_legs_and_ends_the_transferors_legs(rig: Rig) -> None:
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    # A holds B (as a phone does before it consults), then calls C.
    held = await a.request(ab, "INVITE", body=sdp(a.rtp.port, "sendonly", 2), content_type="application/sdp")
    assert held.status == 200
    assert ab.dialog is not None and ab.dialog.local_seq is not None
    a.send(ab.dialog.create_ack(ab.dialog.local_seq, a.via))  # completes the re-INVITE
    ac, c_leg = await connect(a, c)
    await hears(c, 600)
    a1, a2 = leg_of(switch, ab.invite.call_id), leg_of(switch, ac.invite.call_id)
    b_side, c_side = a1.partner, a2.partner
    assert b_side is not None and c_side is not None
    events = custom_events(switch)

    refer_to = f"<sip:{c.user}@127.0.0.1?Replaces={escaped(replaces_of(ac))}>"
    accepted = await a.request(ab, "REFER", headers=[("Refer-To", refer_to), ("Referred-By", a.contact)])

    assert accepted.status == 202
    await asyncio.wait_for(ab.ended.wait(), 10)  # the switch's BYE for A-B, after the last NOTIFY
    await asyncio.wait_for(ac.ended.wait(), 10)  # and for A-C
    assert a.notifies(ab) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    assert a1.cause is HangupCause.ATTENDED_TRANSFER and a2.cause is HangupCause.ATTENDED_TRANSFER
    await wait_until(lambda: b_side.partner is c_side, what="B bridged to C")
    assert not b_side.hungup and not c_side.hungup
    assert not b_leg.ended.is_set() and not c_leg.ended.is_set()
    await hears(b, 1400)
    await hears(c, 1000)
    assert "att_xfer" in b_side.variables["transfer_history"]
    assert c_side.variables["transfer_history"] == b_side.variables["transfer_history"]
    assert a1.variables.get("transfer_disposition") == "replaced"
    fired = {e.headers.get("Event-Subclass"): e.headers for e in events}
    assert fired["sofia::transferor"]["Unique-ID"] == a1.uuid
    assert fired["sofia::transferor"]["att_xfer_destination_peer_uuid"] == c_side.uuid
    assert fired["sofia::transferee"]["Unique-ID"] == b_side.uuid
    assert fired["sofia::replaced"]["Unique-ID"] == a2.uuid

    # One side hangs up: the other follows, with the cause it was given.
    await b.request(b_leg, "BYE")
    await asyncio.wait_for(c_leg.ended.wait(), 10)
    assert b_side.cause is HangupCause.NORMAL_CLEARING and c_side.cause is HangupCause.NORMAL_CLEARING


def elsewhere(c: RawPhone, replaces: str = "a-c@elsewhere;to-tag=c1;from-tag=a1") -> str:
    """A Refer-To naming C's address directly and a dialog the switch does not hold (as pjsua writes it)."""
    return f"<sip:{c.user}@127.0.0.1:{c.port}?Require=replaces&Replaces={escaped(replaces)}>"


@pytest.mark.slow
async def test_refer_naming_a_dialog_elsewhere_sends_the_transferee_to_the_target_with_the_replaces(
    rig: Rig,
) -> None:
    # RFC 5589 7.2 / FreeSWITCH's "nightmare transfer": A's consultation call with C did not go
    # through the switch, so B's leg calls C itself, carrying the Replaces for C to match.
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    a1 = leg_of(switch, ab.invite.call_id)
    b_side = a1.partner
    assert b_side is not None
    events = custom_events(switch)
    answering = asyncio.get_running_loop().create_task(c.answer())

    accepted = await a.request(ab, "REFER", headers=[("Refer-To", elsewhere(c)), ("Referred-By", a.contact)])

    assert accepted.status == 202
    c_leg = await answering
    invite = c_leg.invite
    assert invite.get("Replaces") == "a-c@elsewhere;to-tag=c1;from-tag=a1"
    assert invite.get("Require") == "replaces"
    assert invite.get("Referred-By") == a.contact
    assert invite.from_addr.uri.user == b.user  # the transferee calls, with its own identity
    await asyncio.wait_for(ab.ended.wait(), 10)  # A's leg ends after the last NOTIFY
    assert a.notifies(ab) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    assert a1.cause is HangupCause.ATTENDED_TRANSFER
    n = leg_of(switch, invite.call_id)
    await wait_until(lambda: b_side.partner is n, what="B bridged to the call to C")
    await hears(b, 1400)
    await hears(c, 1000)
    assert not b_leg.ended.is_set()
    assert ":att_xfer:" in b_side.variables["transfer_history"]
    fired = {e.headers.get("Event-Subclass"): e.headers for e in events}
    assert fired["sofia::transferor"]["Unique-ID"] == a1.uuid
    assert fired["sofia::transferee"]["att_xfer_destination_peer_uuid"] == n.uuid

    await c.request(c_leg, "BYE")  # C hangs up: B follows
    await asyncio.wait_for(b_leg.ended.wait(), 10)


async def test_refer_naming_a_dialog_elsewhere_that_the_target_refuses_reports_it_and_keeps_the_call(
    rig: Rig,
) -> None:
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    accepted = await a.request(
        ab, "REFER", headers=[("Refer-To", elsewhere(c, "nosuch@host;to-tag=x;from-tag=y"))]
    )
    assert accepted.status == 202
    invite = await asyncio.wait_for(c.incoming.get(), 10)
    c.send(make_response(invite, 481, "Call/Transaction Does Not Exist", to_tag=new_tag()))
    await wait_until(lambda: len(a.notifies(ab)) == 2, what="two NOTIFYs")
    assert a.notifies(ab) == ["SIP/2.0 100 Trying", "SIP/2.0 481 Call/Transaction Does Not Exist"]
    a1 = leg_of(switch, ab.invite.call_id)
    assert not a1.hungup and a1.partner is not None
    await hears(a, 1000)
    assert not ab.ended.is_set() and not b_leg.ended.is_set()


async def test_refer_with_an_unreadable_replaces_is_refused(rig: Rig) -> None:
    _, a, b, _ = rig
    ab, _ = await connect(a, b)
    refer_to = f"<sip:1002@127.0.0.1?Replaces={escaped('abc@host;to-tag=x')}>"
    refused = await a.request(ab, "REFER", headers=[("Refer-To", refer_to)])
    assert refused.status == 400


# ---- INVITE with Replaces ---------------------------------------------------------------------


async def test_invite_with_replaces_takes_the_replaced_legs_place_and_byes_it(rig: Rig) -> None:
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    a1 = leg_of(switch, ab.invite.call_id)
    b_side = a1.partner
    assert b_side is not None
    events = custom_events(switch)

    cn = await c.call("anything", headers=[("Replaces", replaces_of(ab)), ("Require", "replaces")])

    await asyncio.wait_for(ab.ended.wait(), 10)  # the replaced dialog gets its BYE
    assert a1.cause is HangupCause.ATTENDED_TRANSFER
    n = leg_of(switch, cn.invite.call_id)
    await wait_until(lambda: b_side.partner is n, what="B bridged to the new call")
    await hears(b, 1400)
    await hears(c, 1000)
    assert not b_leg.ended.is_set()
    assert a1.variables.get("sip_replaced_by") == n.uuid
    assert n.profile.destination_number == "anything"  # never routed: no dialplan matched it
    replaced = [e for e in events if e.headers.get("Event-Subclass") == "sofia::replaced"]
    assert replaced and replaced[0].headers.get("att_xfer_replaced_by") == n.uuid


@pytest.mark.parametrize(
    ("replaces", "status"),
    [
        ("nosuch@127.0.0.1;to-tag=a;from-tag=b", 481),
        ("WRONG_TAGS", 481),
        ("EARLY_ONLY", 486),
        ("abc@127.0.0.1;to-tag=a", 400),
    ],
)
async def test_invite_with_replaces_that_matches_nothing_usable_is_refused(
    rig: Rig, replaces: str, status: int
) -> None:
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    assert ab.dialog is not None
    if replaces == "WRONG_TAGS":
        replaces = f"{ab.dialog.call_id};to-tag={ab.dialog.local_tag};from-tag={ab.dialog.remote_tag}"
    elif replaces == "EARLY_ONLY":
        replaces = replaces_of(ab) + ";early-only"
    leg = c.invite("anything", headers=[("Replaces", replaces), ("Require", "replaces")])
    refused = await c.response(leg.invite.call_id, "INVITE")
    assert refused.status == status
    a1 = leg_of(switch, ab.invite.call_id)
    assert not a1.hungup and a1.partner is not None
    assert not ab.ended.is_set() and not b_leg.ended.is_set()


async def test_invite_replacing_a_call_that_talks_to_an_application_is_refused(rig: Rig) -> None:
    switch, a, _, c = rig
    echo = await a.call("9196")
    leg = c.invite("anything", headers=[("Replaces", replaces_of(echo))])
    refused = await c.response(leg.invite.call_id, "INVITE")
    assert refused.status == 503
    assert not leg_of(switch, echo.invite.call_id).hungup


async def test_transferor_who_was_called_hands_its_caller_over_to_the_party_it_called(rig: Rig) -> None:
    # B called A, so B's own leg runs the bridge; A consults C and transfers B there.
    switch, a, b, c = rig
    ba, a_leg = await connect(b, a)
    ac, c_leg = await connect(a, c)
    b_side = leg_of(switch, ba.invite.call_id)  # B's inbound leg, running `bridge`
    c_side = leg_of(switch, ac.invite.call_id).partner
    assert c_side is not None
    refer_to = f"<sip:{c.user}@127.0.0.1?Replaces={escaped(replaces_of(ac))}>"

    accepted = await a.request(a_leg, "REFER", headers=[("Refer-To", refer_to)])

    assert accepted.status == 202
    await asyncio.wait_for(a_leg.ended.wait(), 10)
    await asyncio.wait_for(ac.ended.wait(), 10)
    assert a.notifies(a_leg) == ["SIP/2.0 100 Trying", "SIP/2.0 200 OK"]
    await wait_until(lambda: b_side.partner is c_side, what="B bridged to C")
    await hears(b, 1400)
    await hears(c, 1000)
    assert not ba.ended.is_set() and not c_leg.ended.is_set()


async def test_invite_replacing_the_switchs_call_to_a_phone_takes_that_phones_place(rig: Rig) -> None:
    # A called B; C replaces B (the dialog between the switch and B): A talks to C, B gets the BYE.
    switch, a, b, c = rig
    ab, b_leg = await connect(a, b)
    a_side = leg_of(switch, ab.invite.call_id)  # A's inbound leg, running `bridge`

    cn = await c.call("anything", headers=[("Replaces", replaces_of(b_leg))])

    await asyncio.wait_for(b_leg.ended.wait(), 10)
    n = leg_of(switch, cn.invite.call_id)
    await wait_until(lambda: a_side.partner is n, what="A bridged to the new call")
    await hears(a, 1400)
    await hears(c, 600)
    assert not ab.ended.is_set()


async def test_refer_with_replaces_when_a_call_is_not_bridged_fails_in_the_notify_and_keeps_both(
    rig: Rig,
) -> None:
    switch, a, _, c = rig
    echo = await a.call("9196")  # A talks to the switch's echo: no far leg to hand over
    ac, c_leg = await connect(a, c)
    refer_to = f"<sip:{c.user}@127.0.0.1?Replaces={escaped(replaces_of(ac))}>"
    accepted = await a.request(echo, "REFER", headers=[("Refer-To", refer_to)])
    assert accepted.status == 202
    await wait_until(lambda: len(a.notifies(echo)) == 2, what="two NOTIFYs")
    assert a.notifies(echo) == ["SIP/2.0 100 Trying", "SIP/2.0 503 Service Unavailable"]
    assert not leg_of(switch, echo.invite.call_id).hungup
    assert leg_of(switch, ac.invite.call_id).partner is not None
    assert not echo.ended.is_set() and not ac.ended.is_set() and not c_leg.ended.is_set()


async def test_a_profile_with_disable_transfer_refuses_refer_with_403(tmp_path: Path) -> None:
    async with boot_switch(tmp_path, external_params={"disable-transfer": "true"}) as (switch, port):
        a = await RawPhone(port, 600).open()
        b = await RawPhone(port, 1000).open()
        try:
            ab, b_leg = await connect(a, b)
            refused = await a.request(ab, "REFER", headers=[("Refer-To", "<sip:1002@127.0.0.1>")])
            assert refused.status == 403
            assert not leg_of(switch, ab.invite.call_id).hungup and not b_leg.ended.is_set()
        finally:
            await switch.stop()
            a.close()
            b.close()
