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
- REFER (RFC 3515), blind or attended transfer, is `refer.py`'s; the legs that
  change partners (INVITE with Replaces, call pickup) are `replacing.py`'s.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.negotiate import IncompatibleMedia, answer_offer, is_hold
from switchcore.media.sdp import SdpError, SessionDescription
from switchcore.states import CallState

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
    "on_bye",
    "on_info",
    "negotiate_timer",
    "on_reinvite",
    "on_update",
    "send_dtmf",
    "set_held",
]
