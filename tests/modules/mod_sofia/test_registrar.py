"""The registrar on a running profile: RFC 3261 10.3, NAT, expiry, events and the store."""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from modules.mod_sofia.profile import ProfileSettings, SofiaProfile
from modules.mod_sofia.registrar import (
    Binding,
    Registrar,
    detect_nat,
    fs_contact,
    original_uri,
    split_fs_path,
)
from modules.mod_sofia.transaction import TimerConfig
from modules.mod_sofia.tu import Source
from modules.mod_sofia.uri import URI, NameAddr
from switchcore.events import Event, EventBus
from switchcore.store import Store

from .sofia_harness import LOOPBACK, FakeDirectory, SipClient

SETTINGS = ProfileSettings(
    name="internal",
    sip_port=0,
    challenge_realm="auto_to",
    force_register_domain=LOOPBACK,
    multiple_registrations="contact",
    registration_min_expires=2,
    registration_max_expires=3600,
    registration_sweep_sec=3600,
    timers=TimerConfig(t1=0.05, t2=0.2, t4=0.2),
)

Factory = Callable[..., "asyncio.Future[SofiaProfile]"]


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., object]]:
    profiles: list[SofiaProfile] = []

    async def start(
        settings: ProfileSettings = SETTINGS,
        store: Store | None = None,
        events: list[Event] | None = None,
        fire: Callable[[Event], None] | None = None,
    ) -> SofiaProfile:
        profile = SofiaProfile(
            settings,
            directory=lambda: FakeDirectory(),
            store=lambda: store,
            fire=events.append if events is not None else fire,
            node="test-node",
        )
        await profile.start()
        profiles.append(profile)
        return profile

    yield start
    for profile in profiles:
        await profile.stop()


async def client_for(profile: SofiaProfile, transport: str = "udp") -> SipClient:
    assert profile.stack is not None
    return await SipClient.open(profile.stack.local, transport)


def contacts_of(response: object) -> list[str]:
    return [str(c) for c in response.contacts]  # type: ignore[attr-defined]


async def test_register_is_challenged_then_bound_with_contact_expires_and_date(running: Callable) -> None:
    events: list[Event] = []
    profile = await running(events=events)
    client = await client_for(profile)
    challenge, ok = await client.register_with_auth("1000", "1234")
    assert challenge.status == 401 and challenge.get("WWW-Authenticate")
    assert ok.status == 200 and ok.get("Date")
    assert contacts_of(ok) == [f"<sip:1000@127.0.0.1:{client.port}>;expires=300"]
    (record,) = await profile.contacts("1000", LOOPBACK)
    assert (record.user, record.realm, record.network_port, record.nat) == (
        "1000",
        LOOPBACK,
        client.port,
        False,
    )
    assert record.contact == f'"user" <sip:1000@127.0.0.1:{client.port}>'
    (event,) = [e for e in events if e.subclass == "sofia::register"]
    assert {
        k: event.get(k) for k in ("profile-name", "from-user", "from-host", "expires", "status", "username")
    } == {
        "profile-name": "internal",
        "from-user": "1000",
        "from-host": LOOPBACK,
        "expires": "300",
        "status": "Registered(UDP)",
        "username": "1000",
    }
    assert event.get("network-port") == str(client.port) and event.get("user-agent") == "sofia-test"
    client.close()


async def test_register_events_are_built_only_while_someone_listens(running: Callable) -> None:
    bus = EventBus()
    built: list[str] = []
    real_event = Registrar._event

    def counting_event(self: Registrar, name: str, binding: Binding, request: object) -> Event:
        built.append(name)
        return real_event(self, name, binding, request)  # type: ignore[arg-type]

    profile = await running(fire=bus.fire)
    profile.registrar._event = types.MethodType(counting_event, profile.registrar)  # type: ignore[method-assign]
    client = await client_for(profile)
    _, ok = await client.register_with_auth("1000", "1234")
    assert ok.status == 200 and built == []  # nobody listens: bound, no event built
    heard: list[Event] = []
    bus.listen(heard.append, wants=lambda name, subclass: subclass == "sofia::register")
    _, ok = await client.register_with_auth("1000", "1234", expires=120)
    assert ok.status == 200 and built == ["sofia::register"]
    assert [e.subclass for e in heard] == ["sofia::register"] and heard[0].get("expires") == "120"
    _, gone = await client.register_with_auth("1000", "1234", expires=0)
    assert gone.status == 200 and built == ["sofia::register"]  # nobody wants sofia::unregister
    assert await profile.contacts("1000", LOOPBACK) == []
    client.close()


async def test_wrong_password_and_unknown_user_both_get_403(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile)
    _, wrong = await client.register_with_auth("1000", "wrong")
    _, unknown = await client.register_with_auth("4321", "1234")
    assert (wrong.status, wrong.reason) == (unknown.status, unknown.reason) == (403, "Forbidden")
    assert await profile.contacts("1000", LOOPBACK) == []
    client.close()


async def test_refresh_keeps_one_binding_and_unregister_removes_it(running: Callable) -> None:
    events: list[Event] = []
    profile = await running(events=events)
    client = await client_for(profile)
    await client.register_with_auth("1000", "1234", expires=60)
    await client.register_with_auth("1000", "1234", expires=120)
    (record,) = await profile.contacts("1000", LOOPBACK)
    _, gone = await client.register_with_auth("1000", "1234", expires=0)
    assert gone.status == 200 and gone.contacts == []
    assert await profile.contacts("1000", LOOPBACK) == []
    unregister = [e for e in events if e.subclass == "sofia::unregister"]
    assert len(unregister) == 1 and unregister[0].get("contact") == record.contact
    assert unregister[0].get("expires") == "0"
    client.close()


async def test_several_contacts_per_user_and_star_removes_them_all(running: Callable) -> None:
    profile = await running()
    first, second = await client_for(profile), await client_for(profile)
    await first.register_with_auth("1000", "1234")
    await second.register_with_auth("1000", "1234")
    assert len(await profile.contacts("1000", LOOPBACK)) == 2
    _, ok = await first.register_with_auth("1000", "1234", expires=0, contact="*")
    assert ok.status == 200 and await profile.contacts("1000", LOOPBACK) == []
    first.close()
    second.close()


async def test_star_with_a_nonzero_expiry_is_a_400(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile)
    _, bad = await client.register_with_auth("1000", "1234", expires=60, contact="*")
    assert (bad.status, bad.reason) == (400, "Invalid Contact")
    client.close()


async def test_one_registration_per_user_when_multiple_registrations_is_false(running: Callable) -> None:
    profile = await running(replace(SETTINGS, multiple_registrations="false"))
    first, second = await client_for(profile), await client_for(profile)
    await first.register_with_auth("1000", "1234")
    _, ok = await second.register_with_auth("1000", "1234")
    (record,) = await profile.contacts("1000", LOOPBACK)
    assert record.network_port == second.port and contacts_of(ok) == [
        f"<sip:1000@127.0.0.1:{second.port}>;expires=300"
    ]
    first.close()
    second.close()


async def test_intervals_too_brief_get_423_and_long_ones_are_shortened(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile)
    _, brief = await client.register_with_auth("1000", "1234", expires=1)
    assert (brief.status, brief.get("Min-Expires")) == (423, "2")
    _, capped = await client.register_with_auth(
        "1000", "1234", expires=None, contact=f"<sip:1000@127.0.0.1:{client.port}>;expires=999999"
    )
    assert capped.status == 200 and contacts_of(capped)[0].endswith(";expires=3600")
    client.close()


async def test_a_query_lists_the_bindings_without_changing_them(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile)
    await client.register_with_auth("1000", "1234")
    _, listed = await client.register_with_auth("1000", "1234", contact="")
    assert listed.status == 200 and len(listed.contacts) == 1
    client.close()


async def test_nat_is_detected_and_stored_the_freeswitch_way(running: Callable) -> None:
    events: list[Event] = []
    profile = await running(events=events)
    client = await client_for(profile)
    _, ok = await client.register_with_auth("1000", "1234", contact="<sip:1000@192.0.2.5:5060;ob>")
    assert ok.status == 200
    (record,) = await profile.contacts("1000", LOOPBACK)
    assert record.nat and record.received == f"127.0.0.1:{client.port}"
    encoded = f"sip%3A1000%40127.0.0.1%3A{client.port}%3Bob"
    assert record.contact == f'"user" <sip:1000@192.0.2.5:5060;ob;fs_nat=yes;fs_path={encoded}>'
    target, hop = split_fs_path(record.contact.split("<")[1].rstrip(">"))
    assert target == "sip:1000@192.0.2.5:5060;ob" and hop == f"sip:1000@127.0.0.1:{client.port};ob"
    assert [e.get("status") for e in events if e.subclass == "sofia::register"] == ["Registered(UDP-NAT)"]
    client.close()


def test_nat_rules_compare_address_and_for_udp_the_port() -> None:
    src = Source("udp", ("203.0.113.9", 40000), ("127.0.0.1", 5060))
    assert detect_nat(URI.parse("sip:1000@192.0.2.5:5060"), src)
    assert not detect_nat(URI.parse("sip:1000@203.0.113.9:40000"), src)
    assert detect_nat(URI.parse("sip:1000@203.0.113.9"), src)  # 5060 by default
    tcp = Source("tcp", ("203.0.113.9", 40000), ("127.0.0.1", 5060))
    assert not detect_nat(URI.parse("sip:1000@203.0.113.9:5060;transport=tcp"), tcp)
    assert not detect_nat(URI.parse("sip:1000@phone.example.com"), src)
    stored = fs_contact(NameAddr.parse("<sip:1000@192.0.2.5:5060>"), '"user"', src, True)
    assert original_uri(stored) == "sip:1000@192.0.2.5:5060"


async def test_cseq_must_grow_for_the_same_call_id(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile)
    await client.register_with_auth("1000", "1234")
    client.cseq = 0  # restart the count with the same Call-ID
    _, stale = await client.register_with_auth("1000", "1234")
    assert (stale.status, stale.reason) == (500, "Out Of Order")
    client.close()


async def test_expired_bindings_are_swept_with_a_sofia_expire_event(running: Callable) -> None:
    events: list[Event] = []
    profile = await running(events=events)
    client = await client_for(profile)
    await client.register_with_auth("1000", "1234", expires=2)
    assert len(await profile.contacts("1000", LOOPBACK)) == 1
    gone = profile.registrar.sweep(now=profile.registrar.clock() + 3)
    assert len(gone) == 1 and await profile.contacts("1000", LOOPBACK) == []
    (event,) = [e for e in events if e.subclass == "sofia::expire"]
    assert (event.get("user"), event.get("host"), event.get("profile-name")) == ("1000", LOOPBACK, "internal")
    client.close()


async def test_registrations_are_stored_and_survive_a_restart(running: Callable, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'reg.db'}")
    store.open()
    try:
        first = await running(store=store)
        client = await client_for(first)
        await client.register_with_auth("1000", "1234", contact="<sip:1000@192.0.2.5:5060>")
        await first.stop()
        assert len(store.registrations(profile="internal")) == 1
        second = await running(store=store)
        (record,) = await second.contacts("1000", LOOPBACK)
        assert record.nat and record.node == "test-node"
        # The restored binding is the same binding: an un-REGISTER removes it everywhere.
        client.server = second.stack.local  # type: ignore[union-attr]
        await client.register_with_auth("1000", "1234", contact="<sip:1000@192.0.2.5:5060>", expires=0)
        await second.registrar.flush()
        assert store.registrations(profile="internal") == []
        client.close()
    finally:
        store.close()


async def test_register_over_tcp_is_bound_to_the_connection(running: Callable) -> None:
    profile = await running()
    client = await client_for(profile, "tcp")
    _, ok = await client.register_with_auth(
        "1003", "s3cret-1003", contact="<sip:1003@127.0.0.1:5099;transport=tcp>"
    )
    assert ok.status == 200
    (record,) = await profile.contacts("1003", LOOPBACK)
    assert (record.transport, record.network_port, record.nat) == ("tcp", client.port, False)
    client.close()


async def test_many_phones_register_at_once(running: Callable) -> None:
    profile = await running()
    clients = [await client_for(profile) for _ in range(20)]
    results = await asyncio.gather(*(c.register_with_auth("1001", "1234") for c in clients))
    assert all(ok.status == 200 for _, ok in results)
    assert len(await profile.contacts("1001", LOOPBACK)) == 20
    for client in clients:
        client.close()


async def test_a_password_guesser_is_slowed_then_refused(running: Callable) -> None:
    profile = await running(
        replace(SETTINGS, auth_fail_max=3, auth_fail_window_sec=60, auth_fail_ban_sec=300)
    )
    client = await client_for(profile)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(3):
        _, refused = await client.register_with_auth("1000", "guess")
        assert refused.status == 403
    assert loop.time() - started >= 1.4  # 0 + 0.5 + 1.0 s of slowing down
    client.send(client.register("1000"))
    blocked = await client.next_response()
    assert blocked.status == 403 and blocked.get("WWW-Authenticate") is None  # refused, not challenged
    assert profile.auth.throttle.blocked("127.0.0.1", profile.auth.clock())
    client.close()
