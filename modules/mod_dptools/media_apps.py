"""Media applications: echo and delay_echo (playback, record and DTMF collection live beside them)."""

from __future__ import annotations

import logging
from collections import deque

from switchcore.media.frame import Frame
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
