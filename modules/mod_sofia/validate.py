"""The verdict a robust server gives a received message, before any processing.

`check(data)` answers: accept (with the parsed message), reject with a status
and reason phrase (the transport answers statelessly with `verdict.response()`),
or drop (nothing can or may be answered).  The checks follow RFC 3261 8.2 (UAS
behaviour: method, header, content and extension inspection, in that order),
18.3 (framing), 16.3 (Max-Forwards) and the lessons of the RFC 4475 torture
tests.  Expectations assume UDP: trailing octets past Content-Length are
ignored, and a Content-Length past the end of the datagram is an error.

Rules that are ours, not the RFC's:
- Max-Forwards is mandatory (400 when absent) only for RFC 3261 clients, i.e.
  when the top Via branch has the magic cookie; RFC 2543 clients never sent it
  (RFC 4475 3.4.1 asks to accept those requests).
- A request that cannot be answered (no readable top Via) is dropped, and so is
  anything wrong with an ACK (an ACK is never answered) or a response.
- Reason phrases are fixed texts; nothing from the peer is echoed in them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields

from .headers import SINGLE_HEADERS, CSeq, canonical_name, parse_uint, split_list
from .message import Request, Response, make_response, new_request
from .parse import (
    frame_body,
    frame_lengths,
    parse_header_lines,
    parse_headers,
    parse_start_line,
    split_head,
    split_lines,
)
from .uri import NameAddr, ParseError

DEFAULT_METHODS = frozenset(
    ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK")
    + ("SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE", "PUBLISH")
)


class Action(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Policy:
    """What this server supports; anything else is refused with the RFC's status."""

    max_size: int = 65535
    methods: frozenset[str] | None = DEFAULT_METHODS  # None: every method goes to the TU
    extensions: frozenset[str] = frozenset(
        {"timer", "replaces", "100rel", "path", "outbound", "gruu", "norefersub"}
    )
    uri_schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    session_methods: frozenset[str] = frozenset({"INVITE", "UPDATE", "PRACK"})
    session_types: frozenset[str] = frozenset(
        {"application/sdp", "multipart/mixed", "multipart/alternative", "multipart/related"}
    )
    answer_types: frozenset[str] = frozenset({"application/sdp"})
    auth_schemes: frozenset[str] = frozenset({"digest"})  # empty: do not look at credentials
    reject_zero_max_forwards: bool = True


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Verdict:
    """accept / reject(status, reason) / drop, with what is needed to act on it."""

    action: Action
    status: int = 0
    reason: str = ""
    message: Request | Response | None = None
    headers: tuple[tuple[str, str], ...] = ()  # to add to the rejection (Unsupported, Accept, Allow)
    challenge: bool = False  # the rejection must carry a fresh challenge (401 / 407)
    detail: str = field(default="", compare=False)  # for logs: what exactly was wrong

    @property
    def accepted(self) -> bool:
        return self.action is Action.ACCEPT

    def response(self, to_tag: str | None = None) -> Response | None:
        """The stateless response for a rejection (RFC 3261 8.2.6), without a challenge."""
        if self.action is not Action.REJECT or not isinstance(self.message, Request):
            return None
        return make_response(self.message, self.status, self.reason, to_tag=to_tag, headers=self.headers)


# The frozen dataclass's `__init__` takes keywords and sets each field through
# `object.__setattr__`; a message accepted (every REGISTER) takes this way instead: the
# same slots set through their descriptors, about half the time (as `message.new_request`).
_SET_VERDICT = tuple(Verdict.__dict__[f.name].__set__ for f in fields(Verdict))


def _accepted(message: Request | Response) -> Verdict:
    """`Verdict(Action.ACCEPT, message=message)`, quicker."""
    verdict: Verdict = object.__new__(Verdict)
    action, status, reason, message_, headers, challenge, detail = _SET_VERDICT
    action(verdict, Action.ACCEPT)
    status(verdict, 0)
    reason(verdict, "")
    message_(verdict, message)
    headers(verdict, ())
    challenge(verdict, False)
    detail(verdict, "")
    return verdict


class _Reject(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        detail: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        challenge: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail or reason
        self.headers = headers
        self.challenge = challenge


_LENIENT_VIA = re.compile(r"SIP\s*/\s*[0-9.]+\s*/\s*[A-Za-z0-9\-.!%*_+`'~]+\s+\[?[A-Za-z0-9_.\-:]+")


def check(data: bytes, policy: Policy = DEFAULT_POLICY) -> Verdict:
    """Judge one received datagram (or one framed stream message)."""
    split = split_head(data)
    problems: list[str] = []
    if split is None:
        problems.append("no empty line after the headers")
        head_bytes, rest = data, b""
    else:
        head_bytes, rest = split
    head = head_bytes.decode("utf-8", "surrogateescape")
    lines = split_lines(head)
    first = lines[0]
    if first.startswith("SIP/"):
        return _check_response(first, lines, rest, problems)
    parsed, index = parse_headers(lines[1:], problems)
    headers = tuple(parsed)
    request_line_error = ""
    try:
        start = parse_start_line(first)
        method, uri, version = str(start[0]), start[1], start[2]
    except ParseError as exc:
        request_line_error = exc.reason
        words = first.split()
        method, uri, version = (words[0] if words else "UNKNOWN"), "", "SIP/2.0"
    # One Request for every check that follows, so what one check parses the
    # next ones (and the stack, after acceptance) find in its cache.
    try:
        if index is None:
            body = frame_body(headers, rest)
        else:
            body = frame_lengths(index.get("content-length"), rest)
        body_error = ""
    except ParseError as exc:
        body, body_error = b"", exc.reason
    request = new_request(method, uri, version, headers, body)
    if index is not None:
        request._cache["#index"] = index  # built while parsing
    if not _answerable(request):
        return Verdict(Action.DROP, detail="cannot be answered")
    try:
        if len(data) > policy.max_size:
            raise _Reject(513, "Message Too Large")
        if request_line_error:
            raise _Reject(400, "Malformed Request-Line", request_line_error)
        if problems:
            raise _Reject(400, "Malformed Header", problems[0])
        if version != "SIP/2.0":
            raise _Reject(505, "Version Not Supported")
        if body_error:
            raise _Reject(400, "Bad Content-Length", body_error)
        _check_request(request, policy)
    except _Reject as rej:
        if method == "ACK":  # RFC 3261 17.1.1.3 / 17.2.1: an ACK is never answered
            return Verdict(Action.DROP, detail=rej.detail)
        return Verdict(Action.REJECT, rej.status, rej.reason, request, rej.headers, rej.challenge, rej.detail)
    return _accepted(request)


def _answerable(request: Request) -> bool:
    """A response goes where the top Via says (RFC 3261 18.2.2): is it readable?"""
    value = request._first("via")
    if value is None:
        return False
    try:
        request.top_via  # noqa: B018 - parsed and cached for the checks that follow
        return True
    except ParseError:
        return _LENIENT_VIA.match(split_list(value)[0]) is not None


_REQUIRED = (("via", "Via"), ("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))
_REQUIRED_KEYS = frozenset(key for key, _ in _REQUIRED)


def _check_request(request: Request, policy: Policy) -> None:
    # RFC 3261 8.1.1: the mandatory header fields, each parsed.
    index = request._index()
    if not index.keys() >= _REQUIRED_KEYS:
        for key, name in _REQUIRED:
            if key not in index:
                raise _Reject(400, f"Missing {name}")
    if len(index) != len(request.headers):  # some name repeats: is it one that may not?
        for key in SINGLE_HEADERS:
            found = index.get(key)
            if found is not None and len(found) > 1:
                raise _Reject(400, f"Multiple {canonical_name(key)}")
    # Each field is parsed once here and cached on the request for the stack, under
    # the keys of `Message`'s accessors (what they would compute, without the calls);
    # `what` names the field being parsed when one fails.
    cache = request._cache
    what = "Via"
    try:
        via_lines = index["via"]
        value = via_lines[0].value
        if len(via_lines) == 1 and "," not in value:
            vias = cache["via"] = [request.top_via]  # the only value: `_answerable` parsed it
        else:
            vias = request.vias
        what = "From"
        cache["from"] = NameAddr.parse(index["from"][0].value)
        what = "To"
        to_addr = cache["to"] = NameAddr.parse(index["to"][0].value)
        what = "CSeq"
        cseq = cache["cseq"] = CSeq.parse(index["cseq"][0].value)
        call_id = cache["callid"] = index["call-id"][0].value
        if not call_id or " " in call_id or "\t" in call_id:
            raise _Reject(400, "Malformed Call-ID")
        what = "Max-Forwards"
        found = index.get("max-forwards")
        max_forwards = None if found is None else parse_uint(found[0].value, "Max-Forwards")
        if max_forwards is None and vias[0].has_cookie:
            raise _Reject(400, "Missing Max-Forwards")
        if "expires" in index:
            what = "Expires"
            request.expires  # noqa: B018
        found = index.get("contact")
        if found is not None:
            what = "Contact"
            value = found[0].value.strip()
            if len(found) == 1 and value and value != "*" and "," not in value:
                cache["contact"] = [NameAddr.parse(value)]
            else:
                request.contacts  # noqa: B018
        if "route" in index:
            what = "Route"
            request.routes  # noqa: B018
        if "record-route" in index:
            what = "Record-Route"
            request.record_routes  # noqa: B018
        what = "Request-URI"
        ruri = request.ruri
    except (ParseError, ValueError) as exc:
        detail = exc.reason if isinstance(exc, ParseError) else str(exc)
        raise _Reject(400, f"Malformed {what}", detail) from None
    if ruri.headers:
        # RFC 3261 19.1.1 table: header components are not allowed in a Request-URI.
        raise _Reject(400, "Malformed Request-URI", "headers in the Request-URI")

    # RFC 3261 8.2.1: method inspection.
    if policy.methods is not None and request.method not in policy.methods:
        allow = ", ".join(sorted(policy.methods))
        raise _Reject(501, "Not Implemented", headers=(("Allow", allow),))
    if cseq.method != request.method:
        raise _Reject(400, "CSeq Method Mismatch")
    # RFC 3261 16.3 step 3 (Max-Forwards), applied at the edge of the switch.
    if policy.reject_zero_max_forwards and max_forwards == 0:
        raise _Reject(483, "Too Many Hops")
    # RFC 3261 8.2.2.1: To and Request-URI.
    if ruri.scheme not in policy.uri_schemes:
        raise _Reject(416, "Unsupported URI Scheme")
    if request.method == "REGISTER" and not to_addr.uri.is_sip:
        # RFC 3261 10.3: an address-of-record is a SIP or SIPS URI.
        raise _Reject(400, "Invalid Address-of-Record")
    # RFC 3261 8.2.2.3: Require.
    if request.method != "CANCEL" and "require" in index:
        unknown = [tag for tag in request.values("require") if tag and tag.lower() not in policy.extensions]
        if unknown:
            raise _Reject(420, "Bad Extension", headers=(("Unsupported", ", ".join(unknown)),))
    # RFC 3261 8.2.3: content processing.
    if request.method in policy.session_methods:
        _check_content(request, policy)
    # RFC 3261 22.1 / 8.2.3: credentials we cannot read call for a fresh challenge.
    if policy.auth_schemes and ("authorization" in index or "proxy-authorization" in index):
        for name, status in (("Authorization", 401), ("Proxy-Authorization", 407)):
            for value in request.get_all(name):
                words = value.split(None, 1)  # the scheme only: credentials are long
                scheme = words[0].lower() if words else ""
                if scheme not in policy.auth_schemes:
                    reason = "Unauthorized" if status == 401 else "Proxy Authentication Required"
                    raise _Reject(status, reason, f"unknown scheme in {name}", challenge=True)


def _check_content(request: Request, policy: Policy) -> None:
    media = request.content_type
    if request.body and (media is None or media not in policy.session_types):
        accept = ", ".join(sorted(policy.answer_types))
        raise _Reject(415, "Unsupported Media Type", headers=(("Accept", accept),))
    if "accept" in request:
        ranges = [v.split(";", 1)[0].strip().lower() for v in request.values("accept") if v]
        if ranges and not any(_media_matches(r, t) for r in ranges for t in policy.answer_types):
            accept = ", ".join(sorted(policy.answer_types))
            raise _Reject(406, "Not Acceptable", headers=(("Accept", accept),))


def _media_matches(media_range: str, media: str) -> bool:
    if media_range in ("*/*", media):
        return True
    kind, _, sub = media_range.partition("/")
    return sub == "*" and media.startswith(kind + "/")


# --- responses: never answered; a bad one is dropped ----------------------------------------

_BROADCAST_HOSTS = frozenset({"255.255.255.255", "0.0.0.0"})


def _check_response(first: str, lines: list[str], rest: bytes, problems: list[str]) -> Verdict:
    try:
        status, reason, version = parse_start_line(first)
        if problems or version != "SIP/2.0":
            raise ParseError("malformed response")
        headers = tuple(parse_header_lines(lines[1:]))
        body = frame_body(headers, rest)
        response = Response(
            status=int(status), reason=str(reason), version=version, headers=headers, body=body
        )
        for key in SINGLE_HEADERS:
            if response.count(key) > 1:
                raise ParseError(f"multiple {key}")
        vias = response.vias
        response.cseq, response.from_addr, response.to_addr, response.call_id  # noqa: B018
        # RFC 4475 3.3.10: never send a response on towards a broadcast address.
        if any(via.host in _BROADCAST_HOSTS or via.received in _BROADCAST_HOSTS for via in vias):
            raise ParseError("broadcast address in Via")
    except ParseError as exc:
        return Verdict(Action.DROP, detail=exc.reason)
    return _accepted(response)


__all__ = ["DEFAULT_POLICY", "Action", "Policy", "Verdict", "check"]
