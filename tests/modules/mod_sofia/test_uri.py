"""SIP/SIPS/tel URIs, name-addr/addr-spec and header parameters (RFC 3261 19.1, 20.10, 25.1)."""

from __future__ import annotations

import pytest

from modules.mod_sofia.uri import URI, NameAddr, ParseError, parse_params, quote_string, unquote_value


def test_sip_uri_components_are_parsed() -> None:
    uri = URI.parse("sips:alice:secret@atlanta.com:5061;transport=tcp;lr?subject=project%20x&priority=urgent")
    assert uri.scheme == "sips"
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "atlanta.com", 5061)
    assert uri.params == (("transport", "tcp"), ("lr", None))
    assert uri.transport == "tcp" and uri.lr
    assert uri.headers == (("subject", "project x"), ("priority", "urgent"))


def test_host_only_uri_has_no_user() -> None:
    uri = URI.parse("sip:registrar.biloxi.com")
    assert uri.user is None and uri.host == "registrar.biloxi.com" and uri.port is None


def test_ipv6_reference_with_port() -> None:
    uri = URI.parse("sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]")
    assert uri.host == "[2001:db8::10]"
    assert uri.host_address == "2001:db8::10"
    assert uri.port == 5070
    assert uri.param("maddr") == "[2001:db8::1]"
    assert str(uri) == "sip:bob@[2001:db8::10]:5070;maddr=[2001:db8::1]"


def test_escapes_are_decoded_and_reencoded_minimally() -> None:
    uri = URI.parse("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips:user@example.com"
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"
    assert URI.parse("sip:%75se%72@example.com").user == "user"


def test_escaped_null_is_kept_not_truncated() -> None:
    assert URI.parse("sip:null-%00-null@example.com").user == "null-\x00-null"


def test_semicolon_in_user_part_belongs_to_the_user() -> None:
    # RFC 4475 3.1.1.9
    uri = URI.parse("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net"
    assert uri.host == "example.com" and uri.params == ()


def test_unusual_but_valid_user_and_password_characters() -> None:
    # RFC 4475 3.1.1.2
    uri = URI.parse(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    )
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"


def test_tel_uri() -> None:
    uri = URI.parse("tel:+1-201-555-0123;phone-context=example.com")
    assert uri.scheme == "tel" and uri.user == "+1-201-555-0123"
    assert uri.param("phone-context") == "example.com"
    assert str(uri) == "tel:+1-201-555-0123;phone-context=example.com"


def test_unknown_scheme_is_kept_opaque() -> None:
    uri = URI.parse("soap.beep://192.0.2.103:3002")
    assert uri.scheme == "soap.beep" and uri.opaque == "//192.0.2.103:3002" and not uri.is_sip
    assert str(uri) == "soap.beep://192.0.2.103:3002"


@pytest.mark.parametrize(
    "text",
    [
        "<sip:user@example.com>",
        " sip:user@example.com",
        "sip:user@exa mple.com",
        "sip:user@example.com:99999",
        "sip:user@example.com:5o60",
        "sip:user@[2001:db8::1",
        "sip:us%zzer@example.com",
        "sip:user@example.com;;lr",
        "sip:user@example.com?noequals",
        "sip:",
        "nocolon",
    ],
)
def test_malformed_uris_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        URI.parse(text)


def test_uri_comparison_follows_rfc3261_19_1_4() -> None:
    a = URI.parse("sip:%61lice@atlanta.com;transport=TCP")
    assert a.equivalent(URI.parse("sip:alice@AtLanTa.CoM;Transport=tcp"))
    assert not URI.parse("sip:alice@atlanta.com").equivalent(URI.parse("sip:ALICE@atlanta.com"))
    assert not URI.parse("sip:bob@biloxi.com").equivalent(URI.parse("sip:bob@biloxi.com:5060"))
    assert not URI.parse("sip:bob@biloxi.com").equivalent(URI.parse("sip:bob@biloxi.com;transport=udp"))
    assert URI.parse("sip:carol@chicago.com").equivalent(URI.parse("sip:carol@chicago.com;newparam=5"))
    assert not URI.parse("sip:carol@chicago.com;security=on").equivalent(
        URI.parse("sip:carol@chicago.com;security=off")
    )


def test_uri_with_param_replaces_or_appends() -> None:
    uri = URI.parse("sip:a@b;transport=udp")
    assert str(uri.with_param("transport", "tcp")) == "sip:a@b;transport=tcp"
    assert str(uri.with_param("lr")) == "sip:a@b;transport=udp;lr"
    assert str(uri.without_param("transport")) == "sip:a@b"


def test_name_addr_with_quoted_display_and_params() -> None:
    addr = NameAddr.parse('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com> ; tag = 98asjd8')
    assert addr.display == 'J Rosenberg \\"'
    assert addr.uri.user == "jdrosen"
    assert addr.tag == "98asjd8"


def test_name_addr_token_display_without_space_before_bracket() -> None:
    # RFC 4475 3.1.1.6
    addr = NameAddr.parse("caller<sip:caller@example.com>;tag=323")
    assert addr.display == "caller" and addr.tag == "323"


def test_addr_spec_params_are_header_params() -> None:
    addr = NameAddr.parse("sip:+19725552222@gw1.example.net;unknownparam")
    assert addr.uri.params == ()
    assert addr.params == (("unknownparam", None),)
    bracketed = NameAddr.parse("<sip:+19725552222@gw1.example.net;unknownparam>")
    assert bracketed.uri.params == (("unknownparam", None),) and bracketed.params == ()


def test_name_addr_keeps_uri_headers_in_brackets() -> None:
    addr = NameAddr.parse("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert addr.uri.headers == (("Route", "<sip:sip.example.com>"),)


def test_name_addr_serializes_with_brackets() -> None:
    addr = NameAddr.parse("sip:bob@biloxi.com;tag=a6c85cf").with_tag("x1")
    assert str(addr) == "<sip:bob@biloxi.com>;tag=x1"
    assert str(NameAddr(URI.parse("sip:a@b"), 'Say "hi"')) == '"Say \\"hi\\"" <sip:a@b>'


@pytest.mark.parametrize(
    "text",
    [
        '"Mr. J. User <sip:j.user@example.com>',  # unterminated quote (RFC 4475 3.1.2.6)
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # comma in token display (3.1.2.15)
        '"Watson, Thomas" < sip:t.watson@example.org >',  # spaces in addr-spec (3.1.2.14)
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # '?' needs brackets (3.1.2.13)
        '"Joe" <sip:joe@example.org>;;;;',  # empty params (3.1.2.1)
        "<sip:a@b",
        "",
    ],
)
def test_malformed_addresses_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        NameAddr.parse(text)


def test_header_params_with_lws_and_quoted_values() -> None:
    params = parse_params(' ; newparam =  newvalue ;  secondparam ; q = 0.33;x="a;b"')
    assert params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"), ("x", '"a;b"'))
    assert unquote_value(params[3][1]) == "a;b"


def test_header_params_ipv6_value() -> None:
    assert parse_params(";received=[2001:db8::9];rport=5060") == (
        ("received", "[2001:db8::9]"),
        ("rport", "5060"),
    )


def test_quote_string_escapes_backslash_and_quote() -> None:
    assert quote_string('a"b\\c') == '"a\\"b\\\\c"'


# --- remembered parses: a peer repeats its URIs, a malformed one is judged every time ----------


def test_a_repeated_uri_is_parsed_once_and_shared() -> None:
    text = "sip:memo-user@192.0.2.7:5062;transport=udp"
    first = URI.parse(text)
    again = URI.parse(text)
    assert again is first
    assert (again.user, again.host, again.port, again.transport) == ("memo-user", "192.0.2.7", 5062, "udp")


def test_a_repeated_malformed_uri_raises_every_time() -> None:
    for _ in range(3):
        with pytest.raises(ParseError, match="invalid host"):
            URI.parse("sip:bad@-host.example.com")


def test_a_repeated_name_addr_is_shared_and_differs_by_tag() -> None:
    a = NameAddr.parse("<sip:1000@192.0.2.1>;tag=aaa")
    b = NameAddr.parse("<sip:1000@192.0.2.1>;tag=bbb")
    assert NameAddr.parse("<sip:1000@192.0.2.1>;tag=aaa") is a
    assert (a.tag, b.tag) == ("aaa", "bbb")
    assert a.uri is b.uri  # the URI inside is remembered too


def test_remembered_parses_stay_bounded() -> None:
    from modules.mod_sofia import uri as uri_module

    for n in range(uri_module._MEMO_LIMIT + 100):
        URI.parse(f"sip:user{n}@192.0.2.9")
    assert len(uri_module._URI_MEMO) <= uri_module._MEMO_LIMIT
    long_text = "sip:" + "u" * 300 + "@192.0.2.9"
    assert URI.parse(long_text).user == "u" * 300
    assert long_text not in uri_module._URI_MEMO
