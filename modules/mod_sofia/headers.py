"""SIP header fields: names, compact forms, list splitting and typed values.

RFC 3261 7.3 (header field format, compact forms 7.3.3, comma-separated lists
7.3.1), 20 (the header fields), 8.1.1.7 and 18.2.1 (Via, `received`), RFC 3581
(`rport`), RFC 2617 / 7616 (the authentication headers' `auth-param` lists).

A `Header` keeps the line as received (`raw`) so a parsed message serializes
byte for byte; `value` is the unfolded, trimmed text that accessors parse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import partial
from typing import NamedTuple, cast

from .uri import (
    ParamList,
    ParseError,
    format_params,
    get_param,
    has_param,
    is_token,
    parse_params,
    parse_quoted,
    quote_string,
    set_param,
)


def _words(text: str) -> list[str]:
    return text.split()


# RFC 3261 7.3.3 and the IANA registry of compact forms.
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Canonical spellings for serialization; unknown names are title-cased per word.
_CANONICAL: dict[str, str] = {
    name.lower(): name
    for name in _words(
        """
    Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events
    Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition
    Content-Encoding Content-Language Content-Length Content-Type CSeq Date Error-Info Event
    Expires From Identity Identity-Info In-Reply-To Max-Forwards Min-Expires Min-SE MIME-Version
    Organization P-Asserted-Identity P-Preferred-Identity Path Priority Privacy Proxy-Authenticate
    Proxy-Authorization Proxy-Require RAck Reason Record-Route Refer-To Referred-By Reject-Contact
    Remote-Party-ID Replaces Reply-To Request-Disposition Require Retry-After Route RSeq Server
    Service-Route Session-Expires SIP-ETag SIP-If-Match Subject Subscription-State Supported
    Timestamp To Unsupported User-Agent Via Warning WWW-Authenticate
    """
    )
}

# Headers whose values are comma-separated lists (RFC 3261 7.3.1).  Others (Date,
# WWW-Authenticate, ...) contain commas that do not separate values.
LIST_HEADERS = frozenset(
    _words(
        """
    accept accept-contact accept-encoding accept-language alert-info allow allow-events call-info
    contact content-encoding content-language error-info in-reply-to path proxy-require reason
    record-route reject-contact require route service-route supported unsupported via warning
    p-asserted-identity p-preferred-identity
    """
    )
)

# RFC 3261 20: these may appear once only (RFC 4475 3.3.8).
SINGLE_HEADERS = frozenset(
    {"call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires"}
)


_KEY_MEMO: dict[str, str] = {}


def header_key(name: str) -> str:
    """The lookup key of a header name: lower case, compact form expanded."""
    key = _KEY_MEMO.get(name)
    if key is None:
        low = name.lower()
        key = COMPACT_FORMS.get(low, low)
        if len(_KEY_MEMO) < 4096:  # bounded: names come from the network
            _KEY_MEMO[name] = key
    return key


def canonical_name(name: str) -> str:
    """How we spell a header when we write it (`call-id` -> `Call-ID`, `v` -> `Via`)."""
    found = _SPELLING_MEMO.get(name)
    if found is None:
        key = header_key(name)
        found = _CANONICAL.get(key) or "-".join(part[:1].upper() + part[1:] for part in key.split("-"))
        if len(_SPELLING_MEMO) < 4096:  # bounded: names may come from the network
            _SPELLING_MEMO[name] = found
    return found


_SPELLING_MEMO: dict[str, str] = {}


class Header(NamedTuple):
    """One header line: lookup key, name as written, unfolded value, raw line (or None if built)."""

    key: str
    name: str
    value: str
    raw: str | None = None

    @staticmethod
    def make(name: str, value: str) -> Header:
        try:
            key, spelling = _MADE_NAMES[name]
        except KeyError:
            key, spelling = header_key(name), canonical_name(name)
            if len(_MADE_NAMES) < 4096:  # bounded: names may come from the network
                _MADE_NAMES[name] = (key, spelling)
        return new_header((key, spelling, value, None))

    def line(self) -> str:
        return self.raw if self.raw is not None else f"{self.name}: {self.value}"


# `Header(key, name, value, raw)` without the Python-level `__new__` a NamedTuple has:
# parsing and answering build some twenty headers a message, and this halves their cost.
new_header = cast(Callable[[tuple[str, str, str, str | None]], Header], partial(tuple.__new__, Header))


# (lookup key, spelling) of the names headers are built with: the same few each time.
_MADE_NAMES: dict[str, tuple[str, str]] = {}


def split_list(value: str) -> list[str]:
    """Split a header value on commas outside quoted strings and angle brackets.

    Empty elements are kept (as "") so that callers can reject them where the
    grammar forbids them (RFC 4475 3.1.2.1).
    """
    if "," not in value:
        return [value.strip()]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return out


# --- Via (RFC 3261 20.42, 18.2.1; RFC 3581) --------------------------------------------------

MAGIC_COOKIE = "z9hG4bK"


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: `SIP/2.0/UDP host:port;branch=...;received=...;rport`."""

    transport: str
    host: str
    port: int | None = None
    params: ParamList = ()
    protocol: str = "SIP/2.0"

    @staticmethod
    def parse(text: str) -> Via:
        # The part before the parameters repeats from one request to the next
        # (only the branch changes), so its parse is remembered.
        semi = text.find(";")
        head_text = text if semi < 0 else text[:semi]
        head = _VIA_HEADS.get(head_text)
        if head is None:
            head = _parse_via_head(head_text, text)
            if len(head_text) <= 200:  # bounded: values come from the network
                if len(_VIA_HEADS) >= 2048:
                    _VIA_HEADS.clear()
                _VIA_HEADS[head_text] = head
        protocol, transport, host, port = head
        params = parse_params(text, semi) if semi >= 0 else ()
        return _new_via(transport, host, port, params, protocol)

    @property
    def branch(self) -> str | None:
        return get_param(self.params, "branch")

    @property
    def received(self) -> str | None:
        return get_param(self.params, "received")

    @property
    def rport(self) -> int | None:
        """The rport value filled in by a server; None when absent or still empty."""
        value = get_param(self.params, "rport")
        return int(value) if value and value.isdigit() else None

    @property
    def wants_rport(self) -> bool:
        return has_param(self.params, "rport")

    @property
    def maddr(self) -> str | None:
        return get_param(self.params, "maddr")

    @property
    def sent_by(self) -> tuple[str, int | None]:
        return self.host.lower(), self.port

    @property
    def has_cookie(self) -> bool:
        """RFC 3261 8.1.1.7: an RFC 3261 client's branch starts with the magic cookie."""
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE)

    def with_param(self, name: str, value: str | None = None) -> Via:
        return Via(self.transport, self.host, self.port, set_param(self.params, name, value), self.protocol)

    def stamped(self, received: str, rport: int | None) -> Via:
        """With `received` set (RFC 3261 18.2.1) and, when given, `rport` filled in (RFC 3581 4):
        `with_param("received", ...).with_param("rport", ...)` in one pass over the params."""
        params: list[tuple[str, str | None]] = []
        seen = had_rport = False
        for key, value in self.params:
            low = key.lower()
            if low == "received":
                params.append((key, received))
                seen = True
            elif low == "rport":
                had_rport = True
                params.append((key, value if rport is None else str(rport)))
            else:
                params.append((key, value))
        if not seen:
            params.append(("received", received))
        if rport is not None and not had_rport:
            params.append(("rport", str(rport)))
        return _new_via(self.transport, self.host, self.port, tuple(params), self.protocol)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.protocol}/{self.transport} {self.host}{port}{format_params(self.params)}"


# Every request's top Via is built twice (parsed, then stamped): through the slot
# descriptors instead of the frozen dataclass's `__init__`, about half the time
# (as `message.new_request` does for requests).
_SET_VIA = tuple(Via.__dict__[f.name].__set__ for f in fields(Via))


def _new_via(transport: str, host: str, port: int | None, params: ParamList, protocol: str) -> Via:
    """`Via(transport, host, port, params, protocol)`, quicker."""
    via: Via = object.__new__(Via)
    set_transport, set_host, set_port, set_params, set_protocol = _SET_VIA
    set_transport(via, transport)
    set_host(via, host)
    set_port(via, port)
    set_params(via, params)
    set_protocol(via, protocol)
    return via


_VIA_HEADS: dict[str, tuple[str, str, str, int | None]] = {}


def _parse_via_head(head: str, text: str) -> tuple[str, str, str, int | None]:
    """(protocol, transport, host, port) of the part of a Via value before its parameters."""
    # sent-protocol = name SLASH version SLASH transport, LWS allowed around '/'.
    parts = head.split("/", 2)
    if len(parts) != 3:
        raise ParseError(f"invalid Via {text!r}")
    name, version = parts[0].strip(), parts[1].strip()
    rest = parts[2].lstrip()
    i = 0
    n = len(rest)
    while i < n and rest[i] not in " \t":
        i += 1
    transport = rest[:i]
    if not (is_token(name) and is_token(version) and is_token(transport)):
        raise ParseError(f"invalid Via protocol in {text!r}")
    host, port = _split_sent_by(rest[i:].strip(), text)
    return f"{name.upper()}/{version}", transport.upper(), host, port


def _split_sent_by(hostport: str, text: str) -> tuple[str, int | None]:
    if not hostport:
        raise ParseError(f"Via without sent-by: {text!r}")
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ParseError(f"invalid IPv6 sent-by in Via {text!r}")
        host, tail = hostport[: end + 1], hostport[end + 1 :].strip()
    else:
        host, colon, port_text = hostport.partition(":")
        tail = ":" + port_text if colon else ""
        host = host.strip()
    if not host or any(ch in host for ch in ' \t,;"<>'):
        raise ParseError(f"invalid sent-by host in Via {text!r}")
    if not tail:
        return host, None
    port_text = tail[1:].strip()
    if (
        not tail.startswith(":")
        or not port_text.isdigit()
        or not port_text.isascii()
        or int(port_text) > 65535
    ):
        raise ParseError(f"invalid sent-by port in Via {text!r}")
    return host, int(port_text)


# --- CSeq (RFC 3261 20.16) -------------------------------------------------------------------

MAX_CSEQ = 2**32 - 1


@dataclass(frozen=True, slots=True)
class CSeq:
    number: int
    method: str

    @staticmethod
    def parse(text: str) -> CSeq:
        found = _CSEQS.get(text)  # "1 REGISTER", "2 REGISTER": the same few texts again and again
        if found is not None:
            return found
        parsed = CSeq._parse(text)
        if len(_CSEQS) >= 2048:  # bounded: texts come from the network
            _CSEQS.clear()
        _CSEQS[text] = parsed
        return parsed

    @staticmethod
    def _parse(text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii() or not is_token(parts[1]):
            raise ParseError(f"invalid CSeq {text!r}")
        number = int(parts[0])
        # RFC 3261 8.1.1.5: the number MUST be expressible as a 32-bit unsigned integer.
        if number > MAX_CSEQ:
            raise ParseError(f"CSeq number out of range: {parts[0]}")
        return CSeq(number, parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQS: dict[str, CSeq] = {}


def parse_uint(text: str, what: str, limit: int | None = None) -> int:
    """A 1*DIGIT header value; `limit` clamps huge values (RFC 3261 20.19: Expires)."""
    text = text.strip()
    if not text or not text.isdigit() or not text.isascii():
        raise ParseError(f"invalid {what} {text!r}")
    value = int(text)
    return min(value, limit) if limit is not None else value


# --- WWW-Authenticate / Authorization (RFC 2617 / 7616 / 3261 25.1) --------------------------


@dataclass(frozen=True, slots=True)
class AuthHeader:
    """A challenge or credentials: a scheme and its auth-params (values unquoted)."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    @staticmethod
    def parse(text: str) -> AuthHeader:
        text = text.strip()
        space = 0
        while space < len(text) and text[space] not in " \t":
            space += 1
        scheme = text[:space]
        if not is_token(scheme):
            raise ParseError(f"invalid authentication scheme in {text!r}")
        params: list[tuple[str, str]] = []
        for item in _split_auth_params(text[space:]):
            name, eq, value = item.partition("=")
            name = name.strip()
            value = value.strip()
            if not eq or not is_token(name):
                raise ParseError(f"invalid auth-param {item!r}")
            if value.startswith('"'):
                unquoted, end = parse_quoted(value, 0)
                if end != len(value):
                    raise ParseError(f"junk after quoted auth-param {item!r}")
                value = unquoted
            elif not is_token(value):
                raise ParseError(f"invalid auth-param value {item!r}")
            params.append((name.lower(), value))
        return AuthHeader(scheme, tuple(params))

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.params:
            if key == name:
                return value
        return default

    def as_dict(self) -> dict[str, str]:
        """The params by (lower-case) name; the first of a repeated name wins, as in `get`."""
        out: dict[str, str] = {}
        for key, value in self.params:
            out.setdefault(key, value)
        return out

    def format(self, quoted: frozenset[str]) -> str:
        """Render with the params named in `quoted` as quoted-strings, the rest as tokens."""
        items = [f"{k}={quote_string(v)}" if k in quoted else f"{k}={v}" for k, v in self.params]
        return f"{self.scheme} " + ", ".join(items)


def _split_auth_params(text: str) -> list[str]:
    items = [item for item in split_list(text)]
    if items == [""]:
        return []
    if any(not item for item in items):
        raise ParseError(f"empty auth-param in {text!r}")
    return items
