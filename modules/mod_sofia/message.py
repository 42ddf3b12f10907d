"""SIP requests and responses: parse, serialize, typed header access, builders.

RFC 3261 7 (message format), 8.1.1 (what a request carries), 8.2.6 (building
responses) and 18.3 (framing with Content-Length on stream transports).

`parse_message(data)` splits the head into header lines without interpreting
their values; typed accessors (`msg.cseq`, `msg.vias`, ...) parse on first use
and cache.  Messages are immutable: `with_header`, `replace_header`, ... return
copies.  `bytes(msg)` writes the received lines unchanged, so a parsed message
round-trips byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from .framing import FramingError, StreamFramer
from .headers import (
    AuthHeader,
    CSeq,
    Header,
    Via,
    header_key,
    new_header,
    parse_uint,
    split_list,
)
from .parse import (
    frame_body,
    frame_lengths,
    parse_header_lines,
    parse_headers,
    parse_start_line,
    split_head,
    split_lines,
)
from .uri import URI, NameAddr, ParseError

T = TypeVar("T")

_REASONS = (
    "100 Trying|180 Ringing|181 Call Is Being Forwarded|182 Queued|183 Session Progress|"
    "199 Early Dialog Terminated|200 OK|202 Accepted|204 No Notification|300 Multiple Choices|"
    "301 Moved Permanently|302 Moved Temporarily|305 Use Proxy|380 Alternative Service|400 Bad Request|"
    "401 Unauthorized|402 Payment Required|403 Forbidden|404 Not Found|405 Method Not Allowed|"
    "406 Not Acceptable|407 Proxy Authentication Required|408 Request Timeout|410 Gone|"
    "412 Conditional Request Failed|413 Request Entity Too Large|414 Request-URI Too Long|"
    "415 Unsupported Media Type|416 Unsupported URI Scheme|420 Bad Extension|421 Extension Required|"
    "422 Session Interval Too Small|423 Interval Too Brief|480 Temporarily Unavailable|"
    "481 Call/Transaction Does Not Exist|482 Loop Detected|483 Too Many Hops|484 Address Incomplete|"
    "485 Ambiguous|486 Busy Here|487 Request Terminated|488 Not Acceptable Here|489 Bad Event|"
    "491 Request Pending|493 Undecipherable|500 Server Internal Error|501 Not Implemented|502 Bad Gateway|"
    "503 Service Unavailable|504 Server Time-out|505 Version Not Supported|513 Message Too Large|"
    "600 Busy Everywhere|603 Decline|604 Does Not Exist Anywhere|606 Not Acceptable|"
)
REASON_PHRASES: dict[int, str] = {int(item[:3]): item[4:] for item in _REASONS.split("|") if item}


def reason_phrase(status: int) -> str:
    return REASON_PHRASES.get(status, "Unknown")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Message:
    """What requests and responses share: header lines, a body, typed accessors."""

    headers: tuple[Header, ...] = ()
    body: bytes = b""
    version: str = "SIP/2.0"
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @staticmethod
    def parse(data: bytes) -> Request | Response:
        return parse_message(data)

    # -- generic header access (names are case-insensitive, compact forms accepted) --
    def _index(self) -> dict[str, list[Header]]:
        try:
            index: dict[str, list[Header]] = self._cache["#index"]
        except KeyError:
            index = {}
            for header in self.headers:
                index.setdefault(header.key, []).append(header)
            self._cache["#index"] = index
        return index

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first `name` header line."""
        found = self._index().get(header_key(name))
        return found[0].value if found else default

    def headers_named(self, key: str) -> list[Header]:
        """The header lines of lookup key `key` (lower case, compact forms expanded), in order."""
        return self._index().get(key, [])

    def _first(self, key: str) -> str | None:
        """`get` for a lookup key already in canonical form (the typed accessors' own)."""
        # Some twenty calls a message: the built index is read without a call to `_index`.
        index: dict[str, list[Header]] | None = self._cache.get("#index")
        found = (index if index is not None else self._index()).get(key)
        return found[0].value if found else None

    def get_all(self, name: str) -> list[str]:
        """The values of every `name` header line, unsplit."""
        return [h.value for h in self._index().get(header_key(name), ())]

    def values(self, name: str) -> list[str]:
        """Every comma-separated value of `name`, over all its lines (RFC 3261 7.3.1)."""
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(split_list(value))
        return out

    def count(self, name: str) -> int:
        return len(self._index().get(header_key(name), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._index()

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def _cached(self, key: str, compute: Callable[[], T]) -> T:
        try:
            value: T = self._cache[key]
            return value
        except KeyError:
            value = compute()
            self._cache[key] = value
            return value

    def _required(self, name: str, key: str | None = None) -> str:
        value = self._first(key or header_key(name))
        if value is None:
            raise ParseError(f"Missing {name} header")
        return value

    # -- typed accessors --
    @property
    def vias(self) -> list[Via]:
        def compute() -> list[Via]:
            values = self.values("via")
            if any(not v for v in values):
                raise ParseError("empty Via value")
            top: Via | None = self._cache.get("topvia")
            if top is not None:
                return [top, *(Via.parse(v) for v in values[1:])]
            return [Via.parse(v) for v in values]

        return self._cached("via", compute)

    @property
    def top_via(self) -> Via:
        try:
            found: Via = self._cache["topvia"]
        except KeyError:
            vias: list[Via] | None = self._cache.get("via")
            found = vias[0] if vias else Via.parse(split_list(self._required("Via", "via"))[0])
            self._cache["topvia"] = found
        return found

    # The accessors below are on every request's path: each looks in the cache
    # first, without building a closure.
    @property
    def from_addr(self) -> NameAddr:
        try:
            found: NameAddr = self._cache["from"]
        except KeyError:
            found = self._cache["from"] = NameAddr.parse(self._required("From", "from"))
        return found

    @property
    def to_addr(self) -> NameAddr:
        try:
            found: NameAddr = self._cache["to"]
        except KeyError:
            found = self._cache["to"] = NameAddr.parse(self._required("To", "to"))
        return found

    @property
    def from_tag(self) -> str | None:
        return self.from_addr.tag

    @property
    def to_tag(self) -> str | None:
        return self.to_addr.tag

    @property
    def call_id(self) -> str:
        try:
            found: str = self._cache["callid"]
        except KeyError:
            found = self._cache["callid"] = self._required("Call-ID", "call-id")
        return found

    @property
    def cseq(self) -> CSeq:
        try:
            found: CSeq = self._cache["cseq"]
        except KeyError:
            found = self._cache["cseq"] = CSeq.parse(self._required("CSeq", "cseq"))
        return found

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; empty for `Contact: *` (see `contact_star`)."""

        def compute() -> list[NameAddr]:
            values = self.values("contact")
            if values == ["*"]:
                return []
            if any(not v for v in values):
                raise ParseError("empty Contact value")
            return [NameAddr.parse(v) for v in values]

        return self._cached("contact", compute)

    @property
    def contact_star(self) -> bool:
        return self.values("contact") == ["*"]

    @property
    def routes(self) -> list[NameAddr]:
        return self._cached("route", lambda: [NameAddr.parse(v) for v in self.values("route")])

    @property
    def record_routes(self) -> list[NameAddr]:
        return self._cached("rr", lambda: [NameAddr.parse(v) for v in self.values("record-route")])

    @property
    def max_forwards(self) -> int | None:
        value = self._first("max-forwards")
        return None if value is None else parse_uint(value, "Max-Forwards")

    @property
    def content_length(self) -> int | None:
        value = self._first("content-length")
        return None if value is None else parse_uint(value, "Content-Length")

    @property
    def expires(self) -> int | None:
        value = self._first("expires")
        return None if value is None else parse_uint(value, "Expires", 2**32 - 1)

    @property
    def content_type(self) -> str | None:
        """The media type, lower case, without parameters (`application/sdp`)."""
        value = self._first("content-type")
        return None if value is None else value.split(";", 1)[0].strip().lower()

    def auth_headers(self, name: str) -> list[AuthHeader]:
        """Parsed WWW-Authenticate / Proxy-Authenticate / (Proxy-)Authorization lines."""
        return [AuthHeader.parse(v) for v in self.get_all(name)]

    @property
    def authorization(self) -> AuthHeader | None:
        found = self.auth_headers("Authorization")
        return found[0] if found else None

    @property
    def www_authenticate(self) -> AuthHeader | None:
        found = self.auth_headers("WWW-Authenticate")
        return found[0] if found else None

    # -- copies with changes --
    def _with_headers(self: M, headers: Iterable[Header]) -> M:
        return replace(self, headers=tuple(headers))

    def with_header(self: M, name: str, value: str, *, first: bool = False) -> M:
        """Add a header line at the end (or before the others with `first`)."""
        new = Header.make(name, value)
        return self._with_headers((new, *self.headers) if first else (*self.headers, new))

    def replace_header(self: M, name: str, value: str) -> M:
        """Set a header to one line, at the place of its first line (or at the end)."""
        key = header_key(name)
        out: list[Header] = []
        placed = False
        for header in self.headers:
            if header.key != key:
                out.append(header)
            elif not placed:
                out.append(Header.make(name, value))
                placed = True
        if not placed:
            out.append(Header.make(name, value))
        return self._with_headers(out)

    def without_header(self: M, name: str) -> M:
        key = header_key(name)
        return self._with_headers(h for h in self.headers if h.key != key)

    def with_body(self: M, body: bytes, content_type: str | None = None) -> M:
        """Set the body, its Content-Length and (if given) Content-Type."""
        msg = replace(self, body=body)
        if content_type is not None:
            msg = msg.replace_header("Content-Type", content_type)
        elif not body:
            msg = msg.without_header("Content-Type")
        return msg.replace_header("Content-Length", str(len(body)))

    def _head_lines(self) -> list[str]:
        return [f"{h.name}: {h.value}" if h.raw is None else h.raw for h in self.headers]

    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        lines = [self.start_line()]
        for h in self.headers:
            lines.append(f"{h.name}: {h.value}" if h.raw is None else h.raw)
        lines += ("", "")
        return "\r\n".join(lines).encode("utf-8", "surrogateescape") + self.body


M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Request(Message):
    """A SIP request.  `uri` is the Request-URI text; `ruri` is it parsed."""

    method: str
    uri: str

    @staticmethod
    def parse(data: bytes) -> Request:
        msg = parse_message(data)
        if not isinstance(msg, Request):
            raise ParseError("expected a request, got a response")
        return msg

    @property
    def ruri(self) -> URI:
        try:
            found: URI = self._cache["ruri"]
        except KeyError:
            found = self._cache["ruri"] = URI.parse(self.uri)
        return found

    def start_line(self) -> str:
        return f"{self.method} {self.uri} {self.version}"

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Response(Message):
    """A SIP response."""

    status: int
    reason: str = ""

    @staticmethod
    def parse(data: bytes) -> Response:
        msg = parse_message(data)
        if not isinstance(msg, Response):
            raise ParseError("expected a response, got a request")
        return msg

    @property
    def is_provisional(self) -> bool:
        return self.status < 200

    @property
    def is_final(self) -> bool:
        return self.status >= 200

    def start_line(self) -> str:
        return f"{self.version} {self.status} {self.reason}"

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


# --- construction on the hot path ----------------------------------------------------------------


# `Request(...)` / `Response(...)` through the frozen dataclass's `__init__` cost some 3 us
# each (keyword handling, the cache's default factory, `object.__setattr__` per field); the
# parser, the validator and the responder build a few every message.  These set the same
# slots through their descriptors, which is what the `__init__` does in the end.
def _slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    descriptor: Any = cls.__dict__[name]  # the member descriptor `__slots__` made
    setter: Callable[[object, object], None] = descriptor.__set__
    return setter


_SET_HEADERS = _slot_setter(Message, "headers")
_SET_BODY = _slot_setter(Message, "body")
_SET_VERSION = _slot_setter(Message, "version")
_SET_CACHE = _slot_setter(Message, "_cache")
_SET_METHOD = _slot_setter(Request, "method")
_SET_URI = _slot_setter(Request, "uri")
_SET_STATUS = _slot_setter(Response, "status")
_SET_REASON = _slot_setter(Response, "reason")
_NEW = object.__new__


def new_request(method: str, uri: str, version: str, headers: tuple[Header, ...], body: bytes) -> Request:
    """`Request(method=..., uri=..., version=..., headers=..., body=...)`, quicker."""
    request: Request = _NEW(Request)
    _SET_HEADERS(request, headers)
    _SET_BODY(request, body)
    _SET_VERSION(request, version)
    _SET_CACHE(request, {})
    _SET_METHOD(request, method)
    _SET_URI(request, uri)
    return request


def new_response(
    status: int, reason: str, version: str, headers: tuple[Header, ...], body: bytes
) -> Response:
    """`Response(status=..., reason=..., version=..., headers=..., body=...)`, quicker."""
    response: Response = _NEW(Response)
    _SET_HEADERS(response, headers)
    _SET_BODY(response, body)
    _SET_VERSION(response, version)
    _SET_CACHE(response, {})
    _SET_STATUS(response, status)
    _SET_REASON(response, reason)
    return response


def restamp_headers(request: Request, headers: tuple[Header, ...]) -> None:
    """Replace the header lines of a request that nobody else holds yet (the stack's, just
    validated): the Via stamp of RFC 3261 18.2.1 without a copy of the whole request."""
    _SET_HEADERS(request, headers)


# --- parsing (the line-level work is in parse.py) -----------------------------------------


def parse_message(data: bytes, *, datagram: bool = True) -> Request | Response:
    """Parse one message (RFC 3261 7).  The body is framed by Content-Length; on a
    datagram a missing Content-Length means "to the end" and trailing octets past
    it are ignored (RFC 3261 18.3)."""
    split = split_head(data)
    if split is None:
        raise ParseError("no empty line after the headers")
    head_bytes, rest = split
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines = split_lines(head)
    start = parse_start_line(lines[0])
    parsed, index = parse_headers(lines[1:])
    headers = tuple(parsed)
    if index is None:
        body = frame_body(headers, rest, datagram)
    else:
        body = frame_lengths(index.get("content-length"), rest, datagram)
    msg: Request | Response
    if isinstance(start[0], int):
        msg = new_response(start[0], start[1], start[2], headers, body)
    else:
        msg = new_request(start[0], start[1], start[2], headers, body)
    if index is not None:
        msg._cache["#index"] = index
    return msg


# --- building (RFC 3261 8.1.1, 8.2.6) ----------------------------------------------------------


class _RandomPool:
    """Cryptographically random bytes (os.urandom) drawn 4 KiB at a time: a tag or
    branch per message would otherwise cost a system call each."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data = b""
        self._pos = 0
        # A forked child must not hand out the parent's bytes again.
        os.register_at_fork(after_in_child=self._drop)

    def _drop(self) -> None:
        self._data, self._pos = b"", 0

    def hex(self, nbytes: int) -> str:
        end = self._pos + nbytes
        if end > len(self._data):
            self._data, self._pos, end = os.urandom(self.size), 0, nbytes
        out = self._data[self._pos : end].hex()
        self._pos = end
        return out


_RANDOM = _RandomPool()


def new_branch() -> str:
    """A fresh RFC 3261 branch (8.1.1.7): the magic cookie and 80 random bits."""
    return "z9hG4bK" + _RANDOM.hex(10)


def new_tag() -> str:
    """A fresh From/To tag (19.3: cryptographically random, here 64 bits)."""
    return _RANDOM.hex(8)


def new_call_id(host: str = "") -> str:
    return _RANDOM.hex(12) + (f"@{host}" if host else "")


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to `request` (RFC 3261 8.2.6.2): copy Via (all, in order),
    From, Call-ID and CSeq; copy To and add `to_tag` unless it already has one.
    Raw values are copied, so this also works for requests with malformed values."""
    # The request's index holds each name's lines in arrival order: five look-ups
    # instead of a pass over every header line.
    index = request._index()
    out: list[Header] = []
    tagged = to_tag is not None and status != 100
    for key in _RESPONSE_ORDER:
        found = index.get(key)
        if found is None:
            continue
        for header in found:
            if key == "to" and tagged:
                assert to_tag is not None
                out.append(new_header((key, header.name, _add_to_tag(request, header.value, to_tag), None)))
            elif header.raw is None:
                out.append(header)  # built, not received (a stamped Via): written as it is
            else:
                out.append(new_header((key, header.name, header.value, None)))
    for name, value in headers:
        out.append(Header.make(name, value))
    _add_body_headers(out, body, content_type)
    return new_response(
        status, reason if reason is not None else reason_phrase(status), "SIP/2.0", tuple(out), body
    )


def _add_body_headers(out: list[Header], body: bytes, content_type: str | None) -> None:
    if content_type is not None:
        out.append(new_header(("content-type", "Content-Type", content_type, None)))
    out.append(new_header(("content-length", "Content-Length", str(len(body)), None)))


_RESPONSE_ORDER = ("via", "from", "to", "call-id", "cseq")


def _add_to_tag(request: Request, value: str, tag: str) -> str:
    try:
        if request.to_addr.tag is not None:
            return value
    except ParseError:
        return value
    return f"{value};tag={tag}"


def make_request(
    method: str,
    uri: URI | str,
    *,
    from_addr: NameAddr | str,
    to_addr: NameAddr | str,
    call_id: str,
    cseq: int,
    via: Via | str,
    contact: NameAddr | str | None = None,
    routes: Iterable[NameAddr | str] = (),
    max_forwards: int = 70,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Request:
    """Build a request with the headers RFC 3261 8.1.1 requires, in the usual order."""
    lines = [Header.make("Via", str(via)), Header.make("Max-Forwards", str(max_forwards))]
    lines += [Header.make("Route", str(route)) for route in routes]
    lines += [
        Header.make("From", str(from_addr)),
        Header.make("To", str(to_addr)),
        Header.make("Call-ID", call_id),
        Header.make("CSeq", f"{cseq} {method}"),
    ]
    if contact is not None:
        lines.append(Header.make("Contact", str(contact)))
    lines += [Header.make(name, value) for name, value in headers]
    _add_body_headers(lines, body, content_type)
    return Request(method=method, uri=str(uri), headers=tuple(lines), body=body)


__all__ = [
    "FramingError",
    "Message",
    "Request",
    "Response",
    "StreamFramer",
    "frame_body",
    "frame_lengths",
    "make_request",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_request",
    "new_response",
    "new_tag",
    "parse_header_lines",
    "parse_headers",
    "parse_message",
    "parse_start_line",
    "reason_phrase",
    "restamp_headers",
    "split_head",
    "split_lines",
]
