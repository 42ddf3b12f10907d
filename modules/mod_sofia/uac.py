"""The switch's INVITE for an outbound leg (RFC 3261 13.2): provisional responses, the 2xx, failure.

`SipCall.outbound` builds the INVITE and runs `run` as the leg's task.  A
180 rings the leg and its caller; a 180/183 with SDP is early media; a 2xx is
ACKed (13.2.2.4), answers the leg and starts its session timer (RFC 4028
§7.2); a 422 is retried once with the Min-SE it named (§7.4); any other
final status becomes the leg's hangup cause (`cause_from_sip`).  While the
leg rings, its caller giving up CANCELs it.  The To tags of the early
dialogs are kept: an INVITE with Replaces naming one picks the call up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause, cause_from_sip
from switchcore.media.negotiate import IncompatibleMedia, accept_answer
from switchcore.media.sdp import SdpError, SessionDescription
from switchcore.states import CallState

from .dialog import Dialog
from .leg_refresh import invite_after_422
from .message import Response
from .session_refresh import timer_tags
from .session_timer import TimerHeaderError, read_answer

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.calls")


async def run(call: SipCall) -> None:
    """Send the leg's INVITE and follow it to its final response (the leg's task)."""
    assert call.invite is not None and call.session is not None
    session = call.session
    watch = watch_originator(call)
    try:
        response = await call.handler.stack.request(
            call.invite,
            call.peer,
            call.transport,
            on_provisional=lambda response: on_provisional(call, response),
        )
        retry = invite_after_422(call, response)
        if retry is not None:
            call.invite = retry
            response = await call.handler.stack.request(
                retry,
                call.peer,
                call.transport,
                on_provisional=lambda response: on_provisional(call, response),
            )
    except Exception as exc:  # a transport failure must end the leg, not leak
        log.error("[%s] INVITE to %s failed: %s", call.uuid, call.peer, exc)
        session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
        return
    finally:
        if watch is not None:
            watch.cancel()
    if 200 <= response.status < 300:
        await on_2xx(call, response)
        return
    session.variables["sip_term_status"] = str(response.status)
    session.variables["sip_invite_failure_status"] = str(response.status)
    session.variables["sip_invite_failure_phrase"] = response.reason
    if not session.hungup:
        session.hangup(cause_from_sip(response.status))


def watch_originator(call: SipCall) -> asyncio.Task[None] | None:
    """While we ring, a caller who gives up takes this leg down too (CANCEL), whatever its dialplan does."""
    caller = call.originator
    if caller is None:
        return None

    async def watch() -> None:
        await caller.wait_hangup()
        session = call.session
        if session is not None and not session.hungup and not call.answered:
            session.hangup(HangupCause.ORIGINATOR_CANCEL)

    return asyncio.get_running_loop().create_task(watch())


def on_provisional(call: SipCall, response: Response) -> None:
    call.provisional_seen.set()
    if response.to_tag and response.status > 100:
        # RFC 3261 12.1: a provisional response with a To tag makes an early dialog, which an
        # INVITE with Replaces may name to pick the call up (RFC 3891 3).
        call.early_tags.add(response.to_tag)
    session = call.session
    if session is None or session.hungup:
        if call.cancel_requested:
            call.send_cancel()
        return
    if response.status == 180:
        session.mark_ringing()
        ring_originator(call)
    if response.status in (180, 183) and response.body:
        asyncio.get_running_loop().create_task(early_media(call, response))


def ring_originator(call: SipCall) -> None:
    """Tell the caller that we ring (FreeSWITCH's originate does `switch_channel_ring_ready` on it)."""
    caller = call.originator
    if caller is None or caller.hungup or caller.answered or caller.early:
        return
    if caller.call_state is not CallState.RINGING:
        asyncio.get_running_loop().create_task(caller.ring_ready())


async def early_media(call: SipCall, response: Response) -> None:
    if call.negotiated is not None or call.session is None:
        if call.session is not None and response.status == 183:
            call.session.mark_early_media()
        return
    if await take_answer(call, response):
        call.session.mark_early_media()


async def take_answer(call: SipCall, response: Response) -> bool:
    assert call.offer is not None
    try:
        answer = SessionDescription.parse(response.body)
        negotiated = accept_answer(call.offer.sdp, answer, call.policy(), call.switch.registry.codecs)
    except (SdpError, IncompatibleMedia) as exc:
        log.warning("[%s] unusable SDP answer: %s", call.uuid, exc)
        return False
    await call.open_media(negotiated)
    return True


async def on_2xx(call: SipCall, response: Response) -> None:
    assert call.invite is not None and call.session is not None
    call.dialog = Dialog.from_uac(call.invite, response)
    ack = call.dialog.create_ack(call.invite.cseq.number, call.via())
    call.handler.stack.send_stateless(ack, call.peer, call.transport)
    call.answered = True
    call.learn_allow(response)
    if response.body and call.negotiated is None:
        await take_answer(call, response)
    session = call.session
    if session.hungup or call.cancel_requested:
        await call.send_bye(session.cause if session.hungup else HangupCause.ORIGINATOR_CANCEL)
        return
    session.variables["sip_term_status"] = str(response.status)
    session.mark_answered()
    try:
        timer = read_answer(call.timer_policy, response.get("Session-Expires"), timer_tags(response))
    except TimerHeaderError as exc:  # RFC 4028 §7.2 gives no remedy: run without a timer
        log.warning("[%s] unusable Session-Expires in the 2xx: %s", call.uuid, exc)
        timer = None
    call.refresh.start(timer)


__all__ = ["on_provisional", "run"]
