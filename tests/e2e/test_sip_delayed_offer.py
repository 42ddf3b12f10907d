"""Delayed offer against the real switch (RFC 3261 13.2.1 / 14.2, RFC 3264 5), driven by sipp.

sipp's INVITE (and later re-INVITE) carries no SDP; the switch's 200 must offer, the ACK answers,
and the echo extension 9196 proves the media by sending a test socket's tone back.  pjsua2 phones
do the same with PJSUA_CALL_NO_SDP_OFFER, bridged to another phone.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchcore.causes import HangupCause
from switchcore.store import Store
from tests.peers.audio import describe, read_wav, tone_present

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
    assert cdr.variables.get("endpoint_disposition") == "RECEIVED_NOSDP"


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


# ---- pjsua2 phones configured for delayed offer (PJSUA_CALL_NO_SDP_OFFER) ----------------------

URI = "sip:{}@127.0.0.1:" + str(SIP_PORT)


def _phone(make_phone, name: str, user: str, freq: float, auto_answer: bool = False):  # type: ignore[no-untyped-def]
    phone = make_phone(name, auto_answer=auto_answer)
    phone.register(user, "1234", f"sip:127.0.0.1:{SIP_PORT}", domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.tone(freq, 60)
    return phone


def _record(phone, path: Path, seconds: float = 2.0):  # type: ignore[no-untyped-def]
    phone.record(path)
    time.sleep(seconds)
    phone.stop_record()
    samples, rate = read_wav(path)
    return samples[int(0.3 * rate) :], rate


def test_pjsua_delayed_offer_call_bridges_to_a_phone_and_both_hear_each_other(
    switch_proc, make_phone, tmp_path: Path
):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    call = int(a.command("call", uri=URI.format("1001"), headers={}, no_sdp_offer=True)["call"])
    a.wait_call_state("CONFIRMED", call, timeout=10)
    b.wait_call_state("CONFIRMED", timeout=10)
    time.sleep(0.5)
    heard_a, rate_a = _record(a, tmp_path / "a.wav")
    heard_b, rate_b = _record(b, tmp_path / "b.wav")
    assert tone_present(heard_a, rate_a, 1000), f"A should hear B: {describe(heard_a, rate_a)}"
    assert tone_present(heard_b, rate_b, 600), f"B should hear A: {describe(heard_b, rate_b)}"
    a.hangup_and_wait()
    b.wait_call_state("DISCONNECTED", timeout=10)
    [inbound] = [cdr for cdr in _cdrs(switch_proc) if cdr.direction == "inbound"]
    assert inbound.hangup_cause is HangupCause.NORMAL_CLEARING
    assert inbound.variables.get("endpoint_disposition") == "RECEIVED_NOSDP"  # pjsua sent no offer


def test_pjsua_reinvite_without_sdp_keeps_the_call_and_its_audio(switch_proc, make_phone, tmp_path: Path):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    call = a.call_and_wait_confirmed(URI.format("1001"))
    b.wait_call_state("CONFIRMED", timeout=10)
    mark = a.mark()
    a.command("reinvite", call=call, no_sdp_offer=True)
    a.wait_for("media_state", timeout=10, since=mark, call=call)
    time.sleep(0.5)
    assert a.call_state(call) == "CONFIRMED"
    heard_a, rate_a = _record(a, tmp_path / "a.wav")
    heard_b, rate_b = _record(b, tmp_path / "b.wav")
    assert tone_present(heard_a, rate_a, 1000), f"A should hear B: {describe(heard_a, rate_a)}"
    assert tone_present(heard_b, rate_b, 600), f"B should hear A: {describe(heard_b, rate_b)}"
    a.hangup_and_wait()
    assert switch_proc.grep("re-INVITE without SDP"), switch_proc.output(40)
    assert not switch_proc.grep("ACK without an SDP answer"), switch_proc.output(40)
