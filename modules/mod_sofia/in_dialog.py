"""Requests inside an established call: BYE, re-INVITE (hold), INFO (DTMF), REFER, and the DTMF we send.

Each function acts for one `SipCall` leg; the profile's handler has already
checked that the request belongs to the leg's dialog and is in CSeq order
(RFC 3261 12.2.2).

- BYE (RFC 3261 15.1.2) ends the session; a Q.850 `Reason` (RFC 3326) sets the cause.
- A re-INVITE is answered from the profile's codec policy; `a=sendonly` /
  `a=inactive` (RFC 3264 8.4, RFC 6337) put the leg on hold: its partner hears
  hold music, `CHANNEL_HOLD` fires, the hold media timeout applies.
- INFO with `application/dtmf-relay` (or `application/dtmf`) carries digits.
- REFER (RFC 3515) is a blind transfer of the partner, reported by NOTIFY sipfrag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.negotiate import IncompatibleMedia, answer_offer, is_hold
from switchcore.media.sdp import SdpError, SessionDescription
from switchcore.states import CallState

from .tu import Incoming
from .uri import NameAddr

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


async def on_reinvite(call: SipCall, incoming: Incoming) -> None:
    """A re-INVITE: hold, unhold or a new address (RFC 3264 8, RFC 6337 for hold)."""
    req = incoming.request  # CSeq order and target refresh: the handler applied them
    if not req.body:
        await incoming.respond(200, "OK", call.contact_headers(), bytes(call.local_sdp or b""), SDP)
        return
    try:
        offer = SessionDescription.parse(req.body)
        answer = answer_offer(offer, call.local_media(), call.policy(), call.switch.registry.codecs)
    except (SdpError, IncompatibleMedia) as exc:
        await incoming.respond(488, "Not Acceptable Here", [("Warning", f'399 switchcore "{quoted(exc)}"')])
        return
    audio = offer.audio()
    held = audio is not None and is_hold(offer, audio)
    call.local_sdp = answer.sdp
    await call.open_media(answer.negotiated)
    await incoming.respond(200, "OK", call.contact_headers(), bytes(answer.sdp), SDP)
    set_held(call, held)


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
    """Blind transfer (RFC 3515): the partner goes to the Refer-To target; we leave with BLIND_TRANSFER.

    The partner is routed in this leg's context (an outbound leg has its
    originator's), so a transfer reaches no further than the caller could.
    The transferor hears `NOTIFY` 100 then 200 (RFC 3515 2.4.4, sipfrag)
    before our BYE, which waits for the last NOTIFY.
    """
    req = incoming.request
    refer_to = req.get("Refer-To") or req.get("r") or ""
    try:
        target = NameAddr.parse(refer_to).uri
    except Exception:
        await incoming.respond(400, "Bad Refer-To")
        return
    destination = target.user or ""
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


__all__ = ["on_bye", "on_info", "on_refer", "on_reinvite", "send_dtmf", "set_held"]
