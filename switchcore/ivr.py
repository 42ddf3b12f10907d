"""Playing, collecting digits and recording on a channel (FreeSWITCH's switch_ivr_play_say / _async).

These run on the channel's own task and are paced by its `read_frame`: each
iteration reads one frame from the far end (which also lets DTMF and taps
see it) and writes one frame of what is played.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .media.frame import Frame
from .media.recorder import SessionRecorder
from .media.sources import FrameSource, SourceError, open_source
from .media.wavfile import WavWriter

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("switchcore.ivr")


def terminators_of(session: Session, default: str = "*") -> str:
    value = session.get_var("playback_terminators")
    if value is None:
        return default
    return "" if value.lower() == "none" else value


def open_for(session: Session, spec: str) -> FrameSource:
    prefix = session.get_var("sound_prefix") or str(session.switch.sounds_dir / "en/us/callie")
    return open_source(spec, session.rate, prefix, session.switch.registry.file_formats)


@dataclass(slots=True)
class PlayResult:
    status: str  # "done", "break" (a terminator), "error", "hangup"
    digit: str = ""
    reason: str = ""


async def play_file(session: Session, spec: str, terminators: str = "", stop_on_any_digit: bool = False) -> PlayResult:
    """Play `spec` to the channel until it ends, a terminator is pressed, or the call ends."""
    session.fire("PLAYBACK_START", **{"Playback-File-Path": spec})
    result = PlayResult("done")
    source: FrameSource | None = None
    try:
        try:
            source = open_for(session, spec)
        except SourceError as exc:
            log.error("[%s] playback %s failed: %s", session.uuid, spec, exc)
            result = PlayResult("error", reason=str(exc))
            return result
        while True:
            frame = source.read_frame()
            if frame is None:
                break
            await session.read_frame()
            digit = _take_terminator(session, terminators, stop_on_any_digit)
            if digit:
                result = PlayResult("break", digit)
                session.set_var("playback_terminator_used", digit)
                break
            await session.write_frame(frame)
        errors = getattr(source, "errors", None)
        if errors:
            log.error("[%s] playback %s: %s", session.uuid, spec, "; ".join(errors))
        return result
    except asyncio.CancelledError:
        result = PlayResult("hangup" if session.hungup else "break")
        raise
    finally:
        if source is not None:
            source.close()
        headers = {"Playback-File-Path": spec, "Playback-Status": result.status}
        if result.reason:
            headers["Playback-Error"] = result.reason
        session.set_var("playback_status", result.status)
        session.fire("PLAYBACK_STOP", **headers)


def _take_terminator(session: Session, terminators: str, any_digit: bool) -> str:
    """A terminator from the DTMF queue (it is consumed); other digits stay queued."""
    if session.dtmf.empty():
        return ""
    kept: list[str] = []
    found = ""
    while not session.dtmf.empty():
        digit = session.dtmf.get_nowait()
        if not found and (any_digit or digit in terminators):
            found = digit
            if any_digit and digit not in terminators:
                kept.append(digit)  # the first digit of what the caller is typing
        else:
            kept.append(digit)
    for digit in kept:
        session.dtmf.put_nowait(digit)
    return found


@dataclass(slots=True)
class Collected:
    digits: str
    terminator: str = ""
    timed_out: bool = False


async def collect_digits(
    session: Session,
    min_digits: int,
    max_digits: int,
    timeout_ms: int,
    terminators: str,
    digit_timeout_ms: int | None = None,
    prompt: str = "",
) -> Collected:
    """Play `prompt` (stopped by the first digit), then collect up to `max_digits`."""
    if prompt:
        await play_file(session, prompt, terminators, stop_on_any_digit=True)
    digits = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_ms / 1000
    while len(digits) < max_digits:
        if not session.dtmf.empty():
            digit = session.dtmf.get_nowait()
            if digit in terminators:
                return Collected(digits, digit)
            digits += digit
            if digit_timeout_ms is not None:
                deadline = loop.time() + digit_timeout_ms / 1000
            continue
        if loop.time() >= deadline:
            return Collected(digits, "", timed_out=True)
        await session.read_frame()
    return Collected(digits)


async def play_and_get_digits(
    session: Session,
    min_digits: int,
    max_digits: int,
    tries: int,
    timeout_ms: int,
    terminators: str,
    prompt: str,
    invalid_prompt: str,
    regex: str,
    digit_timeout_ms: int | None = None,
) -> str:
    """Prompt, collect, validate against `regex`; retry `tries` times; '' when it never matched."""
    pattern = re.compile(regex) if regex else None
    for _ in range(max(1, tries)):
        got = await collect_digits(session, min_digits, max_digits, timeout_ms, terminators, digit_timeout_ms, prompt)
        if got.terminator:
            session.set_var("read_terminator_used", got.terminator)
        valid = len(got.digits) >= min_digits and (pattern is None or pattern.fullmatch(got.digits) is not None)
        if valid:
            return got.digits
        if invalid_prompt:
            await play_file(session, invalid_prompt)
    return ""


async def record_file(
    session: Session, path: str, limit_s: float = 0, silence_threshold: int = 0, silence_hits: int = 3
) -> int:
    """Record what the caller says to `path` until a limit, silence, a terminator or hangup; returns ms."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    terminators = terminators_of(session)
    writer = WavWriter(path, session.rate, 1)
    session.fire("RECORD_START", **{"Record-File-Path": path})
    samples = 0
    quiet_frames = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    heard = False
    try:
        while True:
            frame: Frame = await session.read_frame()
            writer.write(frame.samples)
            samples += len(frame.samples)
            if _take_terminator(session, terminators, False):
                break
            if limit_s and loop.time() - start >= limit_s:
                break
            if silence_threshold:
                energy = float(np.abs(frame.samples.astype(np.int32)).mean()) if len(frame.samples) else 0.0
                if energy < silence_threshold:
                    quiet_frames += 1
                else:
                    heard, quiet_frames = True, 0
                # silence_hits counts seconds of silence after something was heard, as FreeSWITCH.
                if heard and quiet_frames * 20 >= silence_hits * 1000:
                    break
    finally:
        writer.close()
        ms = samples * 1000 // session.rate
        session.set_var("record_ms", str(ms))
        session.set_var("record_samples", str(samples))
        session.fire("RECORD_STOP", **{"Record-File-Path": path})
    return ms


def start_record_session(session: Session, path: str, limit_s: float = 0.0) -> SessionRecorder:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    stereo = session.var_true("RECORD_STEREO") or session.var_true("record_stereo")
    recorder = SessionRecorder(path, session.rate, stereo, limit_s)
    session.add_tap(recorder)
    session.fire("RECORD_START", **{"Record-File-Path": path})
    return recorder


def stop_record_session(session: Session, path: str = "all") -> int:
    stopped = 0
    for tap in list(session.read_taps) + list(session.write_taps):
        if isinstance(tap, SessionRecorder) and (path in ("all", "") or tap.path == path):
            session.remove_tap(tap)
            stopped += 1
    return stopped
