"""Media applications: echo, playback, DTMF collection and recording."""

from __future__ import annotations

import logging
from collections import deque

from switchcore import ivr
from switchcore.media.frame import Frame
from switchcore.media.recorder import InbandDtmfTap
from switchcore.media.wavfile import WavError
from switchcore.session import Session

from .declaration import module

log = logging.getLogger("mod_dptools")


@module.application("echo", "Echo audio back to the caller", "")
async def echo(session: Session, arg: str) -> None:
    while True:
        frame = await session.read_frame()
        await session.write_frame(frame)


@module.application("delay_echo", "Echo audio back to the caller after a delay", "<delay ms>")
async def delay_echo(session: Session, arg: str) -> None:
    try:
        delay_ms = max(20, int(arg.strip() or "1000"))
    except ValueError:
        log.error("[%s] delay_echo: %r is not a number of milliseconds", session.uuid, arg)
        return
    held: deque[Frame] = deque()
    depth = delay_ms // 20
    silence = Frame.silence(session.rate)
    while True:
        held.append(await session.read_frame())
        await session.write_frame(held.popleft() if len(held) > depth else silence)


def _ints(parts: list[str], count: int) -> list[int] | None:
    try:
        return [int(p) for p in parts[:count]]
    except ValueError:
        return None


@module.application("playback", "Play a file, tone or stream to the channel", "<path>")
async def playback(session: Session, arg: str) -> None:
    await ivr.play_file(session, arg.strip(), ivr.terminators_of(session))


@module.application("start_dtmf", "Detect in-band DTMF in what the caller sends", "")
async def start_dtmf(session: Session, arg: str) -> None:
    if not any(isinstance(t, InbandDtmfTap) for t in session.read_taps):
        session.add_tap(InbandDtmfTap(session.rate), read=True, write=False)


@module.application("stop_dtmf", "Stop in-band DTMF detection", "")
async def stop_dtmf(session: Session, arg: str) -> None:
    for tap in list(session.read_taps):
        if isinstance(tap, InbandDtmfTap):
            session.remove_tap(tap)


@module.application("send_dtmf", "Send DTMF digits to the far end", "<digits>[@<duration ms>]")
async def send_dtmf(session: Session, arg: str) -> None:
    digits, _, duration = arg.strip().partition("@")
    await session.send_dtmf(digits, int(duration) if duration.isdigit() else 100)


READ_SYNTAX = "<min> <max> <sound file> <variable name> <timeout ms> <terminators> [<digit timeout ms>]"


@module.application("read", "Play a prompt and read DTMF digits into a variable", READ_SYNTAX)
async def read(session: Session, arg: str) -> None:
    parts = arg.split()
    nums = _ints(parts, 2)
    if len(parts) < 6 or nums is None or not parts[4].isdigit():
        log.error("[%s] read: usage: %s", session.uuid, READ_SYNTAX)
        return
    digit_timeout = int(parts[6]) if len(parts) > 6 and parts[6].isdigit() else None
    got = await ivr.collect_digits(
        session, nums[0], nums[1], int(parts[4]), parts[5], digit_timeout, "" if parts[2] == "silence" else parts[2]
    )
    session.set_var(parts[3], got.digits)
    session.set_var("read_terminator_used", got.terminator or None)
    session.set_var("read_result", "success" if len(got.digits) >= nums[0] else "timeout" if got.timed_out else "failure")


PAGD_SYNTAX = (
    "<min> <max> <tries> <timeout ms> <terminators> <file> <invalid file> <var name> <regexp> "
    "[<digit timeout ms>] [<failure ext> [<dialplan> <context>]]"
)


@module.application("play_and_get_digits", "Prompt for digits, validate them, retry", PAGD_SYNTAX)
async def play_and_get_digits(session: Session, arg: str) -> None:
    parts = arg.split()
    nums = _ints(parts, 4)
    if len(parts) < 9 or nums is None:
        log.error("[%s] play_and_get_digits: usage: %s", session.uuid, PAGD_SYNTAX)
        return
    digit_timeout = int(parts[9]) if len(parts) > 9 and parts[9].isdigit() else None
    invalid = "" if parts[6] in ("silence_stream://250", "") else parts[6]
    digits = await ivr.play_and_get_digits(
        session, nums[0], nums[1], nums[2], nums[3], parts[4], parts[5], invalid, parts[8], digit_timeout
    )
    session.set_var(parts[7], digits or None)
    if not digits and len(parts) > 10:
        dialplan = parts[11] if len(parts) > 11 else "XML"
        context = parts[12] if len(parts) > 12 else session.profile.context
        session.transfer(parts[10], dialplan, context)


@module.application("record", "Record what the caller says to a file", "<path> [<limit s>] [<silence threshold>] [<silence hits>]")
async def record(session: Session, arg: str) -> None:
    parts = arg.split()
    if not parts:
        log.error("[%s] record: no file", session.uuid)
        return
    nums = _ints(parts[1:], len(parts) - 1) or []
    await ivr.record_file(
        session,
        parts[0],
        nums[0] if len(nums) > 0 else 0,
        nums[1] if len(nums) > 1 else 0,
        nums[2] if len(nums) > 2 else 3,
    )


@module.application("record_session", "Record both directions of the call", "<path> [+<limit s>]")
async def record_session(session: Session, arg: str) -> None:
    parts = arg.split()
    if not parts:
        log.error("[%s] record_session: no file", session.uuid)
        return
    limit = float(parts[1][1:]) if len(parts) > 1 and parts[1].startswith("+") and parts[1][1:].isdigit() else 0.0
    try:
        ivr.start_record_session(session, parts[0], limit)
    except (OSError, ValueError, WavError) as exc:
        log.error("[%s] record_session %s failed: %s", session.uuid, parts[0], exc)
        session.fire("RECORD_STOP", **{"Record-File-Path": parts[0], "Record-Error": str(exc)})


@module.application("stop_record_session", "Stop recording the call", "<path>|all")
async def stop_record_session(session: Session, arg: str) -> None:
    ivr.stop_record_session(session, arg.strip() or "all")
