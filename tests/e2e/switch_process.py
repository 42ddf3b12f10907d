"""The real switch as a child process, on a copy of the default conf/ with other ports.

This is how other programs run switchcore (the contract: command line, the
`switchcore ready` line, SIGTERM), so end-to-end tests drive it the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_conf(dest: Path, overrides: dict[str, str]) -> Path:
    """A copy of conf/ whose vars.xml sets the given preprocessor variables instead."""
    shutil.copytree(ROOT / "conf", dest)
    vars_xml = dest / "vars.xml"
    text = vars_xml.read_text()
    for name, value in overrides.items():
        pattern = re.compile(rf'(<X-PRE-PROCESS cmd="set" data="{re.escape(name)}=)[^"]*(")')
        text, count = pattern.subn(rf"\g<1>{value}\g<2>", text)
        if count == 0:
            text = text.replace("</include>", f'  <X-PRE-PROCESS cmd="set" data="{name}={value}"/>\n</include>')
    vars_xml.write_text(text)
    return dest


class SwitchProcess:
    """`python -m switchcore --conf ... --data ... --no-console`, with its output kept for diagnostics."""

    def __init__(self, conf: Path, data: Path, log_level: str = "debug") -> None:
        self.conf, self.data = conf, data
        self.lines: list[str] = []
        self.ready_line = ""
        self._ready = threading.Event()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "switchcore", "--conf", str(conf), "--data", str(data),
             "--log-level", log_level, "--no-console"],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith("switchcore ready"):
                self.ready_line = line
                self._ready.set()

    def wait_ready(self, timeout: float = 30.0) -> str:
        if not self._ready.wait(timeout):
            self.stop()
            raise AssertionError("switch did not become ready:\n" + self.output(60))
        return self.ready_line

    def output(self, last: int = 200) -> str:
        return "\n".join(self.lines[-last:])

    def grep(self, needle: str) -> list[str]:
        return [line for line in self.lines if needle in line]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; returns the exit code (kills after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(2)
        return self.process.returncode

    def api(self, command: str, password: str = "ClueCon", port: int = 8021, timeout: float = 10.0) -> str:
        """Run an API command over the event socket (FreeSWITCH's inbound protocol)."""
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            reader = sock.makefile("rb")

            def read_block() -> tuple[dict[str, str], bytes]:
                headers: dict[str, str] = {}
                while True:
                    line = reader.readline().decode().rstrip("\n")
                    if not line:
                        if headers:
                            break
                        continue
                    name, _, value = line.partition(": ")
                    headers[name] = value
                body = reader.read(int(headers["Content-Length"])) if "Content-Length" in headers else b""
                return headers, body

            read_block()
            sock.sendall(f"auth {password}\n\n".encode())
            headers, _ = read_block()
            assert headers.get("Reply-Text", "").startswith("+OK"), headers
            sock.sendall(f"api {command}\n\n".encode())
            _, body = read_block()
            return body.decode()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
