"""baresip 1.0.0 as a second, independent SIP phone (opus-capable), driven over ctrl_tcp.

``Baresip("carol", sip_port=15320, ctrl_port=15400, cons_port=15401, tone_hz=1000, codecs=["pcmu"])``
writes a config directory, runs ``baresip -f DIR`` and connects to its ctrl_tcp socket.

Ports: baresip binds SIP on UDP+TCP ``sip_port`` and TLS on ``sip_port + 1``, ctrl_tcp on
``ctrl_port`` (TCP) and the cons module on ``cons_port`` (UDP and TCP).  Give each instance its
own pair of SIP ports and its own RTP range.

Control channel (baresip ctrl_tcp): netstring-framed JSON (``<len>:<json>,``).  A command is
``{"command": "dial", "params": "sip:...", "token": "7"}``, its answer
``{"response": true, "ok": true, "data": "...", "token": "7"}``; asynchronous events
(``REGISTER_OK``, ``CALL_INCOMING``, ``CALL_RINGING``, ``CALL_ESTABLISHED``, ``CALL_CLOSED`` ...)
arrive on the same socket as ``{"event": true, "type": ..., ...}``.  ctrl_tcp only runs long
commands, so DTMF goes through the cons module instead: each UDP datagram of digits is a key press.

Audio: the aufile source refuses a WAV whose rate or channel count differs from the codec's, and
ausine only runs at 48 kHz, so ``tone_hz`` writes a 60 s WAV in the format of the *first* codec in
``codecs`` (8 kHz mono for G.711, 48 kHz stereo for opus): list first the codec the call will use.  The
sndfile module dumps what was sent (``dump-*-enc.wav``) and received (``dump-*-dec.wav``) per
call into ``snd_path``; ``received_audio()`` reads the newest decoded dump.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import audio
from .process import AsyncFacade, PeerProcess

BARESIP = "baresip"
MODULE_DIR = "/usr/lib/baresip/modules"  # Debian's baresip-core (dpkg -L baresip-core)
LOOPBACK = "127.0.0.1"
CODEC_MODULES = {
    "pcmu": "g711.so",
    "pcma": "g711.so",
    "opus": "opus.so",
    "g722": "g722.so",
    "l16": "l16.so",
    "gsm": "gsm.so",
}
# aufile insists that the WAV's rate and channels match the codec's (no resampling in 1.0.0)
CODEC_AUDIO_FORMAT = {
    "pcmu": (8000, 1),
    "pcma": (8000, 1),
    "gsm": (8000, 1),
    "g722": (16000, 1),
    "l16": (16000, 1),
    "opus": (48000, 2),
}
CODEC_NAMES = {
    "pcmu": "pcmu",
    "pcma": "pcma",
    "opus": "opus/48000/2",
    "g722": "g722",
    "l16": "l16",
    "gsm": "gsm",
}

Event = dict[str, Any]


class BaresipError(RuntimeError):
    """baresip did not start, a ctrl_tcp command failed, or an awaited event did not come."""


class Baresip:
    """A running baresip with one account; commands and events over ctrl_tcp."""

    def __init__(
        self,
        name: str,
        sip_port: int,
        ctrl_port: int,
        cons_port: int,
        *,
        rtp_ports: tuple[int, int] = (40900, 40949),
        tone_hz: float | None = None,
        audio_source: str | Path | None = None,
        codecs: list[str] | None = None,
        user: str | None = None,
        password: str | None = None,
        registrar: str | None = None,
        answermode: str = "auto",
        regint: int = 300,
        workdir: str | Path | None = None,
        start_timeout: float = 10.0,
        wait_registered: bool = True,
    ) -> None:
        self.name = name
        self.sip_port = sip_port
        self.ctrl_port = ctrl_port
        self.cons_port = cons_port
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"baresip-{name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.snd_path = self.workdir / "snd"
        self.snd_path.mkdir(exist_ok=True)
        self.codecs = [c.lower() for c in (codecs or ["pcmu", "pcma", "opus"])]
        unknown = [c for c in self.codecs if c not in CODEC_MODULES]
        if unknown:
            raise ValueError(f"unknown baresip codecs {unknown}; known: {sorted(CODEC_MODULES)}")
        self.user = user or name
        self.registrar = registrar
        source = self._audio_source(tone_hz, audio_source)
        (self.workdir / "config").write_text(self._config(source, rtp_ports))
        (self.workdir / "accounts").write_text(self._account(password, answermode, regint) + "\n")
        (self.workdir / "contacts").write_text("")
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._responses: dict[str, Event] = {}
        self._tokens = itertools.count(1)
        self._sock: socket.socket | None = None
        self._closed = False
        self.process = PeerProcess(
            [BARESIP, "-f", str(self.workdir)], log_path=self.workdir / "baresip.log", cwd=self.workdir
        )
        self._reader: threading.Thread | None = None
        try:
            self._connect(start_timeout)
            if registrar and regint > 0 and wait_registered:
                self.wait_registered(start_timeout)
        except BaseException:
            self.close()
            raise

    # --- configuration -----------------------------------------------------------------------

    def _audio_source(self, tone_hz: float | None, audio_source: str | Path | None) -> str:
        if audio_source is not None:
            if isinstance(audio_source, str) and audio_source.split(",", 1)[0] in (
                "ausine",
                "aufile",
                "aubridge",
            ):
                return audio_source  # a baresip source spec, e.g. "ausine,440" (48 kHz codecs only)
            return f"aufile,{Path(audio_source).resolve()}"
        if tone_hz is not None:
            rate, channels = CODEC_AUDIO_FORMAT[self.codecs[0]]
            path = self.workdir / f"tone-{tone_hz:g}Hz-{rate}-{channels}ch.wav"
            audio.write_tone_wav(path, tone_hz, 60.0, rate=rate, channels=channels)
            return f"aufile,{path}"
        return "aubridge,nil"  # silence

    def _config(self, source: str, rtp_ports: tuple[int, int]) -> str:
        modules: list[str] = []
        for codec in self.codecs:  # load order is also the default codec preference
            if CODEC_MODULES[codec] not in modules:
                modules.append(CODEC_MODULES[codec])
        modules += ["aufile.so", "ausine.so", "aubridge.so", "sndfile.so", "cons.so"]
        lines = [
            "poll_method\t\tepoll",
            f"sip_listen\t\t{LOOPBACK}:{self.sip_port}",
            f"net_interface\t\t{LOOPBACK}",  # 'lo' fails: "could not get IPv4 address"
            "call_max_calls\t\t4",
            "call_local_timeout\t120",
            f"audio_source\t\t{source}",
            "audio_player\t\taubridge,nil",
            "audio_alert\t\taubridge,nil",
            f"rtp_ports\t\t{rtp_ports[0]}-{rtp_ports[1]}",
            "jitter_buffer_delay\t5-10",
            f"module_path\t\t{MODULE_DIR}",
            *(f"module\t\t\t{m}" for m in modules),
            "module_app\t\taccount.so",
            "module_app\t\tmenu.so",
            "module_app\t\tctrl_tcp.so",
            f"ctrl_tcp_listen\t\t{LOOPBACK}:{self.ctrl_port}",
            f"cons_listen\t\t{LOOPBACK}:{self.cons_port}",
            f"snd_path\t\t{self.snd_path}",
            "opus_bitrate\t\t28000",
        ]
        return "\n".join(lines) + "\n"

    def _account(self, password: str | None, answermode: str, regint: int) -> str:
        if self.registrar:
            host = self.registrar.split(":", 1)[1].split(";")[0]
            aor = f"sip:{self.user}@{host}"
        else:
            aor = f"sip:{self.user}@{LOOPBACK}:{self.sip_port}"
            regint = 0
        params = [
            f"answermode={answermode}",
            f"regint={regint}",
            "audio_codecs=" + ",".join(CODEC_NAMES[c] for c in self.codecs),
        ]
        if password is not None:
            params.insert(0, f"auth_pass={password}")
        return f"<{aor}>;" + ";".join(params)

    # --- ctrl_tcp ----------------------------------------------------------------------------

    def _connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.alive():
                raise BaresipError(
                    f"baresip {self.name} exited ({self.process.returncode}):\n{self.process.log_tail()}"
                )
            try:
                self._sock = socket.create_connection((LOOPBACK, self.ctrl_port), timeout=0.5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BaresipError(
                        f"baresip {self.name}: ctrl_tcp {self.ctrl_port} not reachable:\n"
                        f"{self.process.log_tail()}"
                    ) from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"baresip-{self.name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._sock is not None
        buffer = b""
        while True:
            try:
                chunk = self._sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buffer += chunk
            while True:
                colon = buffer.find(b":")
                if colon < 0 or not buffer[:colon].isdigit():
                    break
                length = int(buffer[:colon])
                end = colon + 1 + length
                if len(buffer) < end + 1:
                    break
                payload, buffer = buffer[colon + 1 : end], buffer[end + 1 :]
                self._dispatch(payload)
        with self._cond:
            self._events.append({"type": "CTRL_CLOSED"})
            self._cond.notify_all()

    def _dispatch(self, payload: bytes) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        with self._cond:
            if msg.get("response"):
                self._responses[str(msg.get("token"))] = msg
            elif msg.get("event"):
                msg["t"] = time.monotonic()
                self._events.append(msg)
            self._cond.notify_all()

    def command(self, command: str, params: str = "", timeout: float = 5.0) -> Event:
        """Run a long menu command (``dial``, ``hangup``, ``accept``, ``listcalls``, ``reginfo`` ...)."""
        if self._sock is None or self._closed:
            raise BaresipError(f"baresip {self.name} is not connected")
        token = str(next(self._tokens))
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(str(len(body)).encode() + b":" + body + b",")
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BaresipError(
                        f"baresip {self.name}: no answer to {command} {params}\n{self.process.log_tail()}"
                    )
                self._cond.wait(remaining)
            response = self._responses.pop(token)
        if not response.get("ok", False):
            raise BaresipError(f"baresip {self.name}: {command} {params} failed: {response.get('data')}")
        return response

    def dial(self, uri: str) -> Event:
        return self.command("dial", uri)

    def accept(self) -> Event:
        return self.command("accept")

    def hangup(self) -> Event:
        return self.command("hangup")

    def listcalls(self) -> str:
        return str(self.command("listcalls").get("data", ""))

    def reginfo(self) -> str:
        return str(self.command("reginfo").get("data", ""))

    def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """Press keys on the cons console: during a call baresip sends each digit as RFC 4733 events."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for digit in digits:
                sock.sendto(digit.encode(), (LOOPBACK, self.cons_port))
                time.sleep(gap)

    # --- events ------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        with self._cond:
            return list(self._events)

    def mark(self) -> int:
        with self._cond:
            return len(self._events)

    def wait_event(
        self,
        kind: str,
        timeout: float = 10.0,
        *,
        since: int = 0,
        predicate: Callable[[Event], bool] | None = None,
        fail_on: tuple[str, ...] = (),
        **fields: Any,
    ) -> Event:
        """First event of ``type == kind`` (with the given fields) from index ``since`` on."""
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._events):
                    event = self._events[index]
                    index += 1
                    if (
                        event.get("type") == kind
                        and all(event.get(k) == v for k, v in fields.items())
                        and (predicate is None or predicate(event))
                    ):
                        return event
                    if event.get("type") in fail_on or event.get("type") == "CTRL_CLOSED":
                        raise BaresipError(
                            f"baresip {self.name}: {event} while waiting for {kind}\n"
                            f"{self.process.log_tail()}"
                        )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [e.get("type") for e in self._events[-10:]]
                    raise BaresipError(
                        f"baresip {self.name}: no {kind} within {timeout} s (recent: {recent})\n"
                        f"{self.process.log_tail()}"
                    )
                self._cond.wait(remaining)

    def wait_registered(self, timeout: float = 10.0) -> str:
        """Wait for a 200 to REGISTER; returns the ``reginfo`` text.

        The REGISTER may complete before ctrl_tcp is connected (its event is then lost), so this
        polls ``reginfo`` as well as watching for ``REGISTER_OK``/``REGISTER_FAIL``.
        """
        deadline = time.monotonic() + timeout
        while True:
            failed = [e for e in self.events if e.get("type") == "REGISTER_FAIL"]
            if failed:
                raise BaresipError(f"baresip {self.name}: registration failed: {failed[-1]}")
            info = self.reginfo()
            if self.registered_in(info):
                return info
            if time.monotonic() > deadline:
                raise BaresipError(
                    f"baresip {self.name}: not registered within {timeout} s: {info}\n"
                    f"{self.process.log_tail()}"
                )
            time.sleep(0.1)

    @staticmethod
    def registered_in(reginfo: str) -> bool:
        # e.g. "> sip:carol@127.0.0.1:15310   \x1b[32mOK \x1b[;m kamailio (...) Expires 300s"
        return "\x1b[32mOK" in reginfo

    @property
    def registered(self) -> bool:
        """True when ``reginfo`` reports a successful registration."""
        return self.registered_in(self.reginfo())

    def dial_and_wait_established(self, uri: str, timeout: float = 10.0) -> Event:
        since = self.mark()
        self.dial(uri)
        return self.wait_event("CALL_ESTABLISHED", timeout, since=since, fail_on=("CALL_CLOSED",))

    def wait_closed(self, timeout: float = 10.0, since: int = 0) -> Event:
        return self.wait_event("CALL_CLOSED", timeout, since=since)

    # --- audio -------------------------------------------------------------------------------

    def dumps(self, kind: str = "dec") -> list[Path]:
        """sndfile's WAV dumps, oldest first: ``dec`` = received and decoded, ``enc`` = sent."""
        return sorted(self.snd_path.glob(f"dump-*-{kind}.wav"), key=lambda p: p.stat().st_mtime)

    def received_audio(self) -> tuple[audio.Samples, int]:
        """Samples and rate of the newest decoded dump (what baresip heard on its last call)."""
        dumps = self.dumps("dec")
        if not dumps:
            raise BaresipError(f"baresip {self.name}: no decoded audio dump in {self.snd_path}")
        return audio.read_wav(dumps[-1])

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Where to reach this baresip directly, without a registrar."""
        return f"sip:{self.user}@{LOOPBACK}:{self.sip_port}"

    @property
    def aio(self) -> AsyncFacade:
        return AsyncFacade(self)

    def close(self) -> None:
        """Quit baresip (it hangs up and unregisters), then make sure the process is gone."""
        if self._closed:
            return
        if self._sock is not None and self.process.alive():
            with contextlib.suppress(BaresipError, OSError):
                self.command("quit", timeout=1.0)
        self._closed = True
        # After a call baresip lingers ~5 s on quit (its BYE transaction waits out Timer K); it is
        # only a test peer, so give it a moment to unregister and then stop it hard.
        with contextlib.suppress(Exception):
            self.process.wait(1.0)
        self.process.stop(timeout=0.5)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()

    def __enter__(self) -> Baresip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
