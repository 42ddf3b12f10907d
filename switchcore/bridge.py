"""Bridging two answered legs: two pumps that move frames until one side hangs up.

Frames move as the core's L16; each endpoint's driver decides whether it can
pass an attached encoded payload through untouched (same codec on both legs)
or must re-encode.  When one leg hangs up the bridge ends; the caller decides
what the survivor does next (hangup_after_bridge, park_after_bridge ...).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import Hangup
from .states import ChannelState

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("switchcore.bridge")


async def _pump(src: Session, dst: Session) -> None:
    try:
        while True:
            frame = await src.read_frame()
            await dst.write_frame(frame)
    except Hangup:
        return


async def bridge(a: Session, b: Session) -> Session | None:
    """Bridge `a` and `b` until one hangs up (or the calling task is cancelled).

    Returns the leg that hung up first (None when the bridge was broken from outside).
    """
    a.partner, b.partner = b, a
    for leg, other in ((a, b), (b, a)):
        leg.variables["bridge_uuid"] = other.uuid
        leg.variables["signal_bond"] = other.uuid
        leg.variables["last_bridge_to"] = other.uuid
        leg.set_state(ChannelState.EXCHANGE_MEDIA)
    a.fire("CHANNEL_BRIDGE", **{"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid})
    loop = asyncio.get_running_loop()
    sends: set[asyncio.Task[None]] = set()

    def relay_to(other: Session) -> Callable[[str, int], bool]:
        # DTMF crosses the bridge as it came (RFC 4733 or INFO by the far leg's own dtmf-type).
        def relay(digit: str, duration_ms: int) -> bool:
            if other.hungup:
                return False
            task = loop.create_task(other.send_dtmf(digit, duration_ms))
            sends.add(task)
            task.add_done_callback(sends.discard)
            return True

        return relay

    a.dtmf_listener, b.dtmf_listener = relay_to(b), relay_to(a)
    pumps = {loop.create_task(_pump(a, b)), loop.create_task(_pump(b, a))}
    ended: Session | None = None
    try:
        for leg in (a, b):
            leg.leave_bridge.clear()
            leg.transferred_out = False
        leaving = {loop.create_task(a.leave_bridge.wait()), loop.create_task(b.leave_bridge.wait())}
        try:
            await asyncio.wait(pumps | leaving, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in leaving:
                task.cancel()
        ended = a if a.hungup else b if b.hungup else None
    finally:
        a.dtmf_listener = b.dtmf_listener = None
        for pump in pumps:
            pump.cancel()
        await asyncio.wait(pumps)
        a.partner = b.partner = None
        for leg in (a, b):
            if not leg.hungup:
                leg.set_state(ChannelState.EXECUTE)
        a.fire("CHANNEL_UNBRIDGE", **{"Bridge-A-Unique-ID": a.uuid, "Bridge-B-Unique-ID": b.uuid})
    return ended
