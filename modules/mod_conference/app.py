"""The `conference` application: join a room, stay in it until leaving, then go on.

As FreeSWITCH's conference_function: find or create the room, then for an
inbound caller (unless `conference_enforce_security` says otherwise) ask for
the PIN when the room has one (`pin-retries` tries, `bad-pin-sound` between
them; the moderator PIN makes a moderator), refuse a locked room
(`locked-sound`) or a full one (`max-members-sound`), join, and run the
member's loop.  A kicked member hears `kicked-sound`; a member who pressed the
hangup control, was kicked or whose room ended goes on with the dialplan; a
transferred member joins its new room within the same application.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace

from switchcore import ivr
from switchcore.errors import Hangup
from switchcore.media.sources import SourceError, open_source
from switchcore.originate import originate
from switchcore.session import RunApps, Session

from . import actions
from .controls import Control, DigitMatcher
from .declaration import module
from .events import fire_member
from .flags import JoinSpec, parse_join
from .manager import ConferenceManager, manager_for
from .member import Leave, Member
from .room import Room

__all__ = ["SYNTAX", "conference", "run_control", "serve"]

log = logging.getLogger("mod_conference")

SYNTAX = "<confname>[@<profile>][+<pin>][+flags{mute|deaf|moderator|endconf|mintwo|nomoh|...}]"
PIN_TIMEOUT_MS = 10_000
PIN_URL_PARAM = "X-ConfPin="


@module.application("conference", "Audio conference bridge", SYNTAX)
async def conference(session: Session, arg: str) -> None:
    try:
        spec: JoinSpec | None = parse_join(arg)
    except ValueError as exc:
        log.error("[%s] conference: %s (usage: conference %s)", session.uuid, exc, SYNTAX)
        return
    manager = manager_for(session.switch)
    member_id = 0
    try:
        while spec is not None:
            for bad in spec.unknown_flags:
                log.warning("[%s] conference: unknown member flag %r", session.uuid, bad)
            spec, member_id = await _join(manager, session, spec, member_id)
    except Hangup:
        return


async def _join(
    manager: ConferenceManager, session: Session, spec: JoinSpec, member_id: int
) -> tuple[JoinSpec | None, int]:
    """One stay in one room; returns where a transfer goes next (or None) and the member id kept."""
    room = _room_for(manager, session, spec)
    member: Member | None = None
    reason: Leave | None = None
    try:
        if spec.bridge_to and not await _bridge(session, spec):
            return None, member_id
        if not session.answered:
            await session.answer()
        session.set_var("conference_name", room.name)
        moderator = await _admit(session, room, spec)
        if moderator is None:
            return None, member_id
        if room.destroyed:  # everyone left while this caller was being asked for the PIN
            room = _room_for(manager, session, spec)
        flags = spec.flags | room.profile.member_flags
        if moderator:
            flags |= {"moderator"}
        if spec.bridge_to:
            flags |= {"mintwo"}
        member_id = member_id or manager.next_member_id()
        member = Member(
            room, session, member_id, frozenset(flags), room.board.allocate(room.profile.energy_level)
        )
        room.add(member)
        await _auto_record(manager, room, session)
        reason = await serve(member)
    finally:
        if member is not None:
            room.remove(member)
        elif room.count + room.ghosts == 0 and not room.destroyed:
            room.destroy()  # nobody got in (bad PIN, locked, hung up while asked)
    if member is None:
        return None, member_id
    if reason is Leave.KICKED:
        kicked = member.kicked_sound or room.profile.sound("kicked-sound")
        if kicked and room.profile.sound("kicked-sound"):
            await _local_play(session, room, kicked)
    if reason is Leave.TRANSFER and member.transfer_to:
        target = parse_join(member.transfer_to)
        keep = frozenset(member.flags & {"moderator", "endconf", "nomoh", "ghost"})
        return replace(target, flags=target.flags | keep), member_id
    return None, member_id


def _room_for(manager: ConferenceManager, session: Session, spec: JoinSpec) -> Room:
    """The room named by `spec`, created with its profile when it does not exist yet."""
    room = manager.find(spec.name)
    if room is not None:
        return room
    profile = manager.config().profile(spec.profile)
    auto_record = session.get_var("conference_auto_record")
    if auto_record:
        profile = replace(profile, auto_record=auto_record)
    return manager.create(spec.name, spec.profile, spec.pin, profile=profile)


async def _bridge(session: Session, spec: JoinSpec) -> bool:
    """`bridge:<room>:<dialstring>`: call the other party into the room with this caller."""
    result = await originate(session.switch, spec.bridge_to, originator=session)
    if result.session is None:
        log.info("[%s] conference bridge to %s failed: %s", session.uuid, spec.bridge_to, result.cause.name)
        session.hangup(result.cause)
        return False
    result.session.instruct(RunApps((("conference", f"{spec.name}@{spec.profile}+flags{{mintwo}}"),)))
    return True


async def _admit(session: Session, room: Room, spec: JoinSpec) -> bool | None:
    """PIN, lock and size checks: True joins as moderator, False as member, None is refused."""
    enforce = session.direction == "inbound"
    forced = session.get_var("conference_enforce_security")
    if forced is not None:
        enforce = session.var_true("conference_enforce_security")
    moderator = False
    if enforce:
        pin = spec.pin or room.pin
        mpin = session.get_var("conference_moderator_pin") or room.moderator_pin
        if pin or mpin:
            result = await _ask_pin(session, room, pin, mpin)
            if result is None:
                return None
            moderator = result
        if room.locked:
            log.info("[%s] conference %s is locked", session.uuid, room.name)
            await _local_play(session, room, room.profile.sound("locked-sound"))
            return None
    if room.max_members and room.count >= room.max_members:
        log.info("[%s] conference %s is full", session.uuid, room.name)
        await _local_play(session, room, room.profile.sound("max-members-sound"))
        return None
    return moderator


async def _ask_pin(session: Session, room: Room, pin: str, mpin: str) -> bool | None:
    supplied = session.get_var("supplied_pin") or ""
    if PIN_URL_PARAM in supplied:
        supplied = supplied.split(PIN_URL_PARAM, 1)[1]
    supplied = supplied.split(";", 1)[0]
    if supplied and (supplied in (mpin, pin)):
        return bool(mpin) and supplied == mpin
    longest = max(len(pin), len(mpin))
    prompt = room.profile.sound("pin-sound") or "conference/conf-pin.wav"
    bad = room.profile.sound("bad-pin-sound") or "conference/conf-bad-pin.wav"
    for _ in range(room.profile.pin_retries):
        await _local_play(session, room, prompt, stop_on_digit=True)
        got = await ivr.collect_digits(session, 1, longest, PIN_TIMEOUT_MS, "#")
        if (mpin and got.digits == mpin) or (pin and got.digits == pin):
            session.flush_dtmf()  # a "#" typed after a full PIN is not a hangup control
            return bool(mpin) and got.digits == mpin
        await _local_play(session, room, bad)
        session.flush_dtmf()
    log.info("[%s] conference %s: wrong PIN", session.uuid, room.name)
    return None


async def _local_play(session: Session, room: Room, spec: str, stop_on_digit: bool = False) -> None:
    """Play a prompt to one caller outside the mix (with the room's sound prefix)."""
    if not spec:
        return
    try:
        source = open_source(spec, session.rate, room.sound_prefix, session.switch.registry.file_formats)
    except SourceError as exc:
        log.warning("[%s] conference %s: cannot play %s: %s", session.uuid, room.name, spec, exc)
        return
    try:
        while (frame := source.read_frame()) is not None:
            await session.read_frame()
            if stop_on_digit and not session.dtmf.empty():
                return
            await session.write_frame(frame)
    finally:
        source.close()


async def _auto_record(manager: ConferenceManager, room: Room, session: Session) -> None:
    template = room.profile.auto_record
    if not template or room.auto_recorded or room.count < room.profile.min_recording_participants:
        return
    room.auto_recorded = True  # one attempt per room: a path that cannot be opened is not retried
    path = await manager.expand(template, session)
    room.start_recording(path, auto=True)


async def serve(member: Member) -> Leave:
    """The member's loop: read, hand to the mixer, act on digits, write what the mixer made."""
    session = member.session
    matcher = DigitMatcher(member.room.controls_for(member).controls)
    loop = asyncio.get_running_loop()
    skip_dtmf = "skip-dtmf" in member.flags
    # This loop runs for every member every 20 ms: bound methods are looked up once.
    read, write, digits = session.read_frame, session.write_frame, session.dtmf
    push, output, player = member.push, member.next_output, member.player
    while member.leaving is None:
        push(await read())
        if (digits.qsize() or matcher.pending) and not skip_dtmf:
            await _digits(member, matcher, loop.time())
            if member.leaving is not None:
                break
        if player.finished:
            for item in member.finished_files():
                if item.tag != "prompt":
                    fire_member(member, "play-file-member-done", File=item.spec)
        await write(output())
    return member.leaving


async def _digits(member: Member, matcher: DigitMatcher, now: float) -> None:
    session = member.session
    while not session.dtmf.empty():
        digit = session.dtmf.get_nowait()
        if "dist-dtmf" in member.flags:
            for other in member.room.members:
                if other is not member:
                    await other.session.send_dtmf(digit)
            continue
        control = matcher.feed(digit, now)
        if control is not None:
            await run_control(member, control)
    control = matcher.expire(now)
    if control is not None:
        await run_control(member, control)


async def run_control(member: Member, control: Control) -> None:
    """Do what a caller control says (conference_loop.c control_mappings)."""
    action, room = control.action, member.room
    session = member.session
    session.set_var("conference_last_matching_digits", control.digits)
    if action in ("mute", "mute on", "mute off"):
        if action == "mute on" or (action == "mute" and member.can_speak):
            if member.can_speak:
                actions.mute(member)
        else:
            if not member.can_speak:
                actions.unmute(member)
            if not member.can_hear:
                actions.undeaf(member)
    elif action == "deaf mute":
        if member.can_speak:
            actions.mute(member)
            if member.can_hear:
                actions.deaf(member)
        else:
            actions.unmute(member)
            if not member.can_hear:
                actions.undeaf(member)
    elif action in ("deaf", "deaf on", "deaf off"):
        if action == "deaf on" or (action == "deaf" and member.can_hear):
            if member.can_hear:
                actions.deaf(member)
        elif not member.can_hear:
            actions.undeaf(member)
    elif action.startswith("energy "):
        _energy_control(member, action)
    elif action.startswith("vol "):
        _volume_control(member, action)
    elif action == "hangup":
        member.leaving = Leave.HANGUP
    elif action == "lock":
        if room.waiting_for_moderator and not member.moderator:
            return
        (actions.unlock if room.locked else actions.lock)(room)
    elif action == "floor":
        actions.floor(member)
    elif action == "event":
        fire_member(member, "dtmf", **{"DTMF-Key": control.digits, "Data": control.data})
    elif action == "transfer":
        parts = control.data.split()
        if parts:
            member.leaving = Leave.ENDED
            session.transfer(
                parts[0], parts[1] if len(parts) > 1 else "XML", parts[2] if len(parts) > 2 else ""
            )
    elif action == "execute_application":
        name, _, data = control.data.partition(" ")
        interface = session.switch.registry.applications.get(name)
        if interface is None:
            log.error("[%s] conference control: no application %r", session.uuid, name)
            return
        await interface.func(session, await session.expand(data))
    elif action == "moh toggle" and room.player.playing("moh"):
        room.player.stop("async", tag="moh")


def _say_number(member: Member, number: int) -> None:
    """The digits of a level, as conference_loop.c plays them after a change."""
    if number < 0:
        _quiet_play(member, "currency/negative.wav")
    for digit in str(abs(number)):
        _quiet_play(member, f"digits/{digit}.wav")


def _quiet_play(member: Member, spec: str) -> None:
    with contextlib.suppress(SourceError):
        member.play(spec, tag="prompt")


def _energy_control(member: Member, action: str) -> None:
    if action == "energy up":
        member.energy_level = min(member.energy_level + actions.ENERGY_STEP, actions.ENERGY_MAX)
    elif action == "energy dn":
        member.energy_level = max(member.energy_level - actions.ENERGY_STEP, 0)
    else:
        member.energy_level = member.room.profile.energy_level
    member.sync_board()
    fire_member(member, "energy-level", **{"New-Level": str(member.energy_level)})
    _say_number(member, member.energy_level // actions.ENERGY_STEP)


def _volume_control(member: Member, action: str) -> None:
    # FreeSWITCH's conference_loop.c turns "vol talk" into the member's *output* level and
    # "vol listen" into its input gain; here talk is how loud the others hear this member
    # (volume_in) and listen how loud it hears them (volume_out), as the names say.  The
    # events keep FreeSWITCH's names for each level: gain-level (input), volume-level (output).
    _, which, step = action.split()
    delta = {"up": 1, "dn": -1}.get(step)
    if which == "talk":
        member.volume_in = 0 if delta is None else member.volume_in + delta
        member.sync_board()
        fire_member(member, "gain-level", **{"New-Level": str(member.volume_in)})
        _say_number(member, member.volume_in)
    else:
        member.volume_out = 0 if delta is None else member.volume_out + delta
        member.sync_board()
        fire_member(member, "volume-level", **{"New-Level": str(member.volume_out)})
        _say_number(member, member.volume_out)
