"""Views of live rooms: `conference list` rows, `json_list`, and the Verto live array.

`conference <room> list` writes one row per member, FreeSWITCH's format:

    <id>;<channel name>;<uuid>;<caller id name>;<caller id number>;<flags>;<volume in>;<volume out>;<energy>

with flags from `hear|speak|talking|video|floor|vid-floor|moderator|ghost`.
`conference list` prefixes each room's rows with
`Conference <name> (<n> member[s] rate: <rate>[ locked] flags: <flags>)`.

The live array (switch_live_array in FreeSWITCH's core) is what a browser's
member list follows: channel `conference-liveArray.<room>@<domain>`, name
`<room>`, one row per member keyed by the member's channel uuid:

    ["0001", "<cid number>", "<cid name>", "<codec>@<rate>", "<status JSON>", {<verto_dvar_*>}, null]

and messages `{"eventChannel": ..., "data": {"action": "add|modify|del|bootObj|clear",
"name": ..., "hashKey": <uuid>, "wireSerno": n, "data": <row>}}` (the `data` part
travels on the bus, see events.py).  The status is the JSON of
conference_member_update_status_field (`json-status` is always on in current
FreeSWITCH).  A member who joins is also sent its channels (`eventType`
"channelPvtData", `pvtData.action` "conference-liveArray-join") on the channel
named by its `event_channel_cookie` variable (mod_verto sets it to the
browser's sessid) or else its uuid; `conference <room> la_bootstrap [<sessid>]`
answers the `bootObj` message a browser asks for after subscribing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .events import fire_channel

if TYPE_CHECKING:
    from switchcore.events import Event

    from .member import Member
    from .room import Room

__all__ = ["LiveArray", "json_list", "list_rooms", "member_flags", "member_rows", "on_hold", "room_header"]

_HOLD_EVENTS = ("CHANNEL_HOLD", "CHANNEL_UNHOLD")


# ---- text lists ------------------------------------------------------------------------------------


def on_hold(member: Member) -> bool:
    """The member's channel is held by its far end (FreeSWITCH's CF_HOLD; endpoints keep `held`)."""
    return bool(getattr(member.session.driver, "held", False))


def member_flags(member: Member) -> str:
    room = member.room
    names = []
    if member.can_hear:
        names.append("hear")
    if member.can_speak:
        names.append("speak")
    if member.talking:
        names.append("talking")
    if on_hold(member):
        names.append("hold")
    if room.floor_holder is member:
        names.append("floor")
    if member.moderator:
        names.append("moderator")
    if member.ghost:
        names.append("ghost")
    return "|".join(names)


def member_rows(room: Room, delim: str = ";") -> str:
    lines = []
    for m in room.members:
        profile = m.session.profile
        fields = (
            str(m.id),
            m.session.name,
            m.session.uuid,
            profile.caller_id_name,
            profile.caller_id_number,
            member_flags(m),
            str(m.volume_in),
            str(m.volume_out),
            str(m.energy_level),
        )
        lines.append(delim.join(fields) + "\n")
    return "".join(lines)


def room_flag_names(room: Room) -> list[str]:
    names = []
    if room.locked:
        names.append("locked")
    if room.destroyed:
        names.append("destruct")
    if room.waiting_for_moderator:
        names.append("wait_mod")
    if "audio-always" in room.flags:
        names.append("audio_always")
    if not room.destroyed:
        names.append("running")
    if room.answered:
        names.append("answered")
    if room.enforce_min:
        names.append("enforce_min")
    names.append("dynamic")
    if room.exit_sound_on:
        names.append("exit_sound")
    if room.enter_sound_on:
        names.append("enter_sound")
    if room.recorders:
        names.append("recording")
    names.append("json_status")
    return names


def room_header(room: Room) -> str:
    count = room.count
    return (
        f"Conference {room.name} ({count} member{'' if count == 1 else 's'} rate: {room.rate}"
        f"{' locked' if room.locked else ''} flags: {'|'.join(room_flag_names(room)) or 'none'})\n"
    )


def list_rooms(rooms: Iterable[Room], mode: str = "", delim: str = ";") -> str:
    """`conference list [pretty|summary|count|delim <d>]` over every room."""
    out = []
    for room in rooms:
        out.append(room_header(room))
        if mode == "summary":
            continue
        if mode == "pretty":
            out.extend(
                f"{m.id}) {m.session.profile.caller_id_name} ({m.session.profile.caller_id_number})\n"
                for m in room.members
            )
        else:
            out.append(member_rows(room, delim))
    return "".join(out) or "No active conferences.\n"


# ---- json_list -------------------------------------------------------------------------------------


def member_json(member: Member, now: float) -> dict[str, Any]:
    profile = member.session.profile
    return {
        "type": "caller",
        "id": member.id,
        "flags": {
            "can_hear": member.can_hear,
            "can_see": True,
            "can_speak": member.can_speak,
            "hold": on_hold(member),
            "mute_detect": "mute-detect" in member.flags,
            "talking": member.talking,
            "has_video": False,
            "video_bridge": False,
            "has_floor": member.room.floor_holder is member,
            "is_moderator": member.moderator,
            "end_conference": member.endconf,
            "is_ghost": member.ghost,
        },
        "uuid": member.uuid,
        "caller_id_name": profile.caller_id_name,
        "caller_id_number": profile.caller_id_number,
        "join_time": int(now - member.join_time),
        "last_talking": int(now - member.last_talking) if member.last_talking else 0,
        "energy": member.energy_level,
        "volume_in": member.volume_in,
        "volume_out": member.volume_out,
        "output-volume": member.volume_out,
        "input-volume": member.volume_in,
    }


def room_json(room: Room, now: float) -> dict[str, Any]:
    flags = set(room_flag_names(room))
    data: dict[str, Any] = {
        "conference_name": room.name,
        "member_count": room.count,
        "ghost_count": room.ghosts,
        "rate": room.rate,
        "run_time": int(now - room.created),
        "conference_uuid": room.uuid,
        "machine_name": room.switch.node,
    }
    for name in (
        "locked",
        "destruct",
        "wait_mod",
        "audio_always",
        "running",
        "answered",
        "enforce_min",
        "bridge_to",
        "dynamic",
        "exit_sound",
        "enter_sound",
        "recording",
    ):
        data[name] = name in flags
    if room.max_members:
        data["max_members"] = room.max_members
    data["members"] = [member_json(m, now) for m in room.members]
    return data


def json_list(rooms: Iterable[Room]) -> str:
    """`conference json_list [<room>]`: a JSON array of rooms with their members."""
    now = time.time()
    return json.dumps([room_json(room, now) for room in rooms], separators=(",", ":"))


# ---- the live array --------------------------------------------------------------------------------


def _status(member: Member) -> str:
    """conference_member_update_status_field, JSON flavour (with the old string as `oldStatus`)."""
    floor = member.room.floor_holder is member
    talking = member.talking
    held = on_hold(member)
    if not member.can_speak:
        old = "MUTE"
    elif held:
        old = "HOLD"
    elif floor:
        old = "TALKING (FLOOR)" if talking else "FLOOR"
    else:
        old = "TALKING" if talking else "ACTIVE"
    status = {
        "audio": {
            "muted": not member.can_speak,
            "deaf": not member.can_hear,
            "onHold": held,
            "talking": talking,
            "floor": floor,
            "energyScore": member.score,
        },
        "video": {
            "visible": False,
            "videoOnly": False,
            "avatarPresented": False,
            "mediaFlow": "noVideo",
            "muted": False,
            "floor": False,
            "reservationID": None,
            "roleID": None,
            "videoLayerID": -1,
        },
        "oldStatus": old,
    }
    return json.dumps(status, separators=(",", ":"))


class LiveArray:
    """A room's live array: rows by member uuid, published as event-channel messages."""

    def __init__(self, room: Room) -> None:
        self.room = room
        base = room.name.split("@", 1)[0]
        self.name = base
        suffix = "" if "@" in room.name else f"@{room.domain}"
        self.channel = f"conference-liveArray.{room.name}{suffix}"
        self.mod_channel = f"conference-mod.{room.name}{suffix}"
        self.chat_channel = f"conference-chat.{room.name}{suffix}"
        self.info_channel = f"conference-info.{room.name}{suffix}"
        self.serno = 0
        self.rows: dict[str, list[Any]] = {}
        # A member whose phone puts the room on hold (or takes it off) shows it at once: its
        # endpoint fires CHANNEL_HOLD / CHANNEL_UNHOLD after changing `held`.
        self._unlisten = room.switch.events.listen(self._on_hold, names=_HOLD_EVENTS)

    def _on_hold(self, event: Event) -> None:
        uuid = event.get("Unique-ID")
        if uuid not in self.rows:
            return
        for member in self.room.members:
            if member.uuid == uuid:
                self.modify(member)
                return

    def row(self, member: Member) -> list[Any]:
        profile = member.session.profile
        codec = member.session.get_var("original_read_codec") or member.session.driver.read_codec
        rate = member.session.get_var("original_read_rate") or str(member.session.rate)
        dvars = {
            name[len("verto_dvar_") :]: value
            for name, value in member.session.variables.items()
            if name.lower().startswith("verto_dvar_")
        }
        return [
            f"{member.id:04d}",
            profile.caller_id_number,
            profile.caller_id_name,
            f"{codec}@{rate}",
            _status(member),
            dvars,
            None,
        ]

    def _send(self, action: str, key: str, row: Any) -> None:
        data = {"action": action, "name": self.name, "hashKey": key, "wireSerno": self.serno, "data": row}
        self.serno += 1
        fire_channel(self.room, self.channel, "liveArray", data)

    def add(self, member: Member) -> None:
        self.advertise(member, join=True)
        row = self.row(member)
        self.rows[member.uuid] = row
        self._send("add", member.uuid, row)

    def modify(self, member: Member) -> None:
        if member.uuid not in self.rows:
            return
        row = self.row(member)
        if row == self.rows[member.uuid]:
            return
        self.rows[member.uuid] = row
        self._send("modify", member.uuid, row)

    def remove(self, member: Member) -> None:
        row = self.rows.pop(member.uuid, None)
        if row is None:
            return
        self._send("del", member.uuid, row)
        self.advertise(member, join=False)

    def clear(self) -> None:
        """The room ends: every browser empties its list."""
        self._unlisten()
        self.rows.clear()
        data = {"action": "clear", "name": self.name, "wireSerno": -1, "data": {}}
        fire_channel(self.room, self.channel, "liveArray", data)

    def bootstrap(self, sessid: str = "") -> dict[str, Any]:
        """The `bootObj` a browser asks for when it subscribes (switch_live_array_bootstrap)."""
        message: dict[str, Any] = {
            "eventChannel": self.channel,
            "data": {
                "action": "bootObj",
                "name": self.name,
                "wireSerno": -1,
                "data": [[key, row] for key, row in self.rows.items()],
            },
        }
        if sessid:
            message["sessid"] = sessid
        return message

    def advertise(self, member: Member, join: bool) -> None:
        """conference_event_adv_la: tell the member's client which channels carry this room."""
        session = member.session
        target = session.get_var("event_channel_cookie") or session.uuid
        pvt: dict[str, Any] = {
            "action": "conference-liveArray-join" if join else "conference-liveArray-part",
            "laChannel": self.channel,
            "laName": self.name,
            "role": "moderator" if member.moderator else "participant",
            "chatID": f"conference-chat-{self.room.name}",
            "canvasCount": 0,
            "chatChannel": self.chat_channel,
            "infoChannel": self.info_channel,
            "conferenceMemberID": str(member.id),
        }
        if member.moderator:
            pvt["modChannel"] = self.mod_channel
        for name, value in list(self.room.switch.global_vars.items()) + list(session.variables.items()):
            if name.lower().startswith("conference_verto_"):
                pvt[name[len("conference_verto_") :]] = value
        fire_channel(self.room, target, "channelPvtData", {"eventType": "channelPvtData", "pvtData": pvt})
