"""Bad input and abuse: limits checked before authentication, garbage, the ACL, password guessing."""

from __future__ import annotations

import asyncio

import pytest

from modules.mod_event_socket import server as server_module
from modules.mod_event_socket.server import EventSocketServer
from modules.mod_event_socket.settings import EslSettings
from switchcore.core import Switch

from .conftest import RawClient, next_port


async def closed_after_notice(c: RawClient) -> str:
    """Read to the end: the disconnect notice's text, then EOF."""
    notice = await c.reply()
    assert notice.content_type == "text/disconnect-notice"
    assert await asyncio.wait_for(c.reader.read(), 5) == b""
    return notice.body


async def test_an_over_long_line_before_auth_closes_only_that_connection(esl: EventSocketServer, client: RawClient) -> None:
    bad = await RawClient.connect(esl.address[1])
    await bad.frame()
    bad.writer.write(b"auth " + b"A" * 5000)
    body = await closed_after_notice(bad)
    assert "longer than" in body
    assert (await client.command("api version")).ok


async def test_a_body_before_auth_is_refused(esl: EventSocketServer) -> None:
    bad = await RawClient.connect(esl.address[1])
    await bad.frame()
    bad.writer.write(b"auth ClueCon\nContent-Length: 100000000\n\n")
    assert "over the limit" in await closed_after_notice(bad)


async def test_a_bad_content_length_closes_the_connection(client: RawClient) -> None:
    client.writer.write(b"sendevent CUSTOM\nContent-Length: lots\n\n")
    assert "not a number" in await closed_after_notice(client)


async def test_garbage_bytes_close_the_connection(esl: EventSocketServer, client: RawClient) -> None:
    bad = await RawClient.connect(esl.address[1])
    await bad.frame()
    bad.writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n")  # a TLS hello, say
    body = await closed_after_notice(bad)
    assert "not UTF-8" in body or "control characters" in body
    assert (await client.command("api version")).ok


async def test_outside_the_acl_is_refused_before_the_greeting(core: Switch) -> None:
    server = EventSocketServer(core, EslSettings(listen_port=next_port(), inbound_acl=("192.0.2.0/24",)))
    await server.start()
    try:
        c = await RawClient.connect(server.address[1])
        frame = await c.frame()
        assert frame.content_type == "text/rude-rejection"
        assert frame.body == "Access Denied, go away.\n"
        assert await asyncio.wait_for(c.reader.read(), 5) == b""
    finally:
        await server.stop()


async def test_repeated_failed_auth_is_slowed_then_refused(core: Switch) -> None:
    settings = EslSettings(listen_port=next_port(), auth_delay_after=1, auth_ban_after=3, auth_ban_seconds=60)
    server = EventSocketServer(core, settings)
    await server.start()
    loop = asyncio.get_running_loop()
    try:
        took = []
        for _ in range(3):
            c = await RawClient.connect(server.address[1])
            await c.frame()
            start = loop.time()
            assert (await c.command("auth guess")).reply_text == "-ERR invalid"
            took.append(loop.time() - start)
            await c.close()
        assert took[0] < 0.3
        assert took[1] >= 0.45  # the second failure waits before its answer
        c = await RawClient.connect(server.address[1])
        frame = await c.frame()
        assert frame.content_type == "text/rude-rejection"
        assert "Too many failed logins" in frame.body
        await c.close()
    finally:
        await server.stop()


async def test_an_idle_unauthenticated_client_is_dropped(esl: EventSocketServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "AUTH_TIMEOUT", 0.2)
    c = await RawClient.connect(esl.address[1])
    await c.frame()
    await closed_after_notice(c)


async def test_module_shutdown_tells_clients(core: Switch) -> None:
    server = EventSocketServer(core, EslSettings(listen_port=next_port()))
    await server.start()
    c = await RawClient.connect(server.address[1])
    await c.login()
    await server.stop()
    assert await closed_after_notice(c) == "The system is being shut down.\n"
