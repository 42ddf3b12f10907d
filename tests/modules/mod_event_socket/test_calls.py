"""The event socket with live loopback calls: channel events, myevents, sendmsg, slow consumers."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from modules.mod_event_socket.server import EventSocketServer
from modules.mod_event_socket.settings import EslSettings
from switchcore.core import Switch
from switchcore.events import Event

from .conftest import RawClient, next_port


async def originate_parked(client: RawClient) -> str:
    reply = await client.command("api originate loopback/9999 &park()")
    assert reply.body.startswith("+OK "), reply.body
    return reply.body.split()[1]


async def test_channel_create_and_hangup_complete_reach_a_subscriber(client: RawClient) -> None:
    await client.command("event plain CHANNEL_CREATE CHANNEL_HANGUP_COMPLETE")
    uuid = await originate_parked(client)
    create = (await client.event("CHANNEL_CREATE", Unique_ID=uuid)).event()
    assert create.get("Channel-Name") == "loopback/9999-a"
    assert (await client.command(f"api uuid_kill {uuid}")).body.startswith("+OK")
    done = (await client.event("CHANNEL_HANGUP_COMPLETE", Unique_ID=uuid)).event()
    assert done.get("Hangup-Cause") == "MANAGER_REQUEST"  # uuid_kill's default, as FreeSWITCH


async def test_myevents_follows_one_call_only(client: RawClient, esl: EventSocketServer) -> None:
    other = await RawClient.connect(esl.address[1])
    await other.login()
    uuid = await originate_parked(other)
    second = await originate_parked(other)
    assert (await client.command(f"myevents {uuid}")).reply_text == "+OK Events Enabled"
    assert (await client.command(f"myevents {uuid}")).reply_text == "-ERR aready enabled."
    await other.command(f"api uuid_kill {second}")
    await other.command(f"api uuid_kill {uuid}")
    while True:
        event = (await client.event("CHANNEL_HANGUP_COMPLETE")).event()
        assert event.get("Unique-ID") == uuid
        break
    await other.close()


async def test_myevents_with_an_unknown_uuid_is_refused(client: RawClient) -> None:
    assert (await client.command("myevents 11111111-1111-1111-1111-111111111111")).reply_text == "-ERR invalid uuid"


async def test_sendmsg_executes_an_application_on_a_parked_call(client: RawClient, core: Switch) -> None:
    await client.command("event plain CHANNEL_EXECUTE_COMPLETE")
    uuid = await originate_parked(client)
    reply = await client.command(
        f"sendmsg {uuid}",
        ("call-command", "execute"),
        ("execute-app-name", "set"),
        ("execute-app-arg", "esl_marker=42"),
        ("event-lock", "true"),
    )
    assert reply.reply_text == "+OK"
    await client.event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=uuid, Application="set")
    assert (await client.command(f"api uuid_getvar {uuid} esl_marker")).body.strip() == "42"
    # Back in park afterwards, as FreeSWITCH's park loop does: the call is still up.
    await asyncio.sleep(0.1)
    assert uuid in core.sessions
    assert core.sessions[uuid].current_app == "park"


async def test_sendmsg_hangup_ends_the_call_with_the_cause_asked(client: RawClient) -> None:
    await client.command("event plain CHANNEL_HANGUP")
    uuid = await originate_parked(client)
    reply = await client.command(f"sendmsg {uuid}", ("call-command", "hangup"), ("hangup-cause", "USER_BUSY"))
    assert reply.reply_text == "+OK"
    event = (await client.event("CHANNEL_HANGUP", Unique_ID=uuid)).event()
    assert event.get("Hangup-Cause") == "USER_BUSY"


async def test_sendmsg_without_a_known_call_command_is_refused(client: RawClient) -> None:
    uuid = await originate_parked(client)
    reply = await client.command(f"sendmsg {uuid}", ("call-command", "unicast"))
    assert reply.reply_text == "-ERR call-command unicast is not supported"
    await client.command(f"api uuid_kill {uuid}")


async def slow_reader(port: int) -> RawClient:
    """A client with a tiny receive buffer, so that not reading fills the switch's side quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    return RawClient(reader, writer)


async def test_a_client_that_stops_reading_is_disconnected_and_calls_go_on(
    core: Switch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "mod_event_socket")
    server = EventSocketServer(core, EslSettings(listen_port=next_port(), max_queue=50))
    await server.start()
    try:
        slow = await slow_reader(server.address[1])
        await slow.login()
        assert (await slow.command("event plain ALL")).reply_text == "+OK event listener enabled plain"
        # From here on `slow` never reads: its socket fills, then its queue, then it is dropped.
        ctl = await RawClient.connect(server.address[1])
        await ctl.login()
        completed = 0
        for _ in range(200):
            reply = await ctl.command("api originate loopback/9999 &park()")
            assert reply.body.startswith("+OK"), reply.body
            assert (await ctl.command(f"api uuid_kill {reply.body.split()[1]}")).body.startswith("+OK")
            completed += 1
            big = Event.create("CUSTOM", "test::bulk")
            big.body = "x" * 8000
            for _ in range(20):
                core.events.fire(big)
            await asyncio.sleep(0)
            if len(server.connections) == 1:
                break
        assert len(server.connections) == 1, "the slow consumer is still connected"
        # Calls placed after the disconnect complete normally.
        for _ in range(3):
            reply = await ctl.command("api originate loopback/9999 &park()")
            assert reply.body.startswith("+OK")
            assert (await ctl.command(f"api uuid_kill {reply.body.split()[1]}")).body.startswith("+OK")
        assert completed >= 1
        assert "the client is not reading" in caplog.text
        await ctl.close()
        slow.writer.close()
    finally:
        await server.stop()
