"""SIP message parse/serialize, typed accessors, builders and stream framing (RFC 3261 7, 8, 18.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.mod_sofia.message import (
    FramingError,
    Message,
    Request,
    Response,
    StreamFramer,
    make_request,
    make_response,
    new_branch,
    parse_message,
)
from modules.mod_sofia.uri import URI, NameAddr, ParseError

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sip"
# shared/ sits beside the repository (here /work/shared, in CI beside the clone).
TORTURE = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[4] / "shared" / "vectors" / "rfc4475",
            Path("/work/shared/vectors/rfc4475"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/vectors/rfc4475"),
)
SIP_VECTORS = sorted(VECTORS.glob("*.sip"))


def load(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@pytest.mark.parametrize("path", SIP_VECTORS, ids=lambda p: p.name)
def test_vector_round_trips_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    msg = Message.parse(data)
    assert bytes(msg) == data
    # and the typed view of every mandatory header is readable
    assert msg.call_id and msg.cseq.number > 0 and msg.from_addr.uri.is_sip and msg.top_via.host


def test_vectors_exist() -> None:
    assert len(SIP_VECTORS) >= 12


@pytest.mark.parametrize(
    "name",
    [
        "wsinv.dat",
        "esc01.dat",
        "intmeth.dat",
        "longreq.dat",
        "mpart01.dat",
        "unreason.dat",
        "noreason.dat",
        "lwsdisp.dat",
    ],
)
def test_valid_torture_messages_round_trip(name: str) -> None:
    data = (TORTURE / name).read_bytes()
    assert bytes(parse_message(data)) == data


def test_invite_with_sdp_accessors() -> None:
    msg = Request.parse(load("rfc3665_3_1_f1_invite.sip"))
    assert msg.method == "INVITE" and msg.uri == "sip:bob@biloxi.example.com"
    assert msg.ruri.user == "bob"
    assert msg.top_via.branch == "z9hG4bK74bf9" and msg.top_via.transport == "TCP"
    assert msg.from_addr.display == "Alice" and msg.from_tag == "9fxced76sl"
    assert msg.to_tag is None
    assert msg.call_id == "3848276298220188511@atlanta.example.com"
    assert (msg.cseq.number, msg.cseq.method) == (1, "INVITE")
    assert msg.max_forwards == 70
    assert msg.contacts[0].uri.param("transport") == "tcp"
    assert msg.content_type == "application/sdp"
    assert msg.content_length == len(msg.body)
    assert msg.body.startswith(b"v=0\r\n")


def test_response_accessors_and_folded_via() -> None:
    msg = Response.parse(load("rfc3665_3_1_f2_180.sip"))
    assert msg.status == 180 and msg.reason == "Ringing" and msg.is_provisional
    assert msg.top_via.received == "192.0.2.101"
    assert msg.to_tag == "8321234356"


def test_www_authenticate_spanning_folded_lines() -> None:
    msg = Response.parse(load("rfc3665_2_1_f2_401.sip"))
    challenge = msg.www_authenticate
    assert challenge is not None
    assert challenge.get("realm") == "atlanta.example.com"
    assert challenge.get("nonce") == "ea9c8e88df84f1cec4341ae6cbe5a359"
    assert challenge.get("qop") == "auth" and challenge.get("algorithm") == "MD5"


def test_authorization_accessor() -> None:
    msg = Request.parse(load("rfc3665_2_1_f3_register_auth.sip"))
    assert msg.authorization is not None and msg.authorization.get("username") == "bob"


def test_compact_forms_are_found_by_full_name_and_keep_their_spelling() -> None:
    data = load("compact_forms.sip")
    msg = Request.parse(data)
    assert msg.get("Call-ID") == "8c2f1a0e@192.0.2.20"
    assert msg.get("call-id") == msg.get("i") == msg["CALL-ID"]
    assert [v.host for v in msg.vias] == ["192.0.2.20", "[2001:db8::20]"]
    assert msg.top_via.wants_rport
    assert msg.from_addr.display == "Desk Phone"
    assert msg.contacts[0].param("+sip.instance") == '"<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"'
    assert msg.values("Supported") == ["replaces", "timer"]
    assert msg.get("Subject") == "hello"
    assert bytes(msg) == data


def test_multi_value_headers_split_across_lines_and_commas() -> None:
    data = (
        b"OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
        b"Via: SIP/2.0/TCP c;branch=z9hG4bK3\r\nRoute: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3;lr>\r\n"
        b'Contact: "A, B" <sip:a@h>;q=0.7, <sip:b@h>;expires=60\r\nl: 0\r\n\r\n'
    )
    msg = parse_message(data)
    assert [v.host for v in msg.vias] == ["a", "b", "c"]
    assert msg.top_via.host == "a"
    assert [str(r.uri) for r in msg.routes] == ["sip:p1;lr", "sip:p2;lr", "sip:p3;lr"]
    assert [c.display for c in msg.contacts] == ["A, B", None]
    assert msg.contacts[1].param("expires") == "60"
    assert msg.count("Via") == 2


def test_contact_star() -> None:
    msg = parse_message(b"REGISTER sip:r SIP/2.0\r\nContact: *\r\nExpires: 0\r\n\r\n")
    assert msg.contact_star and msg.contacts == [] and msg.expires == 0


def test_folded_header_value_is_unfolded_for_access_but_kept_raw() -> None:
    data = b"OPTIONS sip:x@y SIP/2.0\r\nSubject: first\r\n  second\r\n\tthird\r\nl: 0\r\n\r\n"
    msg = parse_message(data)
    assert msg.get("subject") == "first second third"
    assert bytes(msg) == data


def test_a_line_seen_before_parses_the_same_and_a_folded_one_is_not_taken_from_memory() -> None:
    # "Subject: first" is remembered from the first message; in the second it is folded
    # onto the next line, so the remembered header must not stand for it.
    first = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nSubject: first\r\nl: 0\r\n\r\n")
    folded = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nSubject: first\r\n second\r\nl: 0\r\n\r\n")
    again = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nSubject: first\r\nl: 0\r\n\r\n")
    assert first.get("subject") == again.get("subject") == "first"
    assert (
        folded.get("subject") == "first second" and folded.headers_named("subject")[0].value == "first second"
    )
    assert again.headers == first.headers


def test_the_index_built_while_parsing_is_the_one_built_from_the_lines() -> None:
    data = load(SIP_VECTORS[0].name)
    msg = parse_message(data)
    rebuilt: dict[str, list[object]] = {}
    for header in msg.headers:
        rebuilt.setdefault(header.key, []).append(header)
    assert msg._cache["#index"] == rebuilt


def test_the_quick_constructors_build_what_the_dataclass_constructors_build() -> None:
    from dataclasses import fields

    from modules.mod_sofia.message import new_request, new_response

    headers = parse_message(load(SIP_VECTORS[0].name)).headers
    pairs = [
        (
            new_request("OPTIONS", "sip:x@y", "SIP/2.0", headers, b"b"),
            Request(method="OPTIONS", uri="sip:x@y", version="SIP/2.0", headers=headers, body=b"b"),
        ),
        (
            new_response(486, "Busy Here", "SIP/2.0", headers, b""),
            Response(status=486, reason="Busy Here", version="SIP/2.0", headers=headers, body=b""),
        ),
    ]
    for quick, made in pairs:
        assert type(quick) is type(made)
        for f in fields(made):
            assert getattr(quick, f.name) == getattr(made, f.name), f.name
        assert bytes(quick) == bytes(made)
        quick._cache["x"] = 1
        assert "x" not in made._cache  # a cache of its own


def test_body_framed_by_content_length_ignores_trailing_octets() -> None:
    data = b"MESSAGE sip:x@y SIP/2.0\r\nContent-Length: 5\r\n\r\nhello, trailing junk"
    assert parse_message(data).body == b"hello"


def test_missing_content_length_on_datagram_takes_the_rest() -> None:
    assert parse_message(b"MESSAGE sip:x@y SIP/2.0\r\nTo: a\r\n\r\nrest").body == b"rest"


def test_bare_lf_line_ends_are_accepted() -> None:
    msg = parse_message(b"OPTIONS sip:x@y SIP/2.0\nCall-ID: abc\nl: 0\n\n")
    assert msg.call_id == "abc"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\r\n", "empty line"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nCall\x01-ID: a\r\n\r\n", "malformed header line"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID\x07: a\r\n\r\n", "malformed header line"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"OPTIONS sip:x@y SIP/2.0\r\n continuation\r\n\r\n", "continuation"),
        (b"OPTIONS  sip:x@y SIP/2.0\r\n\r\n", "Request-Line"),
        (b"OPTIONS sip:x@y HTTP/1.1\r\n\r\n", "SIP-Version"),
        (b"SIP/2.0 4294967301 big\r\n\r\n", "status code"),
        (b"SIP/2.0 99 low\r\n\r\n", "status code"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 10\r\n\r\nshort", "larger"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nl: 1\r\nl: 1\r\n\r\nx", "multiple"),
        (b"OPTIONS sip:x@y SIP/2.0\r\nl: -1\r\n\r\n", "Content-Length"),
    ],
)
def test_malformed_messages_raise_parse_error(data: bytes, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        parse_message(data)


def test_header_names_are_strict_but_space_before_colon_is_allowed() -> None:
    msg = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nTO :\r\n sip:a@b\r\nl: 0\r\n\r\n")
    assert msg.to_addr.uri.user == "a"


def test_accessor_on_missing_header_raises_parse_error() -> None:
    msg = parse_message(b"OPTIONS sip:x@y SIP/2.0\r\nl: 0\r\n\r\n")
    with pytest.raises(ParseError, match="Missing Call-ID"):
        _ = msg.call_id
    assert msg.get("Call-ID") is None and "Call-ID" not in msg
    with pytest.raises(KeyError):
        _ = msg["Call-ID"]


def test_make_response_copies_rfc3261_8_2_6_headers_and_adds_to_tag() -> None:
    request = Request.parse(load("rfc3261_24_2_f1_invite_via_proxy.sip"))
    response = make_response(request, 180, to_tag="a6c85cf")
    assert response.status == 180 and response.reason == "Ringing"
    assert [v.host for v in response.vias] == ["bigbox3.site3.atlanta.com", "pc33.atlanta.com"]
    assert response.vias[1].received == "192.0.2.1"
    assert response.from_tag == "1928301774"
    assert response.to_tag == "a6c85cf"
    assert response.call_id == request.call_id and response.cseq == request.cseq
    assert response.content_length == 0
    assert "Record-Route" not in response and "Contact" not in response
    reparsed = parse_message(bytes(response))
    assert isinstance(reparsed, Response) and reparsed.to_tag == "a6c85cf"


def test_make_response_keeps_existing_to_tag_and_100_gets_none() -> None:
    request = Request.parse(load("rfc3665_3_1_f5_bye.sip"))
    assert make_response(request, 200, to_tag="other").to_tag == "9fxced76sl"
    invite = Request.parse(load("rfc3665_3_1_f1_invite.sip"))
    assert make_response(invite, 100, to_tag="t").to_tag is None


def test_make_response_with_body_and_extra_headers() -> None:
    request = Request.parse(load("rfc3665_3_1_f1_invite.sip"))
    body = b"v=0\r\n"
    response = make_response(
        request,
        200,
        to_tag="x",
        headers=[("Contact", "<sip:sw@192.0.2.1>")],
        body=body,
        content_type="application/sdp",
    )
    assert (
        response.body == body and response.content_length == 5 and response.content_type == "application/sdp"
    )
    assert response.contacts[0].uri.host == "192.0.2.1"


def test_make_request_builds_a_parseable_request() -> None:
    branch = new_branch()
    request = make_request(
        "INVITE",
        URI.parse("sip:1001@192.0.2.10"),
        from_addr=NameAddr(URI.parse("sip:1000@192.0.2.10"), "Alice").with_tag("ft"),
        to_addr="<sip:1001@192.0.2.10>",
        call_id="c1",
        cseq=7,
        via=f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport",
        contact="<sip:1000@192.0.2.1>",
        routes=["<sip:proxy;lr>"],
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    parsed = Request.parse(bytes(request))
    assert parsed.method == "INVITE" and parsed.cseq.number == 7 and parsed.cseq.method == "INVITE"
    assert parsed.top_via.branch == branch and branch.startswith("z9hG4bK")
    assert parsed.from_tag == "ft" and parsed.max_forwards == 70
    assert parsed.routes[0].uri.lr and parsed.body == b"v=0\r\n" and parsed.content_length == 5


def test_header_editing_returns_copies() -> None:
    request = Request.parse(load("rfc3665_3_1_f5_bye.sip"))
    added = request.with_header("X-Test", "1")
    assert "X-Test" not in request and added.get("x-test") == "1"
    first = request.with_header("Route", "<sip:p;lr>", first=True)
    assert first.headers[0].name == "Route"
    replaced = request.replace_header("Max-Forwards", "69")
    assert replaced.max_forwards == 69 and request.max_forwards == 70
    assert [h.key for h in replaced.headers] == [h.key for h in request.headers]
    assert "Max-Forwards" not in request.without_header("max-forwards")


def test_stream_framer_cuts_messages_and_skips_keepalives() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    bye = load("rfc3665_3_1_f5_bye.sip")
    stream = b"\r\n\r\n" + invite + bye + b"\r\n\r\n"
    framer = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 37):  # arbitrary chunking
        out += framer.feed(stream[i : i + 37])
    assert out == [invite, bye]
    assert framer.pings == 2
    assert framer.buffered == 0


def test_stream_framer_message_without_content_length_has_no_body() -> None:
    framer = StreamFramer()
    assert framer.feed(b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\r\n\r\nOPTIONS") == [
        b"OPTIONS sip:x@y SIP/2.0\r\nCall-ID: a\r\n\r\n"
    ]


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: -999\r\n\r\n", 400),
        (b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n", 400),
        (b"OPTIONS sip:x@y SIP/2.0\r\nContent-Length: 99999\r\n\r\n", 513),
        (b"OPTIONS sip:x@y SIP/2.0\r\nX: " + b"a" * 70000, 513),
    ],
)
def test_stream_framer_errors(data: bytes, status: int) -> None:
    framer = StreamFramer(max_size=65536)
    with pytest.raises(FramingError) as info:
        framer.feed(data)
    assert info.value.status == status
    with pytest.raises(FramingError):  # the stream stays broken
        framer.feed(b"\r\n")


def test_fresh_tags_branches_and_call_ids_are_random_hex_and_distinct() -> None:
    from modules.mod_sofia.message import new_branch, new_call_id, new_tag

    tags = [new_tag() for _ in range(2000)]  # crosses the random pool's refills
    assert len(set(tags)) == 2000 and all(len(t) == 16 and int(t, 16) >= 0 for t in tags)
    branch = new_branch()
    assert branch.startswith("z9hG4bK") and len(branch) == 7 + 20
    assert new_call_id("192.0.2.1").endswith("@192.0.2.1") and len(new_call_id()) == 24
