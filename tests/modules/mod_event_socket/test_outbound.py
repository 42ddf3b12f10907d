"""The `socket` application: a call-control server takes a call and tells it what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from modules.mod_event_socket.outbound import SocketTarget, parse_target
from modules.mod_event_socket.server import EventSocketServer
from switchcore.core import Switch

from .conftest import RawClient, next_port

Script = Callable[[RawClient], Awaitable[None]]


async def run_call(core: Switch, client: RawClient, arg: str, script: Script) -> tuple[str, list[str]]:
    """Route a loopback call into `socket <arg>`; `script` drives it from the server side."""
    port = next_port()
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    errors: list[BaseException] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(RawClient(reader, writer))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            writer.close()
            if not done.done():
                done.set_result(None)

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    core.registry.dialplans["XML"].routes["5000"] = [("socket", f"127.0.0.1:{port} {arg}".strip())]  # type: ignore[attr-defined]
    try:
        await client.command("event plain CHANNEL_HANGUP_COMPLETE")
        # bgapi: the originate's own outcome depends on whether the script answers.
        assert (await client.command("bgapi originate loopback/5000 &park()")).ok
        await asyncio.wait_for(done, 10)
        event = (await client.event("CHANNEL_HANGUP_COMPLETE", timeout=10, Channel_Name="loopback/5000-b")).event()
        assert not errors, errors
        return event.get("Hangup-Cause"), [event.get("Unique-ID")]
    finally:
        server.close()


async def test_connect_gets_channel_data_and_the_call_obeys_answer_playback_hangup(
    core: Switch, esl: EventSocketServer, client: RawClient
) -> None:
    seen: dict[str, str] = {}
    apps: list[str] = []

    async def script(server: RawClient) -> None:
        await server.send("connect")
        data = await server.frame()
        seen.update(data.event().headers)
        assert (await server.command("myevents")).reply_text == "+OK Events Enabled"
        for app, arg in (("answer", ""), ("playback", "silence_stream://200")):
            reply = await server.command(
                "sendmsg", ("call-command", "execute"), ("execute-app-name", app), ("execute-app-arg", arg)
            )
            assert reply.reply_text == "+OK"
            apps.append(app)
        assert (await server.command("getvar socket_host")).reply_text == "127.0.0.1"
        assert (await server.command("sendmsg", ("call-command", "hangup"))).reply_text == "+OK"
        notice = await server.reply()
        assert notice.content_type == "text/disconnect-notice"

    cause, _ = await run_call(core, client, "", script)
    assert seen["Content-Type"] == "command/reply"
    assert seen["Reply-Text"] == "+OK\n"
    assert seen["Socket-Mode"] == "static"
    assert seen["Control"] == "single-channel"
    assert seen["Channel-Name"] == "loopback/5000-b"
    assert seen["Caller-Destination-Number"] == "5000"
    assert seen["variable_uuid"] == seen["Unique-ID"]
    assert apps == ["answer", "playback"]
    assert cause == "NORMAL_CLEARING"


async def test_static_sendmsg_replies_only_when_the_application_has_finished(
    core: Switch, esl: EventSocketServer, client: RawClient
) -> None:
    took: list[float] = []

    async def script(server: RawClient) -> None:
        await server.send("connect")
        await server.frame()
        loop = asyncio.get_running_loop()
        start = loop.time()
        await server.command("sendmsg", ("call-command", "execute"), ("execute-app-name", "sleep"), ("execute-app-arg", "300"))
        took.append(loop.time() - start)
        await server.command("sendmsg", ("call-command", "hangup"))

    await run_call(core, client, "", script)
    assert took and took[0] >= 0.28


async def test_async_full_socket_can_run_api_and_events(core: Switch, esl: EventSocketServer, client: RawClient) -> None:
    results: dict[str, str] = {}

    async def script(server: RawClient) -> None:
        await server.send("connect")
        data = (await server.frame()).event()
        results["mode"] = data.get("Socket-Mode")
        results["control"] = data.get("Control")
        results["api"] = (await server.command("api version")).body
        results["linger"] = (await server.command("linger 1")).reply_text
        await server.command("event plain CHANNEL_HANGUP_COMPLETE")
        results["sendmsg"] = (await server.command("sendmsg", ("call-command", "hangup"))).reply_text
        notice = await server.reply()
        results["disposition"] = notice.get("Content-Disposition")
        await server.event("CHANNEL_HANGUP_COMPLETE")
        results["got_complete"] = "yes"

    await run_call(core, client, "async full", script)
    assert results["mode"] == "async"
    assert results["control"] == "full"
    assert results["api"].startswith("switchcore")
    assert results["linger"] == "+OK will linger 1 seconds"
    assert results["sendmsg"] == "+OK"
    assert results["disposition"] == "linger"
    assert results["got_complete"] == "yes"


async def test_single_channel_socket_may_not_run_api(core: Switch, esl: EventSocketServer, client: RawClient) -> None:
    replies: list[str] = []

    async def script(server: RawClient) -> None:
        await server.send("connect")
        await server.frame()
        replies.append((await server.command("api status")).reply_text)
        replies.append((await server.command("linger")).reply_text)
        await server.command("sendmsg", ("call-command", "hangup"))

    await run_call(core, client, "", script)
    assert replies == ["-ERR command not found", "-ERR command not found"]


async def test_closing_a_static_socket_lets_the_dialplan_go_on(core: Switch, esl: EventSocketServer, client: RawClient) -> None:
    async def script(server: RawClient) -> None:
        await server.send("connect")
        await server.frame()
        await server.command("sendmsg", ("call-command", "execute"), ("execute-app-name", "answer"))

    cause, _ = await run_call(core, client, "", script)
    # Nothing follows `socket` in the dialplan: the call ends normally once the server hangs up.
    assert cause == "NORMAL_CLEARING"


@pytest.mark.parametrize(
    ("arg", "target"),
    [
        ("127.0.0.1:8084 async full", SocketTarget("127.0.0.1", 8084, "", True, True)),
        ("192.0.2.1", SocketTarget("192.0.2.1", 8084)),
        ("[::1]:9000 full", SocketTarget("::1", 9000, "", False, True)),
        ("host:8040/path", SocketTarget("host", 8040, "path")),
    ],
)
def test_socket_arguments_are_read_as_freeswitch_does(arg: str, target: SocketTarget) -> None:
    assert parse_target(arg) == target


def test_socket_without_a_host_is_refused() -> None:
    assert parse_target("") is None
