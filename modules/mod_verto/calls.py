"""Every Verto call of the switch, and the browser's call methods: `verto.invite` (the browser calls),
calls to browsers (`verto.rtc/...`), `verto.answer`, `verto.bye`, `verto.info`, `verto.modify`,
`verto.attach`.

Inbound (the browser called): `verto.invite` carries the browser's offer; we
answer it at once (so a useless offer fails the invite) and route a session
through the dialplan in the user's context.  Outbound: each ringing socket of
the user gets `verto.invite` with an offer of its own; the first `verto.answer`
wins, the others get `verto.bye` with LOSE_RACE.  Either side ends a call with
`verto.bye` (Q.850 `causeCode`, FreeSWITCH's `cause` name).  Only the sessid a
call belongs to may act on it; anyone else is told "CALL DOES NOT EXIST".
"""

from __future__ import annotations

import logging
import re
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from switchcore.causes import HangupCause
from switchcore.errors import CallError
from switchcore.events import Event
from switchcore.media.codec import CodecSpec
from switchcore.profile import CallerProfile
from switchcore.session import Session

from .call import CallEvent, Phase, VertoCall
from .media import MediaError, VertoMedia, WebRtcPolicy
from .protocol import Code, Json, RpcError

if TYPE_CHECKING:
    from .client import VertoClient
    from .service import VertoService

log = logging.getLogger("mod_verto.calls")

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CALL_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_DTMF = re.compile(r"[0-9A-Da-d*#]+")


def _dialog(params: Json) -> tuple[Json, str]:
    """`dialogParams` and its `callID`, with mod_verto's messages when either is missing."""
    dialog = params.get("dialogParams")
    if not isinstance(dialog, dict):
        raise RpcError(Code.SESSION_ERROR, "Dialog data missing")
    call_id = dialog.get("callID")
    if not isinstance(call_id, str) or not _CALL_ID.fullmatch(call_id):
        raise RpcError(Code.SESSION_ERROR, "CallID missing")
    return dialog, call_id


def _text(value: Any, default: str = "", limit: int = 256) -> str:
    return value[:limit] if isinstance(value, str) and value else default


def cause_of(params: Json) -> HangupCause:
    """The cause a browser's verto.bye gives (`cause` name or `causeCode` number), NORMAL_CLEARING otherwise."""
    cause = params.get("cause")
    if isinstance(cause, str) and cause:
        return HangupCause.parse(cause)
    code = params.get("causeCode")
    if isinstance(code, int) and not isinstance(code, bool):
        return HangupCause.parse(str(code))
    return HangupCause.NORMAL_CLEARING


def blind_transfer(session: Session, partner: Session, words: list[str]) -> None:
    """Send the partner to `<dest> [<dialplan> [<context>]]` and leave (mod_verto.c verto__modify_func:
    switch_ivr_session_transfer on the partner; here as mod_sofia's REFER: we hang up BLIND_TRANSFER)."""
    dialplan = words[1] if len(words) > 1 else "XML"
    context = words[2] if len(words) > 2 else session.profile.context
    partner.transfer(words[0], dialplan, context)
    session.hangup(HangupCause.BLIND_TRANSFER)


class VertoCalls:
    """Every Verto call of one switch, and the browser's call methods."""

    def __init__(self, service: VertoService) -> None:
        self.service = service
        self.by_id: dict[str, VertoCall] = {}
        self.detached_total = 0
        self.calls_total = 0

    def find_codec(self, name: str, rate: int) -> CodecSpec | None:
        return self.service.switch.registry.find_codec(name, rate, 1)

    def policy(self, wanted: WebRtcPolicy) -> WebRtcPolicy:
        """The profile's codecs the switch has loaded; MediaError when it has none of them."""
        return wanted.available(self.find_codec)

    def new_media(self, policy: WebRtcPolicy, call: VertoCall) -> VertoMedia:
        return VertoMedia(policy, self.service.switch.clock, self.find_codec, call.on_dtmf)

    def forget(self, call: VertoCall) -> None:
        if self.by_id.get(call.call_id) is call:
            del self.by_id[call.call_id]

    def of_owner(self, sessid: str) -> list[VertoCall]:
        return [c for c in self.by_id.values() if c.owner == sessid]

    def owner_uid(self, sessid: str) -> str:
        """The user whose calls are held under `sessid` ("" when none are)."""
        for call in self.by_id.values():
            if call.owner == sessid and call.owner_uid:
                return call.owner_uid
        return ""

    def profile_hold_music(self, call: VertoCall) -> str:
        client = call._owner_client()
        return client.profile.settings.hold_music if client is not None else ""

    def _owned(self, client: VertoClient, call_id: str) -> VertoCall:
        """The call `client` may act on; any other is "CALL DOES NOT EXIST" (not telling whose it is)."""
        call = self.by_id.get(call_id)
        if call is None or (call.owner != client.sessid and client.sessid not in call.offers):
            raise RpcError(Code.SESSION_ERROR, "CALL DOES NOT EXIST", callID=call_id)
        return call

    # ---- the browser calls (verto.invite) ---------------------------------------------------

    async def invite(self, client: VertoClient, params: Json) -> Json:
        dialog, call_id = _dialog(params)
        sdp = params.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise RpcError(Code.SESSION_ERROR, "SDP missing")
        switch = self.service.switch
        if call_id in self.by_id or call_id in switch.sessions:
            raise RpcError(Code.SESSION_ERROR, "CALL EXISTS", callID=call_id)
        settings = client.profile.settings
        try:
            policy = self.policy(WebRtcPolicy(settings.rtp_ip, settings.ext_rtp_ip, settings.inbound_codecs))
            call = VertoCall(self, call_id, "inbound", client.sessid, policy)
            media = self.new_media(policy, call)
            try:
                await media.answer(sdp)
            except MediaError:
                await media.close()
                raise
        except MediaError as exc:
            cause = HangupCause.INCOMPATIBLE_DESTINATION
            log.info("[%s] refusing verto.invite from %s: %s", call_id, client.uid, exc)
            raise RpcError(
                Code.SESSION_ERROR, "CALL ERROR", callID=call_id, causeCode=int(cause), cause=cause.name
            ) from None
        call.owner_uid = client.uid
        call.driver.attach(media)
        session = self._inbound_session(client, call, dialog)
        call.session = session
        self.by_id[call_id] = call
        self.calls_total += 1
        session.start()
        return {"message": "CALL CREATED", "callID": call_id}

    def _inbound_session(self, client: VertoClient, call: VertoCall, dialog: Json) -> Session:
        login = client.connection.login
        user = login.user
        uservars = dict(user.variables) if user is not None else {}
        params = dict(user.params) if user is not None else {}
        settings = client.profile.settings
        # mod_verto.c: the user's `user_context` variable, else `verto-context`, else the profile's.
        context = uservars.get("user_context") or params.get("verto-context") or settings.context
        dialplan = params.get("verto-dialplan") or settings.dialplan
        destination = _text(dialog.get("destination_number"), "service", 128)
        # The directory's caller id wins over what the browser claims (as for SIP users); the
        # browser may pick its display name, never its number (FreeSWITCH trusts both).
        cid_name = uservars.get("effective_caller_id_name") or _text(
            dialog.get("caller_id_name"), login.user_id
        )
        cid_num = uservars.get("effective_caller_id_number") or login.user_id
        profile = CallerProfile(
            username=login.user_id,
            dialplan=dialplan,
            caller_id_name=cid_name,
            caller_id_number=cid_num,
            callee_id_name=_text(dialog.get("remote_caller_id_name")),
            callee_id_number=_text(dialog.get("remote_caller_id_number")),
            ani=cid_num,
            network_addr=client.address,
            destination_number=destination,
            context=context,
            source="mod_verto",
        )
        variables: dict[str, str] = dict(uservars)
        variables.update(
            {
                "verto_user": client.uid,
                "verto_host": login.domain,
                "presence_id": client.uid,
                "user_name": login.user_id,
                "domain_name": login.domain,
                "jsock_uuid_str": client.sessid,
                "event_channel_cookie": client.sessid,
                "verto_profile_name": client.profile.settings.name,
                "verto_remote_caller_id_name": profile.callee_id_name,
                "verto_remote_caller_id_number": profile.callee_id_number,
                "endpoint_disposition": "RECEIVED",
            }
        )
        uuid = call.call_id if _UUID.fullmatch(call.call_id) else None
        return Session(
            self.service.switch,
            call.driver,
            f"verto.rtc/{destination}",
            "inbound",
            profile,
            variables,
            uuid=uuid,
            module="mod_verto",
        )

    # ---- calls to browsers ------------------------------------------------------------------

    async def call_out(
        self, targets: list[VertoClient], dest: str, variables: dict[str, str], originator: Session | None
    ) -> Session:
        """A ringing outbound leg to every socket in `targets` (verto.rtc/...)."""
        first = targets[0]
        settings = first.profile.settings
        try:
            policy = self.policy(WebRtcPolicy(settings.rtp_ip, settings.ext_rtp_ip, settings.outbound_codecs))
        except MediaError as exc:
            raise CallError(HangupCause.INCOMPATIBLE_DESTINATION, str(exc)) from None
        session_uuid = variables.get("origination_uuid") or str(uuidlib.uuid4())
        call = VertoCall(self, session_uuid, "outbound", "", policy)
        call.owner_uid = first.uid
        origin = originator.profile if originator is not None else None
        callee = variables.get("dialed_user") or first.connection.login.user_id
        profile = CallerProfile(
            caller_id_name=variables.get("origination_caller_id_name")
            or (origin.caller_id_name if origin else "")
            or self.service.switch.global_vars.get("outbound_caller_name", ""),
            caller_id_number=variables.get("origination_caller_id_number")
            or (origin.caller_id_number if origin else "")
            or self.service.switch.global_vars.get("outbound_caller_id", ""),
            callee_id_name=variables.get("origination_callee_id_name") or callee,
            callee_id_number=variables.get("origination_callee_id_number") or callee,
            destination_number=callee,
            context=origin.context if origin else "default",
            source="mod_verto",
        )
        leg_vars = {k: v for k, v in variables.items() if k != "origination_uuid"}
        leg_vars.update({"verto_user": first.uid, "presence_id": first.uid, "verto_orig_dest": dest})
        session = Session(
            self.service.switch,
            call.driver,
            f"verto.rtc/{dest}",
            "outbound",
            profile,
            leg_vars,
            uuid=session_uuid,
            module="mod_verto",
        )
        call.session = session
        self.by_id[call.call_id] = call
        self.calls_total += 1
        session.start()
        for client in targets:
            media = self.new_media(policy, call)
            try:
                sdp = await media.offer()
            except Exception:
                log.exception("[%s] cannot make an offer for %s", call.call_id, client.sessid)
                await media.close()
                continue
            call.offers[client.sessid] = media
            params: Json = {"callID": call.call_id, "variables": call._variables(), "sdp": sdp, **call._ids()}
            params["display_direction"] = "outbound"
            for name, value in session.variables.items():
                if name.startswith("verto_h_"):
                    params[name] = value
            client.request("verto.invite", params, call.call_id)
        if not call.offers:
            session.hangup(HangupCause.DESTINATION_OUT_OF_ORDER)
        else:
            session.mark_ringing()
        return session

    def invite_refused(self, client: VertoClient, call_id: str) -> None:
        """The browser answered our verto.invite with an error."""
        call = self.by_id.get(call_id)
        if call is not None:
            self._drop_offer(call, client.sessid, HangupCause.CALL_REJECTED)

    def _drop_offer(self, call: VertoCall, sessid: str, cause: HangupCause) -> None:
        media = call.offers.pop(sessid, None)
        if media is not None:
            self.service.background(media.close())
        if not call.offers and not call.owner and call.session is not None and not call.answered:
            call.remote_hangup = True
            call.session.hangup(cause)

    async def answer(self, client: VertoClient, params: Json) -> Json:
        """verto.answer: the browser answers a call we offered it."""
        dialog, call_id = _dialog(params)
        call = self._owned(client, call_id)
        sdp = params.get("sdp")
        media = call.offers.get(client.sessid)
        if call.direction != "outbound" or media is None or call.owner:
            raise RpcError(Code.SESSION_ERROR, "CALL DOES NOT EXIST", callID=call_id)
        if not isinstance(sdp, str) or not sdp:
            raise RpcError(Code.SESSION_ERROR, "SDP missing", callID=call_id)
        session = call.session
        assert session is not None
        try:
            await media.accept(sdp)
        except MediaError as exc:
            log.info("[%s] answer from %s unusable: %s", call_id, client.uid, exc)
            self._drop_offer(call, client.sessid, HangupCause.INCOMPATIBLE_DESTINATION)
            raise RpcError(Code.SESSION_ERROR, "CODEC ERROR", callID=call_id) from None
        del call.offers[client.sessid]
        call.owner, call.owner_uid = client.sessid, client.uid
        call.driver.attach(media)
        for sessid, other in list(call.offers.items()):
            loser = self.service.client(sessid)
            if loser is not None:
                cause = HangupCause.LOSE_RACE
                loser.request(
                    "verto.bye", {"callID": call_id, "causeCode": int(cause), "cause": cause.name}, call_id
                )
            await other.close()
        call.offers.clear()
        session.profile.callee_id_name = _text(dialog.get("callee_id_name"), session.profile.callee_id_name)
        session.profile.callee_id_number = _text(
            dialog.get("callee_id_number"), session.profile.callee_id_number
        )
        call._event(CallEvent.ANSWER)
        session.mark_answered()
        return {}

    # ---- either direction -------------------------------------------------------------------

    async def bye(self, client: VertoClient, params: Json) -> Json:
        _, call_id = _dialog(params)
        call = self._owned(client, call_id)
        cause = cause_of(params)
        if call.direction == "outbound" and not call.owner:
            self._drop_offer(call, client.sessid, cause)  # one ringing browser declines
        elif call.session is not None:
            call.remote_hangup = True
            call.session.hangup(cause)
        return {"callID": call_id, "message": "CALL ENDED", "causeCode": int(cause), "cause": cause.name}

    async def info(self, client: VertoClient, params: Json) -> Json:
        result: Json = {}
        dtmf = params.get("dtmf")
        if dtmf is not None:
            _, call_id = _dialog(params)
            call = self._owned(client, call_id)
            if not isinstance(dtmf, str) or len(dtmf) > 64:
                raise RpcError(Code.INVALID_PARAMS, "dtmf must be a string of digits")
            digits = "".join(_DTMF.findall(dtmf))
            if call.session is not None:
                for digit in digits.upper():
                    call.session.queue_dtmf(digit, "ENDPOINT")
            result["message"] = "SENT"
        msg = params.get("msg")
        if msg is not None:
            if (
                not isinstance(msg, dict)
                or not _text(msg.get("to"))
                or not _text(msg.get("body"), limit=65536)
            ):
                raise RpcError(Code.SESSION_ERROR, "INVALID MESSAGE to and body params required")
            event = Event.create(
                "MESSAGE",
                proto="verto",
                **{"from": client.uid, "from_user": client.connection.login.user_id, "to": _text(msg["to"])},
                from_host=client.connection.login.domain,
                type="text/plain",
                verto_profile=client.profile.settings.name,
                verto_jsock_uuid=client.sessid,
            )
            event.body = _text(msg["body"], limit=65536)
            self.service.switch.events.fire(event)
            result["message"] = "SENT"
        return result

    async def modify(self, client: VertoClient, params: Json) -> Json:
        _, call_id = _dialog(params)
        action = params.get("action")
        if not isinstance(action, str) or not action:
            raise RpcError(Code.SESSION_ERROR, "action missing", callID=call_id)
        call = self._owned(client, call_id)
        session = call.session
        if session is None or not session.answered:
            raise RpcError(Code.SESSION_ERROR, "call is not answered", callID=call_id)
        result: Json = {"callID": call_id, "action": action}
        if action == "transfer":
            destination = params.get("destination")
            if not isinstance(destination, str) or not destination.strip():
                raise RpcError(Code.SESSION_ERROR, "destination missing", callID=call_id)
            partner = session.partner
            if partner is None:
                raise RpcError(Code.SESSION_ERROR, "call is not bridged", callID=call_id)
            blind_transfer(session, partner, destination.split())
            result["message"] = "CALL TRANSFERRED"
            return result
        if action in ("hold", "unhold", "toggleHold"):
            held = {"hold": True, "unhold": False}.get(action, not call.driver.held)
            call.set_held(held)
            result["holdState"] = "held" if call.driver.held else "active"
            return result
        raise RpcError(Code.SESSION_ERROR, f"unsupported action {action[:32]}", callID=call_id)

    async def attach(self, client: VertoClient, params: Json) -> Json:
        """verto.attach from the browser: its answer to the offer we sent after it reconnected."""
        _, call_id = _dialog(params)
        sdp = params.get("sdp")
        if not isinstance(sdp, str) or not sdp:
            raise RpcError(Code.SESSION_ERROR, "SDP missing")
        call = self._owned(client, call_id)
        media = call.pending_attach
        if call.phase is not Phase.ATTACHING or media is None:
            raise RpcError(Code.SESSION_ERROR, "call is not being re-attached", callID=call_id)
        try:
            await media.accept(sdp)
        except MediaError as exc:
            log.info("[%s] re-attach answer unusable: %s", call_id, exc)
            if call.session is not None:
                call.session.hangup(HangupCause.BEARERCAPABILITY_NOTAVAIL)
            raise RpcError(Code.SESSION_ERROR, "CODEC NEGOTIATION ERROR", callID=call_id) from None
        call.pending_attach = None
        call._cancel_expiry()
        old = call.driver.attach(media)
        if old is not None:
            await old.close()
        call._event(CallEvent.ATTACHED)
        return {}

    # ---- sockets coming and going ----------------------------------------------------------

    def detach_owner(self, sessid: str, now: float) -> None:
        for call in self.of_owner(sessid):
            call.detach(now)
        for call in list(self.by_id.values()):
            if sessid in call.offers:
                self._drop_offer(call, sessid, HangupCause.DESTINATION_OUT_OF_ORDER)

    async def reattach_owner(self, client: VertoClient) -> list[str]:
        """Offer every detached call of `client`'s sessid again; returns the callIDs offered."""
        out: list[str] = []
        for call in self.of_owner(client.sessid):
            if await call.reattach(client):
                out.append(call.call_id)
        return out

    def on_bridge(self, event: Event) -> None:
        """CHANNEL_BRIDGE: show each Verto leg who it is now talking to (verto.display)."""
        for uuid in (event.get("Bridge-A-Unique-ID"), event.get("Bridge-B-Unique-ID")):
            call = self._by_session(uuid)
            if call is None or call.session is None or call.session.partner is None:
                continue
            partner = call.session.partner.profile
            if call.session.partner.direction == "outbound":
                name = partner.callee_id_name or partner.destination_number
                number = partner.callee_id_number or partner.destination_number
            else:
                name, number = partner.caller_id_name, partner.caller_id_number
            client = call._owner_client()
            if client is not None:
                params = {"callID": call.call_id, "display_name": name, "display_number": number}
                client.request("verto.display", params, call.call_id)

    def _by_session(self, uuid: str) -> VertoCall | None:
        for call in self.by_id.values():
            if call.session is not None and call.session.uuid == uuid:
                return call
        return None

    async def hangup_all(self, cause: HangupCause) -> None:
        for call in list(self.by_id.values()):
            if call.session is not None:
                call.session.hangup(cause)
