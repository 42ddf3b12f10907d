"""Answering, hanging up, parking and transferring."""

from __future__ import annotations

import asyncio
import logging

from switchcore.causes import HangupCause
from switchcore.session import Session
from switchcore.states import ChannelState

from .declaration import module

log = logging.getLogger("mod_dptools")


@module.application("answer", "Answer the call", "")
async def answer(session: Session, arg: str) -> None:
    await session.answer()


@module.application("pre_answer", "Pre-answer the call (early media)", "")
async def pre_answer(session: Session, arg: str) -> None:
    await session.pre_answer()


@module.application("ring_ready", "Indicate ringing", "")
async def ring_ready(session: Session, arg: str) -> None:
    await session.ring_ready()


@module.application("hangup", "Hang up the call", "[<cause>]")
async def hangup(session: Session, arg: str) -> None:
    session.hangup(HangupCause.parse(arg) if arg.strip() else HangupCause.NORMAL_CLEARING)


@module.application("sleep", "Pause the channel for some milliseconds", "<ms>")
async def sleep(session: Session, arg: str) -> None:
    try:
        ms = int(arg.strip() or "0")
    except ValueError:
        log.error("[%s] sleep: %r is not a number of milliseconds", session.uuid, arg)
        return
    await session.sleep(ms / 1000)


@module.application("park", "Park the call (wait for API control)", "")
async def park(session: Session, arg: str) -> None:
    session.set_state(ChannelState.PARK)
    session.fire("CHANNEL_PARK")
    try:
        # A parked channel keeps reading media (so timers and taps still run) until told otherwise.
        while True:
            await session.read_frame()
    finally:
        if not session.hungup:
            session.fire("CHANNEL_UNPARK")


@module.application("transfer", "Transfer the call to another extension", "<exten> [<dialplan> <context>]")
async def transfer(session: Session, arg: str) -> None:
    parts = arg.split()
    if not parts:
        log.error("[%s] transfer: missing destination", session.uuid)
        return
    dialplan = parts[1] if len(parts) > 1 else "XML"
    context = parts[2] if len(parts) > 2 else session.profile.context
    log.info("[%s] transfer to %s %s %s", session.uuid, parts[0], dialplan, context)
    session.transfer(parts[0], dialplan, context)
    await asyncio.sleep(0)
