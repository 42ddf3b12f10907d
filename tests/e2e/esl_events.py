"""A small synchronous event-socket subscriber for end-to-end tests.

`SwitchProcess.api` is one-shot; tests that must see events while a call runs
(CHANNEL_HOLD, CHANNEL_UNHOLD, DTMF ...) open one of these before acting:

    with EslEvents(15821, "CHANNEL_HOLD CHANNEL_UNHOLD") as events:
        ...
        hold = events.wait("CHANNEL_HOLD", timeout=5)

Events are asked for as `event json` and kept in arrival order (never consumed),
so `wait` finds an event that came before it was called.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

Event = dict[str, str]


class EslEvents:
    """Connects, authenticates, subscribes, and collects events on a reader thread."""

    def __init__(self, port: int, events: str, password: str = "ClueCon", host: str = "127.0.0.1") -> None:
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._sock = socket.create_connection((host, port), timeout=10)
        self._file = self._sock.makefile("rb")
        self._read_block()  # auth/request
        self._send(f"auth {password}")
        reply = self._read_block()[0]
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"event socket refused the password: {reply}")
        self._send(f"event json {events}")
        reply = self._read_block()[0]
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise RuntimeError(f"event socket refused the subscription: {reply}")
        self._sock.settimeout(None)
        self._thread = threading.Thread(target=self._run, name="esl-events", daemon=True)
        self._thread.start()

    def _send(self, line: str) -> None:
        self._sock.sendall(f"{line}\n\n".encode())

    def _read_block(self) -> tuple[dict[str, str], bytes]:
        headers: dict[str, str] = {}
        while True:
            raw = self._file.readline()
            if not raw:
                raise EOFError("event socket closed")
            line = raw.decode().rstrip("\r\n")
            if not line:
                if headers:
                    break
                continue
            name, _, value = line.partition(": ")
            headers[name] = value
        length = int(headers.get("Content-Length", "0") or 0)
        body = self._file.read(length) if length else b""
        return headers, body

    def _run(self) -> None:
        try:
            while True:
                headers, body = self._read_block()
                if headers.get("Content-Type") != "text/event-json":
                    continue
                try:
                    event: dict[str, Any] = json.loads(body)
                except ValueError:
                    continue
                with self._cond:
                    self.events.append({k: str(v) for k, v in event.items()})
                    self._cond.notify_all()
        except (OSError, EOFError, ValueError):
            return

    def find(self, name: str, predicate: Callable[[Event], bool] | None = None) -> list[Event]:
        with self._cond:
            return [
                e for e in self.events if e.get("Event-Name") == name and (predicate is None or predicate(e))
            ]

    def wait(
        self, name: str, timeout: float = 10.0, predicate: Callable[[Event], bool] | None = None
    ) -> Event:
        """The first event named `name` (matching `predicate`) so far, waiting up to `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("Event-Name") == name and (predicate is None or predicate(event)):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [e.get("Event-Name") for e in self.events]
                    raise AssertionError(f"no {name} event within {timeout} s (seen: {seen})")
                self._cond.wait(remaining)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(2)

    def __enter__(self) -> EslEvents:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
