"""Digest authentication against the directory: challenges, identity, throttling, logging."""

from __future__ import annotations

import logging

import pytest

from modules.mod_sofia.auth import Authenticator, AuthOutcome, AuthThrottle
from modules.mod_sofia.digest import Algorithm, Challenge, answer
from modules.mod_sofia.headers import AuthHeader
from modules.mod_sofia.message import Request, make_request, new_branch
from modules.mod_sofia.tu import Source
from switchcore.directory import User
from switchcore.events import Event

from .sofia_harness import FakeDirectory

SOURCE = Source("udp", ("192.0.2.44", 5062), ("127.0.0.1", 5060))
REALM = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_auth(clock: Clock, events: list[Event] | None = None, **options: object) -> Authenticator:
    return Authenticator(
        "internal",
        lambda: FakeDirectory(),
        clock=clock,
        sleep=clock.sleep,
        fire=events.append if events is not None else None,
        **options,  # type: ignore[arg-type]
    )


def request(
    method: str = "REGISTER", user: str = "1000", *, to_user: str | None = None, auth: str = ""
) -> Request:
    headers = [("Authorization" if method == "REGISTER" else "Proxy-Authorization", auth)] if auth else []
    return make_request(
        method,
        "sip:127.0.0.1",
        from_addr=f"<sip:{user}@{REALM}>;tag=t1",
        to_addr=f"<sip:{to_user or user}@{REALM}>",
        call_id="c1",
        cseq=1,
        via=f"SIP/2.0/UDP 192.0.2.44:5062;branch={new_branch()}",
        headers=headers,
    )


def credentials(outcome: AuthOutcome, method: str, user: str, password: str, *, pick: int = 0) -> str:
    challenge = Challenge.from_header(AuthHeader.parse(outcome.headers[pick][1]))
    return answer(
        challenge, method=method, uri="sip:127.0.0.1", username=user, password=password
    ).header_value()


async def test_a_request_without_credentials_is_challenged_401_md5_qop_auth() -> None:
    auth = make_auth(Clock())
    outcome = await auth.check(request(), SOURCE, REALM)
    assert not outcome.ok and (outcome.status, outcome.reason) == (401, "Unauthorized")
    ((name, value),) = outcome.headers
    assert name == "WWW-Authenticate"
    assert value.startswith(f'Digest realm="{REALM}", nonce="') and 'algorithm=MD5, qop="auth"' in value
    assert outcome.response == (401, "Unauthorized", outcome.headers)


async def test_proxy_kind_challenges_407_and_reads_proxy_authorization() -> None:
    clock = Clock()
    auth = make_auth(clock)
    invite = request("INVITE")
    challenge = await auth.check(invite, SOURCE, REALM, kind="proxy")
    assert challenge.status == 407 and challenge.headers[0][0] == "Proxy-Authenticate"
    answered = request("INVITE", auth=credentials(challenge, "INVITE", "1000", "1234"))
    outcome = await auth.check(answered, SOURCE, REALM, kind="proxy")
    assert outcome.ok and (outcome.user, outcome.domain) == ("1000", REALM)
    assert outcome.response is None


async def test_right_password_passes_and_a1_hash_users_pass_too() -> None:
    clock = Clock()
    auth = make_auth(clock)
    for user, password in (("1000", "1234"), ("1002", "secret1002")):
        challenge = await auth.check(request(user=user), SOURCE, REALM)
        outcome = await auth.check(
            request(user=user, auth=credentials(challenge, "REGISTER", user, password)), SOURCE, REALM
        )
        assert outcome.ok and outcome.user == user and outcome.directory_user is not None


async def test_sha256_is_offered_first_when_configured_and_accepted() -> None:
    auth = make_auth(Clock(), algorithms=(Algorithm.SHA256, Algorithm.MD5))
    challenge = await auth.check(request(), SOURCE, REALM)
    assert [h[1].split("algorithm=")[1].split(",")[0] for h in challenge.headers] == ["SHA-256", "MD5"]
    outcome = await auth.check(
        request(auth=credentials(challenge, "REGISTER", "1000", "1234")), SOURCE, REALM
    )
    assert outcome.ok


async def test_an_expired_nonce_with_the_right_password_is_rechallenged_stale() -> None:
    clock = Clock()
    auth = make_auth(clock, nonce_ttl=60)
    challenge = await auth.check(request(), SOURCE, REALM)
    creds = credentials(challenge, "REGISTER", "1000", "1234")
    clock.now += 61
    outcome = await auth.check(request(auth=creds), SOURCE, REALM)
    assert outcome.status == 401 and "stale=true" in outcome.headers[0][1]


async def test_unknown_user_and_wrong_password_look_the_same_from_outside() -> None:
    clock = Clock()
    auth = make_auth(clock)
    challenge = await auth.check(request(), SOURCE, REALM)
    wrong = await auth.check(request(auth=credentials(challenge, "REGISTER", "1000", "nope")), SOURCE, REALM)
    unknown = await auth.check(
        request(user="7777", auth=credentials(challenge, "REGISTER", "7777", "nope")), SOURCE, REALM
    )
    assert (wrong.status, wrong.reason, wrong.headers) == (403, "Forbidden", ())
    assert (unknown.status, unknown.reason, unknown.headers) == (wrong.status, wrong.reason, wrong.headers)


async def test_the_digest_user_must_be_the_address_of_record() -> None:
    auth = make_auth(Clock())
    challenge = await auth.check(request(), SOURCE, REALM)
    # 1001 authenticates correctly, but tries to register 1000's address.
    creds = credentials(challenge, "REGISTER", "1001", "1234")
    outcome = await auth.check(request(user="1001", to_user="1000", auth=creds), SOURCE, REALM)
    assert outcome.status == 403
    # For an INVITE the identity is the From user.
    invite = request(
        "INVITE", user="1000", to_user="1001", auth=credentials(challenge, "INVITE", "1001", "1234")
    )
    proxy_challenge = await auth.check(request("INVITE"), SOURCE, REALM, kind="proxy")
    invite = request(
        "INVITE", user="1000", to_user="1001", auth=credentials(proxy_challenge, "INVITE", "1001", "1234")
    )
    assert (await auth.check(invite, SOURCE, REALM, kind="proxy")).status == 403


async def test_each_failure_logs_one_fail2ban_line_and_fires_register_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[Event] = []
    auth = make_auth(Clock(), events)
    challenge = await auth.check(request(), SOURCE, REALM)
    with caplog.at_level(logging.WARNING, logger="mod_sofia.auth"):
        await auth.check(request(auth=credentials(challenge, "REGISTER", "1000", "bad")), SOURCE, REALM)
    lines = [r.getMessage() for r in caplog.records if r.name == "mod_sofia.auth"]
    assert lines == [
        "SIP auth failure (REGISTER) on sofia profile 'internal' for [1000@127.0.0.1] from ip 192.0.2.44"
    ]
    (event,) = events
    assert event.subclass == "sofia::register_failure"
    assert {
        k: event.get(k) for k in ("profile-name", "to-user", "to-host", "network-ip", "network-port")
    } == {
        "profile-name": "internal",
        "to-user": "1000",
        "to-host": "127.0.0.1",
        "network-ip": "192.0.2.44",
        "network-port": "5062",
    }


async def test_repeated_failures_are_slowed_then_refused_for_the_ban_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    auth = make_auth(clock, throttle=AuthThrottle(max_failures=3, window=60, ban=300))
    challenge = await auth.check(request(), SOURCE, REALM)
    bad = request(auth=credentials(challenge, "REGISTER", "1000", "guess"))
    for _ in range(3):
        assert (await auth.check(bad, SOURCE, REALM)).status == 403
    assert clock.slept == [0.5, 1.0]  # slowed: nothing for the first, more for each next one
    assert any("refused for 300 s" in r.getMessage() for r in caplog.records)
    # Refused: no challenge any more, even with the right password.
    assert (await auth.check(request(), SOURCE, REALM)).headers == ()
    good = request(auth=credentials(challenge, "REGISTER", "1000", "1234"))
    assert (await auth.check(good, SOURCE, REALM)).status == 403
    other = Source("udp", ("192.0.2.45", 5062), SOURCE.local)
    assert (await auth.check(request(), other, REALM)).status == 401  # only that address
    clock.now += 301
    fresh = await auth.check(request(), SOURCE, REALM)
    assert fresh.status == 401
    assert (await auth.check(request(auth=credentials(fresh, "REGISTER", "1000", "1234")), SOURCE, REALM)).ok


def test_throttle_counts_only_inside_the_window_and_zero_max_disables_it() -> None:
    throttle = AuthThrottle(max_failures=2, window=10, ban=100)
    assert throttle.failure("a", 0.0) == (1, False)
    assert throttle.failure("a", 20.0) == (1, False)  # the first one left the window
    assert throttle.failure("a", 21.0) == (2, True)
    assert throttle.blocked("a", 50.0) and not throttle.blocked("a", 122.0)
    off = AuthThrottle(max_failures=0)
    assert off.failure("a", 0.0) == (0, False) and off.delay(10) == 0.0 and not off.blocked("a", 0.0)


def test_challenge_realm_rules() -> None:
    invite = make_request(
        "INVITE",
        "sip:1001@pbx.example.com",
        from_addr="<sip:1000@from.example.com>;tag=1",
        to_addr="<sip:1001@to.example.com>",
        call_id="x",
        cseq=1,
        via=f"SIP/2.0/UDP 192.0.2.1;branch={new_branch()}",
    )
    assert (
        Authenticator("p", lambda: None, challenge_realm="auto_from").realm_for(invite) == "from.example.com"
    )
    assert Authenticator("p", lambda: None, challenge_realm="auto_to").realm_for(invite) == "to.example.com"
    assert Authenticator("p", lambda: None, challenge_realm="example.net").realm_for(invite) == "example.net"


async def test_replayed_credentials_are_refused_but_users_sharing_a_nonce_are_not() -> None:
    auth = make_auth(Clock())  # a frozen clock: every challenge carries the same nonce
    challenge = await auth.check(request(), SOURCE, REALM)
    first = request(auth=credentials(challenge, "REGISTER", "1000", "1234"))
    assert (await auth.check(first, SOURCE, REALM)).ok
    assert (await auth.check(first, SOURCE, REALM)).status == 403  # same nc again: a replay
    other = request(user="1001", auth=credentials(challenge, "REGISTER", "1001", "1234"))
    assert (await auth.check(other, SOURCE, REALM)).ok


async def test_nc_counters_are_kept_while_their_nonce_lives_and_forgotten_after() -> None:
    clock = Clock()
    auth = make_auth(clock, nonce_ttl=60)
    challenge = await auth.check(request(), SOURCE, REALM)
    first = request(auth=credentials(challenge, "REGISTER", "1000", "1234"))
    assert (await auth.check(first, SOURCE, REALM)).ok
    clock.now += 59  # the nonce still lives: its counter too, and a replay is caught
    others = [await auth.check(request(), SOURCE, REALM) for _ in range(3)]
    for other in others:
        assert (
            await auth.check(request(auth=credentials(other, "REGISTER", "1000", "1234")), SOURCE, REALM)
        ).ok
    assert (await auth.check(first, SOURCE, REALM)).status == 403
    assert len(auth._nc_seen) == 4  # one counter per (nonce, user, cnonce)
    clock.now += 61  # past the lifetime: every counter is of a stale nonce now
    late = await auth.check(request(), SOURCE, REALM)
    assert (await auth.check(request(auth=credentials(late, "REGISTER", "1000", "1234")), SOURCE, REALM)).ok
    assert len(auth._nc_seen) == 1
    stale = await auth.check(first, SOURCE, REALM)  # its nonce: stale, whatever its nc
    assert stale.status == 401 and "stale=true" in stale.headers[0][1]


async def test_an_a1_hash_user_answering_sha256_is_asked_again_for_md5() -> None:
    auth = make_auth(Clock(), algorithms=(Algorithm.SHA256, Algorithm.MD5))
    challenge = await auth.check(request(user="1002"), SOURCE, REALM)
    sha = request(user="1002", auth=credentials(challenge, "REGISTER", "1002", "secret1002", pick=0))
    again = await auth.check(sha, SOURCE, REALM)
    assert again.status == 401 and [h[1].split("algorithm=")[1][:3] for h in again.headers] == ["MD5"]
    md5 = request(user="1002", auth=credentials(again, "REGISTER", "1002", "secret1002"))
    assert (await auth.check(md5, SOURCE, REALM)).ok


@pytest.mark.parametrize(
    "rest",
    [
        'username="1000",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",'
        'nonce="AAAB",response="0123",algorithm=MD5',
        'username = "1000" , realm="r",  nc=01 ,qop=auth',
        'username="a,b",realm="r"',  # a comma inside quotes: not the plain form
        'username="a\\"b",realm="r"',  # an escape
        'USERNAME="x",username="y"',  # the first of a repeat wins
        'a=b=c,d=""',
        "a=b,",
        ",a=b",
        "a b=c",
        'a="b"c',
        "a=\x00b",
        'a="multi word value",b=tok\u00e9n',
        "a=b,,c=d",
        'a="unterminated,b=c',
    ],
)
def test_plain_credentials_split_agrees_with_the_regular_expressions(rest: str) -> None:
    from modules.mod_sofia import auth as auth_module

    plain = auth_module._plain_params(rest)
    if auth_module._AUTH_PARAMS.fullmatch(rest) is None:
        assert plain is None
        return
    expected: dict[str, str] = {}
    for name, raw in auth_module._AUTH_PARAM.findall(rest):
        expected.setdefault(name.lower(), auth_module._unquote(raw) if raw.startswith('"') else raw)
    assert plain is None or plain == expected
    assert auth_module._digest_params("Digest " + rest) == expected


def test_quick_outcome_is_the_dataclass_one() -> None:
    from modules.mod_sofia.auth import _outcome

    user = FakeDirectory().user("1000", "127.0.0.1")
    assert _outcome(True, "1000", "d", "u", "r", 0, "", (), user) == AuthOutcome(
        True, user="1000", domain="d", username="u", realm="r", directory_user=user
    )
    challenge = (("WWW-Authenticate", "Digest x"),)
    assert _outcome(False, "", "", "", "r", 401, "Unauthorized", challenge, None) == AuthOutcome(
        False, realm="r", status=401, reason="Unauthorized", headers=challenge
    )


async def test_a_new_password_counts_once_the_directory_hands_out_a_new_user() -> None:
    # The password is remembered per User object: a reloaded directory's users are new ones.
    directory = FakeDirectory()
    current = {"1000": directory.user("1000", REALM)}
    clock = Clock()
    auth = Authenticator(
        "internal", lambda: _OneUser(current), clock=clock, sleep=clock.sleep, log_failures=False
    )

    async def register(password: str) -> bool:
        challenge = await auth.check(request(), SOURCE, REALM)
        signed = request(auth=credentials(challenge, "REGISTER", "1000", password))
        return (await auth.check(signed, SOURCE, REALM)).ok

    assert await register("1234")
    directory.users["1000"] = {"password": "changed"}
    current["1000"] = directory.user("1000", REALM)  # what a reloadxml does
    clock.now += 1
    assert not await register("1234")
    clock.now += 1
    assert await register("changed")


class _OneUser:
    def __init__(self, users: dict[str, User | None]) -> None:
        self.users = users

    def user(self, user: str, domain: str) -> User | None:
        return self.users.get(user)
