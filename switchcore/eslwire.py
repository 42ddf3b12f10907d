"""FreeSWITCH's event-socket wire format, without I/O (mod_event_socket.c, libs/esl/src/esl.c).

Theory of operation.  The event socket is a text protocol of *blocks*.  A
client sends a command block: one command line, optional `Name: value`
header lines, a blank line, and -- when a `Content-Length` header is present
-- that many bytes of body.  The switch answers with frames of the same
shape: a header block (`Content-Type: auth/request|command/reply|api/response|
text/event-plain|text/event-json|text/event-xml|log/data|text/disconnect-notice
|text/rude-rejection`, `Content-Length` when a body follows), a blank line,
and the body.

Two sans-I/O readers sit on either side: `CommandReader` (the switch's side,
with the size limits that keep one client from growing memory) and
`FrameReader` (a client's side: switchcore-cli, tests).  Both take bytes in
and hand complete values out; neither touches a socket.  Every value
round-trips: `Command.parse(bytes(cmd)) == cmd` and `Frame.parse(bytes(f)) == f`.

Events are serialised the way switch_event.c does it:
  plain  `Name: url-encoded-value` lines, then `Content-Length: N` + blank line + body,
         or one blank line when there is no body (switch_event_serialize);
  json   one unformatted object of the headers, with `Content-Length` and `_body`
         when there is a body (switch_event_serialize_json, cJSON_PrintUnformatted);
  xml    `<event><headers><Name>url-encoded</Name>...</headers><Content-Length>N
         </Content-Length><body>...</body></event>`, two-space indented (switch_event_xmlize).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from .errors import SwitchError

# switch_utils.h: the characters switch_url_encode() escapes, besides controls and non-ASCII.
URL_UNSAFE = frozenset('\r\n #%&+:;<=>?@[\\]^`{|}"')
_HEX = "0123456789ABCDEF"
_PERCENT_HEX = re.compile(rb"%([0-9A-Fa-f]{2})")
_UNSAFE_CLASS = r"[\x00-\x1f\x7f-\U0010ffff\r\n #%&+:;<=>?@\[\\\]^`{|}\"]"
_NEEDS_ESCAPE = re.compile(_UNSAFE_CLASS)
_ESCAPES = re.compile(r"(%[0-9A-F]{2})|(" + _UNSAFE_CLASS + ")")

# switch_log.c LEVELS[], indexed by switch_log_level_t.
LOG_LEVELS: tuple[str, ...] = ("CONSOLE", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
LOG_DEBUG = 7

DISCONNECT_GOODBYE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
ACCESS_DENIED = "Access Denied, go away.\n"


class EslWireError(SwitchError):
    """The peer broke the event-socket framing; the connection that sent it is closed."""


class LineTooLong(EslWireError):
    """A command block grew past the size limit before its blank line arrived."""


class BadContentLength(EslWireError):
    """A Content-Length header that is not a non-negative decimal number."""


class BodyTooLarge(EslWireError):
    """A Content-Length larger than the body limit."""


class GarbageBytes(EslWireError):
    """Bytes that are not text: invalid UTF-8, NUL or other control characters."""


class EventFormat(Enum):
    PLAIN = "plain"
    JSON = "json"
    XML = "xml"


# ---- url encoding (switch_url_encode / switch_url_decode) --------------------------------------


def _escape(match: re.Match[str]) -> str:
    kept = match.group(1)
    if kept:
        return kept
    return "".join(f"%{byte:02X}" for byte in match.group(2).encode("utf-8"))


@functools.lru_cache(maxsize=16384)
def url_encode(value: str) -> str:
    """Escape `value` as switch_url_encode() does: controls, non-ASCII bytes and URL_UNSAFE as %XX.

    An existing `%XX` escape (upper-case hex) is kept as it is: switch_url_encode
    calls switch_url_encode_opt with double_encode off.  Results are cached: most
    header values (host, call uuids, caller fields) repeat from event to event.
    """
    if not _NEEDS_ESCAPE.search(value):
        return value
    return _ESCAPES.sub(_escape, value)


def url_decode(value: str) -> str:
    """Undo `%XX` escapes (switch_url_decode: `+` is not a space); the escapes are bytes of UTF-8."""
    if "%" not in value:
        return value
    raw = _PERCENT_HEX.sub(lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8"))
    return raw.decode("utf-8", errors="replace")


# ---- log levels (switch_log_str2level) ---------------------------------------------------------


def log_level_from_string(text: str) -> int | None:
    """`debug`/`7` -> 7 ... `console`/`0` -> 0; None when it names no level.

    Numbers are clamped to 0..7 as switch_log_str2level() does; `error` is
    accepted beside FreeSWITCH's own `err`.
    """
    text = text.strip()
    if text.isdigit():
        return min(int(text), LOG_DEBUG)
    upper = text.upper()
    if upper == "ERROR":
        upper = "ERR"
    if upper in LOG_LEVELS:
        return LOG_LEVELS.index(upper)
    return None


def log_level_from_python(levelno: int) -> int:
    """A Python logging level as FreeSWITCH's: DEBUG 7, INFO 6, NOTICE(25) 5, WARNING 4, ERROR 3, CRITICAL 2."""
    if levelno >= 50:
        return 2
    if levelno >= 40:
        return 3
    if levelno >= 30:
        return 4
    if levelno >= 25:
        return 5
    if levelno >= 20:
        return 6
    return 7


# ---- the client's command blocks -----------------------------------------------------------------


def _split_header(line: str) -> tuple[str, str] | None:
    name, colon, value = line.partition(":")
    if not colon or not name:
        return None
    return name, value.lstrip(" ")


@dataclass(frozen=True, slots=True)
class Command:
    """One command block: `api status`, `sendmsg <uuid>` with its headers, `sendevent` with a body."""

    line: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""

    @property
    def name(self) -> str:
        """The command word, lower-cased (`api`, `bgapi`, `event` ...)."""
        return self.line.split(" ", 1)[0].lower()

    @property
    def arg(self) -> str:
        """Everything after the command word."""
        return self.line.partition(" ")[2].strip()

    def header(self, name: str, default: str = "") -> str:
        """A header's value, matched without regard to case (as switch_event_get_header)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return default

    @classmethod
    def parse(cls, data: bytes) -> Command:
        """Parse one complete block (the bytes `bytes(command)` gives)."""
        reader = CommandReader()
        reader.receive_data(data)
        command = reader.next_command()
        if command is None:
            raise EslWireError("incomplete command block")
        return command

    def __bytes__(self) -> bytes:
        body = self.body.encode("utf-8")
        lines = [self.line]
        lines.extend(f"{k}: {v}" for k, v in self.headers if k.lower() != "content-length")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        return ("\n".join(lines) + "\n\n").encode("utf-8") + body


_BLOCK_END = re.compile(rb"\n\r*\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _decode_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GarbageBytes(f"{what} is not UTF-8 text (byte {exc.start})") from None
    if _CONTROL.search(text):
        raise GarbageBytes(f"{what} holds control characters")
    return text


class _BlockReader:
    """Blocks of header lines ended by a blank line, each followed by Content-Length bytes of body."""

    def __init__(self, max_head: int, max_body: int) -> None:
        self.max_head = max_head
        self.max_body = max_body
        self._buffer = bytearray()
        self._head: list[str] | None = None  # a head waiting for its body
        self._body_length = 0

    def receive_data(self, data: bytes) -> None:
        self._buffer += data
        if self._head is None:
            self._skip_blank_lines()
            if len(self._buffer) > self.max_head and not _BLOCK_END.search(self._buffer, 0, self.max_head + 2):
                raise LineTooLong(f"command block longer than {self.max_head} bytes")

    def _skip_blank_lines(self) -> None:
        start = 0
        while start < len(self._buffer) and self._buffer[start] in (0x0A, 0x0D):
            start += 1
        if start:
            del self._buffer[:start]

    def next_block(self) -> tuple[list[str], bytes] | None:
        if self._head is None:
            self._skip_blank_lines()
            match = _BLOCK_END.search(self._buffer)
            if match is None:
                return None
            if match.start() > self.max_head:
                raise LineTooLong(f"command block longer than {self.max_head} bytes")
            head = _decode_text(bytes(self._buffer[: match.start()]), "command block")
            del self._buffer[: match.end()]
            lines = [line.rstrip("\r") for line in head.split("\n")]
            length = 0
            for line in lines:
                pair = _split_header(line)
                if pair is not None and pair[0].lower() == "content-length":
                    length = _content_length(pair[1], self.max_body)
            if length == 0:
                return lines, b""
            self._head, self._body_length = lines, length
        if len(self._buffer) < self._body_length:
            return None
        body = bytes(self._buffer[: self._body_length])
        del self._buffer[: self._body_length]
        lines, self._head = self._head, None
        return lines, body


class CommandReader:
    """The switch's side of the framing: bytes in, `Command`s out (mod_event_socket.c read_packet).

    Blank lines before a command are skipped; a block ends at a blank line
    (`\\n\\n`, carriage returns ignored).  `max_head` bounds the command line
    and headers together and `max_body` the Content-Length; both are checked
    as the bytes arrive, before anything is parsed, so they hold before
    authentication too.
    """

    def __init__(self, max_head: int = 65536, max_body: int = 1 << 20) -> None:
        self._blocks = _BlockReader(max_head, max_body)

    @property
    def max_head(self) -> int:
        return self._blocks.max_head

    @max_head.setter
    def max_head(self, value: int) -> None:
        self._blocks.max_head = value

    @property
    def max_body(self) -> int:
        return self._blocks.max_body

    @max_body.setter
    def max_body(self, value: int) -> None:
        self._blocks.max_body = value

    def receive_data(self, data: bytes) -> None:
        self._blocks.receive_data(data)

    def next_command(self) -> Command | None:
        """The next complete command, or None until more bytes arrive."""
        block = self._blocks.next_block()
        if block is None:
            return None
        lines, body = block
        headers = []
        for line in lines[1:]:
            pair = _split_header(line)
            if pair is not None and pair[0].lower() != "content-length":
                headers.append(pair)
        return Command(lines[0].strip(), tuple(headers), body.decode("utf-8", errors="replace"))


def _content_length(value: str, limit: int) -> int:
    value = value.strip()
    if not value.isdigit():
        raise BadContentLength(f"Content-Length {value!r} is not a number")
    length = int(value)
    if length > limit:
        raise BodyTooLarge(f"Content-Length {length} is over the limit of {limit} bytes")
    return length


# ---- the switch's frames -------------------------------------------------------------------------


def auth_request() -> bytes:
    """The greeting sent to a new inbound connection."""
    return b"Content-Type: auth/request\n\n"


def command_reply(text: str, headers: Mapping[str, str] | None = None) -> bytes:
    """`Content-Type: command/reply` with `Reply-Text` and any extra headers (bgapi's Job-UUID)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}"]
    lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def api_response(body: str) -> bytes:
    """An `api` command's result; an empty result is sent as `-ERR no reply` (api_exec)."""
    data = (body or "-ERR no reply\n").encode("utf-8")
    return f"Content-Type: api/response\nContent-Length: {len(data)}\n\n".encode() + data


def _framed(content_type: str, body: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    data = body.encode("utf-8")
    lines = [f"Content-Type: {content_type}"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    lines.append(f"Content-Length: {len(data)}")
    return ("\n".join(lines) + "\n\n").encode("utf-8") + data


def disconnect_notice(message: str = DISCONNECT_GOODBYE, session_uuid: str = "") -> bytes:
    """`text/disconnect-notice` (send_disconnect); outbound sockets name the session they controlled."""
    if session_uuid:
        headers = (("Controlled-Session-UUID", session_uuid), ("Content-Disposition", "disconnect"))
        return _framed("text/disconnect-notice", message, headers)
    return _framed("text/disconnect-notice", message)


def linger_notice(session_uuid: str, channel_name: str, linger_seconds: int) -> bytes:
    """The notice an outbound socket in `linger` gets when its channel hangs up."""
    return (
        "Content-Type: text/disconnect-notice\n"
        f"Controlled-Session-UUID: {session_uuid}\n"
        "Content-Disposition: linger\n"
        f"Channel-Name: {channel_name}\n"
        f"Linger-Time: {linger_seconds}\n"
        "Content-Length: 0\n\n"
    ).encode()


def rude_rejection(message: str = ACCESS_DENIED) -> bytes:
    """Sent, then the socket closed, to a client outside the ACL (or refused for a while)."""
    return _framed("text/rude-rejection", message)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line as the `log/data` frame carries it (switch_log_node_t)."""

    data: str
    level: int = LOG_DEBUG
    channel: int = 0  # 0 = SWITCH_CHANNEL_ID_LOG, 3 = SWITCH_CHANNEL_ID_SESSION
    file: str = ""
    func: str = ""
    line: int = 0
    user_data: str = ""  # the call's uuid for session lines


def log_frame(entry: LogLine) -> bytes:
    data = entry.data.encode("utf-8")
    head = (
        "Content-Type: log/data\n"
        f"Content-Length: {len(data)}\n"
        f"Log-Level: {entry.level}\n"
        f"Text-Channel: {entry.channel}\n"
        f"Log-File: {entry.file}\n"
        f"Log-Func: {entry.func}\n"
        f"Log-Line: {entry.line}\n"
        f"User-Data: {entry.user_data}\n\n"
    )
    return head.encode("utf-8") + data


def event_frame(serialized: str, fmt: EventFormat) -> bytes:
    """Frame a serialised event: Content-Length first, then Content-Type (as mod_event_socket writes)."""
    data = serialized.encode("utf-8")
    return f"Content-Length: {len(data)}\nContent-Type: text/event-{fmt.value}\n\n".encode() + data


# ---- event serialisation (switch_event.c) --------------------------------------------------------


def serialize_plain(headers: Iterable[tuple[str, str]], body: str = "") -> str:
    """switch_event_serialize(event, &str, SWITCH_TRUE): url-encoded values, `_undef_` for empty ones."""
    parts = [f"{name}: {url_encode(value) or '_undef_'}\n" for name, value in headers]
    if body:
        parts.append(f"Content-Length: {len(body.encode('utf-8'))}\n\n{body}")
    else:
        parts.append("\n")
    return "".join(parts)


def serialize_json(headers: Iterable[tuple[str, str]], body: str = "") -> str:
    """switch_event_serialize_json: one unformatted object, `_body` last when there is a body."""
    obj: dict[str, str] = dict(headers)
    if body:
        obj["Content-Length"] = str(len(body.encode("utf-8")))
        obj["_body"] = body
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def serialize_xml(headers: Iterable[tuple[str, str]], body: str = "") -> str:
    """switch_event_xmlize + switch_xml_toxml: url-encoded header texts, the body as XML text."""
    lines = ["<event>", "  <headers>"]
    lines.extend(f"    <{name}>{url_encode(value)}</{name}>" for name, value in headers)
    lines.append("  </headers>")
    if body:
        lines.append(f"  <Content-Length>{len(body.encode('utf-8'))}</Content-Length>")
        lines.append(f"  <body>{_xml_text(body)}</body>")
    lines.append("</event>")
    return "\n".join(lines) + "\n"


def serialize_event(headers: Iterable[tuple[str, str]], body: str, fmt: EventFormat) -> str:
    if fmt is EventFormat.JSON:
        return serialize_json(headers, body)
    if fmt is EventFormat.XML:
        return serialize_xml(headers, body)
    return serialize_plain(headers, body)


# ---- the client's side -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventData:
    """An event as a client reads it back: decoded headers in order, and the body."""

    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


def parse_plain_event(text: str) -> EventData:
    """Read back serialize_plain(): url-decoded header lines, then the body after Content-Length."""
    headers: dict[str, str] = {}
    head, sep, rest = text.partition("\n\n")
    for line in head.split("\n"):
        pair = _split_header(line.rstrip("\r"))
        if pair is not None:
            headers[pair[0]] = url_decode(pair[1])
    body = ""
    length = headers.pop("Content-Length", "")
    if sep and length.isdigit():
        body = rest.encode("utf-8")[: int(length)].decode("utf-8", errors="replace")
    return EventData(headers, body)


def parse_json_event(text: str) -> EventData:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise EslWireError("a json event is not an object")
    body = str(obj.pop("_body", ""))
    if body:
        obj.pop("Content-Length", None)
    return EventData({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}, body)


def parse_xml_event(text: str) -> EventData:
    from lxml import etree

    root = etree.fromstring(text.encode("utf-8"))
    headers: dict[str, str] = {}
    for element in root.findall("headers/*"):
        headers[str(element.tag)] = url_decode(element.text or "")
    body_element = root.find("body")
    return EventData(headers, body_element.text or "" if body_element is not None else "")


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame the switch sent: its header lines as written (values still encoded) and its body."""

    headers: tuple[tuple[str, str], ...]
    body: str = ""

    def get(self, name: str, default: str = "") -> str:
        """A header's url-decoded value (case-insensitive name)."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return url_decode(value)
        return default

    @property
    def content_type(self) -> str:
        return self.get("Content-Type")

    @property
    def reply_text(self) -> str:
        return self.get("Reply-Text").rstrip("\n")

    @property
    def ok(self) -> bool:
        """A command/reply that begins `+OK`, or an api/response that does not begin `-ERR`/`-USAGE`."""
        if self.content_type == "api/response":
            return not self.body.startswith(("-ERR", "-USAGE"))
        return self.reply_text.startswith("+OK")

    def event(self) -> EventData:
        """The event a `text/event-*` frame carries (or the headers of an outbound `connect` reply)."""
        kind = self.content_type
        if kind == "text/event-plain":
            return parse_plain_event(self.body)
        if kind == "text/event-json":
            return parse_json_event(self.body)
        if kind == "text/event-xml":
            return parse_xml_event(self.body)
        return EventData({k: url_decode(v) for k, v in self.headers}, self.body)

    @classmethod
    def parse(cls, data: bytes) -> Frame:
        reader = FrameReader()
        reader.receive_data(data)
        frame = reader.next_frame()
        if frame is None:
            raise EslWireError("incomplete frame")
        return frame

    def __bytes__(self) -> bytes:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers) + "\n"
        return head.encode("utf-8") + self.body.encode("utf-8")


class FrameReader:
    """A client's side of the framing: bytes in, `Frame`s out (esl.c esl_recv_event)."""

    def __init__(self, max_head: int = 1 << 20, max_body: int = 64 << 20) -> None:
        self._blocks = _BlockReader(max_head, max_body)

    def receive_data(self, data: bytes) -> None:
        self._blocks.receive_data(data)

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None until more bytes arrive."""
        block = self._blocks.next_block()
        if block is None:
            return None
        lines, body = block
        headers = tuple(pair for pair in map(_split_header, lines) if pair is not None)
        return Frame(headers, body.decode("utf-8", errors="replace"))


__all__ = [
    "ACCESS_DENIED",
    "DISCONNECT_GOODBYE",
    "LOG_LEVELS",
    "BadContentLength",
    "BodyTooLarge",
    "Command",
    "CommandReader",
    "EslWireError",
    "EventData",
    "EventFormat",
    "Frame",
    "FrameReader",
    "GarbageBytes",
    "LineTooLong",
    "LogLine",
    "api_response",
    "auth_request",
    "command_reply",
    "disconnect_notice",
    "event_frame",
    "linger_notice",
    "log_frame",
    "log_level_from_python",
    "log_level_from_string",
    "parse_json_event",
    "parse_plain_event",
    "parse_xml_event",
    "rude_rejection",
    "serialize_event",
    "serialize_json",
    "serialize_plain",
    "serialize_xml",
    "url_decode",
    "url_encode",
]
