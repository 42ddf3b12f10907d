"""A second client implementation: greenswitch (PyPI) connects, authenticates, runs `api status`,
subscribes and receives CHANNEL_CREATE and CHANNEL_HANGUP_COMPLETE for a loopback call."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from modules.mod_event_socket.server import EventSocketServer
from switchcore.core import Switch

from .conftest import RawClient, next_port

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


async def test_a_greenswitch_outbound_server_controls_a_call(core: Switch, esl: EventSocketServer, client: RawClient) -> None:
    port = next_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "greenswitch_outbound.py"), str(port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(ROOT),
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.wait_for(proc.stdout.readline(), 20)).strip() == b"listening"
        await asyncio.sleep(0.5)  # it binds right after saying so
        core.registry.dialplans["XML"].routes["5000"] = [("socket", f"127.0.0.1:{port}")]  # type: ignore[attr-defined]
        await client.command("event plain CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP_COMPLETE")
        assert (await client.command("bgapi originate loopback/5000 &park()")).ok
        apps = []
        while True:
            event = (await client.next_unreplied(15)).event()
            if event.get("Channel-Name") != "loopback/5000-b":
                continue
            if event.name == "CHANNEL_EXECUTE_COMPLETE":
                apps.append(event.get("Application"))
            if event.name == "CHANNEL_HANGUP_COMPLETE":
                assert event.get("Hangup-Cause") == "NORMAL_CLEARING"
                break
        assert apps[:3] == ["answer", "playback", "hangup"]
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert line.startswith("handled ")
    finally:
        proc.kill()
        await proc.wait()
