"""mod_event_socket loaded by a switch booted from its own small configuration tree (conf/)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_event_socket.declaration import module
from switchcore.core import Switch

from .conftest import RawClient

CONF = Path(__file__).resolve().parent / "conf"
ESL_PORT = 15580  # event_socket_port in conf/freeswitch.xml
OUTBOUND_PORT = 15581


@pytest.fixture
async def booted(tmp_path: Path) -> AsyncIterator[Switch]:
    sw = Switch(conf_dir=CONF, data_dir=tmp_path / "data")
    report = await sw.start()
    try:
        assert "mod_event_socket" in report.loaded, report
        yield sw
    finally:
        await sw.stop()


async def test_the_listener_is_announced_and_serves_api(booted: Switch) -> None:
    assert f"esl tcp 127.0.0.1:{ESL_PORT}" in booted.ready_line()
    client = await RawClient.connect(ESL_PORT)
    try:
        assert (await client.login()).reply_text == "+OK accepted"
        assert "is ready" in (await client.command("api status")).body
        await client.command("event plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE")
        reply = await client.command("api originate loopback/9999 &park()")
        uuid = reply.body.split()[1]
        await client.event("CHANNEL_CREATE", Unique_ID=uuid)
        await client.command(f"api uuid_kill {uuid}")
        await client.event("CHANNEL_HANGUP_COMPLETE", Unique_ID=uuid)
    finally:
        await client.close()


async def test_the_dialplan_hands_a_call_to_an_outbound_socket(booted: Switch) -> None:
    connected: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = RawClient(reader, writer)
        await server.send("connect")
        data = (await server.frame()).event()
        await server.command("sendmsg", ("call-command", "execute"), ("execute-app-name", "answer"))
        await server.command("sendmsg", ("call-command", "hangup"))
        connected.set_result(data.get("Caller-Destination-Number"))
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", OUTBOUND_PORT)
    try:
        assert (await booted.api("originate loopback/5000 &park()")).startswith("+OK")
        assert await asyncio.wait_for(connected, 10) == "5000"
    finally:
        server.close()


async def test_unloading_closes_the_listener(booted: Switch) -> None:
    client = await RawClient.connect(ESL_PORT)
    await client.login()
    assert (await booted.api("unload mod_event_socket")).startswith("+OK")
    notice = await client.reply()
    assert notice.body == "The system is being shut down.\n"
    with pytest.raises(OSError):
        await RawClient.connect(ESL_PORT)
    assert f"esl tcp 127.0.0.1:{ESL_PORT}" not in module.listeners


class _Tree:
    def __init__(self, xml: str) -> None:
        from lxml import etree

        self.element = etree.fromstring(xml)

    def configuration(self, name: str) -> object | None:
        return self.element if name == "event_socket.conf" else None


class _Config:
    def __init__(self, xml: str) -> None:
        self.current = _Tree(xml)


async def test_the_module_refuses_to_start_with_the_default_password_off_loopback(core: Switch) -> None:
    from switchcore.errors import ConfigError

    core.config = _Config(  # type: ignore[assignment]
        '<configuration name="event_socket.conf"><settings><param name="listen-ip" value="0.0.0.0"/>'
        '<param name="listen-port" value="15582"/></settings></configuration>'
    )
    assert module.on_load is not None
    with pytest.raises(ConfigError, match="default password ClueCon"):
        await module.on_load(core)
