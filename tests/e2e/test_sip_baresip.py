"""baresip as a second, independent phone: PCMU to a pjsua2 phone, and Opus on one leg with PCMU on the other."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchcore.store import Store
from tests.peers.audio import describe, read_wav, tone_present

from .conftest import SIP, SIP_PORT

pytestmark = pytest.mark.slow


def _cdrs(switch_proc) -> list:  # type: ignore[no-untyped-def]
    switch_proc.stop()
    store = Store(f"sqlite:///{switch_proc.data}/switchcore.db")
    store.open()
    try:
        return store.cdrs()
    finally:
        store.close()


def _call_baresip_to_pjsua(switch_proc, make_baresip, make_phone, tmp_path: Path, codecs: list[str]):  # type: ignore[no-untyped-def]
    phone = make_phone("p1001", auto_answer=True)
    phone.register("1001", "1234", SIP, domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.tone(600, 60)
    bare = make_baresip("b1003", user="1003", password="1234", registrar=SIP, tone_hz=1000, codecs=codecs)
    phone.record(tmp_path / "pjsua.wav")
    bare.dial_and_wait_established(f"sip:1001@127.0.0.1:{SIP_PORT}")
    phone.wait_call_state("CONFIRMED", timeout=10)
    time.sleep(4.0)
    phone.stop_record()
    since = bare.mark()
    bare.hangup()
    bare.wait_closed(timeout=10, since=since)
    phone.wait_call_state("DISCONNECTED", timeout=10)
    heard_by_phone, rate = read_wav(tmp_path / "pjsua.wav")
    assert tone_present(heard_by_phone, rate, 1000, skip_seconds=1.0), (
        f"pjsua2 should hear baresip's 1000 Hz: {describe(heard_by_phone, rate, 1.0)}"
    )
    heard_by_bare, bare_rate = bare.received_audio()
    assert tone_present(heard_by_bare, bare_rate, 600, skip_seconds=1.0), (
        f"baresip should hear pjsua2's 600 Hz: {describe(heard_by_bare, bare_rate, 1.0)}"
    )
    return _cdrs(switch_proc)


def test_baresip_registers_and_calls_a_pjsua2_phone_with_pcmu(
    switch_proc, make_baresip, make_phone, tmp_path
):
    cdrs = _call_baresip_to_pjsua(switch_proc, make_baresip, make_phone, tmp_path, ["pcmu"])
    legs = {cdr.direction: cdr for cdr in cdrs}
    assert legs["inbound"].read_codec == "PCMU" and legs["outbound"].read_codec == "PCMU"
    assert legs["inbound"].caller_id_number == "1003"


def test_opus_leg_bridged_to_a_pcmu_leg_carries_tones_both_ways(
    switch_proc, make_baresip, make_phone, tmp_path
):
    cdrs = _call_baresip_to_pjsua(switch_proc, make_baresip, make_phone, tmp_path, ["opus"])
    legs = {cdr.direction: cdr for cdr in cdrs}
    opus, pcmu = legs["inbound"], legs["outbound"]
    assert opus.read_codec == "OPUS" and pcmu.read_codec == "PCMU"
    # mod_opus's decoder counters reach the CDR (issue 5: Frames/PLC/FEC per call).
    assert int(opus.variables.get("rtp_audio_in_opus_frames", "0")) > 100, opus.variables
    assert "rtp_audio_in_opus_plc" in opus.variables and "rtp_audio_in_opus_fec" in opus.variables
    assert (opus.quality.packets_in or 0) > 100 and opus.quality.fec_frames is not None
