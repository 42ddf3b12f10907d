"""Real SIP phones (pjsua2) through the switch on the default configuration."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.peers.audio import read_wav, tone_present

from .conftest import SIP, SIP_PORT

pytestmark = pytest.mark.slow


def _tone_in(path: Path, freq: float, skip_s: float = 1.0) -> bool:
    samples, rate = read_wav(path)
    return tone_present(samples[int(skip_s * rate) :], rate, freq)


def test_phone_registers_calls_9196_and_hears_its_own_tone(switch_proc, make_phone, tmp_path: Path):
    phone = make_phone("p1000")
    phone.register("1000", "1234", SIP, domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.tone(1000, 30)
    rec = tmp_path / "echo.wav"
    phone.record(rec)
    phone.call_and_wait_confirmed(f"sip:9196@127.0.0.1:{SIP_PORT}")
    time.sleep(3)
    phone.stop_record()
    phone.hangup_and_wait()
    assert _tone_in(rec, 1000), switch_proc.output(80)


def test_two_phones_call_each_other_hear_each_other_and_exchange_dtmf(
    switch_proc, make_phone, tmp_path: Path
):
    a = make_phone("a1000")
    b = make_phone("b1001", auto_answer=True)
    a.register("1000", "1234", SIP, domain="127.0.0.1")
    b.register("1001", "1234", SIP, domain="127.0.0.1")
    for phone in (a, b):
        phone.codecs(["PCMU/8000"])
    a.tone(600, 30)
    b.tone(1000, 30)
    rec_a, rec_b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.record(rec_a)
    b.record(rec_b)
    a.call_and_wait_confirmed(f"sip:1001@127.0.0.1:{SIP_PORT}")
    time.sleep(3)
    a.dtmf("1234#")
    b.wait_dtmf("1234#", timeout=10)
    a.stop_record()
    b.stop_record()
    assert _tone_in(rec_a, 1000) and not _tone_in(rec_a, 600), "A should hear B's 1000 Hz only"
    assert _tone_in(rec_b, 600) and not _tone_in(rec_b, 1000), "B should hear A's 600 Hz only"
    a.hangup_and_wait()
    b.wait_call_state("DISCONNECTED", timeout=10)


def test_wrong_password_and_unknown_user_get_the_same_answer(switch_proc, make_phone):
    from tests.peers.phone import PhoneError

    codes = []
    for user, password in (("1000", "wrong"), ("9999", "1234")):
        phone = make_phone(f"bad{user}")
        with pytest.raises(PhoneError) as info:
            phone.register(user, password, SIP, domain="127.0.0.1", timeout=15)
        codes.append(str(info.value).split("got ")[-1])
    assert codes[0] == codes[1]
