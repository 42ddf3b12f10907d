"""REFER (RFC 3515): blind and attended transfer, reported to the transferor by NOTIFY sipfrag.

- Blind: the partner of the leg that got the REFER goes to the Refer-To
  target through the dialplan; the transferor's leg ends BLIND_TRANSFER.
- Attended (RFC 5589 7): the Refer-To carries Replaces naming the
  transferor's consultation dialog.  One of ours: the two far legs are
  bridged here (no INVITE goes out).  Not ours: the transferee calls the
  Refer-To target with the Replaces carried through, and is bridged to it.

The transferor hears NOTIFY 100 Trying, then the final status (RFC 3515 2.4.4),
before the BYE of its leg, which waits for the last NOTIFY.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING
from uuid import uuid4

from switchcore.causes import HangupCause, sip_from_cause
from switchcore.events import Event
from switchcore.originate import originate
from switchcore.session import RunApps, Session

from .message import Request
from .replaces import ReferTarget, ReplacesError, refer_target
from .replacing import BRIDGE_APP, release, transfer_record
from .tu import Incoming

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.calls")

TRUE = ("true", "yes", "on", "1", "enabled")
REMOTE_TIMEOUT = 30.0  # how long the Refer-To target of a remote attended transfer may ring
REASONS = {
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    603: "Decline",
}


async def on_refer(call: SipCall, incoming: Incoming) -> None:
    """REFER (RFC 3515): blind transfer, or attended when the Refer-To carries Replaces (RFC 5589 7)."""
    req = incoming.request
    if call.handler.param("disable-transfer", "false").lower() in TRUE:
        # The profile's `disable-transfer`: FreeSWITCH refuses every REFER with 403.
        await incoming.respond(403, "Forbidden")
        return
    refer_to = req.get("Refer-To") or req.get("r") or ""
    try:
        target = refer_target(refer_to)
    except ReplacesError:
        await incoming.respond(400, "Bad Refer-To")
        return
    if target.replaces is not None:
        await on_attended_refer(call, incoming, target)
        return
    await on_blind_refer(call, incoming, target.uri.user or "", refer_to)


async def on_blind_refer(call: SipCall, incoming: Incoming, destination: str, refer_to: str) -> None:
    """Blind transfer (RFC 3515): the partner goes to the Refer-To target; we leave with BLIND_TRANSFER.

    The partner is routed in this leg's context (an outbound leg has its
    originator's), so a transfer reaches no further than the caller could.
    The transferor hears `NOTIFY` 100 then 200 (RFC 3515 2.4.4, sipfrag)
    before our BYE, which waits for the last NOTIFY.
    """
    req = incoming.request
    session = call.session
    if not destination or session is None or session.hungup:
        await incoming.respond(400 if not destination else 481, "Bad Refer-To" if not destination else "")
        return
    await incoming.respond(202, "Accepted")
    call.refer_done = asyncio.Event()
    try:
        await notify_sipfrag(call, "SIP/2.0 100 Trying")
        if session.hungup:
            await notify_sipfrag(call, "SIP/2.0 487 Request Terminated", terminated=True)
            return
        other = session.partner
        mover = other if other is not None else session
        log.info("[%s] blind transfer of %s to %s", call.uuid, mover.uuid, destination)
        session.variables["sip_refer_to"] = refer_to
        mover.variables["sip_refered_by"] = req.get("Referred-By") or str(req.from_addr)
        # Both at once, before anything awaits: the partner's bridge is cancelled by the
        # transfer, so it must find this leg already down with its own cause.
        mover.transfer(destination, "XML", session.profile.context)
        if other is not None:
            session.variables["sip_hangup_disposition"] = "recv_refer"
            session.hangup(HangupCause.BLIND_TRANSFER)
        await notify_sipfrag(call, "SIP/2.0 200 OK", terminated=True)
    finally:
        call.refer_done.set()


async def on_attended_refer(call: SipCall, incoming: Incoming, target: ReferTarget) -> None:
    """Attended transfer (RFC 5589 7, RFC 3891), as FreeSWITCH does it.

    The REFER arrives on the transferor's first call (A-B) and names its
    consultation call (A-C) in the Refer-To's Replaces.  When that dialog is
    one of ours, no INVITE goes out: the two far legs (B and C) are bridged
    to each other and both of A's legs end with ATTENDED_TRANSFER.  When
    the Call-ID is none of ours, the A-C call is elsewhere (A called C
    directly, or through another server): B is sent to the Refer-To target
    with the Replaces carried through (`remote_attended_transfer`).  A hears
    NOTIFY 100 Trying, then 200 OK (or the failure) before our BYEs.
    """
    replaces = target.replaces
    assert replaces is not None
    req = incoming.request
    session = call.session
    if session is None or session.hungup:
        await incoming.respond(481, "Call/Transaction Does Not Exist")
        return
    await incoming.respond(202, "Accepted")
    call.refer_done = asyncio.Event()
    try:
        await notify_sipfrag(call, "SIP/2.0 100 Trying")
        if call.handler.find_call(replaces.call_id) is None:
            frag = await remote_attended_transfer(call, target, req)
        else:
            replaced = call.handler.find_replaced(replaces)
            frag = attended_transfer(call, replaced.call if replaced.status == 200 else None, req)
            if replaced.status != 200:
                frag = f"SIP/2.0 {replaced.status} {replaced.reason}"
        await notify_sipfrag(call, frag, terminated=True)
    finally:
        call.refer_done.set()


def attended_transfer(call: SipCall, replaced: SipCall | None, req: Request) -> str:
    """Join the far legs of `call` and `replaced`; hang both up.  Returns the sipfrag status line.

    Everything happens before anything awaits, so each bridge that ends
    finds the transferor's legs already down with ATTENDED_TRANSFER and the
    far legs marked as moving on (they are not hung up with their bridge).
    """
    a1 = call.session
    a2 = replaced.session if replaced is not None else None
    if a1 is None or a1.hungup or a2 is None or a2.hungup:
        return "SIP/2.0 481 Call/Transaction Does Not Exist"
    if a2 is a1:
        return "SIP/2.0 400 Bad Request"
    b, c = a1.partner, a2.partner
    if b is None or c is None or b.hungup or c.hungup:
        log.info("[%s] attended transfer refused: both calls must be bridged", call.uuid)
        return "SIP/2.0 503 Service Unavailable"
    log.info("[%s] attended transfer: bridging %s to %s", call.uuid, b.uuid, c.uuid)
    release(b)
    release(c)
    history = transfer_record(a1, c)
    for leg, peer in ((b, c), (c, b)):
        leg.variables["transfer_history"] = history
        leg.variables["transfer_source"] = history
        leg.variables["att_xfer_peer_uuid"] = peer.uuid
    for leg in (a1, a2):
        _end_transferred(leg, req if leg is a1 else None)
    b.instruct(RunApps(((BRIDGE_APP, c.uuid),)))
    a1.fire(
        "CUSTOM",
        "sofia::transferor",
        att_xfer_replaced_call_id=a2.uuid,
        att_xfer_destination_peer_uuid=c.uuid,
        att_xfer_destination_call_id=a2.uuid,
        att_xfer_original_call_id=a1.uuid,
        att_xfer_original_peer_uuid=b.uuid,
    )
    b.fire(
        "CUSTOM",
        "sofia::transferee",
        att_xfer_replaced_call_id=a1.uuid,
        att_xfer_destination_peer_uuid=c.uuid,
    )
    a2.fire("CUSTOM", "sofia::replaced", att_xfer_replaced_by=b.uuid)
    return "SIP/2.0 200 OK"


# RFC 3261 19.1.5: headers of a Refer-To URI go into the request, except those that describe
# the transaction or the dialog (ours) or the body (none).
_NOT_FROM_URI = frozenset(
    (
        "via",
        "call-id",
        "cseq",
        "from",
        "to",
        "contact",
        "content-length",
        "content-type",
        "max-forwards",
        "record-route",
        "route",
        "replaces",
        "refer-to",
        "proxy-require",
        "expires",
        "body",
    )
)


def carried_headers(target: ReferTarget, req: Request) -> dict[str, str]:
    """The `sip_h_*` variables of the INVITE to a Refer-To target: its Replaces, its URI headers, Referred-By."""
    assert target.replaces is not None
    variables = {"sip_h_Replaces": str(target.replaces)}
    for name, value in target.headers:
        if name.lower() not in _NOT_FROM_URI:
            variables[f"sip_h_{name}"] = value
    # RFC 3892 3: the referee passes the REFER's Referred-By on.
    variables["sip_h_Referred-By"] = req.get("Referred-By") or req.get("b") or str(req.from_addr)
    return variables


def party_of(leg: Session) -> tuple[str, str]:
    """(number, name) of the party on a leg: the caller of an inbound one, the called of an outbound one."""
    profile = leg.profile
    if leg.direction == "outbound":
        number = profile.callee_id_number or profile.destination_number
        return number, profile.callee_id_name or number
    return profile.caller_id_number, profile.caller_id_name


async def remote_attended_transfer(call: SipCall, target: ReferTarget, req: Request) -> str:
    """A Replaces naming a dialog not on this switch: INVITE the Refer-To target with it (RFC 5589 7.2).

    FreeSWITCH's "nightmare transfer": the transferee (our A-B call's far leg
    B) calls the Refer-To URI with the Replaces carried through, so the party
    there (C) swaps its call with A for this one (RFC 3891 3).  When it
    answers, B leaves A and is bridged to the new leg, and A's leg ends
    ATTENDED_TRANSFER; otherwise A and B stay as they were and the NOTIFY
    carries the failure.  Returns the sipfrag status line.
    """
    a1 = call.session
    b = a1.partner if a1 is not None else None
    if a1 is None or a1.hungup or b is None or b.hungup:
        log.info("[%s] attended transfer refused: the call is not bridged", call.uuid)
        return "SIP/2.0 503 Service Unavailable"
    dial = f"sofia/{call.handler.profile_name}/{target.uri}"
    log.info("[%s] attended transfer of %s to %s (the dialog is elsewhere)", call.uuid, b.uuid, dial)
    variables = carried_headers(target, req)
    number, name = party_of(b)
    variables["origination_caller_id_number"] = number
    variables["origination_caller_id_name"] = name
    variables["origination_uuid"] = uuid = str(uuid4())
    failure: dict[str, str] = {}

    def keep_failure(event: Event) -> None:  # the target's own final status goes into the NOTIFY
        if event.headers.get("Unique-ID") == uuid:
            failure["status"] = event.headers.get("variable_sip_invite_failure_status", "")
            failure["reason"] = event.headers.get("variable_sip_invite_failure_phrase", "")

    stop_listening = call.switch.events.listen(keep_failure, names=["CHANNEL_HANGUP"])
    try:
        result = await originate(call.switch, dial, originator=b, timeout=REMOTE_TIMEOUT, variables=variables)
    finally:
        stop_listening()
    leg = result.session
    if leg is None or a1.hungup or b.hungup:
        if leg is not None:
            leg.hangup(HangupCause.ORIGINATOR_CANCEL if b.hungup else HangupCause.NORMAL_CLEARING)
            return "SIP/2.0 487 Request Terminated"
        if failure.get("status", "").isdigit():
            return f"SIP/2.0 {failure['status']} {failure.get('reason') or 'Failed'}"
        status = sip_from_cause(result.cause)
        return f"SIP/2.0 {status} {REASONS.get(status, 'Failed')}"
    release(b)
    history = transfer_record(a1, leg)
    for one in (b, leg):
        one.variables["transfer_history"] = history
        one.variables["transfer_source"] = history
    b.variables["att_xfer_peer_uuid"] = leg.uuid
    _end_transferred(a1, req)
    b.instruct(RunApps(((BRIDGE_APP, leg.uuid),)))
    a1.fire(
        "CUSTOM",
        "sofia::transferor",
        att_xfer_destination_peer_uuid=leg.uuid,
        att_xfer_original_call_id=a1.uuid,
        att_xfer_original_peer_uuid=b.uuid,
    )
    b.fire(
        "CUSTOM",
        "sofia::transferee",
        att_xfer_replaced_call_id=a1.uuid,
        att_xfer_destination_peer_uuid=leg.uuid,
    )
    return "SIP/2.0 200 OK"


def _end_transferred(leg: Session, refer: Request | None) -> None:
    """Hang up a leg an attended transfer replaced; `refer` is given for the transferor's own leg."""
    if refer is not None:
        leg.variables["sip_refer_to"] = refer.get("Refer-To") or refer.get("r") or ""
        leg.variables["sip_hangup_disposition"] = "recv_refer"
    leg.variables["transfer_disposition"] = "replaced"
    leg.variables["endpoint_disposition"] = "ATTENDED_TRANSFER"
    leg.hangup(HangupCause.ATTENDED_TRANSFER)


async def notify_sipfrag(call: SipCall, frag: str, terminated: bool = False) -> None:
    if call.dialog is None or call.dialog.terminated:
        return
    state = "terminated;reason=noresource" if terminated else "active;expires=60"
    notify = call.dialog.create_request(
        "NOTIFY",
        call.via(),
        headers=[("Event", "refer"), ("Subscription-State", state)],
        body=frag.encode() + b"\r\n",
        content_type="message/sipfrag;version=2.0",
    )
    try:
        await asyncio.wait_for(call.handler.stack.request(notify, call.peer, call.transport), 5)
    except (TimeoutError, OSError):
        log.info("[%s] NOTIFY for REFER got no answer", call.uuid)


__all__ = ["attended_transfer", "carried_headers", "notify_sipfrag", "on_refer", "remote_attended_transfer"]
