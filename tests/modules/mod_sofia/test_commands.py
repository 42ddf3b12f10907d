"""The `sofia` and `sofia_contact` APIs on a switch booted from the test tree, and the load rules."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from modules.mod_sofia.lifecycle import refusal, runtime_of
from modules.mod_sofia.profile import ProfileSettings
from switchcore.core import Switch
from tests.peers.sipping import options_ping

from .sofia_harness import LOOPBACK, SipClient, booted_switch, gateway_xml

pytestmark = pytest.mark.timeout(60)


async def register(
    port: int, user: str = "1000", password: str = "1234", transport: str = "udp"
) -> SipClient:
    client = await SipClient.open((LOOPBACK, port), transport)
    _, ok = await client.register_with_auth(user, password)
    assert ok.status == 200, ok
    return client


async def test_status_lists_profiles_aliases_and_gateways(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, external):
        text = await switch.api("sofia status")
        lines = text.splitlines()
        assert lines[0].split() == ["Name", "Type", "Data", "State"]
        assert f"internal\tprofile\t  {'sip:mod_sofia@127.0.0.1:' + str(internal):>40}\tRUNNING (0)" in text
        assert any(line.split() == ["phones", "alias", "internal", "ALIASED"] for line in lines)
        assert f"sip:mod_sofia@127.0.0.1:{external}" in text
        assert lines[-1] == "2 profiles 1 alias"
        assert (
            f"sip udp 127.0.0.1:{internal}" in switch.listeners
            and f"sip tcp 127.0.0.1:{internal}" in switch.listeners
        )


async def test_status_profile_and_its_registrations(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        client = await register(internal)
        text = await switch.api("sofia status profile internal")
        assert "Name             \tinternal" in text and "Challenge Realm  \tauto_from" in text
        assert "REGISTRATIONS    \t1" in text and "CODECS IN        \tPCMU,PCMA" in text
        regs = await switch.api("sofia status profile internal reg")
        assert regs.startswith("Registrations:\n=====")
        assert (
            "User:       \t1000@127.0.0.1" in regs and "Status:     \tRegistered(UDP)(unknown) EXP(" in regs
        )
        assert f"Port:       \t{client.port}" in regs and "Total items returned: 1" in regs
        assert "Total items returned: 0" in await switch.api("sofia status profile internal reg 1001")
        assert "Total items returned: 1" in await switch.api("sofia status profile phones reg 1000@127.0.0.1")
        assert await switch.api("sofia status profile nowhere") == "Invalid Profile!\n"
        client.close()


async def test_sofia_contact_returns_dial_strings_for_every_contact(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        assert await switch.api("sofia_contact 1000@127.0.0.1") == "error/user_not_registered"
        first = await register(internal)
        second = await register(internal)
        expected = {f"sofia/internal/sip:1000@127.0.0.1:{c.port}" for c in (first, second)}
        for form in (
            "1000@127.0.0.1",
            "*/1000@127.0.0.1",
            "internal/1000@127.0.0.1",
            "phones/1000@127.0.0.1",
        ):
            assert set((await switch.api(f"sofia_contact {form}")).split(",")) == expected, form
        assert await switch.api("sofia_contact nosuch/1000@127.0.0.1") == "error/facility_not_subscribed"
        expanded = await switch.expand("${sofia_contact(*/1000@127.0.0.1)}")
        assert set(expanded.split(",")) == expected
        first.close()
        second.close()


async def test_sofia_contact_keeps_the_nat_path(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        client = await SipClient.open((LOOPBACK, internal))
        _, ok = await client.register_with_auth("1001", "1234", contact="<sip:1001@10.0.0.5:5060>")
        assert ok.status == 200
        contact = await switch.api("sofia_contact 1001@127.0.0.1")
        assert contact == (
            f"sofia/internal/sip:1001@10.0.0.5:5060;fs_nat=yes;fs_path=sip%3A1001%40127.0.0.1%3A{client.port}"
        )
        client.close()


async def test_gateway_status_and_rescan(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, external):
        assert await switch.api("sofia status gateway prov") == "Invalid Gateway!\n"
        gateway = gateway_xml(
            "prov", f"127.0.0.1:{internal}", "1003", "s3cret-1003", **{"from-domain": LOOPBACK}
        )
        (switch.conf_dir / "sip_profiles" / "external" / "prov.xml").write_text(
            f"<include>\n{gateway}\n</include>\n"
        )
        assert (
            await switch.api("sofia profile external rescan reloadxml")
            == "Reload XML [Success]\n+OK scan complete\n"
        )
        for _ in range(100):
            if "\tREGED" in await switch.api("sofia status"):
                break
            await asyncio.sleep(0.05)
        table = await switch.api("sofia status")
        assert "external::prov\tgateway\t" in table.replace(" ", "") or "external::prov" in table
        assert "REGED" in table
        status = await switch.api("sofia status gateway prov")
        assert "Name    \tprov" in status and "Profile \texternal" in status and "State   \tREGED" in status
        assert "sip:gw+prov@" in await switch.api("sofia_contact internal/1003@127.0.0.1")
        assert await switch.api("sofia profile external unregister prov") == "+OK\n"


async def test_profile_stop_start_and_restart(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, external):
        assert await switch.api("sofia profile external stop") == "stopping: external"
        assert "DOWN" in await switch.api("sofia status")
        assert await asyncio.to_thread(options_ping, LOOPBACK, external, 0.3) is None
        assert await switch.api("sofia profile external start") == "external started successfully\n"
        assert await asyncio.to_thread(options_ping, LOOPBACK, external, 1.0) == 200
        assert await switch.api("sofia profile external start") == "Failure starting external\n"
        assert await switch.api("sofia profile internal restart") == "restarting: internal"
        assert await asyncio.to_thread(options_ping, LOOPBACK, internal, 1.0) == 200
        assert await switch.api("sofia profile nosuch stop") == "Invalid Profile [nosuch]"


async def test_registrations_survive_a_switch_restart(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        client = await register(internal)
        port = client.port
        client.close()
    conf = tmp_path / "conf"
    again = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=switch.sounds_dir)
    await again.start()
    try:
        assert await again.api("sofia_contact 1000@127.0.0.1") == f"sofia/internal/sip:1000@127.0.0.1:{port}"
    finally:
        await again.stop()


async def test_global_siptrace_logs_whole_messages(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with booted_switch(tmp_path) as (switch, internal, _):
        assert await switch.api("sofia global siptrace on") == "+OK Global siptrace on\n"
        with caplog.at_level(logging.INFO, logger="mod_sofia.siptrace"):
            assert await asyncio.to_thread(options_ping, LOOPBACK, internal, 1.0) == 200
        traced = [r.getMessage() for r in caplog.records if r.name == "mod_sofia.siptrace"]
        assert any(t.startswith("recv ") and "OPTIONS sip:" in t for t in traced)
        assert any(t.startswith("send ") and "SIP/2.0 200 OK" in t for t in traced)
        caplog.clear()
        assert await switch.api("sofia global siptrace off") == "+OK Global siptrace off\n"
        with caplog.at_level(logging.INFO, logger="mod_sofia.siptrace"):
            await asyncio.to_thread(options_ping, LOOPBACK, internal, 1.0)
        assert not [r for r in caplog.records if r.name == "mod_sofia.siptrace"]


async def test_usage_and_unknown_commands(tmp_path: Path) -> None:
    async with booted_switch(tmp_path) as (switch, _, _):
        assert (await switch.api("sofia")).startswith("USAGE:")
        assert await switch.api("sofia frobnicate") == "Unknown Command [frobnicate]\n"
        assert await switch.api("sofia status profile") == "Invalid Syntax!\n"


def test_refusal_names_the_users_that_still_have_the_default_password(tmp_path: Path) -> None:
    from switchcore.directory import Directory
    from switchcore.xmlconf import ConfigHolder

    from .sofia_harness import make_conf

    conf = make_conf(tmp_path, 15698, 15699)
    holder = ConfigHolder(
        conf, {"sounds_dir": str(tmp_path), "base_dir": str(tmp_path), "conf_dir": str(conf)}
    )
    assert holder.load_initial().ok
    directory = Directory(holder.current)
    public = ProfileSettings(name="internal", sip_ip="192.0.2.10", sip_port=5060)
    reason = refusal(public, directory)
    assert reason is not None
    assert reason.startswith(
        "refusing to listen on 192.0.2.10:5060 (sofia profile internal): 2 directory users"
    )
    assert "1000@127.0.0.1, 1001@127.0.0.1" in reason and "1002" not in reason and "1003" not in reason
    assert refusal(ProfileSettings(name="internal", sip_ip="127.0.0.1"), directory) is None


async def test_a_profile_on_a_public_address_is_refused_while_default_passwords_remain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mod_sofia"):
        async with booted_switch(tmp_path, sip_ip="192.0.2.10") as (switch, _, external):
            runtime = runtime_of(switch)
            assert runtime is not None and "internal" in runtime.refused
            assert not runtime.profiles["internal"].running and runtime.profiles["external"].running
            assert "DOWN (refused: default passwords)" in await switch.api("sofia status")
    assert any("still have the default password 1234" in r.getMessage() for r in caplog.records)
