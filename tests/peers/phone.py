"""pytest-side driver for :mod:`tests.peers.pjsua_phone`: one real pjsua2 SIP phone per ``Phone``.

Usage::

    with Phone.start("alice", sip_port=15300, rtp_port=40000) as alice:
        alice.register("alice", "secret", registrar="sip:127.0.0.1:15310")
        call = alice.call_and_wait_confirmed("sip:bob@127.0.0.1:15310")
        alice.dtmf("1234#")
        alice.hangup_and_wait(call)

A reader thread collects every line the phone prints: replies wake the waiting ``command`` and
events are appended to ``events`` (never consumed), so ``wait_for`` can match an event that
arrived before it was called.  Call handles never repeat within a phone, which makes "since the
beginning" a safe default for waits.  In async tests use ``await phone.aio.<method>(...)``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .process import AsyncFacade, PeerProcess

SCRIPT = Path(__file__).with_name("pjsua_phone.py")
LOOPBACK = "127.0.0.1"

Event = dict[str, Any]
Predicate = Callable[[Event], bool]


class PhoneError(RuntimeError):
    """A command failed, the phone died, or a call ended before reaching the awaited state."""


class PhoneTimeout(PhoneError, TimeoutError):
    """Nothing matching arrived in time; the message lists the phone's recent events and log."""


class Phone:
    """A pjsua2 phone in a child process, driven over JSON lines."""

    def __init__(
        self,
        name: str,
        sip_port: int,
        rtp_port: int,
        *,
        rtp_range: int = 20,
        codecs: list[str] | None = None,
        auto_answer: bool = False,
        tcp: bool = True,
        log_level: int = 4,
        workdir: str | Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.name = name
        self.sip_port = sip_port
        self.rtp_port = rtp_port
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"phone-{name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            python,
            str(SCRIPT),
            "--name",
            name,
            "--sip-port",
            str(sip_port),
            "--rtp-port",
            str(rtp_port),
            "--rtp-range",
            str(rtp_range),
            "--log-level",
            str(log_level),
            "--workdir",
            str(self.workdir),
        ]
        if codecs:
            argv += ["--codecs", ",".join(codecs)]
        if auto_answer:
            argv.append("--auto-answer")
        if not tcp:
            argv.append("--no-tcp")
        self._cond = threading.Condition()
        self._events: list[Event] = []
        self._replies: dict[int, Event] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._closed = False
        self.process = PeerProcess(
            argv, log_path=self.workdir / f"{name}.log", pipe_stdout=True, stdin=subprocess.PIPE
        )
        self._reader = threading.Thread(target=self._read, name=f"phone-{name}", daemon=True)
        self._reader.start()

    @classmethod
    def start(
        cls, name: str, sip_port: int, rtp_port: int, *, ready_timeout: float = 10.0, **options: Any
    ) -> Phone:
        """Spawn the phone and wait for its ``ready`` event (bound, codecs set, local account up)."""
        phone = cls(name, sip_port, rtp_port, **options)
        try:
            phone.wait_for("ready", timeout=ready_timeout)
        except BaseException:
            phone.close()
            raise
        return phone

    # --- plumbing ----------------------------------------------------------------------------

    def _read(self) -> None:
        stdout = self.process.popen.stdout
        assert stdout is not None
        # The pipe may be closed under us while the process is stopped (a read of a closed
        # buffered file raises ValueError): that is the end of the output too.
        with contextlib.suppress(ValueError, OSError):
            for raw in stdout:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                with self._cond:
                    if "event" in msg:
                        self._events.append(msg)
                    elif msg.get("id") is not None:
                        self._replies[int(msg["id"])] = msg
                    self._cond.notify_all()
        with self._cond:
            self._events.append({"event": "process_exit", "code": self.process.popen.poll()})
            self._cond.notify_all()

    def _diagnostics(self, recent: int = 15) -> str:
        with self._cond:
            events = self._events[-recent:]
        lines = [json.dumps({k: v for k, v in e.items() if k != "message"}) for e in events]
        return (
            f"\n--- last events of phone {self.name} ---\n"
            + "\n".join(lines)
            + f"\n--- log tail ({self.process.log_path}) ---\n"
            + self.process.log_tail(25)
        )

    def command(self, cmd: str, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its ``result``; raise ``PhoneError`` if it says ``ok: false``."""
        if self._closed:
            raise PhoneError(f"phone {self.name} is closed")
        msg_id = next(self._ids)
        line = json.dumps({"id": msg_id, "cmd": cmd, **params}) + "\n"
        stdin = self.process.popen.stdin
        assert stdin is not None
        with self._send_lock:
            try:
                stdin.write(line.encode())
                stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise PhoneError(f"phone {self.name} is gone ({exc}){self._diagnostics()}") from exc
        deadline = time.monotonic() + timeout
        with self._cond:
            while msg_id not in self._replies:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PhoneTimeout(
                        f"phone {self.name}: no reply to {cmd} in {timeout} s{self._diagnostics()}"
                    )
                if not self.process.alive() and not self._reader.is_alive():
                    raise PhoneError(f"phone {self.name} exited during {cmd}{self._diagnostics()}")
                self._cond.wait(min(remaining, 0.2))
            reply = self._replies.pop(msg_id)
        if not reply.get("ok"):
            raise PhoneError(f"phone {self.name}: {cmd} failed: {reply.get('error')}")
        result: dict[str, Any] = reply.get("result") or {}
        return result

    # --- events ------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """Every event so far (a copy), oldest first."""
        with self._cond:
            return list(self._events)

    def mark(self) -> int:
        """The current end of the event list, for ``wait_for(..., since=mark)``."""
        with self._cond:
            return len(self._events)

    def find(
        self, event: str | None = None, predicate: Predicate | None = None, since: int = 0, **fields: Any
    ) -> list[Event]:
        """All events (from index ``since``) named ``event`` whose fields equal ``fields``."""
        with self._cond:
            return [e for e in self._events[since:] if _matches(e, event, predicate, fields)]

    def wait_for(
        self,
        event: str | None = None,
        timeout: float = 10.0,
        *,
        predicate: Predicate | None = None,
        since: int = 0,
        fail_on: Predicate | None = None,
        **fields: Any,
    ) -> Event:
        """Return the first event from index ``since`` on that matches; wait up to ``timeout`` s.

        ``fail_on`` names events that make waiting pointless (e.g. the call disconnected) and
        raise ``PhoneError`` at once.
        """
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                while index < len(self._events):
                    candidate = self._events[index]
                    index += 1
                    if _matches(candidate, event, predicate, fields):
                        return candidate
                    if fail_on is not None and fail_on(candidate):
                        raise PhoneError(
                            f"phone {self.name}: got {candidate} while waiting for {event} "
                            f"{fields}{self._diagnostics()}"
                        )
                    if candidate.get("event") == "process_exit":
                        raise PhoneError(
                            f"phone {self.name} exited while waiting for {event} "
                            f"{fields}{self._diagnostics()}"
                        )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PhoneTimeout(
                        f"phone {self.name}: no {event or 'event'} {fields} within {timeout} s"
                        f"{self._diagnostics()}"
                    )
                self._cond.wait(remaining)

    # --- state -------------------------------------------------------------------------------

    @property
    def uri(self) -> str:
        """Where to reach this phone directly (its local account, no registrar involved)."""
        return f"sip:{self.name}@{LOOPBACK}:{self.sip_port}"

    @property
    def registered(self) -> bool:
        states = self.find("reg_state", account="registered")
        return bool(states) and states[-1]["code"] == 200 and bool(states[-1]["active"])

    @property
    def reg_code(self) -> int | None:
        states = self.find("reg_state", account="registered")
        return int(states[-1]["code"]) if states else None

    @property
    def current_call(self) -> int | None:
        """The newest call handle (incoming or outgoing), disconnected or not."""
        handles = [
            int(e["call"])
            for e in self.find(predicate=lambda e: e["event"] in ("call_state", "incoming_call"))
        ]
        return max(handles) if handles else None

    def call_state(self, call: int | None = None) -> str | None:
        """The last reported state (``CALLING`` ... ``CONFIRMED``, ``DISCONNECTED``) of a call."""
        call = self.current_call if call is None else call
        states = self.find("call_state", call=call)
        return str(states[-1]["state"]) if states else None

    @property
    def state(self) -> str | None:
        """State of the newest call (``None`` before any call)."""
        return self.call_state()

    @property
    def received_dtmf(self) -> str:
        """Every DTMF digit received so far, on any call."""
        return self.dtmf_digits()

    def dtmf_digits(self, call: int | None = None) -> str:
        """Digits received so far (on ``call``, or on any call)."""
        events = self.find("dtmf") if call is None else self.find("dtmf", call=call)
        return "".join(str(e["digit"]) for e in events)

    # --- registration ------------------------------------------------------------------------

    def register(
        self,
        user: str,
        password: str | None,
        registrar: str,
        *,
        domain: str | None = None,
        transport: str = "udp",
        expires: int = 300,
        wait: bool = True,
        timeout: float = 10.0,
        **extra: Any,
    ) -> Event | None:
        """REGISTER (digest credentials answer 401/407 automatically); by default wait for 200."""
        since = self.mark()
        self.command(
            "register",
            user=user,
            password=password,
            registrar=registrar,
            domain=domain,
            transport=transport,
            expires=expires,
            **extra,
        )
        if not wait:
            return None
        result = self.wait_for("reg_state", timeout, since=since, account="registered")
        if result["code"] != 200:
            raise PhoneError(f"phone {self.name}: REGISTER got {result['code']} {result['reason']}")
        return result

    def unregister(self, wait: bool = True, timeout: float = 10.0) -> Event | None:
        since = self.mark()
        self.command("unregister")
        if not wait:
            return None
        return self.wait_for("reg_state", timeout, since=since, account="registered", active=False)

    # --- calls -------------------------------------------------------------------------------

    def call(self, uri: str, *, headers: dict[str, str] | None = None, account: str | None = None) -> int:
        """Send an INVITE; returns the call handle at once (states arrive as events)."""
        params: dict[str, Any] = {"uri": uri, "headers": headers or {}}
        if account:
            params["account"] = account
        return int(self.command("call", **params)["call"])

    def wait_call_state(self, state: str, call: int | None = None, timeout: float = 10.0) -> Event:
        """Wait until ``call`` (default: the newest) reports ``state``; fail early if it disconnects."""
        handle = self.current_call if call is None else call
        if handle is None:
            raise PhoneError(f"phone {self.name} has no call")

        def ended(e: Event) -> bool:
            return (
                e.get("event") == "call_state"
                and e.get("call") == handle
                and e.get("state") == "DISCONNECTED"
            )

        return self.wait_for(
            "call_state",
            timeout,
            call=handle,
            state=state,
            fail_on=None if state == "DISCONNECTED" else ended,
        )

    def call_and_wait_confirmed(self, uri: str, timeout: float = 10.0, **options: Any) -> int:
        handle = self.call(uri, **options)
        self.wait_call_state("CONFIRMED", handle, timeout)
        return handle

    def wait_incoming(self, timeout: float = 10.0, since: int = 0) -> int:
        """The handle of the first incoming call from index ``since`` on."""
        return int(self.wait_for("incoming_call", timeout, since=since)["call"])

    def answer(self, code: int = 200, call: int | None = None) -> int:
        return int(self.command("answer", code=code, call=call)["call"])

    def hangup(self, code: int | None = None, call: int | None = None) -> int:
        return int(self.command("hangup", code=code, call=call)["call"])

    def hangup_and_wait(self, call: int | None = None, timeout: float = 10.0) -> Event:
        handle = self.hangup(call=call)
        return self.wait_call_state("DISCONNECTED", handle, timeout)

    def auto_answer(self, on: bool = True, code: int = 200, ring: int = 180) -> None:
        """Answer every incoming call with ``code`` (486 makes a busy phone); ``ring`` 0 sends no 180."""
        self.command("auto_answer", on=on, code=code, ring=ring)

    def hold(self, call: int | None = None) -> None:
        self.command("hold", call=call)

    def unhold(self, call: int | None = None) -> None:
        self.command("unhold", call=call)

    def transfer(self, uri: str, call: int | None = None) -> None:
        """Blind transfer: REFER the call's peer to ``uri`` (progress arrives as ``transfer_status``)."""
        self.command("transfer", uri=uri, call=call)

    def info(self, call: int | None = None) -> dict[str, Any]:
        return self.command("info", call=call)

    def stats(self, call: int | None = None) -> dict[str, Any]:
        """RTP counters of the call's audio stream: codec, rx_packets, tx_packets, rx_loss, remote_rtp."""
        return self.command("stats", call=call)

    # --- media -------------------------------------------------------------------------------

    def codecs(self, order: list[str] | None = None) -> list[str]:
        """Set codec priorities (e.g. ``["PCMU/8000"]``; unlisted codecs are disabled); returns the order."""
        params: dict[str, Any] = {} if order is None else {"list": order}
        return list(self.command("codecs", **params)["codecs"])

    def play(self, path: str | Path, loop: bool = True) -> None:
        """Send a WAV file into every current and future call."""
        self.command("play", path=str(path), loop=loop)

    def tone(self, freq: float, seconds: float = 10.0) -> None:
        """Play a looped sine of ``freq`` Hz into every current and future call."""
        self.command("tone", freq=freq, seconds=seconds)

    def stop_play(self) -> None:
        self.command("stop_play")

    def record(self, path: str | Path, call: int | None = None) -> None:
        """Record what the phone receives (16 kHz WAV); starts on the next call if none has media yet."""
        self.command("record", path=str(path), call=call)

    def stop_record(self, call: int | None = None) -> list[str]:
        """Close recordings (the WAV header is written now); returns their paths."""
        return list(self.command("stop_record", call=call)["paths"])

    def dtmf(self, digits: str, method: str = "rfc2833", call: int | None = None) -> None:
        """Send DTMF as RFC 4733 (2833) events, or ``method="info"`` for SIP INFO."""
        self.command("dtmf", digits=digits, method=method, call=call)

    def wait_dtmf(self, digits: str, timeout: float = 10.0, call: int | None = None) -> str:
        """Wait until the received digits end with ``digits``; returns everything received."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.dtmf_digits(call)
            if got.endswith(digits):
                return got
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PhoneTimeout(
                    f"phone {self.name}: DTMF {digits!r} not received (got {got!r}){self._diagnostics()}"
                )
            with self._cond:
                self._cond.wait(min(remaining, 0.2))

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def aio(self) -> AsyncFacade:
        """``await phone.aio.call_and_wait_confirmed(uri)`` for tests running an event loop."""
        return AsyncFacade(self)

    def close(self, timeout: float = 5.0) -> int | None:
        """Quit the phone (it hangs up and unregisters), then make sure the process is gone."""
        if self._closed:
            return self.process.returncode
        self._closed = True
        stdin = self.process.popen.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()  # EOF: the script hangs up, unregisters and calls libDestroy
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        code = self.process.stop(timeout=2.0)
        self._reader.join(timeout=1.0)
        return code

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Phone({self.name!r}, sip_port={self.sip_port}, rtp_port={self.rtp_port}, pid={self.process.pid})"


def _matches(event: Event, name: str | None, predicate: Predicate | None, fields: dict[str, Any]) -> bool:
    if name is not None and event.get("event") != name:
        return False
    if any(event.get(key) != value for key, value in fields.items()):
        return False
    return predicate is None or bool(predicate(event))
