"""The session timer of one call leg (RFC 4028): our refreshes, their failure, the 422 retry.

`session_refresh.RefreshWatch` decides *when* (the timer, who refreshes);
this file is what a `calls.SipCall` does when told: send a refresh (an
UPDATE without a body, RFC 3311, or a re-INVITE offering the session as it
stands), end the call when the peer stopped refreshing (RFC 4028 §10, BYE
with sofia-sip's 408 Reason), and, for an initial INVITE refused with 422,
the same INVITE again asking for the Min-SE the refusal named (§7.4).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause, cause_from_sip
from switchcore.media.negotiate import IncompatibleMedia, accept_answer
from switchcore.media.sdp import SdpError, SessionDescription

from .message import Request, Response, make_response
from .session_timer import TimerPolicy, interval_after_422, refresh_headers

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.calls")

SDP = "application/sdp"
# sofia-sip's BYE when a session timer runs out (FreeSWITCH logs the call's end as a session timeout).
SESSION_TIMEOUT_REASON = ("Reason", 'SIP;cause=408;text="Session timeout"')


class LegRefresh:
    """`session_refresh.RefreshingLeg` for one `SipCall`."""

    __slots__ = ("call",)

    def __init__(self, call: SipCall) -> None:
        self.call = call

    @property
    def timer_policy(self) -> TimerPolicy:
        return self.call.timer_policy

    @property
    def peer_allows_update(self) -> bool:
        return self.call.peer_allows_update

    async def send_refresh(self, interval: int, use_invite: bool) -> Response:
        """One refresh of ours: UPDATE without a body (RFC 3311), or a re-INVITE with our current SDP.

        The re-INVITE offers the session as it stands (same o= version: nothing changed,
        RFC 3264 8) and its 2xx is ACKed.  The transaction runs to its end (and its ACK
        goes out) even if the watch is restarted meanwhile.
        """
        call = self.call
        dialog = call.dialog
        if dialog is None or dialog.terminated:
            assert call.invite is not None
            return make_response(call.invite, 481)  # what the peer would say of a dialog gone
        headers = [*call.contact_headers()[1:], *refresh_headers(call.timer_policy, interval)]
        if use_invite and call.local_sdp is not None:
            request = dialog.create_request(
                "INVITE", call.via(), headers=headers, body=bytes(call.local_sdp), content_type=SDP
            )
        else:
            request = dialog.create_request("UPDATE", call.via(), headers=headers)
        work = asyncio.get_running_loop().create_task(self._transaction(request))
        return await asyncio.shield(work)

    async def _transaction(self, request: Request) -> Response:
        call = self.call
        pending = request.method == "INVITE"
        call.reinvite_pending |= pending
        try:
            response = await call.handler.stack.request(request, call.peer, call.transport)
        finally:
            if pending:
                call.reinvite_pending = False
        dialog = call.dialog
        if dialog is None or not 200 <= response.status < 300:
            return response
        if request.method == "INVITE":  # every 2xx is ACKed, even one that arrives as the call ends
            ack = dialog.create_ack(request.cseq.number, call.via())
            call.handler.stack.send_stateless(ack, call.peer, call.transport)
        if not dialog.terminated:
            dialog.receive_response(response)  # a 2xx refreshes the remote target (RFC 3261 12.2.1.2)
        call.learn_allow(response)
        if request.method == "INVITE" and response.body and call.local_sdp is not None:
            try:
                answer = SessionDescription.parse(response.body)
                negotiated = accept_answer(call.local_sdp, answer, call.policy(), call.switch.registry.codecs)
            except (SdpError, IncompatibleMedia) as exc:
                log.warning("[%s] unusable SDP answer to our refresh: %s", call.uuid, exc)
            else:
                await call.open_media(negotiated)
        return response

    def session_expired(self) -> None:
        """RFC 4028 §10: no refresh in time; FreeSWITCH (sofia-sip) sends BYE with a 408 Reason."""
        call = self.call
        session = call.session
        if session is None or session.hungup or call.bye_received:
            return
        log.warning("[%s] session timeout: no session refresh in time, hanging up", call.uuid)
        call.bye_reason = SESSION_TIMEOUT_REASON
        session.variables["sip_hangup_disposition"] = "send_bye"
        session.hangup(HangupCause.RECOVERY_ON_TIMER_EXPIRE)

    def refresh_failed(self, status: int) -> None:
        """RFC 4028 §10: our refresh got 408 (or no answer) or 481; the BYE ends what may be left."""
        call = self.call
        session = call.session
        if session is None or session.hungup or call.bye_received:
            return
        log.warning("[%s] session refresh failed with %d, hanging up", call.uuid, status)
        session.variables["sip_hangup_disposition"] = "send_bye"
        session.hangup(cause_from_sip(status))


def invite_after_422(call: SipCall, response: Response) -> Request | None:
    """RFC 4028 §7.4: our INVITE again after 422, asking for the Min-SE it named (a new transaction)."""
    invite, session = call.invite, call.session
    if response.status != 422 or invite is None or session is None or session.hungup or call.cancel_requested:
        return None
    policy = call.timer_policy
    interval = interval_after_422(policy, policy.session_expires, response.get("Min-SE"))
    if interval is None:
        return None
    log.info("[%s] 422 from %s: asking again for %d s", call.uuid, call.peer, interval)
    return (
        invite.replace_header("Via", call.handler.stack.via(call.transport))
        .replace_header("CSeq", f"{invite.cseq.number + 1} INVITE")
        .replace_header("Session-Expires", str(interval))
        .replace_header("Min-SE", str(interval))
    )


__all__ = ["SESSION_TIMEOUT_REASON", "LegRefresh", "invite_after_422"]
