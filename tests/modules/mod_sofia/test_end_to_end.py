"""Real peers against the switch booted in-process: sipp, a pjsua2 phone, sipsak and kamailio.

Each test boots the switch from the test tree (`conf/`, fresh ports in 15600-15649) and drives
peers started by the tests/peers fixtures; blocking peer calls run in threads so the switch's
event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from modules.mod_sofia.gateway import GatewayState
from modules.mod_sofia.lifecycle import runtime_of
from switchcore.events import Event
from tests.peers.fixtures import make_kamailio, make_phone, make_sipp
from tests.peers.kamailio import Kamailio
from tests.peers.phone import Phone
from tests.peers.ports import PortAllocator
from tests.peers.sipp import Sipp

from .sofia_harness import LOOPBACK, PORTS, SipClient, booted_switch, gateway_xml

__all__ = ["make_kamailio", "make_phone", "make_sipp", "peer_ports"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PORTS


def custom_events(switch: object, subclass: str) -> list[Event]:
    seen: list[Event] = []
    switch.events.listen(lambda e: seen.append(e) if e.subclass == subclass else None)  # type: ignore[attr-defined]
    return seen


async def test_sipp_registers_with_digest_auth(tmp_path: Path, make_sipp: Callable[..., Sipp]) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        registered = custom_events(switch, "sofia::register")
        sipp = make_sipp(
            "register_auth", f"{LOOPBACK}:{internal}", service="1000", auth_user="1000", auth_password="1234"
        )
        result = await asyncio.to_thread(sipp.run)
        result.assert_ok(calls=1)
        assert (
            await switch.api("sofia_contact 1000@127.0.0.1")
            == f"sofia/internal/sip:1000@127.0.0.1:{sipp.local_port};transport=UDP"
        )
        assert registered and registered[0].get("user-agent") == "sipp register_auth"


async def test_sipp_with_a_wrong_password_is_refused_and_logged(
    tmp_path: Path, make_sipp: Callable[..., Sipp], caplog: pytest.LogCaptureFixture
) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        failures = custom_events(switch, "sofia::register_failure")
        sipp = make_sipp(
            "register_wrong_password",
            f"{LOOPBACK}:{internal}",
            service="1001",
            auth_user="1001",
            auth_password="nope",
        )
        with caplog.at_level(logging.WARNING, logger="mod_sofia.auth"):
            result = await asyncio.to_thread(sipp.run)
        result.assert_ok(calls=1)
        expected = (
            "SIP auth failure (REGISTER) on sofia profile 'internal' for [1001@127.0.0.1] from ip 127.0.0.1"
        )
        assert expected in [r.getMessage() for r in caplog.records]
        assert failures and failures[0].get("network-port") == str(sipp.local_port)
        assert await switch.api("sofia_contact 1001@127.0.0.1") == "error/user_not_registered"


async def test_sipp_registrations_at_a_steady_rate_all_succeed(
    tmp_path: Path, make_sipp: Callable[..., Sipp]
) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        sipp = make_sipp(
            "register_auth",
            f"{LOOPBACK}:{internal}",
            service="1000",
            auth_user="1000",
            auth_password="1234",
            calls=200,
            rate=100,
            trace_messages=False,
        )
        result = await asyncio.to_thread(sipp.run)
        result.assert_ok(calls=200)


async def test_pjsua2_phone_registers_and_unregisters(
    tmp_path: Path, make_phone: Callable[..., Phone]
) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        phone = await asyncio.to_thread(make_phone, "p1000")
        event = await asyncio.to_thread(
            phone.register, "1000", "1234", f"sip:{LOOPBACK}:{internal}", domain=LOOPBACK
        )
        assert event is not None and event["code"] == 200
        contact = await switch.api("sofia_contact 1000@127.0.0.1")
        assert contact.startswith(f"sofia/internal/sip:1000@127.0.0.1:{phone.sip_port}")
        regs = await switch.api("sofia status profile internal reg 1000")
        assert "Total items returned: 1" in regs and "Registered(UDP)" in regs
        await asyncio.to_thread(phone.unregister)
        for _ in range(50):
            if await switch.api("sofia_contact 1000@127.0.0.1") == "error/user_not_registered":
                break
            await asyncio.sleep(0.05)
        assert await switch.api("sofia_contact 1000@127.0.0.1") == "error/user_not_registered"


async def test_pjsua2_phone_registers_over_tcp(tmp_path: Path, make_phone: Callable[..., Phone]) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        phone = await asyncio.to_thread(make_phone, "p1003")
        event = await asyncio.to_thread(
            phone.register,
            "1003",
            "s3cret-1003",
            f"sip:{LOOPBACK}:{internal};transport=tcp",
            domain=LOOPBACK,
            transport="tcp",
        )
        assert event is not None and event["code"] == 200
        regs = await switch.api("sofia status profile internal reg 1003")
        assert "Registered(TCP" in regs, regs
        assert "transport=tcp" in (await switch.api("sofia_contact 1003@127.0.0.1")).lower()


async def test_pjsua2_phone_with_a_wrong_password_is_refused(
    tmp_path: Path, make_phone: Callable[..., Phone]
) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        phone = await asyncio.to_thread(make_phone, "p1001")
        with pytest.raises(Exception, match="403"):
            await asyncio.to_thread(
                phone.register, "1001", "wrong", f"sip:{LOOPBACK}:{internal}", domain=LOOPBACK
            )


async def test_sipsak_options_ping_is_answered(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (_, internal, external):
        for port in (internal, external):
            local = PORTS.sip()
            proc = await asyncio.to_thread(
                subprocess.run,
                ["sipsak", "-s", f"sip:ping@{LOOPBACK}:{port}", "-l", str(local), "-H", LOOPBACK, "-v"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "200 OK" in proc.stdout


async def test_gateway_registers_to_kamailio_and_is_reachable_through_it(
    tmp_path: Path, make_kamailio: Callable[..., Kamailio]
) -> None:
    provider = await asyncio.to_thread(make_kamailio, {"gwuser": "gwpass"})
    gateway = gateway_xml(
        "kam", f"127.0.0.1:{provider.port}", "gwuser", "gwpass", **{"expire-seconds": "120"}
    )
    async with booted_switch(tmp_path, gateways={"kam": gateway}) as (switch, _, external):
        runtime = runtime_of(switch)
        assert runtime is not None
        kam = runtime.gateway("kam")
        assert kam is not None
        for _ in range(200):
            if kam.state is GatewayState.REGED:
                break
            await asyncio.sleep(0.05)
        assert kam.state is GatewayState.REGED, kam.status_text() + provider.log_tail()
        assert "REGED" in await switch.api("sofia status gateway kam")
        # kamailio now routes gwuser to our gateway contact; an OPTIONS through it reaches us.
        client = await SipClient.open((LOOPBACK, provider.port))
        client.send(client.request("OPTIONS", f"sip:gwuser@{LOOPBACK}:{provider.port}", from_user="probe"))
        reached = await client.next_response(timeout=5)
        assert reached.status == 200 and "switchcore" in (reached.get("User-Agent") or "")
        client.close()
        # Stopping the profile un-REGISTERs: kamailio forgets the contact.
        assert await switch.api("sofia profile external stop") == "stopping: external"
        client = await SipClient.open((LOOPBACK, provider.port))
        client.send(client.request("OPTIONS", f"sip:gwuser@{LOOPBACK}:{provider.port}", from_user="probe"))
        assert (await client.next_response(timeout=5)).status == 404
        client.close()


async def test_gateway_with_a_wrong_password_fails_and_waits(
    tmp_path: Path, make_kamailio: Callable[..., Kamailio]
) -> None:
    provider = await asyncio.to_thread(make_kamailio, {"gwuser": "gwpass"})
    gateway = gateway_xml("kam", f"127.0.0.1:{provider.port}", "gwuser", "wrong")
    async with booted_switch(tmp_path, gateways={"kam": gateway}) as (switch, _, _):
        runtime = runtime_of(switch)
        assert runtime is not None
        kam = runtime.gateway("kam")
        assert kam is not None
        for _ in range(200):
            if kam.state is GatewayState.FAIL_WAIT:
                break
            await asyncio.sleep(0.05)
        assert kam.state is GatewayState.FAIL_WAIT and kam.last_status in (401, 403)
        assert "FAIL_WAIT" in await switch.api("sofia status")
