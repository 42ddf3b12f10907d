"""The event-socket wire format: stored vectors byte for byte, both directions, and the readers' limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchcore.eslwire import (
    BadContentLength,
    BodyTooLarge,
    Command,
    CommandReader,
    EventFormat,
    Frame,
    FrameReader,
    GarbageBytes,
    LineTooLong,
    LogLine,
    api_response,
    auth_request,
    command_reply,
    disconnect_notice,
    event_frame,
    linger_notice,
    log_frame,
    log_level_from_python,
    log_level_from_string,
    rude_rejection,
    serialize_event,
    url_decode,
    url_encode,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "esl"


def vector(name: str) -> tuple[bytes, Any]:
    data = (VECTORS / f"{name}.bin").read_bytes()
    meta = VECTORS / f"{name}.json"
    return data, json.loads(meta.read_text()) if meta.exists() else None


def test_greeting_vector() -> None:
    assert auth_request() == vector("greeting")[0]


@pytest.mark.parametrize("name", ["reply_accepted", "reply_invalid", "reply_bgapi"])
def test_command_reply_vectors(name: str) -> None:
    data, meta = vector(name)
    assert command_reply(meta["text"], dict(meta["headers"])) == data
    frame = Frame.parse(data)
    assert frame.content_type == "command/reply"
    assert frame.reply_text == meta["text"]
    assert bytes(frame) == data


@pytest.mark.parametrize("name", ["api_response_status", "api_response_empty"])
def test_api_response_vectors(name: str) -> None:
    data, meta = vector(name)
    assert api_response(meta["body"]) == data
    frame = Frame.parse(data)
    assert bytes(frame) == data
    assert frame.body == (meta["body"] or "-ERR no reply\n")


@pytest.mark.parametrize(
    "name",
    ["event_plain_background_job", "event_plain_channel_create", "event_json_custom", "event_xml_heartbeat"],
)
def test_event_vectors_serialise_and_parse_back(name: str) -> None:
    data, meta = vector(name)
    fmt = EventFormat(meta["format"])
    headers = [tuple(h) for h in meta["headers"]]
    assert event_frame(serialize_event(headers, meta["body"], fmt), fmt) == data
    frame = Frame.parse(data)
    assert bytes(frame) == data
    event = frame.event()
    # An empty value travels as `_undef_` in plain events (switch_event_serialize), and stays so;
    # a value that already held a %XX escape is not escaped again, so it reads back decoded.
    if fmt is EventFormat.JSON:
        assert list(event.headers.items()) == headers
    else:
        undef = "_undef_" if fmt is EventFormat.PLAIN else ""
        assert list(event.headers.items()) == [(k, url_decode(url_encode(v)) or undef) for k, v in headers]
    assert event.body == meta["body"]


def test_disconnect_and_linger_vectors() -> None:
    data, meta = vector("disconnect_notice")
    assert disconnect_notice(meta["message"]) == data
    data, meta = vector("disconnect_notice_outbound")
    assert disconnect_notice(meta["message"], meta["session"]) == data
    assert Frame.parse(data).get("Controlled-Session-UUID") == meta["session"]
    data, meta = vector("linger_notice")
    assert linger_notice(meta["session"], meta["channel"], meta["seconds"]) == data
    assert Frame.parse(data).get("Content-Disposition") == "linger"
    data, meta = vector("rude_rejection")
    assert rude_rejection(meta["message"]) == data


def test_log_data_vector() -> None:
    data, meta = vector("log_data")
    entry = LogLine(**meta)
    assert log_frame(entry) == data
    frame = Frame.parse(data)
    assert frame.body == meta["data"]
    assert frame.get("User-Data") == meta["user_data"]


@pytest.mark.parametrize("name", ["command_sendmsg", "command_sendevent", "command_api"])
def test_command_block_vectors(name: str) -> None:
    data, meta = vector(name)
    command = Command(meta["line"], tuple(tuple(h) for h in meta["headers"]), meta["body"])  # type: ignore[misc]
    assert bytes(command) == data
    assert Command.parse(data) == command


def test_command_reader_takes_bytes_one_at_a_time() -> None:
    data, meta = vector("command_sendevent")
    reader = CommandReader()
    got = []
    for byte in b"\r\n" + data + data:
        reader.receive_data(bytes([byte]))
        while (command := reader.next_command()) is not None:
            got.append(command)
    assert len(got) == 2
    assert got[0].body == "hello world"
    assert got[0].header("x-thing") == "1"


def test_command_reader_accepts_crlf_blocks() -> None:
    reader = CommandReader()
    reader.receive_data(b"auth ClueCon\r\n\r\napi status\r\n\r\n")
    assert reader.next_command() == Command("auth ClueCon")
    assert reader.next_command() == Command("api status")
    assert reader.next_command() is None


def test_an_over_long_block_is_refused_before_its_end_arrives() -> None:
    reader = CommandReader(max_head=64)
    with pytest.raises(LineTooLong):
        reader.receive_data(b"auth " + b"x" * 100)


def test_a_bad_or_too_large_content_length_is_refused() -> None:
    reader = CommandReader(max_body=10)
    reader.receive_data(b"sendevent CUSTOM\nContent-Length: abc\n\n")
    with pytest.raises(BadContentLength):
        reader.next_command()
    reader = CommandReader(max_body=10)
    reader.receive_data(b"sendevent CUSTOM\nContent-Length: 11\n\n")
    with pytest.raises(BodyTooLarge):
        reader.next_command()
    reader = CommandReader(max_body=0)
    reader.receive_data(b"auth x\nContent-Length: -1\n\n")
    with pytest.raises(BadContentLength):
        reader.next_command()


@pytest.mark.parametrize("garbage", [b"\xff\xfe auth\n\n", b"api st\x00atus\n\n", b"auth \x1b[31m\n\n"])
def test_garbage_bytes_are_refused(garbage: bytes) -> None:
    reader = CommandReader()
    reader.receive_data(garbage)
    with pytest.raises(GarbageBytes):
        reader.next_command()


def test_frame_reader_splits_a_stream_of_frames() -> None:
    stream = auth_request() + command_reply("+OK accepted") + api_response("+OK\n") + disconnect_notice()
    reader = FrameReader()
    reader.receive_data(stream[:7])
    assert reader.next_frame() is None
    reader.receive_data(stream[7:])
    kinds = []
    while (frame := reader.next_frame()) is not None:
        kinds.append(frame.content_type)
    assert kinds == ["auth/request", "command/reply", "api/response", "text/disconnect-notice"]


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("Thu, 01 May 2008 23:37:03 GMT", "Thu,%2001%20May%202008%2023%3A37%3A03%20GMT"),
        ("sip:1000@example.com;tag=x", "sip%3A1000%40example.com%3Btag%3Dx"),
        ("a+b&c", "a%2Bb%26c"),
        ("line\nnext", "line%0Anext"),
        ("100%", "100%25"),
        ("kept%41escape", "kept%41escape"),
        ("ü", "%C3%BC"),
        ("plain-._~!$'()*,/", "plain-._~!$'()*,/"),
    ],
)
def test_url_encoding_follows_switch_url_encode(raw: str, encoded: str) -> None:
    assert url_encode(raw) == encoded


def test_url_decode_undoes_escapes_and_keeps_plus() -> None:
    assert url_decode("a%20b+c%C3%BC") == "a b+cü"


def test_log_levels_as_switch_log_str2level() -> None:
    assert log_level_from_string("debug") == 7
    assert log_level_from_string("ERR") == 3
    assert log_level_from_string("error") == 3
    assert log_level_from_string("9") == 7
    assert log_level_from_string("console") == 0
    assert log_level_from_string("chatty") is None
    assert [log_level_from_python(n) for n in (10, 20, 25, 30, 40, 50)] == [7, 6, 5, 4, 3, 2]


def test_frame_ok_reads_replies_and_api_bodies() -> None:
    assert Frame.parse(command_reply("+OK")).ok
    assert not Frame.parse(command_reply("-ERR invalid")).ok
    assert Frame.parse(api_response("UP 0 years\n")).ok
    assert not Frame.parse(api_response("-ERR no such channel\n")).ok
    assert not Frame.parse(api_response("-USAGE: <uuid>\n")).ok
