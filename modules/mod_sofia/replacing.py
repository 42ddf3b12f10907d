"""Legs that change partners: an INVITE with Replaces (RFC 3891) and the far legs of an attended transfer.

- `replace_app` runs on the new leg of an INVITE whose Replaces named a call
  of ours (routed by the `sofia_replaces` dialplan, `wiring.py`).  A
  confirmed dialog: the new leg takes the replaced leg's place in its bridge
  and the replaced leg gets its BYE (ATTENDED_TRANSFER).  An early dialog
  the switch initiated (a leg still ringing): call pickup, the ringing leg is
  CANCELled (PICKED_OFF) and its caller is answered and bridged to the new leg.
- `attended_bridge_app` runs on a far leg of an attended transfer (REFER with
  Replaces resolved here, `refer.py`): it meets the other far leg.
"""

from __future__ import annotations

import asyncio
import logging
import time

from switchcore.bridge import bridge
from switchcore.causes import HangupCause
from switchcore.session import Session

log = logging.getLogger("mod_sofia.calls")


def transfer_record(transferor: Session, target: Session) -> str:
    """FreeSWITCH's transfer_history entry: `<epoch>:<uuid>:att_xfer:<transferor>/<target>`."""

    def who(leg: Session) -> str:
        if leg.direction == "inbound":
            user, host = leg.get_var("sip_from_user"), leg.get_var("sip_from_host")
        else:
            user, host = leg.get_var("sip_to_user"), leg.get_var("sip_to_host")
        user = user or leg.profile.destination_number or leg.profile.caller_id_number
        return f"{user}@{host}" if host else user

    return f"{int(time.time())}:{transferor.uuid}:att_xfer:{who(transferor)}/{who(target)}"


BRIDGE_APP = "sofia_attended_bridge"
REPLACE_APP = "sofia_replace"


def runs_own_app(leg: Session) -> bool:
    """Does this leg run an application (its own dialplan) rather than being driven by another's bridge?"""
    return leg.runs_app


def release(leg: Session) -> None:
    """Free a live leg from what holds it now, keeping it up (it is about to be bridged elsewhere).

    A leg that runs its own application (an inbound leg's `bridge`) stops it
    and waits; a leg driven by the other leg's `bridge` leaves that bridge
    alive, as a transferred far leg does.
    """
    if runs_own_app(leg):
        leg.detach_for_bridge()
    else:
        leg.transferred_out = True
        leg.leave_bridge.set()


async def bridge_legs(leg: Session, other: Session) -> None:
    """Bridge `leg` (whose task runs this) to `other` once both left their old bridges; as uuid_bridge.

    When one side hangs up the other follows with its cause: neither has a
    dialplan of its own to go back to.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while (leg.partner is not None or other.partner is not None) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if other.hungup or leg.hungup:
        leg.hangup(other.cause if other.hungup else HangupCause.NORMAL_CLEARING)
        return
    try:
        if not leg.answered:
            await leg.answer()
        await bridge(leg, other)
    finally:
        if not other.hungup and leg.hungup:
            other.hangup(leg.cause)
    if not leg.hungup:
        leg.hangup(other.cause if other.hungup else HangupCause.NORMAL_CLEARING)


async def attended_bridge_app(session: Session, arg: str) -> None:
    """The far leg of an attended transfer meets the other far leg (the uuid in `arg`)."""
    other = session.switch.sessions.get(arg.strip())
    if other is None or other.hungup:
        session.hangup(HangupCause.ATTENDED_TRANSFER if other is None else other.cause)
        return
    await bridge_legs(session, other)


async def replace_app(session: Session, arg: str) -> None:
    """An INVITE with Replaces (RFC 3891 3): this new leg takes the replaced leg's place in its bridge.

    The new call is answered first, then the replaced dialog gets its BYE
    (ATTENDED_TRANSFER) and its partner is bridged to us.  A replaced leg
    still ringing (an early dialog the switch initiated) is picked up instead.
    """
    replaced = session.switch.sessions.get(arg.strip())
    if replaced is not None and not replaced.hungup and not replaced.answered:
        await pickup(session, replaced)
        return
    partner = replaced.partner if replaced is not None else None
    if replaced is None or replaced.hungup or partner is None or partner.hungup:
        session.variables["endpoint_disposition"] = "ATTENDED_TRANSFER_ERROR"
        session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
        return
    await session.answer()
    if session.hungup or replaced.hungup or partner.hungup:
        if not session.hungup:
            session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
        return
    release(partner)
    replaced.variables["transfer_disposition"] = "replaced"
    replaced.variables["sip_replaced_by"] = session.uuid
    replaced.hangup(HangupCause.ATTENDED_TRANSFER)
    session.variables["sip_replaced_uuid"] = replaced.uuid
    history = transfer_record(replaced, partner)
    for leg in (session, partner):
        leg.variables["transfer_history"] = history
        leg.variables["transfer_source"] = history
    replaced.fire("CUSTOM", "sofia::replaced", att_xfer_replaced_by=session.uuid)
    partner.fire("CUSTOM", "sofia::transferee", att_xfer_replaced_call_id=replaced.uuid)
    await bridge_legs(session, partner)


def caller_of(leg: Session) -> Session | None:
    """The leg that dialled `leg` (the originator of an outbound SIP leg), if any."""
    call = getattr(leg.driver, "call", None)
    caller = getattr(call, "originator", None)
    return caller if isinstance(caller, Session) else None


async def pickup(session: Session, ringing: Session) -> None:
    """Call pickup (RFC 3891 3): the INVITE's Replaces named the early dialog of a leg we dialled.

    RFC 3891 3: "If the Replaces header field matches an early dialog that was
    initiated by this UA, it [...] MUST be terminated (CANCEL)" and the new
    INVITE accepted.  So the ringing leg ends PICKED_OFF (its CANCEL goes out),
    the caller that waited on it leaves its `bridge`, both the caller and the
    new leg are answered and bridged to each other (FreeSWITCH's intercept).
    """
    caller = caller_of(ringing)
    if caller is None or caller.hungup or ringing.hungup or ringing.answered:
        session.variables["endpoint_disposition"] = "PICKUP_ERROR"
        session.hangup(HangupCause.NO_PICKUP)
        return
    log.info("[%s] picks up %s, the call of %s", session.uuid, ringing.uuid, caller.uuid)
    # Before anything awaits: the caller's `bridge` (the originate still waiting on the
    # ringing leg) stops, and the ringing leg is down with its own cause, not the caller's.
    ringing.variables["transfer_disposition"] = "replaced"
    ringing.variables["sip_replaced_by"] = session.uuid
    ringing.hangup(HangupCause.PICKED_OFF)
    release(caller)
    caller.variables["intercepted_by"] = session.uuid
    session.variables["sip_replaced_uuid"] = ringing.uuid
    session.variables["intercepted_uuid"] = caller.uuid
    ringing.fire("CUSTOM", "sofia::intercepted", intercepted_by=session.uuid)
    ringing.fire("CUSTOM", "sofia::replaced", att_xfer_replaced_by=session.uuid)
    await session.answer()
    if not session.hungup and not caller.hungup:
        await caller.answer()
    await bridge_legs(session, caller)


__all__ = [
    "BRIDGE_APP",
    "REPLACE_APP",
    "attended_bridge_app",
    "bridge_legs",
    "caller_of",
    "pickup",
    "release",
    "replace_app",
    "transfer_record",
]
