"""Browsers in a mod_conference room: the join tells each browser its live-array channel
(pvtData on its sessid), it subscribes, asks for the rows (bootstrap), follows adds and deletes,
and each browser hears the others (not itself)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from switchcore.media.analysis import dominant_frequency

from .conftest import ROOT
from .test_calls import answered, place_call
from .verto_client import RtcPeer, VertoTestClient

ROOM = "3000-127.0.0.1"
LA = f"conference-liveArray.{ROOM}@127.0.0.1"


async def boot_with_conference(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The test tree plus mod_conference (the shipped conference.conf) and a 30xx extension."""
    from .conftest import make_conf, next_port

    port = next_port()
    conf = make_conf(tmp_path, port)
    shutil.copy(ROOT / "conf" / "autoload_configs" / "conference.conf.xml", conf / "autoload_configs")
    modules = conf / "autoload_configs" / "modules.conf.xml"
    modules.write_text(
        modules.read_text().replace(
            '<load module="mod_verto"/>', '<load module="mod_conference"/>\n      <load module="mod_verto"/>'
        )
    )
    plan = conf / "dialplan" / "default.xml"
    plan.write_text(
        plan.read_text().replace(
            '  <context name="default">',
            '  <context name="default">\n'
            '    <extension name="conferences"><condition field="destination_number" expression="^(30\\d{2})$">'
            '<action application="answer"/><action application="conference" data="$1-${domain_name}@default"/>'
            "</condition></extension>",
            1,
        )
    )
    from switchcore.core import Switch

    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    assert "mod_conference" in switch.registry.modules, switch.report
    return switch, port


async def join(port: int, user: str, freq: float) -> tuple[VertoTestClient, RtcPeer, dict, str]:  # type: ignore[type-arg]
    client = await VertoTestClient.open(port)
    await client.login(user)
    peer = RtcPeer(freq)
    call_id, _ = await place_call(client, peer, "3000")
    await answered(client, peer)
    pvt = await client.next_request("verto.event")
    return client, peer, pvt, call_id


async def test_browsers_in_a_conference_get_its_live_array_and_hear_each_other(tmp_path):
    switch, port = await boot_with_conference(tmp_path)
    try:
        alice, alice_peer, pvt, _ = await join(port, "1000", 600)
        assert pvt["params"]["eventChannel"] == alice.sessid
        assert pvt["params"]["pvtData"]["action"] == "conference-liveArray-join"
        assert pvt["params"]["pvtData"]["laChannel"] == LA
        assert (await alice.call("verto.subscribe", {"eventChannel": LA}))["result"][
            "subscribedChannels"
        ] == [LA]
        await alice.call(
            "verto.broadcast",
            {
                "eventChannel": LA,
                "data": {"liveArray": {"command": "bootstrap", "context": LA, "name": ROOM}},
            },
        )
        boot_obj = await alice.next_request("verto.event")
        assert boot_obj["params"]["data"]["action"] == "bootObj"
        assert [row[1][1] for row in boot_obj["params"]["data"]["data"]] == ["1000"]

        bob, bob_peer, _, bob_call = await join(port, "1001", 1000)
        added = await alice.next_request("verto.event")
        while added["params"].get("data", {}).get("action") != "add":
            added = await alice.next_request("verto.event")
        assert added["params"]["data"]["data"][1] == "1001"
        await alice_peer.wait_frames(50)
        await bob_peer.wait_frames(50)
        await asyncio.sleep(1.5)
        assert abs(dominant_frequency(alice_peer.recent(1), alice_peer.rate) - 1000) < 20
        assert abs(dominant_frequency(bob_peer.recent(1), bob_peer.rate) - 600) < 20
        await bob.call("verto.bye", {"dialogParams": {"callID": bob_call}})
        deleted = await alice.next_request("verto.event")
        while deleted["params"].get("data", {}).get("action") != "del":
            deleted = await alice.next_request("verto.event")
        await alice.close()
        await alice_peer.close()
        await bob.close()
        await bob_peer.close()
    finally:
        await switch.stop()
