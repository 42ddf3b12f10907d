"""The pjsua2 objects of :mod:`tests.peers.pjsua_phone`: a call and an account that report as events.

``PhoneCall`` and ``PhoneAccount`` subclass pjsua2's ``Call`` and ``Account``; every callback
writes one JSON event through the agent (``call_state``, ``media_state``, ``dtmf``,
``transfer_request``, ``transfer_status``, ``call_replaced``, ``dialog``, ``reg_state``,
``incoming_call``) and never lets a Python exception unwind into pjsip (``guarded``).

``dialog``: pjsua2's ``CallInfo`` has the Call-ID but not the dialog's tags, which a phone
needs to name the dialog in a Replaces header (RFC 3891: directed call pickup, attended
transfer).  They are read from the INVITE transaction's responses as they go by
(``onCallTsxState``): a response we send carries our tag in To, one we receive the far end's.
"""

from __future__ import annotations

import contextlib
import re
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pjsua2 as pj

if TYPE_CHECKING:
    from .pjsua_phone import Agent

CALL_STATES = {
    pj.PJSIP_INV_STATE_NULL: "NULL",
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "NONE",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
    pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
}
MEDIA_DIR = {
    pj.PJMEDIA_DIR_NONE: "inactive",
    pj.PJMEDIA_DIR_ENCODING: "sendonly",
    pj.PJMEDIA_DIR_DECODING: "recvonly",
    pj.PJMEDIA_DIR_ENCODING_DECODING: "sendrecv",
}
DTMF_METHODS = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}


def error_text(exc: BaseException) -> str:
    """pjsua2's ``Error`` keeps its message in ``info()``; everything else in ``str()``."""
    info = getattr(exc, "info", None)
    if callable(info):
        with contextlib.suppress(Exception):
            return str(info())
    return str(exc) or type(exc).__name__


def guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Keep Python exceptions from unwinding into pjsip (a SWIG director error can abort the process)."""

    def wrapper(self: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception as exc:  # noqa: BLE001 - reported, never propagated into C++
            self.agent.out.event(
                "log",
                level="error",
                where=method.__name__,
                error=error_text(exc),
                trace=traceback.format_exc(),
            )

    wrapper.__name__ = method.__name__
    return wrapper


class PhoneCall(pj.Call):  # type: ignore[misc]
    """One call; forwards pjsua2 callbacks to the agent as events."""

    def __init__(self, agent: Agent, account: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
        super().__init__(account, call_id)
        self.agent = agent
        self.handle = agent.next_handle()
        self.state = "NULL"
        self.connected_slot: int | None = None
        self.recorder: pj.AudioMediaRecorder | None = None
        self.record_path: str | None = None
        self.local_tag = ""  # the dialog's tags (RFC 3261 19.3), from the INVITE's responses
        self.remote_tag = ""

    @guarded
    def onCallState(self, prm: pj.OnCallStateParam) -> None:  # noqa: N802 - pjsua2 name
        info = self.getInfo()
        self.state = CALL_STATES.get(info.state, str(info.state))
        self.agent.out.event(
            "call_state",
            call=self.handle,
            state=self.state,
            code=int(info.lastStatusCode),
            reason=info.lastReason,
            remote_uri=info.remoteUri,
            local_uri=info.localUri,
            call_id=info.callIdString,
            role="caller" if info.role == 0 else "callee",
        )
        if self.state == "DISCONNECTED":
            self.agent.call_ended(self)

    @guarded
    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            status = MEDIA_STATUS.get(media.status, str(media.status))
            codec = ""
            with contextlib.suppress(Exception):
                stream = self.getStreamInfo(media.index)
                codec = f"{stream.codecName}/{stream.codecClockRate}"
            self.agent.out.event(
                "media_state",
                call=self.handle,
                index=int(media.index),
                status=status,
                dir=MEDIA_DIR.get(media.dir, str(media.dir)),
                codec=codec,
                slot=int(media.audioConfSlot),
            )
            if media.status in (pj.PJSUA_CALL_MEDIA_ACTIVE, pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                self.agent.connect_media(self, int(media.audioConfSlot))
            break

    @guarded
    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:  # noqa: N802
        self.agent.out.event(
            "dtmf",
            call=self.handle,
            digit=prm.digit,
            method=DTMF_METHODS.get(prm.method, str(prm.method)),
            duration=None if prm.duration >= 0xFFFFFFFF else int(prm.duration),
        )

    @guarded
    def onCallTsxState(self, prm: pj.OnCallTsxStateParam) -> None:  # noqa: N802
        event = prm.e
        if event.type != pj.PJSIP_EVENT_TSX_STATE:
            return
        state = event.body.tsxState
        if state.type == pj.PJSIP_EVENT_TX_MSG:
            text, sent = state.src.tdata.wholeMsg, True
        elif state.type == pj.PJSIP_EVENT_RX_MSG:
            text, sent = state.src.rdata.wholeMsg, False
        else:
            return
        found = dialog_of_response(str(text or ""))
        if found is None or found[3] != "INVITE":
            return
        call_id, from_tag, to_tag, _ = found
        # RFC 3261 12.1: the UAS's tag is in To; so is the far end's in a response we receive.
        local, remote = (to_tag, from_tag) if sent else (from_tag, to_tag)
        if (local, remote) != (self.local_tag, self.remote_tag):
            self.local_tag, self.remote_tag = local, remote
            self.agent.out.event(
                "dialog", call=self.handle, call_id=call_id, local_tag=local, remote_tag=remote
            )

    @guarded
    def onCallTransferRequest(self, prm: pj.OnCallTransferRequestParam) -> None:  # noqa: N802
        target = self.agent.account_for_calls()
        new_call = PhoneCall(self.agent, target)
        self.agent.adopt(new_call)
        prm.newCall = new_call
        self.agent.out.event(
            "transfer_request",
            call=self.handle,
            target=prm.dstUri,
            new_call=new_call.handle,
            code=int(prm.statusCode),
        )

    @guarded
    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:  # noqa: N802
        self.agent.out.event(
            "transfer_status",
            call=self.handle,
            code=int(prm.statusCode),
            reason=prm.reason,
            final=bool(prm.finalNotify),
        )

    @guarded
    def onCallReplaced(self, prm: pj.OnCallReplacedParam) -> None:  # noqa: N802
        new_call = PhoneCall(self.agent, self.agent.account_for_calls(), prm.newCallId)
        self.agent.adopt(new_call)
        prm.newCall = new_call
        self.agent.out.event("call_replaced", call=self.handle, new_call=new_call.handle)


class PhoneAccount(pj.Account):  # type: ignore[misc]
    """An account (the local one, or the registered one); reports registration and incoming calls."""

    def __init__(self, agent: Agent, label: str) -> None:
        super().__init__()
        self.agent = agent
        self.label = label

    @guarded
    def onRegState(self, prm: pj.OnRegStateParam) -> None:  # noqa: N802
        info = self.getInfo()
        self.agent.out.event(
            "reg_state",
            account=self.label,
            code=int(prm.code),
            reason=prm.reason,
            expires=int(prm.expiration),
            active=bool(info.regIsActive),
        )

    @guarded
    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:  # noqa: N802
        call = PhoneCall(self.agent, self, prm.callId)
        self.agent.adopt(call)
        info = call.getInfo()
        message = ""
        with contextlib.suppress(Exception):
            message = prm.rdata.wholeMsg
        self.agent.out.event(
            "incoming_call",
            call=call.handle,
            account=self.label,
            remote_uri=info.remoteUri,
            local_uri=info.localUri,
            call_id=info.callIdString,
            message=message,
        )
        self.agent.on_incoming(call)


_TAG = re.compile(r";\s*tag\s*=\s*([^;,\s]+)", re.IGNORECASE)
_SHORT = {"f": "from", "t": "to", "i": "call-id"}


def dialog_of_response(message: str) -> tuple[str, str, str, str] | None:
    """(Call-ID, From tag, To tag, CSeq method) of a SIP response's text; None for a request or no To tag."""
    lines = message.replace("\r\n", "\n").split("\n")
    if not lines or not lines[0].startswith("SIP/2.0"):
        return None
    found: dict[str, str] = {}
    for line in lines[1:]:
        if not line.strip():
            break  # the body starts
        name, _, value = line.partition(":")
        key = _SHORT.get(name.strip().lower(), name.strip().lower())
        if key in ("from", "to", "call-id", "cseq") and key not in found:
            found[key] = value.strip()

    def tag(value: str) -> str:
        params = value.rsplit(">", 1)[-1]  # after the URI, whose own params are not the header's
        match = _TAG.search(params)
        return match.group(1) if match else ""

    to_tag = tag(found.get("to", ""))
    if not to_tag:
        return None
    method = found.get("cseq", "").split()[-1:] or [""]
    return found.get("call-id", ""), tag(found.get("from", "")), to_tag, method[0].upper()


__all__ = [
    "CALL_STATES",
    "DTMF_METHODS",
    "MEDIA_DIR",
    "MEDIA_STATUS",
    "PhoneAccount",
    "PhoneCall",
    "dialog_of_response",
    "error_text",
    "guarded",
]
