"""What can be done to a member or a room, shared by the API, the DTMF controls and Verto.

Each operation changes the member (and the mix board through
`Member.sync_board`), fires FreeSWITCH's event, updates the live array, plays
the prompt FreeSWITCH plays, and returns the line FreeSWITCH's API answers
(conference_api.c): "OK mute 3", "Energy 3 = 300", "Volume IN 3 = 1" ...
"""

from __future__ import annotations

import logging

from switchcore.causes import HangupCause
from switchcore.media.sources import SourceError

from .events import fire_member, fire_room
from .member import Leave, Member
from .mixdown import normalize_volume
from .room import Room

__all__ = [
    "deaf",
    "energy",
    "floor",
    "hup",
    "kick",
    "lock",
    "mute",
    "play_to_member",
    "tmute",
    "undeaf",
    "unlock",
    "unmute",
    "volume_in",
    "volume_out",
]

log = logging.getLogger("mod_conference")

ENERGY_STEP = 200  # conference_api_sub_energy / conference_loop_energy_up
ENERGY_MAX = 1800


def _prompt(member: Member, spec: str) -> None:
    if not spec:
        return
    try:
        member.play(spec, tag="prompt")
    except SourceError as exc:
        log.warning("conference %s: cannot play %s to member %d: %s", member.room.name, spec, member.id, exc)


def play_to_member(member: Member, spec: str) -> str:
    """`conference <room> play <file> <id>`."""
    try:
        member.play(spec)
    except SourceError:
        return f"(play) File: {spec} not found.\n"
    fire_member(member, "play-file-member", File=spec)
    return f"(play) Playing file {spec} to member {member.id}\n"


def mute(member: Member, quiet: bool = False) -> str:
    member.can_speak = False
    member.sync_board()
    if not quiet:
        _prompt(member, member.room.profile.sound("muted-sound"))
    fire_member(member, "mute-member")
    member.room.live.modify(member)
    return f"OK mute {member.id}\n"


def unmute(member: Member, quiet: bool = False) -> str:
    member.can_speak = True
    member.sync_board()
    if not quiet:
        _prompt(member, member.room.profile.sound("unmuted-sound"))
    fire_member(member, "unmute-member")
    member.room.live.modify(member)
    return f"OK unmute {member.id}\n"


def tmute(member: Member, quiet: bool = False) -> str:
    return mute(member, quiet) if member.can_speak else unmute(member, quiet)


def deaf(member: Member) -> str:
    member.can_hear = False
    member.sync_board()
    _prompt(member, member.room.profile.sound("deaf-sound"))
    fire_member(member, "deaf-member")
    member.room.live.modify(member)
    return f"OK deaf {member.id}\n"


def undeaf(member: Member) -> str:
    member.can_hear = True
    member.sync_board()
    _prompt(member, member.room.profile.sound("undeaf-sound"))
    fire_member(member, "undeaf-member")
    member.room.live.modify(member)
    return f"OK undeaf {member.id}\n"


def kick(member: Member, sound: str = "") -> str:
    """The member leaves (after hearing the kicked sound); its dialplan goes on."""
    member.leaving = Leave.KICKED
    member.kicked_sound = sound
    fire_member(member, "kick-member")
    return f"OK kicked {member.id}\n"


def hup(member: Member) -> str:
    """The member's call is hung up, without the kicked sound."""
    fire_member(member, "hup-member")
    member.leaving = Leave.ENDED
    member.session.hangup(HangupCause.NORMAL_CLEARING)
    return f"OK hup {member.id}\n"


def _level(value: str, current: int, step: int) -> int | None:
    low = value.lower()
    if low == "up":
        return current + step
    if low == "down":
        return current - step
    try:
        return int(value)
    except ValueError:
        return None


def energy(member: Member, value: str = "") -> str:
    """`energy <id> [<level>|up|down]` (200 a step, 0..1800 for up/down)."""
    if value:
        level = _level(value, member.energy_level, ENERGY_STEP)
        if level is None:
            return f"-ERR invalid energy level {value!r}\n"
        if value.lower() == "up":
            level = min(level, ENERGY_MAX)
        member.energy_level = max(level, 0)
        member.sync_board()
        fire_member(member, "energy-level-member", **{"Energy-Level": str(member.energy_level)})
    return f"Energy {member.id} = {member.energy_level}\n"


def volume_in(member: Member, value: str = "") -> str:
    """`volume_in <id> [<level>|up|down]`: how loud the others hear this member (-4..4)."""
    if value:
        level = _level(value, member.volume_in, 1)
        if level is None:
            return f"-ERR invalid volume {value!r}\n"
        member.volume_in = normalize_volume(level)
        member.sync_board()
        fire_member(member, "volume-in-member", **{"Volume-Level": str(member.volume_in)})
    return f"Volume IN {member.id} = {member.volume_in}\n"


def volume_out(member: Member, value: str = "") -> str:
    """`volume_out <id> [<level>|up|down]`: how loud this member hears the room (-4..4)."""
    if value:
        level = _level(value, member.volume_out, 1)
        if level is None:
            return f"-ERR invalid volume {value!r}\n"
        member.volume_out = normalize_volume(level)
        member.sync_board()
        fire_member(member, "volume-out-member", **{"Volume-Level": str(member.volume_out)})
    return f"Volume OUT {member.id} = {member.volume_out}\n"


def floor(member: Member) -> str:
    """`floor <id>`: take the floor, or give it up when holding it."""
    room = member.room
    if room.floor_holder is member:
        room.set_floor(None)
        return "OK floor none\n"
    room.set_floor(member)
    return f"OK floor {member.id}\n"


def lock(room: Room) -> str:
    room.locked = True
    sound = room.profile.sound("is-locked-sound")
    if sound:
        try:
            room.player.play(sound)
        except SourceError as exc:
            log.warning("conference %s: cannot play %s: %s", room.name, sound, exc)
    fire_room(room, "lock")
    return f"OK {room.name} locked\n"


def unlock(room: Room) -> str:
    room.locked = False
    sound = room.profile.sound("is-unlocked-sound")
    if sound:
        try:
            room.player.play(sound)
        except SourceError as exc:
            log.warning("conference %s: cannot play %s: %s", room.name, sound, exc)
    fire_room(room, "unlock")
    return f"OK {room.name} unlocked\n"
