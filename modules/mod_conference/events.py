"""`CUSTOM conference::maintenance` events, with FreeSWITCH's headers and actions.

Every event carries the room's data (conference_event_add_data:
`Conference-Name`, `Conference-Domain`, `Conference-Size`, `Conference-Ghosts`,
`Conference-Profile-Name`, `Conference-Unique-ID`); member events add the
channel's headers and the member's (conference_member_add_event_data:
`Floor`, `Video`, `Hear`, `See`, `Speak`, `Talking`, `Mute-Detect`,
`Member-ID`, `Member-Type`, `Member-Ghost`, `Energy-Level`, `Current-Energy`),
then `Action`.  A profile's `suppress-events` lists actions not to fire
("record" stands for all the recording actions, as in FreeSWITCH).

Live-array and other event-channel messages for browsers travel on the same
bus as `CUSTOM verto::broadcast` events - the seam mod_verto offers: the
channel in `Event-Channel`, the JSON `data` of the message in the body;
mod_verto sends `{"eventChannel": <channel>, "data": <body>}` as `verto.event`
to the browsers subscribed to that channel.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from switchcore.events import Event

if TYPE_CHECKING:
    from .member import Member
    from .room import Room

__all__ = [
    "EVENT_CHANNEL_SUBCLASS",
    "MAINTENANCE",
    "conference_headers",
    "fire_channel",
    "fire_member",
    "fire_room",
    "member_headers",
]

MAINTENANCE = "conference::maintenance"
EVENT_CHANNEL_SUBCLASS = "verto::broadcast"  # mod_verto delivers these to event-channel subscribers

_RECORD_ACTIONS = frozenset({"start-recording", "stop-recording", "pause-recording", "resume-recording"})


def _bool(value: bool) -> str:
    return "true" if value else "false"


def suppressed(room: Room, action: str) -> bool:
    names = room.profile.suppress_events
    return bool(names) and (action in names or (action in _RECORD_ACTIONS and "record" in names))


def conference_headers(room: Room) -> dict[str, str]:
    return {
        "Conference-Name": room.name,
        "Conference-Domain": room.domain,
        "Conference-Size": str(room.count),
        "Conference-Ghosts": str(room.ghosts),
        "Conference-Profile-Name": room.profile.name,
        "Conference-Unique-ID": room.uuid,
    }


def member_headers(member: Member) -> dict[str, str]:
    return {
        "Floor": _bool(member.room.floor_holder is member),
        "Video": "false",
        "Hear": _bool(member.can_hear),
        "See": "true",
        "Speak": _bool(member.can_speak),
        "Talking": _bool(member.talking),
        "Mute-Detect": _bool("mute-detect" in member.flags),
        "Member-ID": str(member.id),
        "Member-Type": "moderator" if member.moderator else "member",
        "Member-Ghost": _bool(member.ghost),
        "Energy-Level": str(member.energy_level),
        "Current-Energy": str(member.score),
    }


def fire_room(room: Room, action: str, **extra: str) -> Event | None:
    """A room event (conference-create, lock, play-file, start-recording ...)."""
    if suppressed(room, action):
        return None
    event = Event.create("CUSTOM", MAINTENANCE, **conference_headers(room))
    event.headers["Action"] = action
    event.headers.update(extra)
    room.switch.events.fire(event)
    return event


def fire_member(member: Member, action: str, **extra: str) -> Event | None:
    """A member event (add-member, start-talking, mute-member ...), with the channel's headers."""
    room = member.room
    if suppressed(room, action):
        return None
    headers = conference_headers(room)
    headers.update(member_headers(member))
    headers["Action"] = action
    headers.update(extra)
    return member.session.fire("CUSTOM", MAINTENANCE, **headers)


def fire_channel(room: Room, channel: str, kind: str, data: dict[str, Any]) -> Event:
    """An event-channel message (a live-array update, a member's pvtData) for browsers on `channel`."""
    event = Event.create(
        "CUSTOM",
        EVENT_CHANNEL_SUBCLASS,
        **{"Event-Channel": channel, "Event-Channel-Type": kind, "Conference-Name": room.name},
    )
    event.body = json.dumps(data, separators=(",", ":"))
    room.switch.events.fire(event)
    return event
