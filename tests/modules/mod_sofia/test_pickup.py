"""Call pickup: an INVITE with Replaces naming a call that still rings (RFC 3891 3), in process.

A calls B through the real switch (`raw_ua.boot_switch`: the destination number is the port of
the phone that answers); B only rings (180 with its tag).  C then sends an INVITE with Replaces
naming the switch's early dialog with B: the switch answers C, answers A, bridges the two and
CANCELs B, whose leg ends PICKED_OFF.  Each raw phone sends its own PCMU tone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_sofia.message import Request, make_response, new_tag, parse_message
from switchcore.causes import HangupCause
from switchcore.core import Switch
from switchcore.session import Session

from .raw_ua import RawPhone, boot_switch, wait_until
from .test_attended_transfer import custom_events, hears, leg_of

pytestmark = pytest.mark.timeout(60)

Rig = tuple[Switch, RawPhone, RawPhone, RawPhone]


class Ringing:
    """B's side of the call: rings with its own To tag, answers a CANCEL 200 and the INVITE 487."""

    def __init__(self, phone: RawPhone) -> None:
        self.phone = phone
        self.tag = new_tag()
        self.invite: Request | None = None
        self.cancelled = asyncio.Event()
        received = phone._received

        def intercept(data: bytes, addr: tuple[str, int]) -> None:
            message = parse_message(data)
            if isinstance(message, Request) and message.method == "CANCEL" and self.invite is not None:
                phone.send(make_response(message, 200))
                phone.send(make_response(self.invite, 487, to_tag=self.tag))
                self.cancelled.set()
                return
            received(data, addr)

        phone._received = intercept  # type: ignore[method-assign]

    async def ring(self) -> Request:
        self.invite = await asyncio.wait_for(self.phone.incoming.get(), 10)
        self.phone.send(make_response(self.invite, 180, to_tag=self.tag))
        return self.invite

    def replaces(self, *, as_b_sees_it: bool = False) -> str:
        """The early dialog between the switch and B, named from the switch's side (RFC 3891 3), or B's."""
        assert self.invite is not None and self.invite.from_tag is not None
        ours, theirs = self.invite.from_tag, self.tag
        if as_b_sees_it:
            ours, theirs = theirs, ours
        return f"{self.invite.call_id};to-tag={ours};from-tag={theirs}"


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with boot_switch(tmp_path) as (switch, port):
        a = await RawPhone(port, 600).open()
        b = await RawPhone(port, 1000).open()
        c = await RawPhone(port, 1400).open()
        try:
            yield switch, a, b, c
        finally:
            await switch.stop()
            for phone in (a, b, c):
                phone.close()


async def ringing_call(switch: Switch, a: RawPhone, b: RawPhone) -> tuple[Ringing, Session, Session, str]:
    """A dials B, B rings: (B's side, A's leg, the switch's leg to B, A's Call-ID)."""
    ringing = Ringing(b)
    leg = a.invite(b.user)
    invite = await ringing.ring()
    a_side = leg_of(switch, leg.invite.call_id)
    b_side = leg_of(switch, invite.call_id)
    await wait_until(lambda: b_side.call_state.name == "RINGING", what="the switch's leg to B rings")
    return ringing, a_side, b_side, leg.invite.call_id


@pytest.mark.slow
@pytest.mark.parametrize("as_b_sees_it", [False, True], ids=["switch-view", "b-view"])
async def test_invite_with_replaces_naming_a_ringing_call_picks_it_up(rig: Rig, as_b_sees_it: bool) -> None:
    switch, a, b, c = rig
    ringing, a_side, b_side, a_call_id = await ringing_call(switch, a, b)
    events = custom_events(switch)

    cn = await c.call("anything", headers=[("Replaces", ringing.replaces(as_b_sees_it=as_b_sees_it))])

    await asyncio.wait_for(ringing.cancelled.wait(), 10)  # RFC 3891 3: the early dialog is CANCELled
    answered = await a.response(a_call_id, "INVITE", timeout=10)  # A's call is answered too
    assert answered.status == 200
    a.confirm(a.legs[a_call_id], answered)
    assert b_side.cause is HangupCause.PICKED_OFF
    n = leg_of(switch, cn.invite.call_id)
    await wait_until(lambda: a_side.partner is n, what="A bridged to C")
    await hears(a, 1400)
    await hears(c, 600)
    assert a_side.variables.get("intercepted_by") == n.uuid
    assert n.variables.get("sip_replaced_uuid") == b_side.uuid
    assert b_side.variables.get("sip_replaced_by") == n.uuid
    fired = {e.headers.get("Event-Subclass"): e.headers for e in events}
    assert fired["sofia::intercepted"]["Unique-ID"] == b_side.uuid
    assert fired["sofia::intercepted"]["intercepted_by"] == n.uuid

    # C hangs up: A follows.
    await c.request(cn, "BYE")
    await asyncio.wait_for(a.legs[a_call_id].ended.wait(), 10)
    assert n.cause is HangupCause.NORMAL_CLEARING and a_side.hungup


async def test_replaces_naming_a_ringing_call_with_a_wrong_tag_is_481_and_it_keeps_ringing(rig: Rig) -> None:
    switch, a, b, c = rig
    ringing, a_side, b_side, _ = await ringing_call(switch, a, b)
    assert ringing.invite is not None
    wrong = f"{ringing.invite.call_id};to-tag={ringing.invite.from_tag};from-tag=not-b"
    leg = c.invite("anything", headers=[("Replaces", wrong)])
    refused = await c.response(leg.invite.call_id, "INVITE")
    assert refused.status == 481
    assert not b_side.hungup and not a_side.hungup and not ringing.cancelled.is_set()


async def test_replaces_naming_an_inbound_call_still_ringing_here_is_481(rig: Rig) -> None:
    # RFC 3891 3: an early dialog this UA did not initiate (A's INVITE, which the switch has not
    # answered yet) cannot be replaced.
    switch, a, b, c = rig
    ringing, a_side, _, a_call_id = await ringing_call(switch, a, b)
    early = await a.response(a_call_id, "INVITE", final=False)
    while early.status == 100:
        early = await a.response(a_call_id, "INVITE", final=False)
    assert early.status in (180, 183) and early.to_tag
    assert a.tag
    replaces = f"{a_call_id};to-tag={early.to_tag};from-tag={a.tag}"
    leg = c.invite("anything", headers=[("Replaces", replaces)])
    refused = await c.response(leg.invite.call_id, "INVITE")
    assert refused.status == 481
    assert not a_side.hungup and not ringing.cancelled.is_set()


async def test_early_only_replaces_may_pick_up_a_ringing_call(rig: Rig) -> None:
    switch, a, b, c = rig
    ringing, a_side, b_side, _ = await ringing_call(switch, a, b)
    cn = await c.call("anything", headers=[("Replaces", ringing.replaces() + ";early-only")])
    await asyncio.wait_for(ringing.cancelled.wait(), 10)
    assert b_side.cause is HangupCause.PICKED_OFF
    n = leg_of(switch, cn.invite.call_id)
    await wait_until(lambda: a_side.partner is n, what="A bridged to C")
