"""The inbound event socket on a real 127.0.0.1 socket: every command, byte-exact where it matters."""

from __future__ import annotations

import asyncio
import json
import re

from modules.mod_event_socket.server import EventSocketServer
from modules.mod_event_socket.settings import EslSettings
from switchcore.core import Switch
from switchcore.events import Event

from .conftest import RawClient, next_port

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def test_greeting_and_auth_replies_are_byte_exact(esl: EventSocketServer) -> None:
    c = await RawClient.connect(esl.address[1])
    try:
        greeting = await c.frame()
        assert bytes(c.raw) == b"Content-Type: auth/request\n\n"
        c.raw.clear()
        await c.command("auth ClueCon")
        assert bytes(c.raw) == b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n"
        assert greeting.content_type == "auth/request"
    finally:
        await c.close()


async def test_wrong_password_gets_err_invalid_then_the_socket_closes(esl: EventSocketServer) -> None:
    c = await RawClient.connect(esl.address[1])
    await c.frame()
    reply = await c.command("auth wrong")
    assert reply.reply_text == "-ERR invalid"
    notice = await c.frame()
    assert notice.content_type == "text/disconnect-notice"
    assert await c.reader.read() == b""


async def test_commands_before_auth_are_refused_and_the_connection_stays(esl: EventSocketServer) -> None:
    c = await RawClient.connect(esl.address[1])
    await c.frame()
    assert (await c.command("api status")).reply_text == "-ERR command not found"
    assert (await c.command("auth ClueCon")).reply_text == "+OK accepted"
    await c.close()


async def test_api_status_returns_an_api_response_with_content_length(client: RawClient) -> None:
    client.raw.clear()
    reply = await client.command("api status")
    assert reply.content_type == "api/response"
    assert "is ready" in reply.body
    length = len(reply.body.encode())
    assert bytes(client.raw).startswith(f"Content-Type: api/response\nContent-Length: {length}\n\n".encode())


async def test_unknown_api_command_says_command_not_found(client: RawClient) -> None:
    reply = await client.command("api no_such_thing")
    assert reply.body == "-ERR no_such_thing Command not found!\n"


async def test_bgapi_replies_a_job_uuid_and_fires_background_job_with_it(client: RawClient) -> None:
    assert (await client.command("event plain BACKGROUND_JOB")).reply_text == "+OK event listener enabled plain"
    reply = await client.command("bgapi status")
    job = reply.get("Job-UUID")
    assert UUID.match(job)
    assert reply.reply_text == f"+OK Job-UUID: {job}"
    event = (await client.event("BACKGROUND_JOB")).event()
    assert event.get("Job-UUID") == job
    assert event.get("Job-Command") == "status"
    assert "is ready" in event.body


async def test_bgapi_keeps_a_job_uuid_the_client_chose(client: RawClient) -> None:
    await client.command("event plain BACKGROUND_JOB")
    reply = await client.command("bgapi version", ("Job-UUID", "my-own-job"))
    assert reply.get("Job-UUID") == "my-own-job"
    event = (await client.event("BACKGROUND_JOB")).event()
    assert event.get("Job-UUID") == "my-own-job"
    assert event.get("Job-Command") == "version"


async def test_plain_events_are_framed_and_url_encoded(client: RawClient, core: Switch) -> None:
    await client.command("event plain CUSTOM test::one")
    client.raw.clear()
    event = Event.create("CUSTOM", "test::one", **{"X-Value": "a b:c"})
    event.body = "hello\n"
    core.events.fire(event)
    frame = await client.event("CUSTOM")
    body = frame.body
    assert frame.content_type == "text/event-plain"
    assert bytes(client.raw).startswith(f"Content-Length: {len(body.encode())}\nContent-Type: text/event-plain\n\n".encode())
    assert "X-Value: a%20b%3Ac\n" in body
    assert body.endswith("Content-Length: 6\n\nhello\n")
    assert frame.event().get("X-Value") == "a b:c"


async def test_json_events_carry_headers_and_body(client: RawClient, core: Switch) -> None:
    assert (await client.command("event json CUSTOM test::json")).reply_text == "+OK event listener enabled json"
    event = Event.create("CUSTOM", "test::json", **{"X-Value": "a b"})
    event.body = "payload"
    core.events.fire(event)
    frame = await client.event("CUSTOM")
    assert frame.content_type == "text/event-json"
    obj = json.loads(frame.body)
    assert obj["X-Value"] == "a b"
    assert obj["_body"] == "payload"
    assert obj["Content-Length"] == "7"


async def test_xml_events_parse_back(client: RawClient, core: Switch) -> None:
    await client.command("event xml CUSTOM test::xml")
    core.events.fire(Event.create("CUSTOM", "test::xml", **{"X-Value": "<&>"}))
    frame = await client.event("CUSTOM")
    assert frame.content_type == "text/event-xml"
    assert frame.event().get("X-Value") == "<&>"


async def test_custom_needs_the_subclass_asked_for(client: RawClient, core: Switch) -> None:
    await client.command("event plain CUSTOM wanted::one")
    core.events.fire(Event.create("CUSTOM", "other::one"))
    core.events.fire(Event.create("CUSTOM", "wanted::one"))
    frame = await client.event("CUSTOM")
    assert frame.event().get("Event-Subclass") == "wanted::one"


async def test_event_without_names_is_refused(client: RawClient) -> None:
    assert (await client.command("event plain")).reply_text == "-ERR no keywords supplied"


async def test_nixevent_and_noevents(client: RawClient, core: Switch) -> None:
    await client.command("event plain ALL")
    assert (await client.command("nixevent HEARTBEAT")).reply_text == "+OK events nixed"
    core.events.fire(Event.create("HEARTBEAT"))
    core.events.fire(Event.create("RELOADXML"))
    assert (await client.event("RELOADXML")).event().name == "RELOADXML"
    assert (await client.command("noevents")).reply_text == "+OK no longer listening for events"
    assert (await client.command("noevents")).reply_text == "-ERR not listening for events"


async def test_filter_passes_only_matching_events(client: RawClient, core: Switch) -> None:
    await client.command("event plain CUSTOM f::x")
    reply = await client.command("filter X-Key yes")
    assert reply.reply_text == "+OK filter added. [X-Key]=[yes]"
    core.events.fire(Event.create("CUSTOM", "f::x", **{"X-Key": "no", "X-N": "1"}))
    core.events.fire(Event.create("CUSTOM", "f::x", **{"X-Key": "yes", "X-N": "2"}))
    assert (await client.event("CUSTOM")).event().get("X-N") == "2"
    reply = await client.command("filter delete X-Key yes")
    assert reply.reply_text == "+OK filter deleted. [X-Key][yes]"


async def test_sendevent_fires_the_event_and_replies_its_uuid(client: RawClient) -> None:
    await client.command("event plain CUSTOM my::event")
    reply = await client.command("sendevent CUSTOM", ("Event-Subclass", "my::event"), ("X-A", "1"), body="text")
    assert reply.reply_text.startswith("+OK ")
    event = (await client.event("CUSTOM")).event()
    assert event.get("X-A") == "1"
    assert event.get("Event-UUID") == reply.reply_text[4:]
    assert event.body == "text"


async def test_log_level_and_nolog(client: RawClient) -> None:
    import logging

    assert (await client.command("log debug")).reply_text == "+OK log level debug [7]"
    logging.getLogger("test.esl").info("a line for the socket")
    while True:
        frame = await client.next_unreplied(5)
        if frame.content_type == "log/data" and "a line for the socket" in frame.body:
            break
    assert frame.get("Log-Level") == "6"
    assert "[INFO]" in frame.body
    assert (await client.command("log nonsense")).reply_text == "-ERR invalid log level"
    assert (await client.command("nolog")).reply_text == "+OK no longer logging"
    assert (await client.command("nolog")).reply_text == "-ERR not loging"


async def test_exit_says_bye_then_disconnect_notice(client: RawClient) -> None:
    reply = await client.command("exit")
    assert reply.reply_text == "+OK bye"
    notice = await client.frame()
    assert notice.content_type == "text/disconnect-notice"
    assert notice.body.startswith("Disconnected, goodbye.")


async def test_linger_and_divert_need_a_session(client: RawClient) -> None:
    assert (await client.command("linger")).reply_text == "-ERR not controlling a session"
    assert (await client.command("divert_events on")).reply_text == "-ERR not controlling a session."


async def test_sendmsg_to_an_unknown_uuid_is_refused(client: RawClient) -> None:
    reply = await client.command("sendmsg 00000000-0000-0000-0000-000000000000", ("call-command", "hangup"))
    assert reply.reply_text == "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"


async def test_unknown_command_is_refused(client: RawClient) -> None:
    assert (await client.command("frobnicate")).reply_text == "-ERR command not found"


async def test_many_clients_each_get_their_own_replies(esl: EventSocketServer) -> None:
    async def one(i: int) -> str:
        c = await RawClient.connect(esl.address[1])
        try:
            await c.login()
            return (await c.command(f"api eval {i}")).body
        finally:
            await c.close()

    results = await asyncio.gather(*(one(i) for i in range(10)))
    assert results == [str(i) for i in range(10)]


async def test_default_password_is_refused_off_loopback(core: Switch) -> None:
    from modules.mod_event_socket.settings import check_settings
    from switchcore.errors import ConfigError

    try:
        check_settings(EslSettings(listen_ip="0.0.0.0", listen_port=next_port()))
    except ConfigError as exc:
        assert "default password" in str(exc)
    else:
        raise AssertionError("ClueCon on 0.0.0.0 was accepted")
