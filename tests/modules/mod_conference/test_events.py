"""conference::maintenance events with FreeSWITCH's headers, and the live array a browser follows."""

from __future__ import annotations

import asyncio
import json

from switchcore.core import Switch

from .callers import Events, join, room, wait_until

MEMBER_HEADERS = (
    "Conference-Name",
    "Conference-Domain",
    "Conference-Size",
    "Conference-Ghosts",
    "Conference-Profile-Name",
    "Conference-Unique-ID",
    "Floor",
    "Video",
    "Hear",
    "See",
    "Speak",
    "Talking",
    "Mute-Detect",
    "Member-ID",
    "Member-Type",
    "Member-Ghost",
    "Energy-Level",
    "Current-Energy",
    "Unique-ID",
    "Caller-Caller-ID-Number",
    "Action",
)


async def test_member_events_carry_the_room_member_and_channel_headers(switch: Switch) -> None:
    events = Events(switch)
    caller = await join(switch, "4060", "q60", 1)
    [created] = events.of("conference-create")
    [added] = events.of("add-member")
    assert (
        created.get("Event-Name") == "CUSTOM" and created.get("Event-Subclass") == "conference::maintenance"
    )
    assert all(added.get(h) for h in MEMBER_HEADERS), [h for h in MEMBER_HEADERS if not added.get(h)]
    member = room(switch, "q60").members[0]
    assert added.get("Unique-ID") == member.session.uuid
    assert (added.get("Member-ID"), added.get("Member-Type"), added.get("Conference-Size")) == (
        "1",
        "member",
        "1",
    )
    assert (added.get("Conference-Name"), added.get("Conference-Profile-Name")) == ("q60", "quiet")
    assert added.get("Conference-Domain") == "127.0.0.1"
    await caller.stop()
    caller.session.hangup()
    await events.wait("conference-destroy")
    assert events.actions()[-2:] == ["del-member", "conference-destroy"]


async def test_talking_starts_and_stops_with_the_callers_voice(switch: Switch) -> None:
    events = Events(switch)
    talker = await join(switch, "4061", "q61", 1, 500)
    listener = await join(switch, "4061", "q61", 2)
    [started] = await events.wait("start-talking")
    assert started.get("Member-ID") == "1" and started.get("Talking") == "true"
    assert int(started.get("Current-Energy")) > 100
    talker.freq = None
    [stopped] = await events.wait("stop-talking", timeout=3.0)
    assert stopped.get("Member-ID") == "1" and stopped.get("Talking") == "false"
    assert "talking" not in (await switch.api("conference q61 list")).splitlines()[0]
    await talker.stop()
    await listener.stop()


async def test_mute_deaf_kick_lock_and_floor_events(switch: Switch) -> None:
    events = Events(switch)
    a = await join(switch, "4062", "q62", 1)
    b = await join(switch, "4062", "q62", 2)
    for command in ("mute 2", "unmute 2", "deaf 2", "undeaf 2", "lock", "unlock", "floor 2", "kick 2"):
        await switch.api(f"conference q62 {command}")
    await events.wait("del-member")
    actions = events.actions()
    for action in (
        "mute-member",
        "unmute-member",
        "deaf-member",
        "undeaf-member",
        "lock",
        "unlock",
        "floor-change",
        "kick-member",
    ):
        assert action in actions, action
    floor = [e for e in events.of("floor-change") if e.get("New-ID") == "2"]
    assert floor and floor[0].get("Old-ID") == "1"
    await a.stop()
    await b.stop()


async def test_suppressed_events_are_not_fired(switch: Switch) -> None:
    # The quiet profile suppresses nothing; a room made with suppress-events keeps quiet about those.
    from dataclasses import replace

    from modules.mod_conference import manager_for

    manager = manager_for(switch)
    profile = replace(
        manager.config().profile("quiet"), suppress_events=frozenset({"add-member", "start-talking"})
    )
    manager.create("q63", profile=profile)
    events = Events(switch)
    caller = await join(switch, "4063", "q63", 1, 500)
    await asyncio.sleep(0.3)
    assert "add-member" not in events.actions() and "start-talking" not in events.actions()
    await caller.stop()


async def test_the_live_array_tracks_members(switch: Switch) -> None:
    channel_events = Events(switch, subclass="verto::broadcast")
    a = await join(switch, "4064", "q64", 1, 500)
    b = await join(switch, "4064", "q64", 2)
    live = room(switch, "q64").live
    assert live.channel == "conference-liveArray.q64@127.0.0.1" and live.name == "q64"
    await wait_until(lambda: live.rows, what="rows")
    messages = [json.loads(e.body) for e in channel_events.events if e.get("Event-Channel") == live.channel]
    adds = [m for m in messages if m["action"] == "add"]
    assert [d["hashKey"] for d in adds] == [m.uuid for m in room(switch, "q64").members]
    row = adds[0]["data"]
    assert (
        row[0] == "0001"
        and row[1] == "0000000000"
        and row[3] == "L16@8000"
        and row[5] == {}
        and row[6] is None
    )
    status = json.loads(row[4])
    assert set(status["audio"]) == {"muted", "deaf", "onHold", "talking", "floor", "energyScore"}
    assert [m["wireSerno"] for m in messages] == list(range(len(messages)))
    await switch.api("conference q64 mute 2 quiet")
    await wait_until(
        lambda: json.loads(live.rows[room(switch, "q64").members[1].uuid][4])["audio"]["muted"],
        what="muted row",
    )
    pvt = [
        json.loads(e.body) for e in channel_events.events if e.get("Event-Channel-Type") == "channelPvtData"
    ]
    assert pvt[0]["pvtData"]["action"] == "conference-liveArray-join"
    assert pvt[0]["pvtData"]["laChannel"] == live.channel and pvt[0]["pvtData"]["laName"] == "q64"
    assert pvt[0]["eventType"] == "channelPvtData"
    assert (
        channel_events.of_channel_type("channelPvtData")[0].get("Event-Channel")
        == room(switch, "q64").members[0].uuid
    )
    boot = json.loads(await switch.api("conference q64 la_bootstrap sess-1"))
    assert boot["eventChannel"] == live.channel and boot["sessid"] == "sess-1"
    assert boot["data"]["action"] == "bootObj" and len(boot["data"]["data"]) == 2
    await a.stop()
    b.session.hangup()
    await wait_until(lambda: len(live.rows) == 1, what="del")
    dels = [json.loads(e.body) for e in channel_events.events if '"action":"del"' in e.body]
    assert len(dels) == 1
    await b.stop()


async def test_a_moderator_gets_the_moderator_channel(switch: Switch) -> None:
    channel_events = Events(switch, subclass="verto::broadcast")
    caller = await join(switch, "4465", "q65", 1)
    pvt = [
        json.loads(e.body)["pvtData"]
        for e in channel_events.events
        if e.get("Event-Channel-Type") == "channelPvtData"
    ]
    assert pvt[0]["role"] == "moderator" and pvt[0]["modChannel"] == "conference-mod.q65@127.0.0.1"
    await caller.stop()
