"""The live array follows talking and muting as they happen (a browser's talking indicators).

FreeSWITCH sends a `modify` of a member's row on start-talking, stop-talking, mute and unmute
(conference_member_update_status_field then switch_live_array_add); the row's status JSON carries
`audio.talking` and `audio.muted`, which is what a page draws.  Loopback callers in the quiet
8 kHz rooms (energy level 100) send a tone or silence.
"""

from __future__ import annotations

import json
from typing import Any

from switchcore.core import Switch

from .callers import Events, join, room, wait_until


class LiveMessages:
    """The live-array messages of one room, as its browsers receive them."""

    def __init__(self, switch: Switch) -> None:
        self.events = Events(switch, subclass="verto::broadcast")
        self.channel = ""

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(e.body) for e in self.events.events if e.get("Event-Channel") == self.channel]

    def modifies(self, uuid: str) -> list[dict[str, Any]]:
        return [m for m in self.all() if m["action"] == "modify" and m["hashKey"] == uuid]

    def audio(self, uuid: str) -> list[tuple[bool, bool]]:
        """(talking, muted) of every modify of the member, in order."""
        out = []
        for m in self.modifies(uuid):
            audio = json.loads(m["data"][4])["audio"]
            out.append((audio["talking"], audio["muted"]))
        return out

    def close(self) -> None:
        self.events.close()


async def test_starting_and_stopping_talking_modifies_the_members_row(switch: Switch) -> None:
    live = LiveMessages(switch)
    talker = await join(switch, "4071", "q71", 1, 500)
    listener = await join(switch, "4071", "q71", 2)
    the_room = room(switch, "q71")
    live.channel = the_room.live.channel
    uuid = the_room.members[0].uuid
    await wait_until(lambda: (True, False) in live.audio(uuid), what="talking modify")
    start = live.modifies(uuid)[live.audio(uuid).index((True, False))]
    status = json.loads(start["data"][4])
    assert status["audio"]["energyScore"] > 100 and status["oldStatus"].startswith("TALKING")
    assert start["data"][0] == "0001" and start["name"] == "q71"

    talker.freq = None  # silence: talking stops after the hang-over (40 frames)
    await wait_until(lambda: live.audio(uuid)[-1] == (False, False), timeout=3.0, what="stopped modify")
    assert json.loads(live.modifies(uuid)[-1]["data"][4])["oldStatus"] in ("ACTIVE", "FLOOR")
    # The silent listener never talked, so its row was never modified for talking.
    assert all(not talking for talking, _ in live.audio(the_room.members[1].uuid))
    serials = [m["wireSerno"] for m in live.all()]
    assert serials == sorted(serials) and len(set(serials)) == len(serials)
    await talker.stop()
    await listener.stop()
    live.close()


async def test_muting_a_talking_member_shows_muted_and_not_talking(switch: Switch) -> None:
    live = LiveMessages(switch)
    talker = await join(switch, "4072", "q72", 1, 500)
    listener = await join(switch, "4072", "q72", 2)
    the_room = room(switch, "q72")
    live.channel = the_room.live.channel
    uuid = the_room.members[0].uuid
    await wait_until(lambda: (True, False) in live.audio(uuid), what="talking modify")

    before = len(live.modifies(uuid))
    await switch.api("conference q72 mute 1 quiet")
    await wait_until(lambda: len(live.modifies(uuid)) > before, what="mute modify")
    # One message says both: muted, and no longer talking (muting clears talking without a
    # stop-talking event, so the mute's own modify must carry it).
    assert live.audio(uuid)[before] == (False, True)
    assert json.loads(live.modifies(uuid)[before]["data"][4])["oldStatus"] == "MUTE"
    assert the_room.live.rows[uuid] == live.modifies(uuid)[before]["data"]

    before = len(live.modifies(uuid))
    await switch.api("conference q72 unmute 1 quiet")
    await wait_until(lambda: (True, False) in live.audio(uuid)[before:], what="talking again")
    assert live.audio(uuid)[before] == (False, False)  # unmuted first, then talking on its tone
    await talker.stop()
    await listener.stop()
    live.close()


async def test_a_row_that_did_not_change_is_not_sent_again(switch: Switch) -> None:
    live = LiveMessages(switch)
    caller = await join(switch, "4073", "q73", 1)
    the_room = room(switch, "q73")
    live.channel = the_room.live.channel
    member = the_room.members[0]
    await wait_until(lambda: member.uuid in the_room.live.rows, what="row")
    sent = len(live.all())
    the_room.live.modify(member)
    the_room.live.modify(member)
    assert len(live.all()) == sent
    await switch.api("conference q73 deaf 1")
    await wait_until(lambda: len(live.all()) == sent + 1, what="deaf modify")
    assert json.loads(live.all()[-1]["data"][4])["audio"]["deaf"] is True
    await caller.stop()
    live.close()


async def test_a_member_put_on_hold_by_its_phone_shows_on_hold(switch: Switch) -> None:
    live = LiveMessages(switch)
    caller = await join(switch, "4074", "q74", 1)
    the_room = room(switch, "q74")
    live.channel = the_room.live.channel
    member = the_room.members[0]
    await wait_until(lambda: member.uuid in the_room.live.rows, what="row")
    driver = member.session.driver

    # What an endpoint does on a hold re-INVITE (or verto.modify hold): `held`, then CHANNEL_HOLD.
    driver.held = True  # type: ignore[attr-defined]
    member.session.fire("CHANNEL_HOLD")
    await wait_until(lambda: live.modifies(member.uuid), what="hold modify")
    status = json.loads(live.modifies(member.uuid)[-1]["data"][4])
    assert status["audio"]["onHold"] is True and status["oldStatus"] == "HOLD"
    assert "hold" in (await switch.api("conference q74 list")).split(";")[5].split("|")
    listed = json.loads(await switch.api("conference q74 json_list"))
    assert listed[0]["members"][0]["flags"]["hold"] is True

    driver.held = False  # type: ignore[attr-defined]
    member.session.fire("CHANNEL_UNHOLD")
    await wait_until(lambda: len(live.modifies(member.uuid)) == 2, what="unhold modify")
    assert json.loads(live.modifies(member.uuid)[-1]["data"][4])["audio"]["onHold"] is False
    await caller.stop()
    live.close()


async def test_a_room_that_ends_stops_following_holds(switch: Switch) -> None:
    listeners = len(switch.events._listeners)  # the bus's in-process listeners (no public count)
    caller = await join(switch, "4075", "q75", 1)
    assert len(switch.events._listeners) > listeners
    caller.session.hangup()
    await wait_until(lambda: len(switch.events._listeners) == listeners, what="the room's listener gone")
    await caller.stop()
