"""The foreground console in a real terminal (tmux): a prompt that runs API commands."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


def _screen(name: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-t", name, "-p", "-S", "-200"], capture_output=True, text=True).stdout


def _wait_for(name: str, text: str, timeout: float = 20.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        screen = _screen(name)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared:\n{_screen(name)}")


def test_console_prompt_runs_api_commands_and_shutdown_exits(tmp_path: Path):
    name = f"sc-console-{time.monotonic_ns()}"
    command = f"cd {ROOT} && python3 -m switchcore --conf tests/conf --data {tmp_path / 'data'}; echo EXITED=$?; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "200", "-y", "50", command], check=True)
    try:
        _wait_for(name, "switchcore@127.0.0.1>")
        subprocess.run(["tmux", "send-keys", "-t", name, "status", "Enter"], check=True)
        assert "is ready" in _wait_for(name, "session(s) max")
        subprocess.run(["tmux", "send-keys", "-t", name, "nosuch", "Enter"], check=True)
        _wait_for(name, "-ERR nosuch Command not found!")
        subprocess.run(["tmux", "send-keys", "-t", name, "shutdown", "Enter"], check=True)
        _wait_for(name, "EXITED=0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
