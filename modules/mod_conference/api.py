"""The `conference` API command (conference_api.c), for fs_cli, the event socket and Verto.

    conference list [pretty|summary|count|delim <d>]
    conference json_list [<room>]
    conference <room> <command> [...]

Replies are FreeSWITCH's lines ("OK mute 3", "Energy 3 = 300", "Record file
x.wav" ...).  An unknown room or member id answers a line starting `-ERR`;
wrong arguments answer `-USAGE: conference <room> <command> <syntax>`.
"""

from __future__ import annotations

import json
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable

from switchcore.causes import HangupCause
from switchcore.errors import UsageError
from switchcore.events import Event
from switchcore.media.sources import SourceError
from switchcore.module import ApiContext
from switchcore.originate import originate
from switchcore.session import RunApps

from . import actions
from .declaration import module
from .events import fire_member, fire_room
from .liveview import json_list, list_rooms, member_rows
from .manager import ConferenceManager, manager_for
from .member import Leave, Member
from .room import Room

__all__ = ["MEMBER_COMMANDS", "ROOM_COMMANDS", "SYNTAX", "conference_api"]

MemberCommand = Callable[[Member, str], str]
RoomCommand = Callable[[ConferenceManager, Room, list[str]], Awaitable[str]]


def _flag(word: str) -> bool:
    return word.lower() == "quiet"


MEMBER_COMMANDS: dict[str, tuple[MemberCommand, str]] = {
    "energy": (lambda m, v: actions.energy(m, v), "<member_id|all|last|non_moderator> [<newval>]"),
    "volume_in": (lambda m, v: actions.volume_in(m, v), "<member_id|all|last|non_moderator> [<newval>]"),
    "volume_out": (lambda m, v: actions.volume_out(m, v), "<member_id|all|last|non_moderator> [<newval>]"),
    "kick": (lambda m, v: actions.kick(m, v), "<[member_id|all|last|non_moderator]> [<optional sound file>]"),
    "hup": (lambda m, v: actions.hup(m), "<[member_id|all|last|non_moderator]>"),
    "mute": (lambda m, v: actions.mute(m, _flag(v)), "<[member_id|all]|last|non_moderator> [<quiet>]"),
    "tmute": (lambda m, v: actions.tmute(m, _flag(v)), "<[member_id|all]|last|non_moderator> [<quiet>]"),
    "unmute": (lambda m, v: actions.unmute(m, _flag(v)), "<[member_id|all]|last|non_moderator> [<quiet>]"),
    "deaf": (lambda m, v: actions.deaf(m), "<[member_id|all]|last|non_moderator>"),
    "undeaf": (lambda m, v: actions.undeaf(m), "<[member_id|all]|last|non_moderator>"),
    "floor": (lambda m, v: actions.floor(m), "<member_id|last>"),
}

SYNTAX = "list [pretty|summary|count|delim <d>] | json_list [<conf>] | <conf> <command> [...]"


@module.api("conference", "Conference module commands", SYNTAX)
async def conference_api(ctx: ApiContext, args: str) -> str:
    argv = args.split()
    manager = manager_for(ctx.switch)
    if not argv or argv[0] in ("help", "commands"):
        return _help()
    first = argv[0]
    if first == "list":
        mode, delim = _list_mode(argv[1:])
        if mode == "count":
            return f"{len(manager.rooms)}\n"
        return list_rooms(manager, mode, delim)
    if first == "json_list":
        if len(argv) > 1:
            room = manager.find(argv[1])
            if room is None:
                return f"-ERR Conference {argv[1]} not found\n"
            return json_list([room]) + "\n"
        return json_list(manager) + "\n"
    room = manager.find(first)
    command = argv[1].lower() if len(argv) > 1 else ""
    if room is None:
        if command in ("dial", "bgdial"):
            return await _dial(manager, None, first, argv, background=command == "bgdial")
        return f"-ERR Conference {first} not found\n"
    if not command:
        return "-ERR Conference command, not specified.\nTry 'help'\n"
    if command in MEMBER_COMMANDS:
        return _member_command(room, command, argv)
    handler = ROOM_COMMANDS.get(command)
    if handler is None:
        return f"-ERR Conference command '{command}' not found.\n"
    return await handler[0](manager, room, argv)


def _help() -> str:
    lines = [f"conference <conf> {name} {syntax}" for name, (_, syntax) in MEMBER_COMMANDS.items()]
    lines += [f"conference <conf> {name} {syntax}" for name, (_, syntax) in ROOM_COMMANDS.items()]
    return (
        "\n".join(
            ["conference list [pretty|summary|count|delim <d>]", "conference json_list [<conf>]", *lines]
        )
        + "\n"
    )


def _list_mode(rest: list[str]) -> tuple[str, str]:
    if not rest:
        return "", ";"
    if rest[0] == "delim" and len(rest) > 1:
        return "", rest[1].strip('"')
    return rest[0].lower(), ";"


def _usage(room: Room, command: str, syntax: str) -> UsageError:
    return UsageError(f"conference {room.name} {command} {syntax}")


def _targets(room: Room, target: str) -> list[Member] | None:
    """Members a target names (`<id>`, `all`, `last`, `non_moderator`); None if it names none of these."""
    if target.isdigit():
        member = room.member(int(target))
        return [member] if member is not None else []
    low = target.lower()
    if low == "all":
        return list(room.members)
    if low == "non_moderator":
        return [m for m in room.members if not m.moderator]
    if low == "last":
        return [max(room.members, key=lambda m: m.id)] if room.members else []
    return None


def _member_command(room: Room, command: str, argv: list[str]) -> str:
    func, syntax = MEMBER_COMMANDS[command]
    if len(argv) < 3:
        raise _usage(room, command, syntax)
    members = _targets(room, argv[2])
    if members is None:
        raise _usage(room, command, syntax)
    if not members and argv[2].isdigit():
        return f"-ERR Non-Existant ID {argv[2]}\n"
    value = " ".join(argv[3:])
    return "".join(func(member, value) for member in members)


# ---- room commands ----------------------------------------------------------------------------------


async def _list(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    mode, delim = _list_mode(argv[2:])
    if mode == "count":
        return f"{room.count}"
    if mode == "pretty":
        return "".join(
            f"{m.id}) {m.session.profile.caller_id_name} ({m.session.profile.caller_id_number})\n"
            for m in room.members
        )
    return member_rows(room, delim)


async def _count(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return f"{room.count}"


async def _json_list(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return json_list([room]) + "\n"


async def _play(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) < 3:
        raise _usage(room, "play", ROOM_COMMANDS["play"][1])
    spec, rest = argv[2], argv[3:]
    is_async = bool(rest) and rest[-1].lower() == "async"
    if is_async:
        rest = rest[:-1]
    if rest:
        if not rest[0].isdigit():
            raise _usage(room, "play", ROOM_COMMANDS["play"][1])
        member = room.member(int(rest[0]))
        if member is None:
            return f"-ERR Member: {rest[0]} not found.\n"
        return actions.play_to_member(member, spec)
    try:
        room.play(spec, is_async)
    except SourceError:
        return f"(play) File: {spec} not found.\n"
    return f"(play) Playing file {spec}\n"


async def _stop(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    which = argv[2].lower() if len(argv) > 2 else "all"
    if which == "last":
        which = "current"
    if which not in ("current", "all", "async"):
        raise _usage(room, "stop", ROOM_COMMANDS["stop"][1])
    if len(argv) > 3:
        member = room.member(int(argv[3])) if argv[3].isdigit() else None
        if member is None:
            return f"-ERR Member: {argv[3]} not found.\n"
        return f"Stopped {member.player.stop(which)} files.\n"
    return f"Stopped {room.player.stop(which)} files.\n"


async def _lock(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return actions.lock(room)


async def _unlock(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return actions.unlock(room)


async def _record(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) < 3:
        raise _usage(room, "record", ROOM_COMMANDS["record"][1])
    path = argv[2]
    if room.start_recording(path) is None:
        return f"-ERR Cannot record to {path}\n"
    return f"Record file {path}\n"


async def _norecord(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) < 3:
        raise _usage(room, "norecord", ROOM_COMMANDS["norecord"][1])
    stopped = room.stop_recording(argv[2])
    prefix = "" if stopped or argv[2] == "all" else f"non-existant recording '{argv[2]}'\n"
    return f"{prefix}Stopped recording {stopped} file{'' if stopped == 1 else 's'}\n"


async def _check_record(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if not room.recorders:
        return "Conference is not being recorded.\n"
    return "".join(
        f"Record file {path}{' (Auto)' if rec.auto else ''}{' (Paused)' if rec.paused else ''}\n"
        for path, rec in room.recorders.items()
    )


async def _pause(manager: ConferenceManager, room: Room, argv: list[str], pause: bool = True) -> str:
    if len(argv) < 3:
        raise _usage(room, argv[1], "<filename>")
    done = room.pause_recording(argv[2], pause)
    line = f"{'Pause' if pause else 'Resume'} recording file {argv[2]}\n"
    return line if done else line + f"non-existant recording '{argv[2]}'\n"


async def _resume(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return await _pause(manager, room, argv, pause=False)


async def _recording(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    syntax = ROOM_COMMANDS["recording"][1]
    if len(argv) < 3:
        raise _usage(room, "recording", syntax)
    action, rest = argv[2].lower(), argv[3:]
    if action in ("stop", "check") and not rest:
        rest = ["all"]
    if not rest:
        raise _usage(room, "recording", syntax)
    sub = {
        "start": _record,
        "stop": _norecord,
        "check": _check_record,
        "pause": _pause,
        "resume": _resume,
    }.get(action)
    if sub is None:
        raise _usage(room, "recording", syntax)
    return await sub(manager, room, [argv[0], action, *rest])


async def _dial_cmd(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    return await _dial(manager, room, room.name, argv, background=argv[1].lower() == "bgdial")


async def _dial(
    manager: ConferenceManager, room: Room | None, name: str, argv: list[str], background: bool
) -> str:
    """`conference <room> dial|bgdial <endpoint>/<dest> [<cid number> [<cid name>]]`."""
    if len(argv) < 3:
        return "Bad Args\n"
    dialstring = argv[2]
    cid_number = argv[3] if len(argv) > 3 else (room.caller_id_number if room is not None else "")
    cid_name = " ".join(argv[4:]) if len(argv) > 4 else (room.caller_id_name if room is not None else "")
    variables = {"conference_name": name}
    if cid_number:
        variables["origination_caller_id_number"] = cid_number
    if cid_name:
        variables["origination_caller_id_name"] = cid_name
    target = f"{name}@{room.profile.name}" if room is not None else name
    switch = manager.switch

    async def call() -> HangupCause:
        result = await originate(switch, dialstring, timeout=60.0, variables=variables)
        if result.session is None:
            return result.cause
        result.session.instruct(RunApps((("conference", target),)))
        return HangupCause.SUCCESS

    if not background:
        cause = await call()
        return f"Call Requested: result: [{cause.name}]\n"
    job = str(uuidlib.uuid4())

    async def in_background() -> None:
        cause = await call()
        event = Event.create("BACKGROUND_JOB", **{"Job-UUID": job, "Job-Command": "conference"})
        event.headers["Job-Command-Arg"] = " ".join(argv)
        event.body = f"Result: [{cause.name}]\n"
        switch.events.fire(event)

    manager.spawn(in_background(), f"conference bgdial {job}")
    return f"OK Job-UUID: {job}\n"


async def _transfer(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    """`conference <room> transfer <conf>[@<profile>] <id> [<id> ...]`."""
    if len(argv) < 4:
        raise _usage(room, "transfer", ROOM_COMMANDS["transfer"][1])
    target = argv[2] if "@" in argv[2] else f"{argv[2]}@default"
    out = []
    for word in argv[3:]:
        member = room.member(int(word)) if word.isdigit() else None
        if member is None:
            out.append(f"-ERR No Member {word} in conference {room.name}.\n")
            continue
        member.transfer_to = target
        member.leaving = Leave.TRANSFER
        member.session.set_var("last_transfered_conference", argv[2])
        out.append(f"OK Member '{member.id}' sent to conference {argv[2]}.\n")
        fire_member(member, "transfer", **{"Old-Conference-Name": room.name, "New-Conference-Name": argv[2]})
    return "".join(out)


async def _pin(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if argv[1].lower() == "nopin":
        room.pin = ""
        return f"Pin for conference {room.name} deleted\n"
    if len(argv) == 4 and argv[2] == "mod":
        room.moderator_pin = argv[3]
        return f"Moderator Pin for conference {room.name} set: {argv[3]}\n"
    if len(argv) == 3:
        room.pin = argv[2]
        return f"Pin for conference {room.name} set: {argv[2]}\n"
    raise _usage(room, "pin", "<pin#> | mod <pin#>")


async def _get(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) != 3:
        raise _usage(room, "get", ROOM_COMMANDS["get"][1])
    values = {
        "run_time": str(int(time.time() - room.created)),
        "count": str(room.count),
        "count_ghosts": str(room.ghosts),
        "max_members": str(room.max_members),
        "rate": str(room.rate),
        "profile_name": room.profile.name,
        "sound_prefix": room.sound_prefix,
        "caller_id_name": room.caller_id_name,
        "caller_id_number": room.caller_id_number,
        "is_locked": "locked" if room.locked else "",
        "endconference_grace_time": str(room.profile.endconf_grace_time),
        "uuid": room.uuid,
        "wait_mod": "true" if room.waiting_for_moderator else "",
    }
    value = values.get(argv[2].lower())
    if value is None:
        raise _usage(room, "get", ROOM_COMMANDS["get"][1])
    return value


async def _set(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) != 4:
        raise _usage(room, "set", ROOM_COMMANDS["set"][1])
    key, value = argv[2].lower(), argv[3]
    if key == "max_members" and value.isdigit():
        old, room.max_members = str(room.max_members), int(value)
    elif key == "sound_prefix":
        old, room.sound_prefix = room.sound_prefix, value
    elif key == "caller_id_name":
        old, room.caller_id_name = room.caller_id_name, value
    elif key == "caller_id_number":
        old, room.caller_id_number = room.caller_id_number, value
    else:
        raise _usage(room, "set", ROOM_COMMANDS["set"][1])
    return old


async def _sounds_switch(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    which = argv[1].lower()
    if len(argv) < 3 or argv[2].lower() not in ("on", "off", "none"):
        raise _usage(room, which, "on|off|none")
    on = argv[2].lower() == "on"
    if which == "enter_sound":
        room.enter_sound_on = on
    else:
        room.exit_sound_on = on
    kind = which.split("_", 1)[0]
    fire_room(room, f"{kind}-sounds-{'on' if on else 'off'}")
    return f"OK {room.name} {kind} sounds {'on' if on else 'off'}\n"


async def _dtmf(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    if len(argv) < 4:
        raise _usage(room, "dtmf", ROOM_COMMANDS["dtmf"][1])
    members = _targets(room, argv[2])
    if members is None:
        raise _usage(room, "dtmf", ROOM_COMMANDS["dtmf"][1])
    if not members and argv[2].isdigit():
        return f"-ERR Non-Existant ID {argv[2]}\n"
    out = []
    for member in members:
        await member.session.send_dtmf(argv[3])
        fire_member(member, "dtmf-member", Digits=argv[3])
        out.append(f"OK sent {argv[3]} to {member.id}\n")
    return "".join(out)


async def _la_bootstrap(manager: ConferenceManager, room: Room, argv: list[str]) -> str:
    """The live array's bootObj message (JSON), for a Verto client that subscribed to it."""
    return json.dumps(room.live.bootstrap(argv[2] if len(argv) > 2 else ""), separators=(",", ":")) + "\n"


ROOM_COMMANDS: dict[str, tuple[RoomCommand, str]] = {
    "list": (_list, "[delim <string>]|[count]|[pretty]"),
    "count": (_count, ""),
    "json_list": (_json_list, ""),
    "play": (_play, "<file_path> [async|<member_id> [nomux]]"),
    "stop": (_stop, "<[current|all|async|last]> [<member_id>]"),
    "dtmf": (_dtmf, "<[member_id|all|last|non_moderator]> <digits>"),
    "lock": (_lock, ""),
    "unlock": (_unlock, ""),
    "dial": (_dial_cmd, "<endpoint_module_name>/<destination> <callerid number> <callerid name>"),
    "bgdial": (_dial_cmd, "<endpoint_module_name>/<destination> <callerid number> <callerid name>"),
    "transfer": (_transfer, "<conference_name> <member id> [...<member id>]"),
    "record": (_record, "<filename>"),
    "chkrecord": (_check_record, "<confname>"),
    "norecord": (_norecord, "<[filename|all]>"),
    "pause": (_pause, "<filename>"),
    "resume": (_resume, "<filename>"),
    "recording": (_recording, "[start|stop|check|pause|resume] [<filename>|all]"),
    "exit_sound": (_sounds_switch, "on|off|none"),
    "enter_sound": (_sounds_switch, "on|off|none"),
    "pin": (_pin, "<pin#>"),
    "nopin": (_pin, ""),
    "get": (_get, "<parameter-name>"),
    "set": (_set, "<max_members|sound_prefix|caller_id_name|caller_id_number> <value>"),
    "la_bootstrap": (_la_bootstrap, "[<sessid>]"),
}
