"""Session timers (RFC 4028) against sipp: the negotiation of an INVITE and refreshes by the caller.

sipp (tests/peers/scenarios/uac_session_*.xml) calls the echo test (9196) on the switch booted
in process (`raw_ua.boot_switch`, external profile, no auth); each scenario fails the call
(`check_it`) when a response lacks the Session-Expires/Min-SE/Require it must carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from modules.mod_sofia.endpoint import endpoint
from modules.mod_sofia.session_refresh import ScaledClock
from tests.peers.fixtures import make_sipp
from tests.peers.ports import PortAllocator
from tests.peers.sipp import Sipp

from .raw_ua import LOOPBACK, boot_switch

__all__ = ["make_sipp", "peer_ports"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(16280, 16299), rtp=(43800, 43999), ctrl=(16200, 16209))


def sent_by_switch(sipp: Sipp, method: str) -> list[str]:
    """The messages sipp logged as received that start with `method` (from -trace_msg)."""
    text = sipp.messages_path.read_text(errors="replace")
    blocks = text.split("----------------------------------------------- ")
    return [b for b in blocks if "message received" in b and f"\n{method} " in b]


async def test_sipp_gets_422_for_a_short_interval_then_its_retry_is_answered_with_session_expires(
    tmp_path: Path, make_sipp: Callable[..., Sipp]
) -> None:
    async with boot_switch(tmp_path) as (switch, port):
        created: list[str] = []
        switch.events.listen(lambda e: created.append(e.name) if e.name == "CHANNEL_CREATE" else None)
        sipp = make_sipp("uac_session_timer_422", f"{LOOPBACK}:{port}", service="9196", duration_ms=500)
        result = await asyncio.to_thread(sipp.run)
        result.assert_ok(calls=1)
        assert created == ["CHANNEL_CREATE"]  # one channel: the 422 came before any routing


async def test_sipp_refreshes_by_reinvite_and_update_and_the_switch_takes_over_refreshing(
    tmp_path: Path, make_sipp: Callable[..., Sipp]
) -> None:
    async with boot_switch(tmp_path) as (switch, port):
        endpoint.handlers["external"].refresh_clock = ScaledClock(0.01)  # 120 s intervals in 1.2 s
        sipp = make_sipp("uac_session_refresh", f"{LOOPBACK}:{port}", service="9196", duration_ms=300)
        result = await asyncio.to_thread(sipp.run)
        result.assert_ok(calls=1)
        [update] = sent_by_switch(sipp, "UPDATE")
        assert "Session-Expires: 120;refresher=uac" in update and "Content-Length: 0" in update
        assert not switch.sessions or all(s.hungup for s in switch.sessions.values())
