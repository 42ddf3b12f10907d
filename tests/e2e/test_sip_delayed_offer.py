"""Delayed offer against the real switch (RFC 3261 13.2.1 / 14.2, RFC 3264 5), driven by sipp.

sipp's INVITE (and later re-INVITE) carries no SDP; the switch's 200 must offer, the ACK answers,
and the echo extension 9196 proves the media by sending a test socket's tone back.
"""

from __future__ import annotations

import time

import pytest

from switchcore.causes import HangupCause
from switchcore.store import Store
from tests.peers.audio import describe, tone_present

from .conftest import ESL_PORT, SIP_PORT
from .esl_events import EslEvents
from .rtp_probe import RtpProbe

pytestmark = pytest.mark.slow

INTERNAL = f"127.0.0.1:{SIP_PORT}"
AUTH = {"caller": "1000", "auth_user": "1000", "auth_password": "1234"}


def _cdrs(switch_proc) -> list:  # type: ignore[no-untyped-def]
    switch_proc.stop()
    store = Store(f"sqlite:///{switch_proc.data}/switchcore.db")
    store.open()
    try:
        return store.cdrs()
    finally:
        store.close()


def test_delayed_offer_call_to_9196_echoes_a_real_tone(switch_proc, make_sipp, peer_ports):
    with RtpProbe(peer_ports.rtp(2)) as probe, EslEvents(ESL_PORT, "CHANNEL_ANSWER") as events:
        sipp = make_sipp(
            "auth_call_delayed_offer",
            INTERNAL,
            service="9196",
            duration_ms=4000,
            keys={"rtp_port": str(probe.port)},
            **AUTH,
        ).start()
        events.wait("CHANNEL_ANSWER", timeout=10)
        probe.play_tone(1000, 3.0)
        start = time.monotonic()
        sipp.wait(20).assert_ok(calls=1)
        echoed = probe.audio_since(start + 0.5)
    assert len(echoed) >= 8000, f"only {len(echoed)} samples came back"
    assert tone_present(echoed, 8000, 1000, skip_seconds=0.0), describe(echoed, 8000)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.NORMAL_CLEARING and cdr.read_codec == "PCMU"


def test_delayed_offer_whose_ack_brings_no_answer_is_ended_by_the_switch(switch_proc, make_sipp):
    make_sipp(
        "auth_call_delayed_offer_no_answer", INTERNAL, service="9196", keys={"rtp_port": "9"}, **AUTH
    ).run().assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.MANDATORY_IE_MISSING
    assert cdr.variables.get("sip_hangup_disposition") == "send_bye"


def test_reinvite_without_sdp_moves_the_media_to_the_port_the_ack_answers_with(
    switch_proc, make_sipp, peer_ports
):
    with (
        RtpProbe(peer_ports.rtp(2)) as first,
        RtpProbe(peer_ports.rtp(2)) as moved,
        EslEvents(ESL_PORT, "CHANNEL_ANSWER") as events,
    ):
        sipp = make_sipp(
            "auth_call_reinvite_no_sdp",
            INTERNAL,
            service="9196",
            duration_ms=3000,
            keys={"rtp_port": str(first.port), "rtp_port2": str(moved.port)},
            **AUTH,
        ).start()
        events.wait("CHANNEL_ANSWER", timeout=10)
        first.play_tone(600, 2.5)
        before = time.monotonic()
        moved.wait_first_packet(timeout=10)  # the switch follows the ACK's answer
        moved.play_tone(1400, 2.5)
        after = time.monotonic()
        sipp.wait(25).assert_ok(calls=1)
        heard_first = first.audio_since(before + 0.5)
        heard_moved = moved.audio_since(after + 0.5)
    assert tone_present(heard_first, 8000, 600, skip_seconds=0.0), describe(heard_first, 8000)
    assert tone_present(heard_moved, 8000, 1400, skip_seconds=0.0), describe(heard_moved, 8000)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.NORMAL_CLEARING
