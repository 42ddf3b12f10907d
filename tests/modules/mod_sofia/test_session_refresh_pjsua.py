"""Session timers (RFC 4028) with a pjsua2 phone: negotiated on the switch's INVITE, refreshed, audio kept.

A raw phone calls the pjsua2 phone through the switch (`raw_ua.boot_switch`: the destination
number is the phone's SIP port).  The switch's INVITE to pjsua offers the profile's
Session-Expires/Min-SE; pjsua (timers "optional", its default) answers with a Session-Expires of
its own, and the switch, on compressed session time (`ScaledClock`), refreshes the leg within
seconds.  Both directions of audio must survive the refresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from modules.mod_sofia.calls import SipCall
from modules.mod_sofia.endpoint import endpoint
from modules.mod_sofia.session_refresh import ScaledClock
from tests.peers.audio import describe, read_wav, tone_present
from tests.peers.fixtures import make_phone
from tests.peers.phone import Phone
from tests.peers.ports import PortAllocator

from .raw_ua import RawPhone, boot_switch, wait_until

__all__ = ["make_phone", "peer_ports"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SCALE = 0.002  # the profile's 1800 s interval: a refresh after 1.8 s


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    return PortAllocator(sip=(16290, 16299), rtp=(43900, 43999), ctrl=(16210, 16219))


def outbound_leg() -> SipCall:
    legs = [c for c in endpoint.handlers["external"].calls.values() if c.direction == "outbound"]
    assert len(legs) == 1, legs
    return legs[0]


async def test_pjsua_negotiates_session_timers_and_keeps_two_way_audio_through_the_switchs_refresh(
    tmp_path: Path, make_phone: Callable[..., Phone]
) -> None:
    async with boot_switch(tmp_path) as (switch, port):
        endpoint.handlers["external"].refresh_clock = ScaledClock(SCALE)
        pj = await asyncio.to_thread(make_phone, "pj", auto_answer=True, codecs=["PCMU/8000"])
        await asyncio.to_thread(pj.command, "session_timer", use="optional", se=1800, min_se=90)
        await asyncio.to_thread(pj.tone, 1000.0, 30.0)
        a = await RawPhone(port, 600).open()
        try:
            await a.call(str(pj.sip_port), headers=[("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")])
            incoming = await asyncio.to_thread(pj.wait_for, "incoming_call", 10)
            invite = str(incoming.get("message", ""))
            assert "Session-Expires: 1800" in invite and "Min-SE: 120" in invite, invite
            assert "timer" in invite.split("Supported:", 1)[1].split("\n", 1)[0]
            await asyncio.to_thread(pj.wait_call_state, "CONFIRMED", None, 10)
            leg = outbound_leg()
            # pjsua's 2xx names the refresher; with timers optional it leaves it to the UAC (us).
            assert leg.refresh.timer is not None and leg.refresh.timer.we_refresh, leg.refresh.timer
            assert leg.peer_allows_update
            await wait_until(lambda: leg.refresh.refreshes >= 1, 8, "the switch's refresh of the pjsua leg")
            recording = tmp_path / "pj-heard.wav"
            await asyncio.to_thread(pj.record, recording)
            since = a.rtp.mark()
            await asyncio.sleep(1.5)
            await asyncio.to_thread(pj.stop_record)
            heard_by_a = a.rtp.samples(since)
            assert tone_present(heard_by_a, 8000, 1000.0, skip_seconds=0.2), describe(heard_by_a, 8000, 0.2)
            samples, rate = read_wav(recording)
            assert tone_present(samples, rate, 600.0, skip_seconds=0.3), describe(samples, rate, 0.3)
            assert pj.call_state() == "CONFIRMED"
            assert leg.session is not None and not leg.session.hungup
            assert leg.refresh.refreshes >= 1 and leg.refresh.running
        finally:
            await switch.stop()
            a.close()
