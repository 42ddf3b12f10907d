"""The two Replaces cases of issue 4 with real pjsua2 phones through the real switch process.

- Call pickup (RFC 3891 3): A (1000) calls B (1001), B rings and never answers; C (1002) sends an
  INVITE with Replaces naming B's ringing dialog, as B sees it (the tags a BLF phone would learn
  from dialog-info).  The switch answers C and A, bridges them and CANCELs B (PICKED_OFF).
- Attended transfer to a dialog the switch does not hold (RFC 5589 7.2): A calls B through the
  switch, and C directly (peer to peer, not through the switch); A transfers the switch call to C
  with pjsua2's `xferReplaces`.  The switch INVITEs C with the Replaces, C (pjsua2 accepts
  Replaces by default) swaps its call with A for it, and B and C talk.

Each phone plays its own tone and the recordings are checked for the others' tones.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchcore.causes import HangupCause
from tests.peers.audio import describe, tone_present
from tests.peers.phone import Phone
from tests.peers.ports import PortAllocator

from .conftest import ESL_PORT
from .esl_events import EslEvents
from .switch_process import SwitchProcess
from .test_sip_attended_transfer import URI, MakePhone, _cdrs, _heard, _phone

pytestmark = pytest.mark.slow

A_TONE, B_TONE, C_TONE = 600.0, 1000.0, 1400.0


@pytest.fixture(scope="session")
def peer_ports() -> PortAllocator:
    # This file's phones: the transfer work's range (SIP 16224-16229, RTP 43700-43799).
    return PortAllocator(sip=(16224, 16229), rtp=(43700, 43799), ctrl=(16226, 16229))


def _hears(phone: Phone, path: Path, freq: float, who: str, call: int | None = None) -> None:
    phone.record(path, call=call)
    time.sleep(2.5)
    phone.stop_record(call=call)
    heard, rate = _heard(path)
    assert tone_present(heard, rate, freq), f"{who} should hear {freq} Hz: {describe(heard, rate)}"


def test_a_phone_picks_up_a_ringing_call_with_replaces(
    switch_proc: SwitchProcess, make_phone: MakePhone, tmp_path: Path
) -> None:
    a = _phone(make_phone, "a1000", "1000", A_TONE)
    b = _phone(make_phone, "b1001", "1001", B_TONE)  # rings (180), never answers
    c = _phone(make_phone, "c1002", "1002", C_TONE)
    with EslEvents(ESL_PORT, "CUSTOM sofia::intercepted sofia::replaced") as events:
        to_b = a.call(URI.format("1001"))
        ringing = b.wait_incoming(timeout=10)
        dialog = b.wait_for("dialog", timeout=10, call=ringing)
        a.wait_call_state("EARLY", call=to_b, timeout=10)
        # As B sees the dialog: B's own tag as to-tag, the switch's as from-tag.
        replaces = f"{dialog['call_id']};to-tag={dialog['local_tag']};from-tag={dialog['remote_tag']}"

        pick = c.call(URI.format("1001"), headers={"Replaces": replaces})

        c.wait_call_state("CONFIRMED", call=pick, timeout=10)
        a.wait_call_state("CONFIRMED", call=to_b, timeout=10)
        cancelled = b.wait_call_state("DISCONNECTED", call=ringing, timeout=10)
        intercepted = events.wait(
            "CUSTOM", predicate=lambda e: e.get("Event-Subclass") == "sofia::intercepted"
        )
    assert cancelled["code"] == 487, cancelled  # B's INVITE ended by our CANCEL (RFC 3891 3)
    time.sleep(0.5)
    _hears(a, tmp_path / "a.wav", C_TONE, "A", call=to_b)
    _hears(c, tmp_path / "c.wav", A_TONE, "C", call=pick)

    c.hangup_and_wait(pick)
    a.wait_call_state("DISCONNECTED", call=to_b, timeout=10)
    time.sleep(0.5)
    cdrs = _cdrs(switch_proc)
    ringing_leg = next(x for x in cdrs if x.direction == "outbound" and x.destination_number == "1001")
    a_leg = next(x for x in cdrs if x.direction == "inbound" and x.caller_id_number == "1000")
    c_leg = next(x for x in cdrs if x.direction == "inbound" and x.caller_id_number == "1002")
    assert ringing_leg.hangup_cause is HangupCause.PICKED_OFF, ringing_leg.hangup_cause
    assert a_leg.variables.get("intercepted_by") == c_leg.uuid
    assert c_leg.variables.get("sip_replaced_uuid") == ringing_leg.uuid
    assert intercepted.get("Unique-ID") == ringing_leg.uuid
    assert intercepted.get("intercepted_by") == c_leg.uuid
    assert not switch_proc.grep("Traceback"), switch_proc.output(80)


def test_transfer_to_a_call_elsewhere_reaches_it_with_replaces(
    switch_proc: SwitchProcess, make_phone: MakePhone, tmp_path: Path
) -> None:
    a = _phone(make_phone, "a1000", "1000", A_TONE)
    b = _phone(make_phone, "b1001", "1001", B_TONE, auto_answer=True)
    c = make_phone("c-direct", auto_answer=True)  # not registered: A reaches it peer to peer
    c.codecs(["PCMU/8000"])
    c.tone(C_TONE, 60)
    to_b = a.call_and_wait_confirmed(URI.format("1001"))
    b.wait_call_state("CONFIRMED", timeout=10)
    time.sleep(0.5)
    a.hold(call=to_b)
    time.sleep(0.5)
    to_c = a.call(f"sip:c@127.0.0.1:{c.sip_port}", account="local")
    a.wait_call_state("CONFIRMED", call=to_c, timeout=10)
    c_first = c.wait_call_state("CONFIRMED", timeout=10)["call"]
    time.sleep(0.5)

    a.command("transfer", call=to_b, replaces=to_c)  # REFER, Refer-To names the A-C dialog

    status = a.wait_for("transfer_status", timeout=15, call=to_b, predicate=lambda e: e["final"])
    assert status["code"] == 200, status
    replaced = c.wait_for("call_replaced", timeout=10, call=c_first)
    a.wait_call_state("DISCONNECTED", call=to_b, timeout=10)
    a.wait_call_state("DISCONNECTED", call=to_c, timeout=10)
    c_new = int(replaced["new_call"])
    c.wait_call_state("CONFIRMED", call=c_new, timeout=10)
    assert b.state == "CONFIRMED"
    time.sleep(0.5)
    _hears(b, tmp_path / "b.wav", C_TONE, "B")
    _hears(c, tmp_path / "c.wav", B_TONE, "C", call=c_new)

    b.hangup_and_wait()
    c.wait_call_state("DISCONNECTED", call=c_new, timeout=10)
    time.sleep(0.5)
    cdrs = _cdrs(switch_proc)
    a_leg = next(x for x in cdrs if x.direction == "inbound" and x.destination_number == "1001")
    to_c_leg = next(x for x in cdrs if x.direction == "outbound" and x.destination_number == "c")
    assert a_leg.hangup_cause is HangupCause.ATTENDED_TRANSFER, a_leg.hangup_cause
    assert a_leg.variables.get("transfer_disposition") == "replaced"
    assert ":att_xfer:" in to_c_leg.variables.get("transfer_history", "")
    assert not switch_proc.grep("Traceback"), switch_proc.output(80)
