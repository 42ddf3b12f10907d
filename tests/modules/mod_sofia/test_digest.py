"""Digest authentication (RFC 2617, 7616, 8760): known vectors, server verify, client answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.mod_sofia.digest import (
    Algorithm,
    AuthResult,
    Challenge,
    Credentials,
    DigestServer,
    UnsupportedAlgorithm,
    a1_hash,
    answer,
    authorize,
    compute_response,
    pick_challenge,
)
from modules.mod_sofia.headers import AuthHeader
from modules.mod_sofia.message import Request, Response, make_response, parse_message
from modules.mod_sofia.uri import ParseError

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sip"
REALM = "192.0.2.10"


def test_rfc2617_section_3_5_example() -> None:
    ha1 = a1_hash("Mufasa", "testrealm@host.com", "Circle Of Life")
    response = compute_response(
        ha1=ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert response == "6629fae49393a05397450978507c4ef1"


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        (Algorithm.MD5, "8ca523f5e9506fed4657c9700eebdbec"),
        (Algorithm.SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_examples(algorithm: Algorithm, expected: str) -> None:
    ha1 = a1_hash("Mufasa", "http-auth@example.org", "Circle of Life", algorithm)
    response = compute_response(
        ha1=ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
        qop="auth",
        nc="00000001",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        algorithm=algorithm,
    )
    assert response == expected


def test_algorithm_names_are_case_insensitive_and_default_to_md5() -> None:
    assert Algorithm.parse(None) is Algorithm.MD5
    assert Algorithm.parse("sha-256") is Algorithm.SHA256
    with pytest.raises(UnsupportedAlgorithm):
        Algorithm.parse("SHA-512-256")


def make_server(**kwargs: object) -> DigestServer:
    return DigestServer(b"k" * 32, **kwargs)  # type: ignore[arg-type]


def login(
    server: DigestServer, now: float, password: str = "1234", alg: Algorithm = Algorithm.MD5
) -> Credentials:
    challenge = next(c for c in server.challenges(REALM, now) if c.algorithm is alg)
    return answer(
        challenge, method="REGISTER", uri=f"sip:{REALM}", username="1000", password=password, cnonce="cn"
    )


def test_challenge_header_round_trips_through_the_parser() -> None:
    challenge = make_server().challenges(REALM, 100.0, opaque="op")[0]
    text = challenge.header_value()
    assert text.startswith(f'Digest realm="{REALM}", nonce="')
    assert 'algorithm=MD5, qop="auth"' in text
    assert Challenge.from_header(AuthHeader.parse(text)) == challenge


def test_stale_challenge_says_so() -> None:
    challenge = make_server().challenges(REALM, 0.0, stale=True)[0]
    assert "stale=true" in challenge.header_value()
    assert Challenge.from_header(AuthHeader.parse(challenge.header_value())).stale


def test_sha256_is_offered_before_md5() -> None:
    server = make_server(algorithms=(Algorithm.MD5, Algorithm.SHA256))
    assert [c.algorithm for c in server.challenges(REALM, 0.0)] == [Algorithm.SHA256, Algorithm.MD5]


@pytest.mark.parametrize("alg", [Algorithm.MD5, Algorithm.SHA256, Algorithm.MD5_SESS, Algorithm.SHA256_SESS])
def test_correct_password_verifies(alg: Algorithm) -> None:
    server = make_server(algorithms=(alg,))
    credentials = login(server, 10.0, alg=alg)
    assert server.verify(credentials, "REGISTER", REALM, 20.0, password="1234") is AuthResult.OK


def test_verify_against_stored_a1_hash() -> None:
    server = make_server()
    credentials = login(server, 10.0)
    stored = a1_hash("1000", REALM, "1234")
    assert server.verify(credentials, "REGISTER", REALM, 11.0, stored_ha1=stored.upper()) is AuthResult.OK
    with pytest.raises(ValueError):
        server.verify(credentials, "REGISTER", REALM, 11.0)


def test_wrong_password_is_bad_response() -> None:
    server = make_server()
    assert (
        server.verify(login(server, 0.0, "wrong"), "REGISTER", REALM, 1.0, password="1234")
        is AuthResult.BAD_RESPONSE
    )


def test_wrong_method_is_bad_response() -> None:
    server = make_server()
    assert server.verify(login(server, 0.0), "INVITE", REALM, 1.0, password="1234") is AuthResult.BAD_RESPONSE


def test_expired_nonce_with_right_password_is_stale() -> None:
    server = make_server(nonce_ttl=60)
    credentials = login(server, 0.0)
    assert server.verify(credentials, "REGISTER", REALM, 59.0, password="1234") is AuthResult.OK
    assert server.verify(credentials, "REGISTER", REALM, 61.0, password="1234") is AuthResult.STALE


def test_forged_or_foreign_nonce_is_rejected_statelessly() -> None:
    server = make_server()
    credentials = login(server, 0.0)
    other = DigestServer(b"x" * 32)
    assert other.verify(credentials, "REGISTER", REALM, 1.0, password="1234") is AuthResult.BAD_NONCE
    assert server.verify(credentials, "REGISTER", "other.realm", 1.0, password="1234") is AuthResult.BAD_NONCE
    assert server.nonce_time("not-a-nonce!", REALM) is None
    # a nonce from the future (clock games) is refused too
    assert (
        server.verify(login(server, 100.0), "REGISTER", REALM, 50.0, password="1234") is AuthResult.BAD_NONCE
    )


def test_nonce_survives_a_restart_with_the_same_secret() -> None:
    credentials = login(make_server(), 0.0)
    assert make_server().verify(credentials, "REGISTER", REALM, 5.0, password="1234") is AuthResult.OK


def test_nc_replay_is_caught_when_tracking() -> None:
    server = make_server(track_nc=True)
    challenge = server.challenges(REALM, 0.0)[0]
    first = answer(challenge, method="REGISTER", uri="sip:x", username="1000", password="1234", nc=1)
    second = answer(challenge, method="REGISTER", uri="sip:x", username="1000", password="1234", nc=2)
    assert server.verify(first, "REGISTER", REALM, 1.0, password="1234") is AuthResult.OK
    assert server.verify(first, "REGISTER", REALM, 2.0, password="1234") is AuthResult.REPLAY
    assert server.verify(second, "REGISTER", REALM, 3.0, password="1234") is AuthResult.OK
    server.expire(1000.0)
    assert server._nc_seen == {}


def test_unoffered_algorithm_or_missing_qop_is_unsupported() -> None:
    server = make_server()
    sha = answer(
        Challenge(REALM, server.make_nonce(REALM, 0.0), Algorithm.SHA256),
        method="REGISTER",
        uri="sip:x",
        username="u",
        password="p",
    )
    assert server.verify(sha, "REGISTER", REALM, 1.0, password="p") is AuthResult.UNSUPPORTED
    rfc2069 = answer(
        Challenge(REALM, server.make_nonce(REALM, 0.0), qop=()),
        method="REGISTER",
        uri="sip:x",
        username="u",
        password="p",
    )
    assert rfc2069.qop is None
    assert server.verify(rfc2069, "REGISTER", REALM, 1.0, password="p") is AuthResult.UNSUPPORTED
    legacy = make_server(qop=())
    assert legacy.verify(rfc2069, "REGISTER", REALM, 1.0, password="p") is AuthResult.OK


def test_credentials_header_round_trip() -> None:
    credentials = login(make_server(), 0.0)
    text = credentials.header_value()
    assert 'username="1000"' in text and "qop=auth, nc=00000001" in text
    assert Credentials.from_header(AuthHeader.parse(text)) == credentials


@pytest.mark.parametrize(
    "text",
    [
        'Digest username="a", realm="r", nonce="n", uri="u"',
        'Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth',
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    ],
)
def test_incomplete_credentials_raise(text: str) -> None:
    with pytest.raises(ParseError):
        Credentials.from_header(AuthHeader.parse(text))


def test_client_answers_a_401_from_the_vector() -> None:
    response = Response.parse((VECTORS / "rfc3665_2_1_f2_401.sip").read_bytes())
    challenge = pick_challenge(response)
    assert challenge is not None and challenge.realm == "atlanta.example.com" and challenge.opaque == ""


def test_client_prefers_sha256_when_both_are_offered() -> None:
    server = make_server(algorithms=(Algorithm.MD5, Algorithm.SHA256))
    request = Request.parse((VECTORS / "rfc3665_2_1_f1_register.sip").read_bytes())
    challenged = make_response(request, 401, to_tag="t")
    for challenge in reversed(server.challenges(REALM, 0.0)):
        challenged = challenged.with_header("WWW-Authenticate", challenge.header_value())
    picked = pick_challenge(challenged)
    assert picked is not None and picked.algorithm is Algorithm.SHA256


def test_authorize_reissues_the_request_and_the_server_accepts_it() -> None:
    server = make_server()
    request = Request.parse((VECTORS / "rfc3665_2_1_f1_register.sip").read_bytes())
    challenged = make_response(request, 401, to_tag="t").with_header(
        "WWW-Authenticate", server.challenges(REALM, 0.0)[0].header_value()
    )
    retry = authorize(request, challenged, "bob", "zanzibar")
    assert retry is not None
    again = parse_message(bytes(retry))
    assert again.cseq.number == request.cseq.number + 1
    assert again.top_via.branch != request.top_via.branch and again.top_via.has_cookie
    assert again.call_id == request.call_id and again.from_tag == request.from_tag
    assert again.authorization is not None
    credentials = Credentials.from_header(again.authorization)
    assert server.verify(credentials, "REGISTER", REALM, 1.0, password="zanzibar") is AuthResult.OK


def test_authorize_uses_proxy_authorization_for_407() -> None:
    server = make_server()
    request = Request.parse((VECTORS / "rfc3665_3_1_f1_invite.sip").read_bytes())
    challenged = make_response(request, 407, to_tag="t").with_header(
        "Proxy-Authenticate", server.challenges(REALM, 0.0)[0].header_value()
    )
    retry = authorize(request, challenged, "alice", "pw")
    assert retry is not None and "Proxy-Authorization" in retry and "Authorization" not in retry
    assert authorize(request, make_response(request, 407), "alice", "pw") is None


def test_a_nonce_just_issued_is_known_without_decoding_and_agrees_with_its_mac() -> None:
    server = DigestServer(secret=b"k" * 32)
    nonce = server.make_nonce("example.com", 1000.25)
    assert server.nonce_time(nonce, "example.com") == 1000.25
    assert server.nonce_time(nonce, "other.example.com") is None  # another realm's
    fresh = DigestServer(secret=b"k" * 32)  # same secret, nothing remembered: decoded from the MAC
    assert fresh.nonce_time(nonce, "example.com") == 1000.25
    assert DigestServer(secret=b"x" * 32).nonce_time(nonce, "example.com") is None


def test_remembered_nonces_stay_bounded() -> None:
    from modules.mod_sofia import digest

    server = DigestServer(secret=b"k" * 32)
    first = server.make_nonce("example.com", 1.0)
    for n in range(digest._ISSUED_LIMIT + 10):
        server.make_nonce("example.com", 2.0 + n)
    assert len(server._issued) <= digest._ISSUED_LIMIT
    assert (first, "example.com") not in server._issued
    assert server.nonce_time(first, "example.com") == 1.0  # still ours: checked by its MAC


@pytest.mark.parametrize("key", [b"", b"k" * 32, b"x" * 64, b"long" * 40])
def test_the_nonce_mac_is_standard_hmac_sha256(key: bytes) -> None:
    import hmac

    from modules.mod_sofia.digest import _Hmac

    for message in (b"", b"\x00\x00\x01\x8b example.com", b"m" * 500):
        assert _Hmac(key).digest(message) == hmac.digest(key, message, "sha256")
