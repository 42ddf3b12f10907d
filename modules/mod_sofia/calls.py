"""One SIP call leg of the B2BUA: the INVITE dialog, its SDP offer/answer and its session.

Theory of operation: an inbound leg starts with an INVITE (`SipCall.inbound`):
it is answered 100, authenticated when the profile says `auth-calls`, its
offer is negotiated at once (so an unusable offer gets 488 before any
routing), and a session is started in the profile's context.  The dialplan's
`ring_ready`, `pre_answer` and `answer` become 180, 183 and 200 with our
answer; a hangup before answer becomes the final status of the cause
(`sip_from_cause`), after answer a BYE with a Q.850 Reason.  An outbound leg
(`SipCall.outbound`) sends our offer; 180/183/2xx become ringing, early media
and answer on its session; a final failure becomes the session's hangup cause
(`cause_from_sip`).  Signalling to the far end goes where the dialog's
requests came from (the INVITE's source for inbound legs, the address we
dialled for outbound ones), which also keeps NATed phones reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchcore.causes import HangupCause, sip_from_cause
from switchcore.errors import CallError
from switchcore.media.negotiate import (
    IncompatibleMedia,
    LocalMedia,
    MediaPolicy,
    Negotiated,
    Offer,
    accept_answer,
    answer_offer,
    build_offer,
    is_hold,
)
from switchcore.media.rtp_session import NoFreePort, RtpSession
from switchcore.media.sdp import SdpError, SessionDescription
from switchcore.media.sources import FrameSource, open_source
from switchcore.profile import CallerProfile
from switchcore.session import Session
from switchcore.states import CallState

from . import in_dialog, uac
from .dialog import Dialog
from .headers import Via
from .in_dialog import quoted
from .leg_refresh import LegRefresh
from .media import RtpSocket, SipDriver, SipMedia, rtp_config
from .message import Request, Response, make_request, new_call_id, new_tag
from .session_refresh import RefreshWatch
from .session_timer import (
    Accept,
    TimerPolicy,
    offer_headers,
)
from .transaction import make_cancel
from .tu import Address, Incoming
from .uri import URI, NameAddr

if TYPE_CHECKING:
    from switchcore.core import Switch

    from .handler import SofiaCallHandler

log = logging.getLogger("mod_sofia.calls")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY, MESSAGE, UPDATE"
REPLACES_DIALPLAN = "sofia_replaces"  # the dialplan of a leg that replaces another (wiring.py)
SDP = "application/sdp"


def reason_header(cause: HangupCause) -> tuple[str, str]:
    # RFC 3326: the Q.850 cause travels with the BYE (FreeSWITCH adds it too).
    code = int(cause) if int(cause) < 128 else 16
    return ("Reason", f'Q.850;cause={code};text="{cause.name}"')


@dataclass(slots=True)
class Target:
    """Where an outbound leg goes: the Request-URI and the address signalling is sent to."""

    uri: URI
    addr: Address
    transport: str


class SipCall:
    """One leg; see the module docstring."""

    def __init__(self, handler: SofiaCallHandler, direction: str) -> None:
        self.handler = handler
        self.switch: Switch = handler.switch
        self.direction = direction
        self.session: Session | None = None
        self.uuid = ""
        self.driver = SipDriver(self)
        self.dialog: Dialog | None = None
        self.invite: Request | None = None
        self.incoming: Incoming | None = None  # inbound: the INVITE we answer
        self.peer: Address = ("127.0.0.1", 5060)
        self.transport = "udp"
        self.local_tag = new_tag()
        self.rtp_socket: RtpSocket | None = None
        self.local_sdp: SessionDescription | None = None
        self.offer: Offer | None = None  # outbound: what we offered
        self.negotiated: Negotiated | None = None
        self.final_sent = False
        self.answered = False
        self.provisional_seen = asyncio.Event()
        self.cancel_requested = False
        self.bye_received = False
        self.sdp_version = 1
        self.refer_done: asyncio.Event | None = None  # set once a REFER's last NOTIFY is answered
        # The offer our last 2xx made to an INVITE without SDP, until its ACK answers (RFC 3264 5).
        self.awaiting_answer: SessionDescription | None = None
        self.reinvite_cseq = 0  # the re-INVITE that awaits its answer in the ACK, if it was one
        self._ack_watch: asyncio.Task[None] | None = None
        self.originator: Session | None = None  # outbound: the leg that dialled us
        self._cancel_sent = False
        self._uac_task: asyncio.Task[None] | None = None
        self.early_tags: set[str] = set()  # outbound: the To tags of our early dialogs (uac.py)
        # RFC 4028: what the INVITE negotiated (sent with our 2xx), the watch, and what the peer allows.
        self.timer_accept: Accept | None = None
        self.refresh = RefreshWatch(LegRefresh(self), handler.refresh_clock)
        self.peer_allow: frozenset[str] = frozenset()
        self.bye_reason: tuple[str, str] | None = None  # replaces the Q.850 Reason of our BYE
        self.reinvite_pending = False  # our re-INVITE (a refresh) awaits its final response

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def profile(self) -> Any:
        return self.handler.profile

    @property
    def call_id(self) -> str:
        return self.invite.call_id if self.invite is not None else ""

    @property
    def timer_policy(self) -> TimerPolicy:
        return self.handler.timer_policy

    @property
    def peer_allows_update(self) -> bool:
        return "UPDATE" in self.peer_allow

    def learn_allow(self, message: Request | Response) -> None:
        """The methods the peer's Allow lists (RFC 3261 20.5), kept from its last message with one."""
        allow = message.values("Allow")
        if allow:
            self.peer_allow = frozenset(method.strip().upper() for method in allow)

    def policy(self) -> MediaPolicy:
        handler = self.handler
        # FreeSWITCH: inbound-/outbound-codec-prefs per direction, codec-prefs for both.
        prefs = (
            handler.param(f"{self.direction}-codec-prefs", "")
            or handler.param("codec-prefs", "")
            or self.switch.global_vars.get("global_codec_prefs", "PCMU,PCMA")
        )
        if self.session is not None:
            prefs = (
                self.session.get_var("absolute_codec_string") or self.session.get_var("codec_string") or prefs
            )
        return handler.policy(
            prefs,
            handler.param("dtmf-type", "rfc2833"),
            int(handler.param("rfc2833-pt", "101") or 101),
            handler.param("inbound-codec-negotiation", "generous"),
        )

    def local_media(self) -> LocalMedia:
        self.sdp_version += 1
        return LocalMedia(
            self.handler.rtp_ip,
            self.rtp_port,
            session_id=str(int(time.time())),
            session_version=self.sdp_version,
        )

    def via(self) -> str:
        host, port = self.handler.stack.local
        return f"SIP/2.0/{self.transport.upper()} {host}:{port};rport"

    def contact(self, user: str = "") -> NameAddr:
        return self.handler.contact(user, self.transport)

    async def open_media(self, negotiated: Negotiated) -> None:
        """Bind the RTP stream for the negotiated codec (or follow a change of address/direction)."""
        self.negotiated = negotiated
        media = self.driver.media
        if (
            media is not None
            and media.spec.key == negotiated.codec.key
            and media.negotiated.pt == negotiated.pt
        ):
            media.update(negotiated)
            self.driver.media_changed()
            return
        assert self.rtp_socket is not None
        timeout = float(self.handler.param("rtp-timeout-sec", "0") or 0) or None
        rtp = RtpSession(
            rtp_config(negotiated, timeout),
            on_dtmf=self._on_rtp_dtmf,
            on_timeout=self.on_media_timeout,
            on_rtcp=self._on_rtcp,
        )
        self.rtp_socket.attach(rtp, negotiated.rtcp_mux)
        if negotiated.remote_addr is not None:
            rtp.set_remote(negotiated.remote_addr, negotiated.remote_rtcp_addr)
        self.driver.attach(SipMedia(rtp, negotiated))

    def _on_rtcp(self, packets: list[Any]) -> None:
        media = self.driver.media
        if media is not None:
            media.on_rtcp(packets)

    async def bind_media(self) -> None:
        """Take the leg's RTP port pair (before any SDP of ours names it)."""
        if self.rtp_socket is None:
            self.rtp_socket = await RtpSocket.bind(self.handler.rtp_ip, self.handler.ports)

    def close_media(self) -> None:
        if self.rtp_socket is not None:
            self.rtp_socket.close()

    @property
    def rtp_port(self) -> int:
        return self.rtp_socket.port if self.rtp_socket is not None else 0

    def _on_rtp_dtmf(self, digit: Any) -> None:
        if self.session is not None and not self.session.hungup:
            self.session.queue_dtmf(digit.digit, "RTP", int(digit.duration_ms))

    def on_media_timeout(self) -> None:
        if self.session is not None and not self.session.hungup and not self.driver.held:
            log.warning(
                "[%s] no RTP for %s s: hanging up", self.uuid, self.handler.param("rtp-timeout-sec", "")
            )
            self.session.hangup(HangupCause.MEDIA_TIMEOUT)

    def open_hold_music(self, rate: int) -> FrameSource:
        spec = (
            (self.session.get_var("hold_music") if self.session is not None else None)
            or self.handler.param("hold-music", "")
            or self.switch.global_vars.get("hold_music", "local_stream://moh")
        )
        prefix = (self.session.get_var("sound_prefix") if self.session else None) or ""
        return open_source(spec, rate, prefix, self.switch.registry.file_formats)

    # ---- inbound ----------------------------------------------------------------------------

    async def inbound(self, incoming: Incoming, auth_user: str, auth_domain: str, replaces: str = "") -> None:
        """Start an inbound leg for this INVITE (already authenticated when the profile asks for it).

        `replaces` is the uuid of the leg an INVITE with Replaces takes over (RFC 3891): the leg
        then skips the dialplan and runs `replacing.replace_app` through the `sofia_replaces`
        dialplan.
        """
        req = incoming.request
        self.incoming, self.invite = incoming, req
        self.peer, self.transport = incoming.source.addr, incoming.source.transport
        self.learn_allow(req)
        from_addr, to_addr, ruri = req.from_addr, req.to_addr, req.ruri
        cid_num = from_addr.uri.user or ""
        cid_name = from_addr.display or cid_num
        dest = ruri.user or to_addr.uri.user or ""
        answer_sdp: SessionDescription | None = None
        try:
            offer = SessionDescription.parse(req.body) if req.body else None
            await self.bind_media()
            if offer is not None:
                answer = answer_offer(offer, self.local_media(), self.policy(), self.switch.registry.codecs)
        except (SdpError, IncompatibleMedia) as exc:
            log.info("[%s] rejecting INVITE from %s: %s", req.call_id, incoming.source.addr, exc)
            self.close_media()
            self.final_sent = True
            await incoming.respond(
                488, "Not Acceptable Here", [("Warning", f'399 switchcore "{quoted(exc)}"')]
            )
            return
        except NoFreePort as exc:
            log.warning("[%s] refusing INVITE from %s: %s", req.call_id, incoming.source.addr, exc)
            self.final_sent = True
            await incoming.respond(503, "No Media Port Free", [("Retry-After", "5")])
            return
        if offer is not None:
            answer_sdp = answer.sdp
            await self.open_media(answer.negotiated)
        self.local_sdp = answer_sdp
        context = self.handler.param("context", "public")
        variables: dict[str, str] = {
            "sip_from_user": cid_num,
            "sip_from_host": from_addr.uri.host,
            "sip_to_user": to_addr.uri.user or "",
            "sip_to_host": to_addr.uri.host,
            "sip_req_user": ruri.user or "",
            "sip_req_uri": str(ruri),
            "sip_call_id": req.call_id,
            "sip_network_ip": incoming.source.addr[0],
            "sip_network_port": str(incoming.source.addr[1]),
            "sip_received_ip": incoming.source.addr[0],
            "sip_user_agent": req.get("User-Agent") or "",
            "sip_profile_name": self.handler.profile_name,
            "sofia_profile_name": self.handler.profile_name,
            # FreeSWITCH's words: an INVITE without SDP is RECEIVED_NOSDP (we offer in 183/200).
            "endpoint_disposition": "RECEIVED" if offer is not None else "RECEIVED_NOSDP",
        }
        username = ""
        if auth_user:
            username = auth_user
            user = self.switch.directory.user(auth_user, auth_domain)
            variables["sip_authorized"] = "true"
            variables["user_name"] = auth_user
            variables["domain_name"] = auth_domain
            if user is not None:
                variables.update(user.variables)
                context = user.variables.get("user_context", context)
                cid_name = user.variables.get("effective_caller_id_name", cid_name)
                cid_num = user.variables.get("effective_caller_id_number", cid_num)
        dialplan = self.handler.param("dialplan", "XML")
        if replaces:
            dialplan = f"{REPLACES_DIALPLAN}:{replaces}"
            variables["sip_replaces_uuid"] = replaces
        profile = CallerProfile(
            username=username,
            dialplan=dialplan,
            caller_id_name=cid_name,
            caller_id_number=cid_num,
            ani=from_addr.uri.user or "",
            network_addr=incoming.source.addr[0],
            destination_number=dest,
            context=context,
            source="mod_sofia",
        )
        name = f"sofia/{self.handler.profile_name}/{from_addr.uri.user or 'anonymous'}@{from_addr.uri.host}"
        session = Session(self.switch, self.driver, name, "inbound", profile, variables, module="mod_sofia")
        self.session, self.uuid = session, session.uuid
        session.start()

    async def ring_ready(self) -> None:
        if self.incoming is not None and not self.final_sent:
            await self.incoming.respond(180, "Ringing", self.contact_headers(), to_tag=self.local_tag)

    async def pre_answer(self) -> None:
        if self.incoming is None or self.final_sent:
            return
        self._offer_if_offerless()
        assert self.local_sdp is not None
        # An INVITE without SDP (RFC 3261 13.2.1): the 183 shows our offer already; the 200
        # repeats it and the ACK answers (FreeSWITCH sends its SDP in the 183 the same way).
        await self.incoming.respond(
            183,
            "Session Progress",
            self.contact_headers(),
            bytes(self.local_sdp),
            SDP,
            to_tag=self.local_tag,
        )

    def _offer_if_offerless(self) -> None:
        """Late offer (RFC 3261 13.2.1, RFC 3264 5): the INVITE had no SDP, so our responses offer."""
        if self.local_sdp is None:
            self.offer = build_offer(self.local_media(), self.policy(), self.switch.registry.codecs)
            self.local_sdp = self.offer.sdp
            self.awaiting_answer = self.local_sdp

    async def answer(self) -> None:
        if self.incoming is None or self.final_sent:
            return
        self._offer_if_offerless()
        assert self.local_sdp is not None
        body = bytes(self.local_sdp)
        self.final_sent = self.answered = True
        req = self.incoming.request
        self.dialog = Dialog.from_uas(req, self.local_tag, local_contact=self.contact())
        self.handler.track(self)
        accept = self.timer_accept
        headers = self.contact_headers() + list(accept.headers if accept is not None else ())
        await self.incoming.respond(200, "OK", headers, body, SDP, to_tag=self.local_tag)
        if accept is not None:
            self.refresh.start(accept.timer)  # RFC 4028 §10: the timer runs from the 2xx
        wait_for_ack = getattr(self.incoming, "wait_for_ack", None)
        if wait_for_ack is not None:
            self._ack_watch = asyncio.get_running_loop().create_task(self._watch_ack(wait_for_ack))

    async def _watch_ack(self, wait_for_ack: Any) -> None:
        """RFC 3261 13.3.1.4: no ACK for our 2xx by Timer L (64*T1) ends the call with a BYE."""
        if await wait_for_ack():
            return
        session = self.session
        if session is not None and not session.hungup and not self.bye_received:
            log.warning("[%s] no ACK for our 200 OK: hanging up", self.uuid)
            session.variables["sip_hangup_disposition"] = "send_bye"
            session.hangup(HangupCause.RECOVERY_ON_TIMER_EXPIRE)

    def contact_headers(self) -> list[tuple[str, str]]:
        return [
            ("Contact", str(self.contact())),
            ("Allow", ALLOW),
            ("Supported", self.handler.supported),
            ("User-Agent", self.handler.user_agent),
        ]

    async def on_ack(self, request: Request) -> None:
        """The ACK for our 2xx; it carries the answer when our 2xx offered (RFC 3264 5, RFC 3261 13.2.1)."""
        offer = self.awaiting_answer
        if offer is None or request.cseq.number != self._offer_cseq():
            return
        self.awaiting_answer = None
        if not request.body:
            # RFC 3261 13.3.1.4: an ACK without the answer our offer needs ends the call with a BYE.
            log.warning("[%s] ACK without an SDP answer to our offer: hanging up", self.uuid)
            self._hangup_for_answer(HangupCause.MANDATORY_IE_MISSING, "ACK without SDP answer")
            return
        try:
            answer = SessionDescription.parse(request.body)
            negotiated = accept_answer(offer, answer, self.policy(), self.switch.registry.codecs)
        except (SdpError, IncompatibleMedia) as exc:
            log.warning("[%s] bad SDP answer in ACK: %s", self.uuid, exc)
            self._hangup_for_answer(HangupCause.INCOMPATIBLE_DESTINATION, str(exc))
            return
        await self.open_media(negotiated)
        audio = answer.audio()
        in_dialog.set_held(self, audio is not None and is_hold(answer, audio))

    def _offer_cseq(self) -> int:
        """The CSeq of the INVITE whose 2xx carried our pending offer (the initial one or a re-INVITE)."""
        if self.reinvite_cseq:
            return self.reinvite_cseq
        return self.invite.cseq.number if self.invite is not None else 0

    def _hangup_for_answer(self, cause: HangupCause, why: str) -> None:
        session = self.session
        if session is not None and not session.hungup:
            session.variables["sip_hangup_disposition"] = "send_bye"
            session.variables["sip_hangup_phrase"] = why
            session.hangup(cause)

    async def on_cancel(self) -> None:
        if self.session is not None:
            self.session.variables["sip_hangup_disposition"] = "recv_cancel"
            if not self.final_sent:
                self.session.variables["sip_term_status"] = "487"
            self.session.hangup(HangupCause.ORIGINATOR_CANCEL)
        if self.incoming is not None and not self.final_sent:
            self.final_sent = True
            await self.incoming.respond(487, "Request Terminated", to_tag=self.local_tag)

    # ---- outbound ---------------------------------------------------------------------------

    def outbound(self, target: Target, variables: dict[str, str], originator: Session | None) -> Session:
        """Create the session of an outbound leg and send the INVITE in the background."""
        self.peer, self.transport = target.addr, target.transport
        self.originator = originator
        assert self.rtp_socket is not None, "bind_media() first"
        cid_name = (
            variables.get("origination_caller_id_name")
            or variables.get("effective_caller_id_name")
            or (originator.profile.caller_id_name if originator is not None else "switchcore")
        )
        cid_num = (
            variables.get("origination_caller_id_number")
            or variables.get("effective_caller_id_number")
            or (originator.profile.caller_id_number if originator is not None else "0000000000")
        )
        dest = target.uri.user or ""
        profile = CallerProfile(
            caller_id_name=cid_name,
            caller_id_number=cid_num,
            destination_number=dest,
            callee_id_number=dest,
            # A leg we dial belongs to its caller's context (what a REFER on it may reach).
            context=originator.profile.context
            if originator is not None
            else self.handler.param("context", "public"),
            network_addr=target.addr[0],
            source="mod_sofia",
        )
        name = f"sofia/{self.handler.profile_name}/{target.uri.user + '@' if target.uri.user else ''}{target.uri.host}"
        if target.uri.port:
            name += f":{target.uri.port}"
        session = Session(
            self.switch,
            self.driver,
            name,
            "outbound",
            profile,
            dict(variables),
            uuid=variables.get("origination_uuid"),
            module="mod_sofia",
        )
        self.session, self.uuid = session, session.uuid
        session.variables["sip_profile_name"] = self.handler.profile_name
        self.offer = build_offer(self.local_media(), self.policy(), self.switch.registry.codecs)
        self.local_sdp = self.offer.sdp
        domain = (
            variables.get("sip_invite_domain") or variables.get("domain_name") or self.handler.stack.local[0]
        )
        from_addr = NameAddr.parse(f'"{cid_name}" <sip:{cid_num}@{domain}>').with_tag(self.local_tag)
        to_uri = target.uri.without_param("fs_path")
        headers = [
            ("Allow", ALLOW),
            ("Supported", self.handler.supported),
            ("User-Agent", self.handler.user_agent),
            *offer_headers(self.timer_policy),  # RFC 4028 §7.1
        ]
        headers += [(k[len("sip_h_") :], v) for k, v in variables.items() if k.startswith("sip_h_")]
        self.invite = make_request(
            "INVITE",
            to_uri,
            from_addr=from_addr,
            to_addr=NameAddr(to_uri.replace(params=())),
            call_id=new_call_id(),
            cseq=1,
            via=self.handler.stack.via(self.transport),
            contact=self.contact(cid_num),
            headers=headers,
            body=bytes(self.offer.sdp),
            content_type=SDP,
        )
        session.variables["sip_call_id"] = self.invite.call_id
        self.handler.track(self)
        session.start()
        session.set_call_state(CallState.DIALING)
        self._uac_task = asyncio.get_running_loop().create_task(uac.run(self))
        return session

    def on_stray_2xx(self, response: Response) -> None:
        # The 2xx of the initial INVITE or of a re-INVITE of ours (a refresh): ACK its own CSeq.
        if self.dialog is not None and response.cseq.method == "INVITE":
            ack = self.dialog.create_ack(response.cseq.number, self.via())
            self.handler.stack.send_stateless(ack, self.peer, self.transport)

    def send_cancel(self) -> None:
        if self.invite is None or self._cancel_sent:
            return
        self._cancel_sent = True
        cancel = make_cancel(self.invite)
        asyncio.get_running_loop().create_task(self.request_quietly(cancel))

    async def request_quietly(self, request: Request) -> None:
        try:
            await asyncio.wait_for(self.handler.stack.request(request, self.peer, self.transport), 32)
        except (TimeoutError, OSError) as exc:
            log.info("[%s] %s got no answer: %s", self.uuid, request.method, exc)

    # ---- our side ends the call ------------------------------------------------------------

    async def hangup(self, cause: HangupCause) -> None:
        self.refresh.stop()
        if self._ack_watch is not None and not self._ack_watch.done():
            self._ack_watch.cancel()
        try:
            if self.direction == "inbound":
                await self._hangup_inbound(cause)
            else:
                await self._hangup_outbound(cause)
        finally:
            self.handler.forget(self)

    async def _hangup_inbound(self, cause: HangupCause) -> None:
        if self.incoming is not None and not self.final_sent:
            self.final_sent = True
            status = sip_from_cause(cause)
            await self.incoming.respond(status, headers=[reason_header(cause)], to_tag=self.local_tag)
            if self.session is not None:
                self.session.variables.setdefault("sip_term_status", str(status))
            return
        if self.answered and not self.bye_received:
            await self.send_bye(cause)

    async def _hangup_outbound(self, cause: HangupCause) -> None:
        if self.answered:
            if not self.bye_received:
                await self.send_bye(cause)
            return
        self.cancel_requested = True
        if self.provisional_seen.is_set():
            self.send_cancel()

    async def send_bye(self, cause: HangupCause) -> None:
        if self.dialog is None or self.dialog.terminated:
            return
        if self.refer_done is not None and not self.refer_done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.refer_done.wait(), 5)
            if self.dialog.terminated:
                return
        bye = self.dialog.create_request("BYE", self.via(), headers=[self.bye_reason or reason_header(cause)])
        self.dialog.terminate()
        if self.session is not None:
            self.session.variables.setdefault("sip_hangup_disposition", "send_bye")
        await self.request_quietly(bye)

    async def send_dtmf(self, digits: str, duration_ms: int) -> None:
        await in_dialog.send_dtmf(self, digits, duration_ms)


def target_of(dest: str, default_transport: str = "udp") -> Target:
    """`1000@127.0.0.1:5070` or `sip:1000@host;transport=tcp;fs_path=<sip:ip:port>` -> Target."""
    text = dest if dest.startswith(("sip:", "sips:")) else f"sip:{dest}"
    try:
        uri = URI.parse(text)
    except Exception as exc:
        raise CallError(HangupCause.INVALID_URL, f"bad SIP URI {dest!r}") from exc
    transport = (uri.transport or default_transport).lower()
    host, port = uri.host, uri.port or 5060
    path = uri.param("fs_path")
    if path:
        try:
            path_uri = (
                NameAddr.parse(path).uri
                if path.startswith("<")
                else URI.parse(path.replace("%3C", "").replace("%3E", ""))
            )
            host, port = path_uri.host, path_uri.port or 5060
        except Exception:
            log.warning("ignoring unparsable fs_path %r", path)
    return Target(uri, (host.strip("[]"), port), transport)


__all__ = ["SipCall", "Target", "Via", "target_of"]
