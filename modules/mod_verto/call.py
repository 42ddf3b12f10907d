"""One Verto call leg: its phases, its signalling to the browser, and what happens while the
browser's socket is away.

Theory of operation.  A `VertoCall` has a callID (the session's uuid when it
can be) and belongs to the sessid of the socket that made or answered it.  Its
phase follows `CALL_TRANSITIONS`:

    NEW --media--> EARLY --answer--> ACTIVE --detach--> DETACHED --reattach--> ATTACHING --attached--> ACTIVE
     \\________answer____________/                                                   (any) --end--> ENDED

It is the `CallSignals` of its driver: the dialplan's `pre_answer` sends
`verto.media` with our SDP, `answer` sends `verto.answer` (with the SDP only
when no `verto.media` went first), a hangup sends `verto.bye` with `causeCode`
and `cause` unless the browser ended the call itself.

When the owner's socket goes away, an answered call is DETACHED: the session
and its media stay up (it reads silence) until the same sessid logs in again,
when it is offered again with `verto.attach` (a fresh RTCPeerConnection), or
until `detach-timeout-sec` passes and it hangs up with RECOVERY_ON_TIMER_EXPIRE
(an offer nobody answers expires the same way).  Calls not answered yet cannot
be re-attached (FreeSWITCH refuses those too) and hang up at once.
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum
from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.sources import FrameSource, open_source
from switchcore.session import Session
from switchcore.states import CallState

from .media import CODEC_RATES, VertoDriver, VertoMedia, WebRtcPolicy
from .protocol import Code, Json, RpcError

if TYPE_CHECKING:
    from .calls import VertoCalls
    from .client import VertoClient

log = logging.getLogger("mod_verto.call")


class Phase(Enum):
    NEW = "new"
    EARLY = "early"
    ACTIVE = "active"
    DETACHED = "detached"
    ATTACHING = "attaching"
    ENDED = "ended"


class CallEvent(Enum):
    MEDIA = "media"  # early media (verto.media)
    ANSWER = "answer"
    DETACH = "detach"  # the owner's socket went away
    REATTACH = "reattach"  # verto.attach offered to the owner's new socket
    ATTACHED = "attached"  # the browser answered verto.attach
    END = "end"


CALL_TRANSITIONS: dict[tuple[Phase, CallEvent], Phase] = {
    (Phase.NEW, CallEvent.MEDIA): Phase.EARLY,
    (Phase.NEW, CallEvent.ANSWER): Phase.ACTIVE,
    (Phase.EARLY, CallEvent.ANSWER): Phase.ACTIVE,
    (Phase.ACTIVE, CallEvent.DETACH): Phase.DETACHED,
    (Phase.ATTACHING, CallEvent.DETACH): Phase.DETACHED,
    (Phase.DETACHED, CallEvent.REATTACH): Phase.ATTACHING,
    (Phase.ATTACHING, CallEvent.ATTACHED): Phase.ACTIVE,
    **{(phase, CallEvent.END): Phase.ENDED for phase in Phase},
}


class VertoCall:
    """One Verto leg; the `CallSignals` of its driver."""

    def __init__(
        self, calls: VertoCalls, call_id: str, direction: str, owner: str, policy: WebRtcPolicy
    ) -> None:
        self.calls = calls
        self.service = calls.service
        self.call_id = call_id
        self.direction = direction
        self.owner = owner  # sessid of the socket the call belongs to ("" while ringing out)
        self.owner_uid = ""
        self.policy = policy
        self.phase = Phase.NEW
        self.session: Session | None = None
        codec = policy.codecs[0]
        self.driver = VertoDriver(self, self.service.switch.clock, CODEC_RATES[codec], codec)
        self.offers: dict[str, VertoMedia] = {}  # outbound, ringing: sessid -> its offer
        self.pending_attach: VertoMedia | None = None
        self.sent_media = False
        self.remote_hangup = False  # the browser ended it: no verto.bye back
        self.detached_at = 0.0
        self._expiry: asyncio.TimerHandle | None = None

    def __repr__(self) -> str:
        return f"<VertoCall {self.call_id} {self.direction} {self.phase.value}>"

    def _event(self, event: CallEvent) -> Phase:
        new = CALL_TRANSITIONS.get((self.phase, event))
        if new is None:
            raise RpcError(
                Code.SESSION_ERROR, f"call is {self.phase.value}: cannot {event.value}", callID=self.call_id
            )
        if new is not self.phase:
            log.debug("[%s] %s -> %s", self.call_id, self.phase.value, new.value)
        self.phase = new
        return new

    @property
    def answered(self) -> bool:
        return self.session is not None and self.session.answered

    def _owner_client(self) -> VertoClient | None:
        return self.service.client(self.owner) if self.owner else None

    def _ids(self) -> Json:
        """caller/callee ids as the browser should show them (set_call_params)."""
        session = self.session
        if session is None:
            return {}
        p = session.profile
        return {
            "caller_id_name": p.caller_id_name or "Outbound Call",
            "caller_id_number": p.caller_id_number or p.destination_number,
            "callee_id_name": p.callee_id_name or "Outbound Call",
            "callee_id_number": p.callee_id_number or p.destination_number,
        }

    def _variables(self) -> Json:
        """`verto_svar_*` channel variables travel to the browser as `variables`."""
        session = self.session
        if session is None:
            return {}
        return {
            k[len("verto_svar_") :]: v for k, v in session.variables.items() if k.startswith("verto_svar_")
        }

    # ---- CallSignals (asked by the session through the driver) -------------------------------

    async def pre_answer(self) -> None:
        if self.direction != "inbound" or self.phase is not Phase.NEW:
            return
        client = self._owner_client()
        self._event(CallEvent.MEDIA)
        self.sent_media = True
        if client is not None:
            sdp = self.driver.media.local_sdp if self.driver.media is not None else ""
            client.request(
                "verto.media",
                {"callID": self.call_id, "sdp": sdp, "variables": self._variables()},
                self.call_id,
            )

    async def answer(self) -> None:
        if self.direction != "inbound" or self.phase not in (Phase.NEW, Phase.EARLY):
            return
        client = self._owner_client()
        self._event(CallEvent.ANSWER)
        if client is None:
            return
        params: Json = {"callID": self.call_id}
        if not self.sent_media and self.driver.media is not None:
            params["sdp"] = self.driver.media.local_sdp
        params["variables"] = self._variables()
        client.request("verto.answer", params, self.call_id)

    async def ring_ready(self) -> None:
        return None  # a browser shows ringing on its own

    async def send_dtmf(self, digits: str, duration_ms: int) -> None:
        client = self._owner_client()
        if client is not None and digits:
            client.request("verto.info", {"callID": self.call_id, "dtmf": digits}, self.call_id)

    async def hangup(self, cause: HangupCause) -> None:
        """The session hung up: tell the browser(s), release media, forget the call."""
        self._cancel_expiry()
        if self.phase is not Phase.ENDED:
            self._event(CallEvent.END)
        bye: Json = {"callID": self.call_id, "causeCode": int(cause), "cause": cause.name}
        targets = set(self.offers) | ({self.owner} if self.owner else set())
        if not self.remote_hangup:
            for sessid in targets:
                client = self.service.client(sessid)
                if client is not None:
                    client.request("verto.bye", dict(bye), self.call_id)
        for media in [*self.offers.values(), *([self.pending_attach] if self.pending_attach else [])]:
            await media.close()
        self.offers.clear()
        self.pending_attach = None
        self.calls.forget(self)

    def open_hold_music(self, rate: int) -> FrameSource:
        session = self.session
        spec = (
            (session.get_var("hold_music") if session is not None else None)
            or self.calls.profile_hold_music(self)
            or self.service.switch.global_vars.get("hold_music", "local_stream://moh")
        )
        prefix = (session.get_var("sound_prefix") if session is not None else None) or ""
        return open_source(spec, rate, prefix, self.service.switch.registry.file_formats)

    # ---- events from the browser side -------------------------------------------------------

    def on_dtmf(self, digit: str, duration_ms: int) -> None:
        """An RFC 4733 digit from the browser's RTP."""
        if self.session is not None and not self.session.hungup:
            self.session.queue_dtmf(digit, "RTP", duration_ms)

    def set_held(self, held: bool) -> None:
        session = self.session
        if session is None or held == self.driver.held:
            return
        self.driver.set_held(held)
        if held:
            session.set_call_state(CallState.HELD)
            session.fire("CHANNEL_HOLD")
        else:
            session.set_call_state(CallState.ACTIVE)
            session.fire("CHANNEL_UNHOLD")

    def detach(self, now: float) -> None:
        """The owner's socket went away."""
        session = self.session
        if session is None or session.hungup:
            return
        if not session.answered:
            # FreeSWITCH cannot re-attach an unanswered call either ("Cannot attach to a call that
            # has not been answered"): end it now instead of at the timeout.
            self.remote_hangup = True
            session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
            return
        if self.phase is Phase.DETACHED:
            return
        self._event(CallEvent.DETACH)
        self.detached_at = now
        self.calls.detached_total += 1
        timeout = self.service.settings.detach_timeout
        log.info("[%s] socket of %s gone: call detached for %ss", self.call_id, self.owner, timeout)
        self._start_expiry(timeout)

    def _start_expiry(self, timeout: float) -> None:
        self._cancel_expiry()
        self._expiry = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _expire(self) -> None:
        self._expiry = None
        session = self.session
        if self.phase in (Phase.DETACHED, Phase.ATTACHING) and session is not None and not session.hungup:
            log.info("[%s] not re-attached in time", self.call_id)
            session.hangup(HangupCause.RECOVERY_ON_TIMER_EXPIRE)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None

    async def reattach(self, client: VertoClient) -> bool:
        """Offer the call to the owner's new socket (`verto.attach` with a fresh offer)."""
        session = self.session
        if self.phase is not Phase.DETACHED or session is None or session.hungup:
            return False
        self._cancel_expiry()
        self._event(CallEvent.REATTACH)
        media = self.calls.new_media(self.policy, self)
        try:
            sdp = await media.offer()
        except Exception:
            log.exception("[%s] cannot make a re-attach offer", self.call_id)
            await media.close()
            session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
            return False
        if self.pending_attach is not None:
            await self.pending_attach.close()
        self.pending_attach = media
        self.owner = client.sessid
        # A browser that never answers verto.attach loses the call as a detached one would.
        self._start_expiry(self.service.settings.detach_timeout)
        params: Json = {"callID": self.call_id, "sdp": sdp, **self._ids()}
        params["display_direction"] = "outbound" if self.direction == "outbound" else "inbound"
        client.request("verto.attach", params, self.call_id)
        return True
