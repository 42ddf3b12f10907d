"""Attended transfer with three real pjsua2 phones through the real switch (RFC 5589 7, RFC 3891).

A (1000) calls B (1001), holds B and calls C (1002); then A transfers B to C with pjsua2's
`xferReplaces`: a REFER on the A-B call whose Refer-To names the A-C dialog in `Replaces`.  The
switch resolves it itself, as FreeSWITCH does: B's and C's legs are bridged to each other and
A's two calls end with ATTENDED_TRANSFER.  Each phone plays its own tone; B and C must hear
each other's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from switchcore.causes import HangupCause
from switchcore.store import CdrRecord, Store
from tests.peers.audio import Samples, describe, read_wav, tone_present
from tests.peers.phone import Phone

from .conftest import ESL_PORT, SIP, SIP_PORT
from .esl_events import EslEvents
from .switch_process import SwitchProcess

MakePhone = Callable[..., Phone]

pytestmark = pytest.mark.slow

URI = "sip:{}@127.0.0.1:" + str(SIP_PORT)


def _phone(make_phone: MakePhone, name: str, user: str, freq: float, auto_answer: bool = False) -> Phone:
    phone = make_phone(name, auto_answer=auto_answer)
    phone.register(user, "1234", SIP, domain="127.0.0.1")
    phone.codecs(["PCMU/8000"])
    phone.tone(freq, 60)
    return phone


def _heard(path: Path, skip_s: float = 0.5) -> tuple[Samples, int]:
    samples, rate = read_wav(path)
    return samples[int(skip_s * rate) :], rate


def _cdrs(switch_proc: SwitchProcess) -> list[CdrRecord]:
    switch_proc.stop()
    store = Store(f"sqlite:///{switch_proc.data}/switchcore.db")
    store.open()
    try:
        return store.cdrs()
    finally:
        store.close()


def test_attended_transfer_joins_b_and_c_and_ends_both_of_a_s_calls(
    switch_proc: SwitchProcess, make_phone: MakePhone, tmp_path: Path
) -> None:
    a = _phone(make_phone, "a1000", "1000", 600)
    b = _phone(make_phone, "b1001", "1001", 1000, auto_answer=True)
    c = _phone(make_phone, "c1002", "1002", 1400, auto_answer=True)
    with EslEvents(ESL_PORT, "CUSTOM sofia::transferor sofia::transferee sofia::replaced") as events:
        to_b = a.call_and_wait_confirmed(URI.format("1001"))
        b.wait_call_state("CONFIRMED", timeout=10)
        time.sleep(0.5)
        a.hold(call=to_b)
        time.sleep(0.5)
        to_c = a.call_and_wait_confirmed(URI.format("1002"))
        c.wait_call_state("CONFIRMED", timeout=10)
        time.sleep(0.5)

        a.command("transfer", call=to_b, replaces=to_c)  # pjsua2 Call.xferReplaces

        status = a.wait_for("transfer_status", timeout=10, call=to_b, predicate=lambda e: e["final"])
        assert status["code"] == 200, status
        a.wait_call_state("DISCONNECTED", call=to_b, timeout=10)
        a.wait_call_state("DISCONNECTED", call=to_c, timeout=10)
        transferor = events.wait("CUSTOM", predicate=lambda e: e.get("Event-Subclass") == "sofia::transferor")
    assert b.state == "CONFIRMED" and c.state == "CONFIRMED"
    time.sleep(0.5)
    b.record(tmp_path / "b.wav")
    c.record(tmp_path / "c.wav")
    time.sleep(2.5)
    b.stop_record()
    c.stop_record()
    heard_b, rate_b = _heard(tmp_path / "b.wav")
    heard_c, rate_c = _heard(tmp_path / "c.wav")
    assert tone_present(heard_b, rate_b, 1400), f"B should hear C: {describe(heard_b, rate_b)}"
    assert tone_present(heard_c, rate_c, 1000), f"C should hear B: {describe(heard_c, rate_c)}"
    assert transferor.get("Caller-Caller-ID-Number") == "1000"

    b.hangup_and_wait()
    c.wait_call_state("DISCONNECTED", timeout=10)
    time.sleep(0.5)
    cdrs = _cdrs(switch_proc)
    a_legs = {cdr.destination_number: cdr for cdr in cdrs if cdr.direction == "inbound"}
    far_legs = {cdr.destination_number: cdr for cdr in cdrs if cdr.direction == "outbound"}
    assert set(a_legs) == {"1001", "1002"} and set(far_legs) == {"1001", "1002"}, [
        (x.direction, x.destination_number, x.hangup_cause) for x in cdrs
    ]
    for leg in a_legs.values():
        assert leg.hangup_cause is HangupCause.ATTENDED_TRANSFER, leg.hangup_cause
        assert leg.variables.get("transfer_disposition") == "replaced"
    for leg in far_legs.values():
        assert leg.hangup_cause is HangupCause.NORMAL_CLEARING, leg.hangup_cause
        assert ":att_xfer:" in leg.variables.get("transfer_history", "")
    # After the transfer B's leg was bridged to C's.
    assert far_legs["1001"].bleg_uuid == far_legs["1002"].uuid
    assert not switch_proc.grep("Traceback"), switch_proc.output(80)
