"""The profile's transaction user: routes each request to its call, starts inbound calls.

It implements `tu.CallHandler` for one profile.  Calls are found by Call-ID
(each leg of the B2BUA has its own).  Requests that act for a user (INVITE
with `auth-calls`, REFER) are authenticated through the profile's digest
authenticator; the context of an authenticated caller is its `user_context`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchcore.causes import HangupCause
from switchcore.errors import InvalidTransition
from switchcore.events import Event
from switchcore.media.negotiate import CodecNegotiation, FmtpNegotiator, MediaPolicy
from switchcore.media.rtp_session import PortAllocator

from . import in_dialog, refer
from .calls import ALLOW, SipCall
from .dialog import CSeqOutOfOrder
from .message import Response
from .replaces import Replaces, ReplacesError, judge, judge_early
from .replacing import caller_of
from .session_refresh import Clock, LoopClock
from .session_timer import TimerPolicy, supported_tags
from .tu import Incoming
from .uri import NameAddr

if TYPE_CHECKING:
    from switchcore.core import Switch

    from .tu import Stack

log = logging.getLogger("mod_sofia.handler")

TRUE = ("true", "yes", "on", "1", "enabled")


@dataclass(frozen=True, slots=True)
class Replaced:
    """What a Replaces header found (RFC 3891 3): 200 and the call, or the status to answer."""

    status: int
    reason: str
    call: SipCall | None = None
    early: bool = False  # an early dialog we initiated: the new call picks the ringing one up


class SofiaCallHandler:
    def __init__(self, switch: Switch, profile: Any, ports: PortAllocator) -> None:
        self.switch = switch
        self.profile = profile
        self.ports = ports
        self.calls: dict[str, SipCall] = {}
        self._policies: dict[tuple[object, ...], MediaPolicy] = {}
        self._contacts: dict[tuple[str, str], NameAddr] = {}
        self._timer: tuple[object, TimerPolicy, str] | None = None
        # Session timers' time (RFC 4028): the loop's; tests set a ScaledClock.
        self.refresh_clock: Clock = LoopClock()

    # ---- what calls read from the profile ---------------------------------------------------

    @property
    def stack(self) -> Stack:
        stack: Stack = self.profile.stack
        return stack

    @property
    def profile_name(self) -> str:
        return str(self.profile.name)

    def param(self, name: str, default: str = "") -> str:
        params: dict[str, str] = self.profile.params
        value = params.get(name)
        return default if value is None or value == "" else value

    @property
    def rtp_ip(self) -> str:
        return self.param("rtp-ip", self.stack.local[0])

    @property
    def user_agent(self) -> str:
        return self.param("user-agent-string", "switchcore")

    def _timer_settings(self) -> tuple[object, TimerPolicy, str]:
        params = self.profile.params
        cached = self._timer
        if cached is None or cached[0] is not params:  # read again after a reload
            policy = TimerPolicy.from_params(params)
            cached = self._timer = (params, policy, ", ".join((*supported_tags(policy), "path", "replaces")))
        return cached

    @property
    def timer_policy(self) -> TimerPolicy:
        """The profile's session timer params (`enable-timer`, `session-timeout`, `minimum-session-expires`)."""
        return self._timer_settings()[1]

    @property
    def supported(self) -> str:
        """Our Supported header: "timer" only while this profile's session timers are on."""
        return self._timer_settings()[2]

    def policy(self, prefs: str, dtmf_type: str, rfc2833_pt: int, negotiation: str) -> MediaPolicy:
        """The offer/answer policy for these settings, built once (calls of a profile share a few)."""
        codecs = self.switch.registry.codecs
        key = (prefs, dtmf_type, rfc2833_pt, negotiation, id(codecs), len(codecs))
        policy = self._policies.get(key)
        if policy is None:
            if len(self._policies) >= 64:
                self._policies.clear()
            policy = MediaPolicy.from_prefs(
                prefs,
                dtmf=dtmf_type == "rfc2833",
                rfc2833_pt=rfc2833_pt,
                negotiation=CodecNegotiation.GREEDY if negotiation == "greedy" else CodecNegotiation.GENEROUS,
                fmtp=self.fmtp_negotiators(),
            )
            self._policies[key] = policy
        return policy

    def contact(self, user: str, transport: str) -> NameAddr:
        """Our Contact for this user and transport (RFC 3261 8.1.1.8), parsed once."""
        key = (user, transport)
        contact = self._contacts.get(key)
        if contact is None:
            if len(self._contacts) >= 1024:
                self._contacts.clear()
            contact = self._contacts[key] = NameAddr.parse(f"<{self.stack.contact_uri(user, transport)}>")
        return contact

    def fmtp_negotiators(self) -> dict[str, FmtpNegotiator]:
        return {
            spec.name.upper(): spec.fmtp_negotiator
            for spec in self.switch.registry.codecs
            if spec.fmtp_negotiator is not None
        }

    def track(self, call: SipCall) -> None:
        if call.call_id:
            self.calls[call.call_id] = call

    def forget(self, call: SipCall) -> None:
        if self.calls.get(call.call_id) is call:
            del self.calls[call.call_id]

    def find_call(self, call_id: str) -> SipCall | None:
        """The leg with this Call-ID on this profile, else on any running profile."""
        call = self.calls.get(call_id)
        if call is not None:
            return call
        from .endpoint import endpoint  # the profiles' handlers (imported late: endpoint imports calls)

        for handler in endpoint.handlers.values():
            if handler is not self and (call := handler.calls.get(call_id)) is not None:
                return call
        return None

    def find_replaced(self, replaces: Replaces) -> Replaced:
        """The leg whose confirmed dialog `replaces` names, or why there is none (RFC 3891 3)."""
        call = self.find_call(replaces.call_id)
        if call is not None and call.direction == "outbound" and call.dialog is None:
            # A leg we dialled that still rings: its early dialogs are ours to replace (pickup).
            session = call.session
            status, reason = judge_early(
                replaces,
                call.call_id,
                call.local_tag,
                call.early_tags,
                terminated=session is None or session.hungup or call.answered,
            )
            return Replaced(status, reason, call if status == 200 else None, early=True)
        dialog = call.dialog if call is not None else None
        ident = (dialog.call_id, dialog.local_tag, dialog.remote_tag) if dialog is not None else None
        session = call.session if call is not None else None
        terminated = dialog is None or dialog.terminated or session is None or session.hungup
        status, reason = judge(replaces, ident, terminated=terminated)
        return Replaced(status, reason, call if status == 200 else None)

    # ---- CallHandler ------------------------------------------------------------------------

    async def on_request(self, incoming: Incoming) -> None:
        req = incoming.request
        method = req.method
        call = self.calls.get(req.call_id)
        if method == "INVITE" and req.to_tag is None:
            if call is not None:  # a retransmission the transaction layer did not absorb
                return
            await self._new_call(incoming)
            return
        if method == "ACK":
            if call is not None:
                await call.on_ack(req)
            return
        if call is None:
            await self._outside_dialog(incoming)
            return
        if not await self._in_dialog(call, incoming):
            return
        if method == "BYE":
            await in_dialog.on_bye(call, incoming)
        elif method == "INVITE":
            await in_dialog.on_reinvite(call, incoming)
        elif method == "INFO":
            # Acts for the user (its DTMF drives IVRs and transfers): challenged like REFER.
            if not await self._authorised(incoming, in_dialog=True):
                return
            await in_dialog.on_info(call, incoming)
        elif method == "REFER":
            if not await self._authorised(incoming, in_dialog=True):
                return
            await refer.on_refer(call, incoming)
        elif method == "UPDATE":
            await in_dialog.on_update(call, incoming)
        elif method in ("OPTIONS", "NOTIFY"):
            await incoming.respond(200, "OK")
        else:
            await incoming.respond(405, "Method Not Allowed", [("Allow", ALLOW)])

    async def _in_dialog(self, call: SipCall, incoming: Incoming) -> bool:
        """RFC 3261 12.2.2: the request must name our dialog (481) and keep its CSeq order (500)."""
        req = incoming.request
        dialog = call.dialog
        if dialog is None:
            # Not confirmed yet: only a BYE/CANCEL-like end of the early dialog makes sense (15.1.2).
            if req.method == "BYE" and req.to_tag == call.local_tag:
                return True
            await incoming.respond(481, "Call/Transaction Does Not Exist")
            return False
        if req.to_tag != dialog.local_tag or req.from_tag != dialog.remote_tag:
            await incoming.respond(481, "Call/Transaction Does Not Exist")
            return False
        if dialog.terminated:
            # Our BYE crossed theirs (or a request raced the end of the call): the call is over either way.
            await incoming.respond(
                200 if req.method == "BYE" else 481,
                "" if req.method == "BYE" else "Call/Transaction Does Not Exist",
            )
            return False
        try:
            dialog.receive_request(req)
        except CSeqOutOfOrder as exc:
            await incoming.respond(500, "CSeq Out Of Order", [("Warning", f'399 switchcore "{exc}"')])
            return False
        except InvalidTransition:
            await incoming.respond(481, "Call/Transaction Does Not Exist")
            return False
        return True

    async def _outside_dialog(self, incoming: Incoming) -> None:
        """A request for no call we know: 481 for what only lives in a dialog (RFC 3261 12.2.2, 15.1.2)."""
        req = incoming.request
        method = req.method
        if req.to_tag is not None or method in ("BYE", "INFO", "REFER", "UPDATE", "PRACK", "NOTIFY"):
            await incoming.respond(481, "Call/Transaction Does Not Exist")
        elif method in ("SUBSCRIBE", "PUBLISH"):
            # RFC 6665 7.2.2 / RFC 3903 6: no event package is served here (presence is a later issue).
            await incoming.respond(489, "Bad Event", [("Allow-Events", "refer")])
        elif method == "MESSAGE":
            await self._message(incoming)
        elif method == "OPTIONS":
            await incoming.respond(200, "OK", [("Allow", ALLOW), ("Accept", "application/sdp")])
        else:
            await incoming.respond(405, "Method Not Allowed", [("Allow", ALLOW)])

    async def _message(self, incoming: Incoming) -> None:
        """RFC 3428 MESSAGE: authenticated like a call, then handed on as a MESSAGE event (FreeSWITCH's chat)."""
        user, domain = "", ""
        if self.param("auth-calls", "false").lower() in TRUE:
            outcome = await self._authenticate(incoming)
            if outcome is None:
                return
            user, domain = outcome
        req = incoming.request
        events = self.switch.events
        if events.wanted("MESSAGE", ""):
            event = Event.create(
                "MESSAGE",
                "",
                proto="sip",
                login=self.profile_name,
                from_user=req.from_addr.uri.user or "",
                from_host=req.from_addr.uri.host,
                to_user=req.to_addr.uri.user or "",
                to_host=req.to_addr.uri.host,
                sip_auth_username=user,
                sip_auth_realm=domain,
                type=req.content_type or "text/plain",
            )
            event.body = req.body.decode("utf-8", "replace")
            events.fire(event)
        await incoming.respond(202, "Accepted")

    async def on_cancel(self, invite: Incoming) -> None:
        call = self.calls.get(invite.request.call_id)
        if call is not None:
            await call.on_cancel()
        else:
            await invite.respond(487, "Request Terminated")

    def on_stray_2xx(self, response: Response) -> None:
        call = self.calls.get(response.call_id)
        if call is not None:
            call.on_stray_2xx(response)

    # ---- inbound calls ----------------------------------------------------------------------

    async def _new_call(self, incoming: Incoming) -> None:
        # The INVITE server transaction has already sent 100 Trying (RFC 3261 17.2.1).
        user, domain = "", ""
        if self.param("auth-calls", "false").lower() in TRUE:
            outcome = await self._authenticate(incoming)
            if outcome is None:
                return
            user, domain = outcome
        if self.switch.stopping.is_set():
            await incoming.respond(503, "Service Unavailable", [("Retry-After", "5")])
            return
        max_sessions = int(self.switch.settings.get("max-sessions", "1000") or 1000)
        if len(self.switch.sessions) >= max_sessions:
            await incoming.respond(503, "Maximum Calls In Progress", [("Retry-After", "5")])
            return
        # RFC 4028 §9 before routing (sofia-sip does it before FreeSWITCH sees the call): 422 / 420 / 400.
        timer = await in_dialog.negotiate_timer(self.timer_policy, incoming)
        if timer is None:
            return
        replaced_uuid = ""
        if incoming.request.get("Replaces") is not None:
            replaced_uuid = await self._replaced_uuid(incoming)
            if not replaced_uuid:
                return
        call = SipCall(self, "inbound")
        call.timer_accept = timer
        self.calls[incoming.request.call_id] = call
        try:
            await call.inbound(incoming, user, domain, replaces=replaced_uuid)
        except Exception:
            log.exception("inbound call %s failed to start", incoming.request.call_id)
            self.forget(call)
            call.close_media()
            if not call.final_sent:
                await incoming.respond(500, "Internal Server Error")
            if call.session is not None:
                call.session.hangup(HangupCause.CRASH)
            return
        if call.session is None:  # refused (488) before a session existed
            self.forget(call)
            call.close_media()

    async def _replaced_uuid(self, incoming: Incoming) -> str:
        """RFC 3891 3: the uuid of the leg an INVITE's Replaces names, or "" after answering why not."""
        try:
            replaces = Replaces.parse(incoming.request.get("Replaces") or "")
        except ReplacesError as exc:
            await incoming.respond(
                400, "Bad Replaces Header", [("Warning", f'399 switchcore "{in_dialog.quoted(exc)}"')]
            )
            return ""
        found = self.find_replaced(replaces)
        if found.call is None or found.call.session is None:
            await incoming.respond(found.status, found.reason)
            return ""
        if found.early:
            caller = caller_of(found.call.session)
            if caller is None or caller.hungup:
                # Nobody waits on the ringing leg (an originate without a caller): nothing to pick up for.
                await incoming.respond(481, "Call/Transaction Does Not Exist")
                return ""
            return found.call.uuid
        partner = found.call.session.partner
        if partner is None or partner.hungup:
            # The replaced leg talks to the switch itself (an application): there is no
            # bridge for the new call to take over.
            await incoming.respond(
                503, "Service Unavailable", [("Warning", '399 switchcore "the replaced call is not bridged"')]
            )
            return ""
        return found.call.uuid

    async def _authenticate(self, incoming: Incoming) -> tuple[str, str] | None:
        """(user, domain) when the request carries valid credentials; None after a challenge or refusal."""
        auth = getattr(self.profile, "auth", None)
        if auth is None:
            await incoming.respond(403, "Forbidden")
            return None
        outcome = await auth.check(incoming.request, incoming.source, kind="proxy")
        if outcome.ok:
            return str(outcome.user), str(outcome.domain)
        response = getattr(outcome, "response", None) or getattr(outcome, "challenge_response", None)
        if response is not None:
            status, reason, headers = response
            await incoming.respond(status, reason, headers)
        else:
            await incoming.respond(403, "Forbidden")
        return None

    async def _authorised(self, incoming: Incoming, in_dialog: bool) -> bool:
        if self.param("auth-calls", "false").lower() not in TRUE:
            return True
        return await self._authenticate(incoming) is not None
