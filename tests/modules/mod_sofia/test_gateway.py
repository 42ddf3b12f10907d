"""Gateways: settings, the state table, and registration against a registrar on loopback.

The "provider" is one of our own profiles (its registrar, a fake directory); kamailio plays it in
the end-to-end test (test_end_to_end.py).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from lxml import etree

from modules.mod_sofia.gateway import (
    TRANSITIONS,
    Gateway,
    GatewayMachine,
    GatewaySettings,
    GatewayState,
    gateway_name_of,
    split_hostport,
)
from modules.mod_sofia.profile import ProfileSettings, SofiaProfile
from modules.mod_sofia.transaction import TimerConfig
from switchcore.errors import ConfigError, InvalidTransition
from switchcore.events import Event

from .sofia_harness import LOOPBACK, FakeDirectory

FAST = TimerConfig(t1=0.02, t2=0.1, t4=0.1, d=0.2)


def gateway_element(name: str, **params: str) -> etree._Element:
    body = "".join(f'<param name="{k}" value="{v}"/>' for k, v in params.items())
    return etree.fromstring(f'<gateway name="{name}">{body}</gateway>')


def test_settings_take_freeswitch_defaults() -> None:
    settings = GatewaySettings.from_element(gateway_element("prov", username="alice", password="pw"))
    assert (settings.realm, settings.realm_set, settings.proxy) == ("prov", False, "prov")
    assert (settings.from_user, settings.from_domain, settings.extension) == ("alice", "prov", "alice")
    assert (settings.expire_seconds, settings.retry_seconds, settings.register) == (3600, 30, True)
    explicit = GatewaySettings.from_element(
        gateway_element("p2", username="bob", password="x", realm="sip.example.com", proxy="192.0.2.1:5080")
    )
    assert (explicit.realm, explicit.realm_set, explicit.from_domain, explicit.proxy) == (
        "sip.example.com",
        True,
        "sip.example.com",
        "192.0.2.1:5080",
    )


def test_a_registering_gateway_needs_a_username() -> None:
    with pytest.raises(ConfigError, match='param "username" is required'):
        GatewaySettings.from_element(gateway_element("nouser", password="x"))
    trunk = GatewaySettings.from_element(gateway_element("trunk", register="false"))
    assert not trunk.register


def test_hostport_and_gateway_contact_user() -> None:
    assert split_hostport("sip.example.com") == ("sip.example.com", 5060)
    assert split_hostport("sip:192.0.2.1:5080;transport=tcp") == ("192.0.2.1", 5080)
    assert split_hostport("[2001:db8::1]:5062") == ("2001:db8::1", 5062)
    assert gateway_name_of("gw+prov") == "prov" and gateway_name_of("1000") is None


def test_the_state_table_walks_freeswitch_states_and_refuses_the_rest() -> None:
    changes: list[tuple[str, str]] = []
    machine = GatewayMachine("g", lambda old, new, status, phrase: changes.append((old.value, new.value)))
    for event in ("register", "ok", "confirmed", "refresh", "register", "failed", "wait", "retry"):
        machine.fire(event)
    assert changes[:4] == [
        ("UNREGED", "TRYING"),
        ("TRYING", "REGISTER"),
        ("REGISTER", "REGED"),
        ("REGED", "UNREGED"),
    ]
    assert machine.state is GatewayState.UNREGED
    with pytest.raises(InvalidTransition, match="no transition for ok in UNREGED"):
        machine.fire("ok")
    assert all(isinstance(k[0], GatewayState) and isinstance(v, GatewayState) for k, v in TRANSITIONS.items())


@pytest.fixture
async def profiles() -> AsyncIterator[Callable[..., object]]:
    started: list[SofiaProfile] = []

    async def start(
        name: str,
        gateways: tuple[GatewaySettings, ...] = (),
        events: list[Event] | None = None,
        min_expires: int = 1,
    ) -> SofiaProfile:
        settings = ProfileSettings(
            name=name,
            sip_port=0,
            force_register_domain=LOOPBACK,
            timers=FAST,
            gateways=gateways,
            registration_min_expires=min_expires,
        )
        profile = SofiaProfile(
            settings,
            directory=lambda: FakeDirectory(),
            fire=events.append if events is not None else None,
        )
        await profile.start()
        started.append(profile)
        return profile

    yield start
    for profile in reversed(started):
        await profile.stop()


async def wait_state(gateway: Gateway, *states: GatewayState, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while gateway.state not in states:
        assert loop.time() < end, f"gateway {gateway.name} stuck in {gateway.state.value}"
        await asyncio.sleep(0.02)


def dead_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def account(name: str, port: int, **params: str) -> GatewaySettings:
    base = {"username": "1003", "password": "s3cret-1003", "proxy": f"127.0.0.1:{port}", "retry-seconds": "1"}
    return GatewaySettings.from_element(gateway_element(name, **{**base, **params}))


async def test_gateway_registers_answering_the_challenge_and_reports_each_state(profiles: Callable) -> None:
    provider = await profiles("provider")
    events: list[Event] = []
    port = provider.stack.local[1]
    external = await profiles("external", (account("prov", port),), events)
    gateway = external.gateway("prov")
    await wait_state(gateway, GatewayState.REGED)
    states = [e.get("State") for e in events if e.subclass == "sofia::gateway_state"]
    assert states == ["TRYING", "REGISTER", "REGED"]
    assert all(e.get("Gateway") == "prov" for e in events)
    assert gateway.status == "UP" and gateway.usable and gateway.freq == 3600
    (record,) = await provider.contacts("1003", LOOPBACK)
    assert f"sip:gw+prov@127.0.0.1:{external.stack.local[1]};transport=udp;gw=prov" in record.contact
    text = gateway.status_text()
    assert "State   \tREGED" in text and "Status  \tUP" in text and "Password\tyes" in text
    assert gateway.target_for("5551234") == f"sip:5551234@127.0.0.1:{port}"


async def test_a_failing_gateway_waits_and_delays_no_other(profiles: Callable) -> None:
    provider = await profiles("provider")
    port = provider.stack.local[1]
    events: list[Event] = []
    external = await profiles(
        "external",
        (
            account("silent", dead_port()),
            account("refused", port, password="wrong"),
            account("good", port),
        ),
        events,
    )
    await wait_state(external.gateway("good"), GatewayState.REGED, timeout=2)
    refused = external.gateway("refused")
    await wait_state(refused, GatewayState.FAIL_WAIT)
    assert refused.failures >= 1 and refused.last_status == 403 and not refused.usable
    failed = [e for e in events if e.get("Gateway") == "refused" and e.get("State") == "FAILED"]
    assert failed and failed[0].get("Status") == "403" and failed[0].get("Phrase") == "Forbidden"
    silent = external.gateway("silent")
    await wait_state(silent, GatewayState.TIMEOUT, GatewayState.FAIL_WAIT, timeout=8)
    assert silent.last_status == 408 and "(retry:" in silent.retry_note()


async def test_a_challenge_for_another_realm_is_not_answered(profiles: Callable) -> None:
    provider = await profiles("provider")
    external = await profiles(
        "external",
        (account("strict", provider.stack.local[1], realm="sip.example.com", **{"from-domain": LOOPBACK}),),
    )
    gateway = external.gateway("strict")
    await wait_state(gateway, GatewayState.FAIL_WAIT)
    assert gateway.last_status == 401
    assert gateway.credentials_for("sip.example.com") == ("1003", "s3cret-1003")
    assert gateway.credentials_for("127.0.0.1") is None
    assert await provider.contacts("1003", LOOPBACK) == []


async def test_pings_move_a_non_registering_gateway_up_and_down(profiles: Callable) -> None:
    provider = await profiles("provider")
    events: list[Event] = []
    external = await profiles(
        "external",
        (
            account("alive", provider.stack.local[1], register="false", ping="1"),
            account("gone", dead_port(), register="false", ping="1"),
        ),
        events,
    )
    alive, gone = external.gateway("alive"), external.gateway("gone")
    assert alive.state is GatewayState.NOREG
    for _ in range(150):
        if alive.status == "UP":
            break
        await asyncio.sleep(0.02)
    assert alive.status == "UP" and alive.usable
    assert gone.status == "DOWN" and not gone.usable
    assert await gone.ping_once() is False


async def test_stopping_unregisters_and_commands_register_again(profiles: Callable) -> None:
    provider = await profiles("provider")
    external = await profiles(
        "external", (account("prov", provider.stack.local[1], **{"expire-seconds": "3"}),)
    )
    gateway = external.gateway("prov")
    await wait_state(gateway, GatewayState.REGED)
    assert gateway.freq == 3
    gateway.unregister_now()
    await wait_state(gateway, GatewayState.NOREG)
    assert await provider.contacts("1003", LOOPBACK) == []
    gateway.register_now()
    await wait_state(gateway, GatewayState.REGED)
    assert len(await provider.contacts("1003", LOOPBACK)) == 1
    await gateway.stop()
    assert await provider.contacts("1003", LOOPBACK) == []


async def test_a_gateway_asks_again_for_the_registrars_min_expires(profiles: Callable) -> None:
    provider = await profiles("provider", min_expires=120)
    external = await profiles(
        "external", (account("prov", provider.stack.local[1], **{"expire-seconds": "30"}),)
    )
    gateway = external.gateway("prov")
    await wait_state(gateway, GatewayState.REGED)
    assert gateway.freq == 120


async def test_a_short_registration_is_refreshed_before_it_runs_out(profiles: Callable) -> None:
    provider_events: list[Event] = []
    provider = await profiles("provider", events=provider_events)
    external = await profiles(
        "external", (account("prov", provider.stack.local[1], **{"expire-seconds": "3"}),)
    )
    await wait_state(external.gateway("prov"), GatewayState.REGED)
    await asyncio.sleep(1.5)  # refreshed 2 s before the 3 s run out
    registers = [e for e in provider_events if e.subclass == "sofia::register"]
    assert len(registers) >= 2 and external.gateway("prov").state is GatewayState.REGED
