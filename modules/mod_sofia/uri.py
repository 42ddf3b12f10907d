"""SIP, SIPS and tel URIs, name-addr / addr-spec, and header parameters.

RFC 3261 19.1 (SIP and SIPS URI components), 25.1 (the ABNF), 20.10 (name-addr
versus addr-spec), 7.3.1 (header field parameters) and RFC 3966 (tel URIs).
Components are stored unescaped (RFC 3261 19.1.4: "%61lice" is "alice"); `str()`
escapes again with the minimal set the grammar needs.  Unknown schemes keep their
text as `opaque` (RFC 3261 25.1 absoluteURI).

This file also holds the package's error root, since every other SIP file
imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TypeVar
from urllib.parse import quote, unquote

from switchcore.errors import SwitchError

T = TypeVar("T")


class SipError(SwitchError):
    """Root of every error the SIP stack raises on purpose."""


class ParseError(SipError):
    """A received SIP element is malformed; `status` is the response it deserves."""

    def __init__(self, reason: str, status: int = 400) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


# RFC 3261 25.1 character classes.  Each pattern is a flat class with an escape
# alternative, so matching is linear (no nested quantifiers).
_ALNUM = "A-Za-z0-9"
_MARK = r"\-_.!~*'()"
_UNRESERVED = _ALNUM + _MARK
_ESC = "%[0-9A-Fa-f]{2}"
_USER_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,;?/]|{_ESC})+")
_PASSWORD_RE = re.compile(f"(?:[{_UNRESERVED}&=+$,]|{_ESC})*")
_PARAMCHAR_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/:&+$]|{_ESC})+")
_HNAME_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})+")
_HVALUE_RE = re.compile(rf"(?:[{_UNRESERVED}\[\]/?:+$]|{_ESC})*")
_HOST_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_OPAQUE_RE = re.compile(r"[^\x00-\x20\x7f<>\"]+")
_TEL_RE = re.compile(r"[0-9A-Fa-f*#+().\-]+")
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]:]+")

# Minimal escaping for str(): everything the component grammar does not allow.
_SAFE_USER = "-_.!~*'()&=+$,;?/"
_SAFE_PASSWORD = "-_.!~*'()&=+$,"
_SAFE_PARAM = "-_.!~*'()[]/:&+$"
_SAFE_HEADER = "-_.!~*'()[]/?:+$"

ParamList = tuple[tuple[str, str | None], ...]

# Parsed values are immutable, and a peer sends the same URIs and addresses again
# and again (every refresh of a registration, every request of a dialog), so
# parses of short texts are remembered.  Only successes are kept (a malformed
# text raises every time) and the memo is bounded: texts come from the network.
_MEMO_LIMIT = 2048
_MEMO_MAX_TEXT = 200


def _remember(memo: dict[str, T], text: str, value: T) -> T:
    if len(text) <= _MEMO_MAX_TEXT:
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[text] = value
    return value


def is_token(text: str) -> bool:
    """RFC 3261 25.1 `token`."""
    return _TOKEN_RE.fullmatch(text) is not None


def _unescape(text: str) -> str:
    return unquote(text, errors="surrogateescape") if "%" in text else text


def _escape(text: str, safe: str) -> str:
    # Nearly every component is plain already; `quote` is only needed for the rest.
    if _PLAIN_RE.fullmatch(text) is not None:
        return text
    return quote(text, safe=safe, errors="surrogateescape")


# Characters left as they are by every `_SAFE_*` set (and by `quote` itself).
_PLAIN_RE = re.compile(r"[A-Za-z0-9\-_.~]*")


def get_param(params: ParamList, name: str) -> str | None:
    """Value of parameter `name` (case-insensitive); None if absent or valueless."""
    name = name.lower()
    for key, value in params:
        if key.lower() == name:
            return value
    return None


def has_param(params: ParamList, name: str) -> bool:
    name = name.lower()
    # A plain loop: `any` over a generator costs twice as much on these short lists.
    for key, _ in params:  # noqa: SIM110
        if key.lower() == name:
            return True
    return False


def set_param(params: ParamList, name: str, value: str | None) -> ParamList:
    """Replace `name` in place, or append it."""
    low = name.lower()
    out = [(k, value) if k.lower() == low else (k, v) for k, v in params]
    if not has_param(params, name):
        out.append((name, value))
    return tuple(out)


def remove_param(params: ParamList, name: str) -> ParamList:
    low = name.lower()
    return tuple((k, v) for k, v in params if k.lower() != low)


def format_params(params: ParamList) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params)


_URI_TEXT: dict[URI, str] = {}


@dataclass(frozen=True, slots=True)
class URI:
    """A parsed URI.  `sip`/`sips` fill user..headers, `tel` fills user (the number)
    and params, any other scheme keeps its text in `opaque`."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: ParamList = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str = ""

    @staticmethod
    def parse(text: str) -> URI:
        """Parse a URI strictly (no surrounding whitespace, no brackets)."""
        found = _URI_MEMO.get(text)
        if found is not None:
            return found
        return _remember(_URI_MEMO, text, _parse_uri(text))

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    @property
    def host_address(self) -> str:
        """The host without IPv6 brackets, as sockets want it."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> URI:
        return self.replace(params=set_param(self.params, name, value))

    def without_param(self, name: str) -> URI:
        return self.replace(params=remove_param(self.params, name))

    def replace(self, **changes: object) -> URI:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def transport(self) -> str | None:
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """RFC 3261 19.1.1: a loose-routing proxy marks its URI with `lr`."""
        return self.has_param("lr")

    def __str__(self) -> str:
        # The same few URIs are written again and again (a phone's Contact on every
        # REGISTER, parsed once into one object): each is rendered once.
        found = _URI_TEXT.get(self)
        if found is None:
            found = self._render()
            if len(_URI_TEXT) >= 4096:  # bounded: URIs come from the network
                _URI_TEXT.clear()
            _URI_TEXT[self] = found
        return found

    def _render(self) -> str:
        if not self.is_sip and self.scheme != "tel":
            return f"{self.scheme}:{self.opaque}"
        out = [self.scheme, ":"]
        if self.scheme == "tel":
            out.append(self.user or "")
        else:
            if self.user is not None:
                out.append(_escape(self.user, _SAFE_USER))
                if self.password is not None:
                    out += [":", _escape(self.password, _SAFE_PASSWORD)]
                out.append("@")
            out.append(self.host)
            if self.port is not None:
                out += [":", str(self.port)]
        for key, value in self.params:
            out += [";", _escape(key, _SAFE_PARAM)]
            if value is not None:
                out += ["=", _escape(value, _SAFE_PARAM)]
        if self.headers:
            out.append("?")
            out.append(
                "&".join(f"{_escape(k, _SAFE_HEADER)}={_escape(v, _SAFE_HEADER)}" for k, v in self.headers)
            )
        return "".join(out)

    def equivalent(self, other: URI) -> bool:
        """RFC 3261 19.1.4 URI comparison."""
        if self.scheme != other.scheme:
            return False
        if not self.is_sip:
            if self.scheme == "tel":
                return self.user == other.user and _params_equivalent(self.params, other.params)
            return self.opaque.lower() == other.opaque.lower()
        if (self.user, self.password, self.port) != (other.user, other.password, other.port):
            return False
        if self.host.lower() != other.host.lower():
            return False
        if not _params_equivalent(self.params, other.params):
            return False
        mine = {k.lower(): v for k, v in self.headers}
        theirs = {k.lower(): v for k, v in other.headers}
        return mine == theirs


_URI_MEMO: dict[str, URI] = {}


def _parse_uri(text: str) -> URI:
    colon = text.find(":")
    if colon <= 0 or _SCHEME_RE.fullmatch(text, 0, colon) is None:
        raise ParseError(f"invalid URI scheme in {text!r}")
    scheme = text[:colon].lower()
    rest = text[colon + 1 :]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest, text)
    if scheme == "tel":
        return _parse_tel(rest, text)
    if _OPAQUE_RE.fullmatch(rest) is None:
        raise ParseError(f"invalid URI {text!r}")
    return URI(scheme=scheme, opaque=rest)


# RFC 3261 19.1.4: these parameters must match when present in either URI.
_STRICT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _params_equivalent(a: ParamList, b: ParamList) -> bool:
    da = {k.lower(): (v or "").lower() for k, v in a}
    db = {k.lower(): (v or "").lower() for k, v in b}
    for name in _STRICT_PARAMS:
        if (name in da or name in db) and da.get(name) != db.get(name):
            return False
    return all(db[name] == value for name, value in da.items() if name in db)


def _parse_sip(scheme: str, rest: str, text: str) -> URI:
    user = password = None
    at = rest.find("@")
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        raw_user, sep, raw_password = userinfo.partition(":")
        if _USER_RE.fullmatch(raw_user) is None:
            raise ParseError(f"invalid user part in URI {text!r}")
        user = _unescape(raw_user)
        if sep:
            if _PASSWORD_RE.fullmatch(raw_password) is None:
                raise ParseError(f"invalid password in URI {text!r}")
            password = _unescape(raw_password)
    headers_text = ""
    question = rest.find("?")
    if question >= 0:
        rest, headers_text = rest[:question], rest[question + 1 :]
    hostport, _, params_text = rest.partition(";")
    host, port = _split_hostport(hostport, text)
    params: list[tuple[str, str | None]] = []
    if params_text:
        for item in params_text.split(";"):
            name, eq, value = item.partition("=")
            if _PARAMCHAR_RE.fullmatch(name) is None or (
                eq and value and _PARAMCHAR_RE.fullmatch(value) is None
            ):
                raise ParseError(f"invalid URI parameter {item!r} in {text!r}")
            params.append((_unescape(name), _unescape(value) if eq else None))
    headers: list[tuple[str, str]] = []
    if question >= 0:
        for item in headers_text.split("&"):
            name, eq, value = item.partition("=")
            if not eq or _HNAME_RE.fullmatch(name) is None or _HVALUE_RE.fullmatch(value) is None:
                raise ParseError(f"invalid URI header {item!r} in {text!r}")
            headers.append((_unescape(name), _unescape(value)))
    return URI(scheme, user, password, host, port, tuple(params), tuple(headers))


def _split_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        end = hostport.find("]")
        host, port_text = hostport[: end + 1], hostport[end + 1 :]
        if end < 0 or (port_text and not port_text.startswith(":")) or _IPV6_RE.fullmatch(host) is None:
            raise ParseError(f"invalid IPv6 reference in {text!r}")
        port_text = port_text[1:]
        has_port = bool(hostport[end + 1 :])
    else:
        host, colon, port_text = hostport.partition(":")
        has_port = bool(colon)
        if _HOST_RE.fullmatch(host) is None or host[0] in "-.":
            raise ParseError(f"invalid host in URI {text!r}")
    if not has_port:
        return host, None
    if not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535:
        raise ParseError(f"invalid port in URI {text!r}")
    return host, int(port_text)


def _parse_tel(rest: str, text: str) -> URI:
    number, _, params_text = rest.partition(";")
    if _TEL_RE.fullmatch(number) is None:
        raise ParseError(f"invalid tel URI {text!r}")
    params: list[tuple[str, str | None]] = []
    if params_text:
        for item in params_text.split(";"):
            name, eq, value = item.partition("=")
            if _PARAMCHAR_RE.fullmatch(name) is None:
                raise ParseError(f"invalid tel URI parameter in {text!r}")
            params.append((name, _unescape(value) if eq else None))
    return URI(scheme="tel", user=number, params=tuple(params))


# --- quoted strings and header parameters (RFC 3261 25.1) ---------------------------------


def parse_quoted(text: str, start: int) -> tuple[str, int]:
    """Parse the quoted-string starting at text[start] (a '"'); return (unescaped, index after)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ParseError("unterminated quoted string")


def quote_string(text: str) -> str:
    """Render `text` as a quoted-string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote_value(value: str | None) -> str | None:
    """Strip the quotes of a quoted parameter value; tokens pass through."""
    if value is not None and value.startswith('"'):
        return parse_quoted(value, 0)[0]
    return value


def _skip_ws(text: str, i: int) -> int:
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    return i


def parse_params(text: str, start: int = 0) -> ParamList:
    """Parse `*( SEMI generic-param )` from text[start:] to its end (RFC 3261 7.3.1).

    Values keep their quotes, so a parameter list round-trips unchanged.
    """
    rest = text[start:] if start else text
    if '"' not in rest and " " not in rest and "\t" not in rest:
        # Fast path: no LWS and no quoted strings, the usual case.
        if not rest:
            return ()
        if rest[0] != ";":
            raise ParseError(f"expected ';' in parameters {rest!r}")
        out: list[tuple[str, str | None]] = []
        for item in rest[1:].split(";"):
            name, eq, value = item.partition("=")
            if _TOKEN_RE.fullmatch(name) is None:
                raise ParseError(f"empty or invalid parameter name in {rest!r}")
            if eq and _PARAM_VALUE_RE.fullmatch(value) is None:
                raise ParseError(f"invalid value for parameter {name!r}")
            out.append((name, value if eq else None))
        return tuple(out)
    return _parse_params_lws(rest)


def _parse_params_lws(text: str) -> ParamList:
    params: list[tuple[str, str | None]] = []
    n = len(text)
    i = _skip_ws(text, 0)
    while i < n:
        if text[i] != ";":
            raise ParseError(f"expected ';' in parameters {text!r}")
        i = _skip_ws(text, i + 1)
        m = _TOKEN_RE.match(text, i)
        if m is None:
            raise ParseError(f"empty or invalid parameter name in {text!r}")
        name = m.group()
        i = _skip_ws(text, m.end())
        value: str | None = None
        if i < n and text[i] == "=":
            i = _skip_ws(text, i + 1)
            if i < n and text[i] == '"':
                _, end = parse_quoted(text, i)
                value = text[i:end]
                i = end
            else:
                mv = _PARAM_VALUE_RE.match(text, i)
                if mv is None:
                    raise ParseError(f"invalid value for parameter {name!r}")
                value = mv.group()
                i = mv.end()
            i = _skip_ws(text, i)
        params.append((name, value))
    return tuple(params)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header params.

    str() always writes the URI in angle brackets, the safe form (RFC 3261 20.10).
    """

    uri: URI
    display: str | None = None
    params: ParamList = ()

    @staticmethod
    def parse(text: str) -> NameAddr:
        """Parse a name-addr or addr-spec with its header parameters."""
        found = _ADDR_MEMO.get(text)
        if found is not None:
            return found
        return _remember(_ADDR_MEMO, text, _parse_name_addr(text))

    @property
    def tag(self) -> str | None:
        return get_param(self.params, "tag")

    def param(self, name: str) -> str | None:
        return get_param(self.params, name)

    def has_param(self, name: str) -> bool:
        return has_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        return NameAddr(self.uri, self.display, set_param(self.params, name, value))

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_param("tag", tag)

    def __str__(self) -> str:
        head = f"{quote_string(self.display)} " if self.display else ""
        return f"{head}<{self.uri}>{format_params(self.params)}"


_ADDR_MEMO: dict[str, NameAddr] = {}


def _parse_name_addr(text: str) -> NameAddr:
    s = text.strip()
    if not s:
        raise ParseError("empty address")
    display: str | None = None
    if s[0] == '"':
        display, i = parse_quoted(s, 0)
        i = _skip_ws(s, i)
        if i >= len(s) or s[i] != "<":
            raise ParseError(f"expected '<' after display name in {s!r}")
        lt = i
    else:
        lt = s.find("<")
        if lt > 0:
            words = s[:lt].split()
            if any(_TOKEN_RE.fullmatch(w) is None for w in words):
                raise ParseError(f"invalid display name in {s!r}")
            display = " ".join(words) or None
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            raise ParseError(f"unterminated '<' in {s!r}")
        uri = URI.parse(s[lt + 1 : gt])
        return NameAddr(uri, display, parse_params(s, gt + 1))
    # addr-spec: RFC 3261 20.10, a URI with ',', '?' or ';' must be in brackets,
    # so a ';' here starts the header parameters.
    semi = s.find(";")
    uri_text = s if semi < 0 else s[:semi]
    if "?" in uri_text or "," in uri_text:
        raise ParseError(f"URI with '?' or ',' must be enclosed in '<>': {s!r}")
    uri = URI.parse(uri_text.rstrip())
    return NameAddr(uri, None, parse_params(s, semi) if semi >= 0 else ())
