"""Reading a SIP message head: lines, the start line, header lines, the body's length.

RFC 3261 7 (message format), 7.3.1 (header field format and LWS folding), 7.5
(CRLF, with a bare LF accepted) and 18.3 (framing by Content-Length).  Only
text and `Header` values here: `message.parse_message` and `validate.check`
build their requests and responses from what these functions return.

A phone repeats most of its header lines and its Request-Line from one
request to the next, so lines already parsed are remembered (bounded memos
keyed by the exact text: a line's `Header` depends on its text alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .headers import Header, header_key, new_header, parse_uint
from .uri import ParseError, is_token

_NAME_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+")


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """Split at the empty line; None if there is none."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :]
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :]
    return None


_WS = (" ", "\t")


# Header names as written (before the colon, trailing LWS included) that were
# found well formed, with (lookup key, name): a peer repeats the same dozen
# names, so each is checked against the grammar once.
_VALID_NAMES: dict[str, tuple[str, str]] = {}


def _name_key(written: str) -> tuple[str, str] | None:
    """(lookup key, name) of the text before a header's colon, or None if it is not a token."""
    found = _VALID_NAMES.get(written)
    if found is None:
        name = written.rstrip(" \t")
        if not name or _NAME_RE.fullmatch(name) is None:
            return None
        found = (header_key(name), name)
        if len(_VALID_NAMES) < 4096:  # bounded: names come from the network
            _VALID_NAMES[written] = found
    return found


def parse_header_lines(lines: list[str], errors: list[str] | None = None) -> list[Header]:
    """Parse header lines (with LWS folding).  Strict unless `errors` collects the problems."""
    return parse_headers(lines, errors)[0]


# Header lines seen before, by their exact text: a phone repeats most lines from one
# request to the next (To, Contact, Expires, User-Agent, ...), and a line's Header is
# a function of its text alone.  Bounded, since lines come from the network.
_LINES: dict[str, Header] = {}
_LINES_LIMIT = 4096
_LINE_MAX = 300
# Lines new in every request (a fresh branch, Call-ID, nonce): not worth remembering.
_ONE_OFF = frozenset({"via", "call-id", "authorization", "proxy-authorization"})


def parse_headers(
    lines: list[str], errors: list[str] | None = None
) -> tuple[list[Header], dict[str, list[Header]] | None]:
    """`parse_header_lines` plus the lookup index (`Message._index`) built on the way;
    the index is None when a line was folded (it would hold the unfolded header)."""
    headers: list[Header] = []
    index: dict[str, list[Header]] = {}
    memo = _LINES
    folded = False
    folding = False  # may the next continuation line join the last header?
    for line in lines:
        header = memo.get(line)
        if header is None:
            if line.startswith(_WS):
                if not folding:
                    _fail("continuation line before any header", errors)
                    continue
                # RFC 3261 7.3.1: a folded line is one header; its LWS reads as one SP.
                last = headers[-1]
                more = line.strip(" \t")
                value = f"{last.value} {more}" if last.value else more
                headers[-1] = new_header((last.key, last.name, value, f"{last.raw}\r\n{line}"))
                folded = True  # the index holds the header before its continuation
                continue
            colon = line.find(":")
            named = (_VALID_NAMES.get(line[:colon]) or _name_key(line[:colon])) if colon > 0 else None
            if named is None:
                _fail(f"malformed header line {line[:40]!r}", errors)
                folding = False
                continue
            header = new_header((named[0], named[1], line[colon + 1 :].strip(" \t"), line))
            if len(line) <= _LINE_MAX and named[0] not in _ONE_OFF:
                if len(memo) >= _LINES_LIMIT:
                    memo.clear()
                memo[line] = header
        headers.append(header)
        folding = True
        key = header[0]
        found = index.get(key)
        if found is None:
            index[key] = [header]
        else:
            found.append(header)
    if folded:
        return headers, None
    return headers, index


def _fail(reason: str, errors: list[str] | None) -> None:
    if errors is None:
        raise ParseError(reason)
    errors.append(reason)


_START_LINES: dict[str, tuple[str, str, str]] = {}


def parse_start_line(line: str) -> tuple[str, str, str] | tuple[int, str, str]:
    """(method, uri, version) for a request, (status, reason, version) for a response."""
    found = _START_LINES.get(line)  # a phone sends the same Request-Line again and again
    if found is not None:
        return found
    parsed = _parse_start_line(line)
    if isinstance(parsed[0], str) and len(line) <= _LINE_MAX:
        if len(_START_LINES) >= 1024:
            _START_LINES.clear()
        _START_LINES[line] = parsed
    return parsed


def _parse_start_line(line: str) -> tuple[str, str, str] | tuple[int, str, str]:
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or _VERSION_RE.fullmatch(parts[0]) is None:
            raise ParseError(f"malformed status line {line[:60]!r}")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or not code.isascii() or not 100 <= int(code) <= 699:
            raise ParseError(f"invalid status code {code[:12]!r}")
        return int(code), parts[2] if len(parts) == 3 else "", parts[0]
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise ParseError(f"malformed Request-Line {line[:60]!r}")
    method, uri, version = parts
    if not is_token(method):
        raise ParseError(f"invalid method {method[:30]!r}")
    if _VERSION_RE.fullmatch(version) is None:
        raise ParseError(f"malformed SIP-Version {version[:20]!r}")
    return method, uri, version


def split_lines(head: str) -> list[str]:
    """The lines of a message head, ended by CRLF or (leniently, RFC 3261 7.5) a bare LF."""
    lines = head.split("\r\n")
    if head.count("\n") == len(lines) - 1:
        return lines  # every line ended with CRLF: the usual case
    lines = head.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def frame_body(headers: Iterable[Header], rest: bytes, datagram: bool = True) -> bytes:
    return frame_lengths([h for h in headers if h.key == "content-length"], rest, datagram)


def frame_lengths(lengths: list[Header] | None, rest: bytes, datagram: bool = True) -> bytes:
    """The body after the head: `rest` cut to the one Content-Length among `lengths`
    (RFC 3261 18.3); without one, all of `rest` on a datagram, nothing on a stream."""
    if not lengths:
        return rest if datagram else b""
    if len(lengths) > 1:
        raise ParseError("multiple Content-Length headers")
    length = parse_uint(lengths[0].value, "Content-Length")
    if length > len(rest):
        raise ParseError("Content-Length larger than message")
    return rest[:length]


__all__ = [
    "frame_body",
    "frame_lengths",
    "parse_header_lines",
    "parse_headers",
    "parse_start_line",
    "split_head",
    "split_lines",
]
