"""Header names, compact forms, list splitting and typed header values (RFC 3261 7.3, 20)."""

from __future__ import annotations

import pytest

from modules.mod_sofia.headers import (
    AuthHeader,
    CSeq,
    Header,
    Via,
    canonical_name,
    header_key,
    parse_uint,
    split_list,
)
from modules.mod_sofia.uri import ParseError


@pytest.mark.parametrize(
    ("name", "key", "canonical"),
    [
        ("i", "call-id", "Call-ID"),
        ("m", "contact", "Contact"),
        ("f", "from", "From"),
        ("t", "to", "To"),
        ("v", "via", "Via"),
        ("l", "content-length", "Content-Length"),
        ("c", "content-type", "Content-Type"),
        ("k", "supported", "Supported"),
        ("s", "subject", "Subject"),
        ("e", "content-encoding", "Content-Encoding"),
        ("o", "event", "Event"),
        ("u", "allow-events", "Allow-Events"),
        ("r", "refer-to", "Refer-To"),
        ("CALL-ID", "call-id", "Call-ID"),
        ("cseq", "cseq", "CSeq"),
        ("www-authenticate", "www-authenticate", "WWW-Authenticate"),
        ("x-my-header", "x-my-header", "X-My-Header"),
    ],
)
def test_compact_and_canonical_names(name: str, key: str, canonical: str) -> None:
    assert header_key(name) == key
    assert canonical_name(name) == canonical


def test_split_list_respects_quotes_and_brackets() -> None:
    value = '"Doe, John" <sip:j@x;a=1,2>;q=0.5, <sip:k@y>, sip:z@w'
    assert split_list(value) == ['"Doe, John" <sip:j@x;a=1,2>;q=0.5', "<sip:k@y>", "sip:z@w"]


def test_split_list_keeps_empty_elements_for_the_caller_to_reject() -> None:
    assert split_list("a,,b,") == ["a", "", "b", ""]


def test_split_list_handles_escaped_quote() -> None:
    assert split_list('"a\\", b" <sip:x@y>, <sip:z@w>') == ['"a\\", b" <sip:x@y>', "<sip:z@w>"]


def test_via_with_lws_everywhere() -> None:
    via = Via.parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw")
    assert (via.protocol, via.transport, via.host, via.port) == ("SIP/2.0", "UDP", "192.0.2.2", None)
    assert via.branch == "390skdjuw" and not via.has_cookie


def test_via_params_received_rport_maddr() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.5:5062;rport;branch=z9hG4bK776;received=203.0.113.9;maddr=224.2.0.1")
    assert via.wants_rport and via.rport is None
    assert via.received == "203.0.113.9" and via.maddr == "224.2.0.1"
    assert via.sent_by == ("10.0.0.5", 5062)
    assert via.has_cookie
    filled = via.with_param("rport", "40000")
    assert filled.rport == 40000
    assert (
        str(filled)
        == "SIP/2.0/UDP 10.0.0.5:5062;rport=40000;branch=z9hG4bK776;received=203.0.113.9;maddr=224.2.0.1"
    )


def test_via_ipv6_sent_by() -> None:
    via = Via.parse("SIP/2.0/TCP [2001:db8::20]:5070;branch=z9hG4bK-2")
    assert via.host == "[2001:db8::20]" and via.port == 5070 and via.transport == "TCP"


@pytest.mark.parametrize(
    "text",
    [
        "SIP/2.0/UDP",
        "SIP/2.0/UDP 192.0.2.15;;",
        "SIP/2.0 host",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP host;branch=",
    ],
)
def test_malformed_via_raises(text: str) -> None:
    with pytest.raises(ParseError):
        Via.parse(text)


def test_cseq_parses_folded_value_and_leading_zeros() -> None:
    assert CSeq.parse("0009 INVITE") == CSeq(9, "INVITE")
    assert str(CSeq(314159, "INVITE")) == "314159 INVITE"


@pytest.mark.parametrize(
    "text", ["36893488147419103232 REGISTER", "1", "x INVITE", "1 INVITE extra", "-1 BYE"]
)
def test_malformed_cseq_raises(text: str) -> None:
    with pytest.raises(ParseError):
        CSeq.parse(text)


def test_parse_uint_clamps_when_asked() -> None:
    assert parse_uint("0068", "Max-Forwards") == 68
    assert parse_uint("1" + "0" * 40, "Expires", 2**32 - 1) == 2**32 - 1
    with pytest.raises(ParseError):
        parse_uint("-999", "Content-Length")


def test_auth_header_challenge_parses_quoted_and_token_params() -> None:
    header = AuthHeader.parse(
        'Digest realm="atlanta.example.com", qop="auth", nonce="ea9c8e88df84f1cec4341ae6cbe5a359",'
        ' opaque="", stale=FALSE, algorithm=MD5'
    )
    assert header.scheme == "Digest"
    assert header.get("realm") == "atlanta.example.com"
    assert header.get("opaque") == ""
    assert header.get("STALE") == "FALSE"
    assert header.get("missing") is None


def test_auth_header_quoted_value_with_comma() -> None:
    header = AuthHeader.parse('Digest realm="a, b", domain="sip:x sip:y"')
    assert header.get("realm") == "a, b" and header.get("domain") == "sip:x sip:y"


def test_auth_header_unknown_scheme_with_token_params() -> None:
    assert AuthHeader.parse("NoOneKnowsThisScheme opaque-data=here").get("opaque-data") == "here"


def test_auth_header_format_quotes_selected_params() -> None:
    header = AuthHeader("Digest", (("realm", "r"), ("algorithm", "MD5"), ("qop", "auth")))
    assert header.format(frozenset({"realm", "qop"})) == 'Digest realm="r", algorithm=MD5, qop="auth"'


@pytest.mark.parametrize("text", ['Digest realm="unterminated', "Digest realm", "Digest ,", "D@gest realm=x"])
def test_malformed_auth_header_raises(text: str) -> None:
    with pytest.raises(ParseError):
        AuthHeader.parse(text)


def test_header_make_uses_canonical_name() -> None:
    header = Header.make("call-id", "abc")
    assert header == Header("call-id", "Call-ID", "abc", None)
    assert header.line() == "Call-ID: abc"


def test_vias_that_differ_only_in_branch_share_the_sent_by_parse() -> None:
    one = Via.parse("SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK-one")
    two = Via.parse("SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK-two")
    assert (one.transport, one.host, one.port, one.protocol) == ("UDP", "192.0.2.4", 5060, "SIP/2.0")
    assert (two.host, two.port) == (one.host, one.port)
    assert (one.branch, two.branch) == ("z9hG4bK-one", "z9hG4bK-two")
    assert two.wants_rport


def test_a_repeated_malformed_via_raises_every_time() -> None:
    for _ in range(3):
        with pytest.raises(ParseError):
            Via.parse("SIP/2.0/UDP 192.0.2.4:99999;branch=z9hG4bK-x")


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP 192.0.2.4:5060;rport;branch=z9hG4bK-a",
        "SIP/2.0/UDP 192.0.2.4;branch=z9hG4bK-a;received=198.51.100.1",
        "SIP/2.0/UDP host.example.com;RPORT;branch=z9hG4bK-a",
    ],
)
def test_stamping_a_via_equals_setting_received_then_rport(value: str) -> None:
    via = Via.parse(value)
    expected = via.with_param("received", "203.0.113.9")
    if via.wants_rport:
        expected = expected.with_param("rport", "40000")
    stamped = via.stamped("203.0.113.9", 40000 if via.wants_rport else None)
    assert stamped == expected and str(stamped) == str(expected)
    assert stamped.received == "203.0.113.9"


def test_parsed_and_stamped_vias_equal_the_dataclass_built_ones() -> None:
    from modules.mod_sofia.headers import Via

    via = Via.parse("SIP/2.0/UDP 192.0.2.4:5062;rport;branch=z9hG4bKa")
    assert via == Via("UDP", "192.0.2.4", 5062, (("rport", None), ("branch", "z9hG4bKa")))
    stamped = via.stamped("198.51.100.7", 40000)
    assert stamped == Via(
        "UDP", "192.0.2.4", 5062, (("rport", "40000"), ("branch", "z9hG4bKa"), ("received", "198.51.100.7"))
    )
    assert str(stamped) == "SIP/2.0/UDP 192.0.2.4:5062;rport=40000;branch=z9hG4bKa;received=198.51.100.7"
