"""A second client implementation: greenswitch (PyPI) connects, authenticates, runs `api status`,
subscribes and receives CHANNEL_CREATE and CHANNEL_HANGUP_COMPLETE for a loopback call."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from modules.mod_event_socket.server import EventSocketServer

pytest.importorskip("greenswitch")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


async def test_greenswitch_sees_status_and_the_events_of_a_call(esl: EventSocketServer) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "greenswitch_client.py"),
        str(esl.address[1]),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=str(ROOT),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    seen = json.loads(out.decode().strip().splitlines()[-1])
    assert "is ready" in seen["status"]
    assert seen["subscribe"] == "+OK event listener enabled plain"
    assert seen["kill"].startswith("+OK")
    assert seen["uuid"] in seen["created"]
    assert seen["uuid"] in seen["completed"]
