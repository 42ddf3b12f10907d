"""The contract other programs rely on: the command line, the ready line, SIGTERM, default ports."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from .switch_process import ROOT, SwitchProcess

pytestmark = pytest.mark.slow


def _tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_default_config_boots_prints_ready_and_stops_on_sigterm(tmp_path: Path):
    proc = SwitchProcess(ROOT / "conf", tmp_path / "data")
    try:
        line = proc.wait_ready()
        assert line.startswith("switchcore ready version=")
        assert "modules=" in line and "listeners=" in line
        assert "failed=" not in line, proc.output()
        assert "sip udp 127.0.0.1:5060" in line
        assert "sip tcp 127.0.0.1:5060" in line
        assert _tcp_open(5060)
        assert _tcp_open(8021)
        assert "is ready" in proc.api("status")
    finally:
        start = time.monotonic()
        code = proc.stop()
        elapsed = time.monotonic() - start
    assert code == 0, proc.output()
    assert elapsed < 5.0
    assert (tmp_path / "data" / "switchcore.db").exists()


def test_help_documents_the_flags():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "switchcore", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0
    for flag in ("--conf", "--data", "--log-level", "--no-console"):
        assert flag in out.stdout


def test_sighup_runs_reloadxml(start_switch):
    import signal

    from .switch_process import wait_until

    proc = start_switch()
    proc.process.send_signal(signal.SIGHUP)
    assert wait_until(lambda: proc.grep("SIGHUP: +OK"), timeout=10), proc.output(40)
    assert proc.process.poll() is None
