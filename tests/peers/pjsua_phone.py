"""A scriptable SIP phone: one pjsua2 Endpoint driven by JSON lines on stdin.

Run as ``python3 tests/peers/pjsua_phone.py --name alice --sip-port 15300 --rtp-port 40000`` (or
``python3 -m tests.peers.pjsua_phone``).  The pytest side is :class:`tests.peers.phone.Phone`.

Theory of operation
-------------------
pjsua2 allows one Endpoint per process and aborts the interpreter on some misuse, so each phone is
its own process.  The Endpoint runs with ``threadCnt = 0`` and ``mainThreadOnly = True``: every
pjsua2 callback runs in the main thread, inside ``libHandleEvents``.  A reader thread only moves
stdin lines into a queue; the main loop alternates ``libHandleEvents(10)`` with running queued
commands, so no other thread ever calls into pjsua2.

Protocol (one JSON object per line, both ways)::

    -> {"id": 7, "cmd": "call", "uri": "sip:bob@127.0.0.1:15300"}
    <- {"id": 7, "ok": true, "result": {"call": 1}}
    <- {"event": "call_state", "call": 1, "state": "CALLING", "code": 0, "reason": "", "t": 12.3}

Every command gets exactly one reply with ``ok`` true or false (``error`` then says why).  Calls
are named by a handle that this script assigns (1, 2, 3 ...) and never reuses, unlike pjsua's
call ids.  Commands that act on a call take an optional ``call``; without it they act on the
newest call that is not disconnected.

Events: ``ready``, ``reg_state``, ``incoming_call``, ``call_state``, ``media_state``, ``dtmf``,
``transfer_request``, ``transfer_status``, ``call_replaced``, ``dialog`` (the call's tags), ``log``
(errors inside callbacks).  The pjsua2 call and account objects are in :mod:`tests.peers.pjsua_calls`.

The process exits cleanly (hang up, unregister, ``libDestroy``) on stdin EOF, on ``quit`` and on
SIGTERM.  pjsip's own log goes to stderr; stdout carries nothing but the JSON lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import signal
import struct
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path
from typing import Any

import pjsua2 as pj

try:  # run as ``python3 -m tests.peers.pjsua_phone``
    from .pjsua_calls import CALL_STATES, PhoneAccount, PhoneCall, error_text
except ImportError:  # run as a script: its directory is on sys.path
    from pjsua_calls import CALL_STATES, PhoneAccount, PhoneCall, error_text  # type: ignore[no-redef]

LOOPBACK = "127.0.0.1"
DEFAULT_CODECS = ("PCMU/8000", "PCMA/8000", "G722/16000")


class CommandError(Exception):
    """A command that cannot be carried out; its message goes back as ``error``."""


class Output:
    """Writes JSON lines to the real stdout, which is kept apart from pjsip's console output."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._t0 = time.monotonic()

    def send(self, obj: dict[str, Any]) -> None:
        line = json.dumps(obj, default=str)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # the driver is gone; stdin EOF will end the process

    def event(self, kind: str, /, **fields: Any) -> None:
        self.send({"event": kind, "t": round(time.monotonic() - self._t0, 3), **fields})


def write_sine_wav(
    path: Path, freq: float, seconds: float, rate: int = 16000, amplitude: int = 10000
) -> None:
    """The ``tone`` command's source: mono 16-bit PCM (kept here so this script needs only pjsua2)."""
    count = int(seconds * rate)
    frames = struct.pack(
        f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * freq * i / rate)) for i in range(count))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)


def wav_complete(path: str) -> bool:
    """True once a WAV's RIFF size field matches the file size (pjmedia fills it in when closing)."""
    try:
        with open(path, "rb") as wav:
            header = wav.read(12)
            size = os.fstat(wav.fileno()).st_size
    except OSError:
        return True  # nothing to wait for
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return False
    return int(struct.unpack("<I", header[4:8])[0]) + 8 == size


class Agent:
    """Owns the Endpoint, accounts, calls, the player and recorders; executes commands."""

    def __init__(self, args: argparse.Namespace, out: Output) -> None:
        self.args = args
        self.out = out
        self.workdir = Path(args.workdir or tempfile.mkdtemp(prefix=f"pjsua-{args.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ep = pj.Endpoint()
        self.calls: dict[int, PhoneCall] = {}
        # pjsua reuses call and account ids, and a pjsua2 object's destructor acts on its (stale) id,
        # so a finished call or replaced account must never be garbage-collected while the library
        # runs: it would hang up or delete whatever now has its id.  They are kept here, and the
        # process ends with os._exit after libDestroy, so no destructor ever runs.
        self.retired: list[Any] = []
        self.local: PhoneAccount | None = None
        self.registered: PhoneAccount | None = None
        self.transports: dict[str, int] = {}
        self.player: pj.AudioMediaPlayer | None = None
        self.player_path: str | None = None
        self.auto_answer = bool(args.auto_answer)
        self.auto_answer_code = 200
        self.ring_code = 180
        self.pending_record: tuple[str, int | None] | None = None
        self.closed_recordings: list[str] = []  # closed since the last stop_record (e.g. at hang-up)
        self.quitting = False
        self._handles = 0
        # RFC 4028 for calls made or answered from now on (`session_timer`): pjsua's own defaults.
        self.timer_use = pj.PJSUA_SIP_TIMER_OPTIONAL
        self.timer_se = 1800
        self.timer_min_se = 90

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 8
        cfg.uaConfig.userAgent = f"switchcore-test-pjsua/{self.args.name}"
        cfg.logConfig.level = self.args.log_level
        cfg.logConfig.consoleLevel = self.args.log_level
        cfg.medConfig.noVad = True  # a tone must not be cut into talk spurts
        cfg.medConfig.ecTailLen = 0  # no echo canceller eating the test tone
        self.ep.libInit(cfg)
        for name, kind in (("udp", pj.PJSIP_TRANSPORT_UDP), ("tcp", pj.PJSIP_TRANSPORT_TCP)):
            if name == "tcp" and self.args.no_tcp:
                continue
            tcfg = pj.TransportConfig()
            tcfg.port = self.args.sip_port
            # Loopback gotcha (dependencies.md): without both, Via/Contact/SDP carry eth0's address.
            tcfg.boundAddress = LOOPBACK
            tcfg.publicAddress = LOOPBACK
            self.transports[name] = self.ep.transportCreate(kind, tcfg)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        self.set_codecs(list(self.args.codecs.split(",")) if self.args.codecs else list(DEFAULT_CODECS))
        self.local = PhoneAccount(self, "local")
        self.local.create(self.account_config(f"sip:{self.args.name}@{LOOPBACK}:{self.args.sip_port}"), True)
        self.out.event(
            "ready",
            name=self.args.name,
            sip_port=self.args.sip_port,
            rtp_port=self.args.rtp_port,
            pid=os.getpid(),
            workdir=str(self.workdir),
        )

    def shutdown(self) -> None:
        """Hang up, unregister, destroy; keeps handling events so BYEs and un-REGISTERs go out."""
        with contextlib.suppress(Exception):
            self.ep.hangupAllCalls()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(
            c.state not in ("DISCONNECTED", "NULL") for c in self.calls.values()
        ):
            self.ep.libHandleEvents(10)
        self.stop_recording_all()
        self.settle_recordings()
        self.player = None
        if self.registered is not None:
            with contextlib.suppress(Exception):
                if self.registered.getInfo().regIsActive:
                    self.registered.setRegistration(False)
                    deadline = time.monotonic() + 1.0
                    while time.monotonic() < deadline and self.registered.getInfo().regIsActive:
                        self.ep.libHandleEvents(10)
        for account in (self.registered, self.local):
            if account is not None:
                with contextlib.suppress(Exception):
                    account.shutdown()
                self.retired.append(account)
        self.ep.libDestroy()

    def next_handle(self) -> int:
        self._handles += 1
        return self._handles

    # --- helpers -----------------------------------------------------------------------------

    def account_config(self, id_uri: str) -> pj.AccountConfig:
        acfg = pj.AccountConfig()
        acfg.idUri = id_uri
        media = acfg.mediaConfig.transportConfig
        media.port = self.args.rtp_port
        media.portRange = self.args.rtp_range
        media.boundAddress = LOOPBACK
        media.publicAddress = LOOPBACK
        nat = acfg.natConfig
        nat.sipOutboundUse = 0
        nat.contactRewriteUse = 0
        nat.viaRewriteUse = 0
        nat.sdpNatRewriteUse = 0
        nat.udpKaIntervalSec = 0
        calls = acfg.callConfig
        calls.timerUse = self.timer_use
        calls.timerSessExpiresSec = self.timer_se
        calls.timerMinSESec = self.timer_min_se
        return acfg

    def account_for_calls(self) -> PhoneAccount:
        account = self.registered if self.registered is not None else self.local
        assert account is not None
        return account

    def adopt(self, call: PhoneCall) -> None:
        self.calls[call.handle] = call

    def call_ended(self, call: PhoneCall) -> None:
        if call.recorder is not None:
            self.stop_recording(call)
        self.calls.pop(call.handle, None)
        self.retired.append(call)

    def find_call(self, params: dict[str, Any]) -> PhoneCall:
        handle = params.get("call")
        if handle is not None:
            call = self.calls.get(int(handle))
            if call is None:
                raise CommandError(f"no call {handle}")
            return call
        live = [c for c in self.calls.values() if c.state != "DISCONNECTED"]
        if not live:
            raise CommandError("no active call")
        return max(live, key=lambda c: c.handle)

    def on_incoming(self, call: PhoneCall) -> None:
        prm = pj.CallOpParam()
        if self.auto_answer:
            prm.statusCode = self.auto_answer_code
            call.answer(prm)
        elif self.ring_code:
            prm.statusCode = self.ring_code
            call.answer(prm)

    def connect_media(self, call: PhoneCall, slot: int) -> None:
        """Attach the player's output and the recorder's input to the call's conference slot."""
        if slot < 0:
            return
        media = call.getAudioMedia(-1)
        if self.player is not None:
            self.player.startTransmit(media)
        if call.recorder is None and self.pending_record is not None:
            path, only_call = self.pending_record
            if only_call is None or only_call == call.handle:
                self.pending_record = None
                self.start_recording(call, path)
        if call.recorder is not None:
            media.startTransmit(call.recorder)
        call.connected_slot = slot

    def media_of(self, call: PhoneCall) -> pj.AudioMedia | None:
        try:
            return call.getAudioMedia(-1)
        except Exception:  # noqa: BLE001 - pj.Error: no active audio yet
            return None

    def start_recording(self, call: PhoneCall, path: str) -> None:
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(path)
        call.recorder = recorder
        call.record_path = path

    def stop_recording(self, call: PhoneCall) -> str | None:
        path = call.record_path
        recorder = call.recorder
        call.recorder = None
        call.record_path = None
        if recorder is not None:
            media = self.media_of(call)
            if media is not None:
                with contextlib.suppress(Exception):
                    media.stopTransmit(recorder)
            # The destructor removes the conference port; pjmedia closes the file (and only then
            # writes the WAV header sizes) a little later, in the conference clock. settle_recordings
            # waits for that.
            del recorder
            if path:
                self.closed_recordings.append(path)
        return path

    def settle_recordings(self, timeout: float = 2.0) -> None:
        """Run the event loop until every closed recording has its final WAV header (not from callbacks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(wav_complete(p) for p in self.closed_recordings):
            self.ep.libHandleEvents(10)

    def stop_recording_all(self) -> list[str]:
        calls = list(self.calls.values()) + [c for c in self.retired if isinstance(c, PhoneCall)]
        paths = [self.stop_recording(c) for c in calls if c.recorder is not None]
        return [p for p in paths if p]

    def set_codecs(self, wanted: list[str]) -> list[str]:
        available = [ci.codecId for ci in self.ep.codecEnum2()]
        chosen: list[str] = []
        for name in wanted:
            matches = [cid for cid in available if cid.lower().startswith(name.lower())]
            if not matches:
                raise CommandError(f"unknown codec {name!r}; available: {', '.join(available)}")
            chosen.extend(m for m in matches if m not in chosen)
        for cid in available:
            self.ep.codecSetPriority(cid, 0)
        for rank, cid in enumerate(chosen):
            self.ep.codecSetPriority(cid, 255 - rank)
        return chosen

    # --- commands ----------------------------------------------------------------------------

    def handle(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        name = str(msg.get("cmd", ""))
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            raise CommandError(f"unknown command {name!r}")
        result: dict[str, Any] | None = handler(msg)
        return result

    def cmd_ping(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"name": self.args.name, "calls": sorted(self.calls)}

    def cmd_quit(self, p: dict[str, Any]) -> None:
        self.quitting = True

    def cmd_register(self, p: dict[str, Any]) -> dict[str, Any]:
        user = p["user"]
        registrar = p.get("registrar", f"sip:{LOOPBACK}:5060")
        domain = p.get("domain") or registrar.split(":", 1)[1].split(";")[0]
        transport = p.get("transport", "udp")
        if transport not in self.transports:
            raise CommandError(f"transport {transport!r} not available")
        if transport != "udp" and "transport=" not in registrar:
            registrar += f";transport={transport}"
        acfg = self.account_config(f"sip:{user}@{domain}")
        acfg.regConfig.registrarUri = registrar
        acfg.regConfig.timeoutSec = int(p.get("expires", 300))
        acfg.regConfig.retryIntervalSec = int(p.get("retry", 0))
        acfg.regConfig.registerOnAdd = bool(p.get("register", True))
        acfg.sipConfig.transportId = self.transports[transport]
        if p.get("password") is not None:
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", p.get("realm", "*"), p.get("auth_user", user), 0, p["password"])
            )
        for proxy in p.get("proxies", []):
            acfg.sipConfig.proxies.append(proxy)
        if self.registered is not None:
            old, self.registered = self.registered, None
            with contextlib.suppress(Exception):
                old.shutdown()
            self.retired.append(old)
        account = PhoneAccount(self, "registered")
        account.create(acfg, True)
        self.registered = account
        return {"id_uri": acfg.idUri, "registrar": registrar}

    def cmd_session_timer(self, p: dict[str, Any]) -> dict[str, Any]:
        """Session timers (RFC 4028) of the local account: ``use`` inactive/optional/required/always,
        ``se`` (Session-Expires asked for) and ``min_se`` (pjsip refuses below 90)."""
        uses = {
            "inactive": pj.PJSUA_SIP_TIMER_INACTIVE,
            "optional": pj.PJSUA_SIP_TIMER_OPTIONAL,
            "required": pj.PJSUA_SIP_TIMER_REQUIRED,
            "always": pj.PJSUA_SIP_TIMER_ALWAYS,
        }
        use = str(p.get("use", "optional"))
        if use not in uses:
            raise CommandError(f"session timer use must be one of {sorted(uses)}")
        self.timer_use = uses[use]
        self.timer_se = int(p.get("se", self.timer_se))
        self.timer_min_se = int(p.get("min_se", self.timer_min_se))
        assert self.local is not None
        self.local.modify(self.account_config(f"sip:{self.args.name}@{LOOPBACK}:{self.args.sip_port}"))
        return {"use": use, "se": self.timer_se, "min_se": self.timer_min_se}

    def cmd_unregister(self, p: dict[str, Any]) -> None:
        if self.registered is None:
            raise CommandError("not registered")
        self.registered.setRegistration(False)

    def cmd_call(self, p: dict[str, Any]) -> dict[str, Any]:
        account = self.local if p.get("account") == "local" else self.account_for_calls()
        call = PhoneCall(self, account)
        prm = pj.CallOpParam(True)
        if p.get("no_sdp_offer"):
            # Delayed offer (RFC 3261 13.2.1): an INVITE without SDP; the 200 offers, our ACK answers.
            prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
        for hname, hvalue in dict(p.get("headers", {})).items():
            header = pj.SipHeader()
            header.hName = hname
            header.hValue = str(hvalue)
            prm.txOption.headers.append(header)
        self.adopt(call)
        try:
            call.makeCall(p["uri"], prm)
        except Exception:
            self.calls.pop(call.handle, None)
            raise
        return {"call": call.handle}

    def cmd_answer(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        prm = pj.CallOpParam()
        prm.statusCode = int(p.get("code", 200))
        call.answer(prm)
        return {"call": call.handle}

    def cmd_hangup(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("all"):
            self.ep.hangupAllCalls()
            return {"calls": sorted(self.calls)}
        call = self.find_call(p)
        prm = pj.CallOpParam()
        if p.get("code"):
            prm.statusCode = int(p["code"])
        call.hangup(prm)
        return {"call": call.handle}

    def cmd_auto_answer(self, p: dict[str, Any]) -> dict[str, Any]:
        self.auto_answer = bool(p.get("on", True))
        self.auto_answer_code = int(p.get("code", 200))
        self.ring_code = int(p.get("ring", 180))
        return {"on": self.auto_answer, "code": self.auto_answer_code, "ring": self.ring_code}

    def cmd_play(self, p: dict[str, Any]) -> dict[str, Any]:
        path = str(Path(p["path"]).resolve())
        if not Path(path).is_file():
            raise CommandError(f"no such file {path}")
        self.cmd_stop_play({})
        player = pj.AudioMediaPlayer()
        player.createPlayer(path, 0 if p.get("loop", True) else pj.PJMEDIA_FILE_NO_LOOP)
        self.player = player
        self.player_path = path
        for call in self.calls.values():
            media = self.media_of(call)
            if media is not None:
                player.startTransmit(media)
        return {"path": path}

    def cmd_stop_play(self, p: dict[str, Any]) -> None:
        player, self.player, self.player_path = self.player, None, None
        if player is not None:
            for call in self.calls.values():
                media = self.media_of(call)
                if media is not None:
                    with contextlib.suppress(Exception):
                        player.stopTransmit(media)
            del player

    def cmd_tone(self, p: dict[str, Any]) -> dict[str, Any]:
        freq = float(p["freq"])
        seconds = float(p.get("seconds", 10.0))
        path = self.workdir / f"tone-{freq:g}Hz-{seconds:g}s.wav"
        if not path.exists():
            write_sine_wav(path, freq, seconds, int(p.get("rate", 16000)), int(p.get("amplitude", 10000)))
        return self.cmd_play({"path": str(path), "loop": p.get("loop", True)})

    def cmd_record(self, p: dict[str, Any]) -> dict[str, Any]:
        path = str(Path(p["path"]).resolve())
        try:
            call = self.find_call(p)
        except CommandError:
            if p.get("call") is not None:
                raise
            self.pending_record = (path, None)  # record the next call whose media comes up
            return {"path": path, "pending": True}
        if call.recorder is not None:
            raise CommandError(f"call {call.handle} is already recording to {call.record_path}")
        media = self.media_of(call)
        if media is None:
            self.pending_record = (path, call.handle)
            return {"path": path, "call": call.handle, "pending": True}
        self.start_recording(call, path)
        media.startTransmit(call.recorder)
        return {"path": path, "call": call.handle, "pending": False}

    def cmd_stop_record(self, p: dict[str, Any]) -> dict[str, Any]:
        """Close recordings; answers every file closed since the last stop_record (hang-ups close too)."""
        self.pending_record = None
        if p.get("call") is not None:
            self.stop_recording(self.find_call(p))
        else:
            self.stop_recording_all()
        self.settle_recordings()
        paths, self.closed_recordings = self.closed_recordings, []
        return {"paths": paths}

    def cmd_dtmf(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        digits = str(p["digits"])
        method = p.get("method", "rfc2833")
        if method == "rfc2833":
            call.dialDtmf(digits)
        elif method == "info":
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digits
            prm.duration = int(p.get("duration", 160))
            call.sendDtmf(prm)
        else:
            raise CommandError(f"unknown DTMF method {method!r} (rfc2833 or info)")
        return {"call": call.handle, "digits": digits, "method": method}

    def cmd_hold(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        call.setHold(pj.CallOpParam(True))
        return {"call": call.handle}

    def cmd_unhold(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        call.reinvite(prm)
        return {"call": call.handle}

    def cmd_reinvite(self, p: dict[str, Any]) -> dict[str, Any]:
        """A plain re-INVITE; ``no_sdp_offer`` sends it without SDP (the far end must offer in its 200)."""
        call = self.find_call(p)
        prm = pj.CallOpParam(True)
        if p.get("no_sdp_offer"):
            prm.opt.flag |= pj.PJSUA_CALL_NO_SDP_OFFER
        call.reinvite(prm)
        return {"call": call.handle}

    def cmd_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        """Blind (``uri``) or attended transfer: ``replaces`` names our other call, whose dialog the
        REFER's Refer-To then carries in a Replaces header (pjsua2 ``Call.xferReplaces``)."""
        call = self.find_call(p)
        if p.get("replaces") is not None:
            other = self.find_call({"call": p["replaces"]})
            call.xferReplaces(other, pj.CallOpParam(True))
        else:
            call.xfer(p["uri"], pj.CallOpParam(True))
        return {"call": call.handle}

    def cmd_attended_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        """``call`` is transferred to the party of ``to`` (our consultation call), REFER with Replaces."""
        return self.cmd_transfer({"call": p.get("call"), "replaces": p["to"]})

    def cmd_codecs(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("list") is not None:
            self.set_codecs([str(c) for c in p["list"]])
        return {
            "codecs": [
                ci.codecId
                for ci in sorted(self.ep.codecEnum2(), key=lambda c: -c.priority)
                if ci.priority > 0
            ]
        }

    def cmd_info(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        info = call.getInfo()
        return {
            "call": call.handle,
            "state": CALL_STATES.get(info.state, str(info.state)),
            "code": int(info.lastStatusCode),
            "remote_uri": info.remoteUri,
            "local_uri": info.localUri,
            "remote_contact": info.remoteContact,
            "call_id": info.callIdString,
            "local_tag": call.local_tag,
            "remote_tag": call.remote_tag,
            "duration": info.connectDuration.sec + info.connectDuration.msec / 1000.0,
            "recording": call.record_path,
        }

    def cmd_stats(self, p: dict[str, Any]) -> dict[str, Any]:
        call = self.find_call(p)
        info = call.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO:
                stat = call.getStreamStat(media.index)
                stream = call.getStreamInfo(media.index)
                return {
                    "call": call.handle,
                    "codec": f"{stream.codecName}/{stream.codecClockRate}",
                    "rx_packets": int(stat.rtcp.rxStat.pkt),
                    "tx_packets": int(stat.rtcp.txStat.pkt),
                    "rx_loss": int(stat.rtcp.rxStat.loss),
                    "remote_rtp": stream.remoteRtpAddress,
                }
        raise CommandError(f"call {call.handle} has no audio")


def read_stdin(lines: queue.Queue[str | None]) -> None:
    for line in sys.stdin:
        lines.put(line)
    lines.put(None)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", default="phone")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--rtp-range", type=int, default=20, help="RTP ports available from --rtp-port")
    parser.add_argument("--no-tcp", action="store_true", help="do not also listen for SIP over TCP")
    parser.add_argument(
        "--codecs", default="", help="comma-separated priority list, e.g. PCMU/8000,PCMA/8000"
    )
    parser.add_argument("--auto-answer", action="store_true")
    parser.add_argument("--log-level", type=int, default=3, help="pjsip log level written to stderr")
    parser.add_argument("--workdir", default="")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # stdout is the protocol channel: keep a private copy for JSON, send fd 1 (pjsip's console) to stderr.
    protocol = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out = Output(protocol)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    agent = Agent(args, out)
    try:
        agent.start()
    except Exception as exc:  # noqa: BLE001 - reported as a final event before exiting
        out.event("fatal", error=error_text(exc))
        return 2
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=read_stdin, args=(lines,), daemon=True, name="stdin").start()
    try:
        while not stop.is_set() and not agent.quitting:
            agent.ep.libHandleEvents(10)
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line is None:
                    stop.set()
                    break
                if line.strip():
                    run_command(agent, out, line)
                if agent.quitting:
                    break
    finally:
        try:
            agent.shutdown()
        finally:
            out.event("exit")
            sys.stderr.flush()
            # Skip interpreter teardown: destructors of retired pjsua2 objects must not run (see Agent).
            os._exit(0)


def run_command(agent: Agent, out: Output, line: str) -> None:
    msg_id: Any = None
    try:
        msg = json.loads(line)
        if not isinstance(msg, dict):
            raise CommandError("a command must be a JSON object")
        msg_id = msg.get("id")
        result = agent.handle(msg)
        out.send({"id": msg_id, "ok": True, "error": None, "result": result or {}})
    except KeyError as exc:
        out.send({"id": msg_id, "ok": False, "error": f"missing parameter {exc}"})
    except Exception as exc:  # noqa: BLE001 - every command gets an answer
        out.send({"id": msg_id, "ok": False, "error": error_text(exc)})


if __name__ == "__main__":
    sys.exit(main())
