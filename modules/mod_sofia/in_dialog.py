"""Requests inside an established call: BYE, re-INVITE (hold), INFO (DTMF), REFER, and the DTMF we send.

Each function acts for one `SipCall` leg; the profile's handler has already
checked that the request belongs to the leg's dialog and is in CSeq order
(RFC 3261 12.2.2).

- BYE (RFC 3261 15.1.2) ends the session; a Q.850 `Reason` (RFC 3326) sets the cause.
- A re-INVITE is answered from the profile's codec policy; `a=sendonly` /
  `a=inactive` (RFC 3264 8.4, RFC 6337) put the leg on hold: its partner hears
  hold music, `CHANNEL_HOLD` fires, the hold media timeout applies.
- A re-INVITE or UPDATE (RFC 3311) is also a session refresh (RFC 4028): its
  timer headers are negotiated like an initial INVITE's (422/420/400 refuse
  it), our 2xx carries the result and the leg's refresh watch restarts.
- INFO with `application/dtmf-relay` (or `application/dtmf`) carries digits.
- REFER (RFC 3515) is a blind transfer of the partner, reported by NOTIFY sipfrag; with
  `Replaces` in its Refer-To (RFC 5589 7) an attended transfer: when the named dialog
  is ours, the two far legs are bridged to each other (FreeSWITCH's local resolution).
- An INVITE with `Replaces` (RFC 3891) runs `replace_app`: the new leg takes the
  replaced leg's place in its bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from switchcore.bridge import bridge
from switchcore.causes import HangupCause
from switchcore.media.negotiate import IncompatibleMedia, answer_offer, is_hold
from switchcore.media.sdp import SdpError, SessionDescription
from switchcore.session import RunApps, Session
from switchcore.states import CallState

from .message import Request
from .replaces import Replaces, ReplacesError, refer_target
from .session_timer import Accept, Refuse, TimerHeaderError, TimerPolicy, answer_request
from .tu import Incoming

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.calls")

SDP = "application/sdp"


def quoted(exc: Exception) -> str:
    """An exception's text made safe inside a Warning header's quoted string (RFC 3261 25.1)."""
    return str(exc).replace("\\", "").replace('"', "'").replace("\r", " ").replace("\n", " ")[:200]


async def on_bye(call: SipCall, incoming: Incoming) -> None:
    call.bye_received = True
    await incoming.respond(200, "OK")
    if call.dialog is not None and not call.dialog.terminated:
        call.dialog.terminate()
    session = call.session
    if session is not None:
        session.variables["sip_hangup_disposition"] = "recv_bye"
        # RFC 3261 15.1.2: a BYE in the early dialog ends the INVITE with 487 (the caller gave up).
        cause = HangupCause.NORMAL_CLEARING if call.answered else HangupCause.ORIGINATOR_CANCEL
        reason = incoming.request.get("Reason") or ""
        if "cause=" in reason:
            code = reason.split("cause=", 1)[1].split(";")[0].strip()
            cause = HangupCause.parse(code, cause)
        session.hangup(cause)


async def negotiate_timer(policy: TimerPolicy, incoming: Incoming) -> Accept | None:
    """RFC 4028 §9 for an INVITE, re-INVITE or UPDATE; None once a refusal (422, 420) or 400 is sent."""
    req = incoming.request
    try:
        result = answer_request(
            policy,
            session_expires=req.get("Session-Expires"),
            min_se=req.get("Min-SE"),
            supported=[tag.lower() for tag in req.values("Supported")],
            require=[tag.lower() for tag in req.values("Require")],
        )
    except TimerHeaderError as exc:
        await incoming.respond(400, "Bad Request", [("Warning", f'399 switchcore "{quoted(exc)}"')])
        return None
    if isinstance(result, Refuse):
        log.info("[%s] %s refused: %d %s", req.call_id, req.method, result.status, result.reason)
        await incoming.respond(result.status, result.reason, list(result.headers))
        return None
    return result


def refreshed(call: SipCall, incoming: Incoming, accepted: Accept) -> None:
    """A refresh we answered 2xx (RFC 4028 §10): the watch restarts with what it negotiated.

    Whoever refreshed last, and whichever refresher the request chose (FreeSWITCH's
    complaint 13: a re-INVITE changing the refresher went unanswered), the 2xx
    carries the new Session-Expires and the watch follows it.
    """
    call.learn_allow(incoming.request)
    call.refresh.start(accepted.timer)


async def on_reinvite(call: SipCall, incoming: Incoming) -> None:
    """A re-INVITE: hold, unhold, a new address (RFC 3264 8, RFC 6337 for hold), a session refresh."""
    req = incoming.request  # CSeq order and target refresh: the handler applied them
    if call.reinvite_pending:
        # RFC 3261 14.2: our own re-INVITE (a session refresh) is in progress: glare.
        await incoming.respond(491, "Request Pending")
        return
    accepted = await negotiate_timer(call.timer_policy, incoming)
    if accepted is None:
        return
    headers = call.contact_headers() + list(accepted.headers)
    if not req.body:
        # RFC 3261 14.2 / RFC 3264 5: a re-INVITE without SDP asks for an offer.  Ours is
        # the session as it stands (same o= version: unchanged, RFC 3264 8); the ACK answers.
        if call.local_sdp is None:
            await incoming.respond(500, "Server Internal Error", [("Retry-After", "1")])
            return
        log.info("[%s] re-INVITE without SDP: offering our current session", call.uuid)
        call.awaiting_answer = call.local_sdp
        call.reinvite_cseq = req.cseq.number
        await incoming.respond(200, "OK", headers, bytes(call.local_sdp), SDP)
        refreshed(call, incoming, accepted)
        return
    await answer_in_dialog_offer(call, incoming, headers, accepted)


async def answer_in_dialog_offer(
    call: SipCall, incoming: Incoming, headers: list[tuple[str, str]], accepted: Accept
) -> None:
    """Answer the SDP offer of a re-INVITE or UPDATE from the codec policy (488 when unusable)."""
    try:
        offer = SessionDescription.parse(incoming.request.body)
        answer = answer_offer(offer, call.local_media(), call.policy(), call.switch.registry.codecs)
    except (SdpError, IncompatibleMedia) as exc:
        await incoming.respond(488, "Not Acceptable Here", [("Warning", f'399 switchcore "{quoted(exc)}"')])
        return
    audio = offer.audio()
    held = audio is not None and is_hold(offer, audio)
    call.local_sdp = answer.sdp
    await call.open_media(answer.negotiated)
    await incoming.respond(200, "OK", headers, bytes(answer.sdp), SDP)
    refreshed(call, incoming, accepted)
    set_held(call, held)


async def on_update(call: SipCall, incoming: Incoming) -> None:
    """UPDATE (RFC 3311): a session refresh (RFC 4028) and, with SDP, an offer answered at once."""
    req = incoming.request
    if req.body and call.reinvite_pending:
        # RFC 3311 5.2: an offer while ours (the re-INVITE of a refresh) awaits its answer.
        await incoming.respond(491, "Request Pending")
        return
    accepted = await negotiate_timer(call.timer_policy, incoming)
    if accepted is None:
        return
    headers = call.contact_headers() + list(accepted.headers)
    if not req.body:
        await incoming.respond(200, "OK", headers)
        refreshed(call, incoming, accepted)
        return
    await answer_in_dialog_offer(call, incoming, headers, accepted)


def set_held(call: SipCall, held: bool) -> None:
    session = call.session
    if session is None or held == call.driver.held:
        return
    call.driver.set_held(held)
    media = call.driver.media
    if media is not None:
        hold_timeout = float(call.handler.param("rtp-hold-timeout-sec", "0") or 0) or None
        run_timeout = float(call.handler.param("rtp-timeout-sec", "0") or 0) or None
        with contextlib.suppress(RuntimeError):
            media.rtp.set_media_timeout(hold_timeout if held else run_timeout)
    if held:
        session.set_call_state(CallState.HELD)
        session.fire("CHANNEL_HOLD")
    else:
        session.set_call_state(CallState.ACTIVE)
        session.fire("CHANNEL_UNHOLD")


async def on_info(call: SipCall, incoming: Incoming) -> None:
    req = incoming.request
    kind = (req.content_type or "").lower()
    digit = ""
    duration = 100
    if "dtmf-relay" in kind:
        for line in req.body.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition("=")
            if name.strip().lower() == "signal":
                digit = value.strip()[:1]
            elif name.strip().lower() == "duration" and value.strip().isdigit():
                duration = int(value.strip())
    elif "application/dtmf" in kind:
        digit = req.body.decode("utf-8", "replace").strip()[:1]
    await incoming.respond(200, "OK")
    if digit and call.session is not None and not call.session.hungup:
        call.session.queue_dtmf(digit.upper() if digit.isalpha() else digit, "INFO", duration)


async def on_refer(call: SipCall, incoming: Incoming) -> None:
    """REFER (RFC 3515): blind transfer, or attended when the Refer-To carries Replaces (RFC 5589 7)."""
    req = incoming.request
    refer_to = req.get("Refer-To") or req.get("r") or ""
    try:
        target = refer_target(refer_to)
    except ReplacesError:
        await incoming.respond(400, "Bad Refer-To")
        return
    if target.replaces is not None:
        await on_attended_refer(call, incoming, target.replaces)
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


async def on_attended_refer(call: SipCall, incoming: Incoming, replaces: Replaces) -> None:
    """Attended transfer resolved here, as FreeSWITCH does (RFC 5589 7, RFC 3891).

    The REFER arrives on the transferor's first call (A-B) and names its
    consultation call (A-C) in the Refer-To's Replaces.  When that dialog is
    one of ours, no INVITE goes out: the two far legs (B and C) are bridged
    to each other and both of A's legs end with ATTENDED_TRANSFER.  A hears
    NOTIFY 100 Trying, then 200 OK (or the failure) before our BYEs.
    """
    req = incoming.request
    session = call.session
    if session is None or session.hungup:
        await incoming.respond(481, "Call/Transaction Does Not Exist")
        return
    await incoming.respond(202, "Accepted")
    call.refer_done = asyncio.Event()
    try:
        await notify_sipfrag(call, "SIP/2.0 100 Trying")
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
    a1.variables["sip_refer_to"] = req.get("Refer-To") or req.get("r") or ""
    a1.variables["sip_hangup_disposition"] = "recv_refer"
    for leg in (a1, a2):
        leg.variables["transfer_disposition"] = "replaced"
        leg.variables["endpoint_disposition"] = "ATTENDED_TRANSFER"
        leg.hangup(HangupCause.ATTENDED_TRANSFER)
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


# ---- legs that change partners ------------------------------------------------------------------

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
    (ATTENDED_TRANSFER) and its partner is bridged to us.
    """
    replaced = session.switch.sessions.get(arg.strip())
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


async def send_dtmf(call: SipCall, digits: str, duration_ms: int) -> None:
    dtmf_type = (call.session.get_var("dtmf_type") if call.session else None) or call.handler.param(
        "dtmf-type", "rfc2833"
    )
    media = call.driver.media
    if dtmf_type == "info" or media is None or media.negotiated.dtmf_pt is None:
        if dtmf_type == "none":
            return
        for digit in digits:
            await send_info_dtmf(call, digit, duration_ms)
        return
    await media.rtp.send_dtmf(digits, duration_ms)


async def send_info_dtmf(call: SipCall, digit: str, duration_ms: int) -> None:
    if call.dialog is None or call.dialog.terminated:
        return
    info = call.dialog.create_request(
        "INFO",
        call.via(),
        body=f"Signal={digit}\r\nDuration={duration_ms}\r\n".encode(),
        content_type="application/dtmf-relay",
    )
    await call.request_quietly(info)


__all__ = [
    "BRIDGE_APP",
    "REPLACE_APP",
    "attended_bridge_app",
    "attended_transfer",
    "on_bye",
    "on_info",
    "negotiate_timer",
    "on_refer",
    "on_reinvite",
    "on_update",
    "release",
    "replace_app",
    "send_dtmf",
    "set_held",
]
