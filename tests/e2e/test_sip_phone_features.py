"""pjsua2 phones through the real switch: hold/unhold, hang-ups and CDRs, SIP INFO DTMF, blind transfer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchcore.causes import HangupCause
from switchcore.store import Store
from tests.peers.audio import band_energy_ratio, describe, read_wav, rms, tone_present

from .conftest import ESL_PORT, SIP, SIP_PORT
from .esl_events import EslEvents

pytestmark = pytest.mark.slow

URI = "sip:{}@127.0.0.1:" + str(SIP_PORT)


def _phone(make_phone, name: str, user: str, freq: float, auto_answer: bool = False):  # type: ignore[no-untyped-def]
    phone = make_phone(name, auto_answer=auto_answer)
    phone.register(user, "1234", SIP, domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.tone(freq, 60)
    return phone


def _heard(path: Path, skip_s: float = 0.5):  # type: ignore[no-untyped-def]
    samples, rate = read_wav(path)
    return samples[int(skip_s * rate) :], rate


def _cdrs(switch_proc) -> list:  # type: ignore[no-untyped-def]
    switch_proc.stop()
    store = Store(f"sqlite:///{switch_proc.data}/switchcore.db")
    store.open()
    try:
        return store.cdrs()
    finally:
        store.close()


def _call(a, b, callee: str):  # type: ignore[no-untyped-def]
    a.call_and_wait_confirmed(URI.format(callee))
    b.wait_call_state("CONFIRMED", timeout=10)


def test_hold_plays_music_to_the_partner_and_unhold_restores_the_voice(
    switch_proc, make_phone, tmp_path: Path
):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    with EslEvents(ESL_PORT, "CHANNEL_HOLD CHANNEL_UNHOLD CHANNEL_ANSWER") as events:
        _call(a, b, "1001")
        time.sleep(1.0)
        a.hold()
        hold = events.wait("CHANNEL_HOLD", timeout=5)
        time.sleep(0.5)
        b.record(tmp_path / "held.wav")
        time.sleep(2.5)
        b.stop_record()
        a.unhold()
        unhold = events.wait("CHANNEL_UNHOLD", timeout=5)
        time.sleep(0.5)
        b.record(tmp_path / "resumed.wav")
        time.sleep(2.0)
        b.stop_record()
    # The held leg is A's own (inbound) leg, and it says so.
    assert hold["Unique-ID"] == unhold["Unique-ID"]
    assert hold.get("Channel-Call-State") == "HELD"
    assert hold.get("Caller-Caller-ID-Number") == "1000"
    held, rate = _heard(tmp_path / "held.wav")
    assert rms(held) > 300, f"B heard near silence while A held: {describe(held, rate)}"
    assert band_energy_ratio(held, rate, 600, skip_seconds=0) < 0.2, (
        f"B still hears A's tone while on hold: {describe(held, rate)}"
    )
    resumed, rate = _heard(tmp_path / "resumed.wav")
    assert tone_present(resumed, rate, 600), f"B should hear A again: {describe(resumed, rate)}"
    a.hangup_and_wait()
    b.wait_call_state("DISCONNECTED", timeout=10)


@pytest.mark.parametrize("who_hangs_up", ["caller", "callee"])
def test_either_side_hangs_up_the_other_follows_and_both_cdrs_are_written(
    who_hangs_up: str, switch_proc, make_phone
):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    _call(a, b, "1001")
    time.sleep(1.0)
    first, second = (a, b) if who_hangs_up == "caller" else (b, a)
    first.hangup_and_wait()
    second.wait_call_state("DISCONNECTED", timeout=10)
    time.sleep(0.5)
    cdrs = _cdrs(switch_proc)
    legs = {cdr.direction: cdr for cdr in cdrs}
    assert set(legs) == {"inbound", "outbound"}, [(c.direction, c.channel_name) for c in cdrs]
    inbound, outbound = legs["inbound"], legs["outbound"]
    assert inbound.hangup_cause is HangupCause.NORMAL_CLEARING
    assert outbound.hangup_cause is HangupCause.NORMAL_CLEARING
    assert inbound.bleg_uuid == outbound.uuid and outbound.call_uuid == inbound.uuid
    assert inbound.answer is not None and outbound.answer is not None
    assert inbound.caller_id_number == "1000" and inbound.destination_number == "1001"
    hung_up, other = (inbound, outbound) if who_hangs_up == "caller" else (outbound, inbound)
    assert hung_up.variables.get("sip_hangup_disposition") == "recv_bye"
    assert other.variables.get("sip_hangup_disposition") == "send_bye"
    for leg in (inbound, outbound):
        assert leg.read_codec == "PCMU"
        assert (leg.quality.packets_in or 0) > 20 and (leg.quality.packets_out or 0) > 20, leg.quality


def test_sip_info_dtmf_crosses_the_bridge(switch_proc, make_phone):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    with EslEvents(ESL_PORT, "DTMF") as events:
        _call(a, b, "1001")
        time.sleep(0.5)
        a.dtmf("159#", method="info")
        b.wait_dtmf("159#", timeout=10)
        got = events.wait("DTMF", predicate=lambda e: e.get("DTMF-Digit") == "#")
    assert got.get("DTMF-Source") == "INFO"
    a.hangup_and_wait()


def test_refer_blind_transfer_connects_the_caller_to_the_target(switch_proc, make_phone, tmp_path: Path):
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    c = _phone(make_phone, "c1002", "1002", 1400, auto_answer=True)
    _call(a, b, "1001")
    time.sleep(0.5)
    b.transfer(URI.format("1002"))
    b.wait_for("transfer_status", timeout=10, predicate=lambda e: e["final"] and e["code"] == 200)
    b.wait_call_state("DISCONNECTED", timeout=10)
    c.wait_incoming(timeout=10)
    c.wait_call_state("CONFIRMED", timeout=10)
    time.sleep(0.5)
    a.record(tmp_path / "a.wav")
    c.record(tmp_path / "c.wav")
    time.sleep(2.5)
    a.stop_record()
    c.stop_record()
    heard_a, rate_a = _heard(tmp_path / "a.wav")
    heard_c, rate_c = _heard(tmp_path / "c.wav")
    assert tone_present(heard_a, rate_a, 1400), f"A should hear C: {describe(heard_a, rate_a)}"
    assert tone_present(heard_c, rate_c, 600), f"C should hear A: {describe(heard_c, rate_c)}"
    assert a.state == "CONFIRMED"
    a.hangup_and_wait()
    c.wait_call_state("DISCONNECTED", timeout=10)
    time.sleep(0.5)
    causes = {
        cdr.destination_number: cdr.hangup_cause for cdr in _cdrs(switch_proc) if cdr.direction == "outbound"
    }
    assert causes.get("1001") is HangupCause.BLIND_TRANSFER, causes
