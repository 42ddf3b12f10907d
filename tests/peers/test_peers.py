"""The real-peer harness against itself: pjsua2 phones, baresip, sipp and kamailio on loopback.

These prove the harness works before it is pointed at the switch.  Each test starts its own peers
through the fixtures, which stop them at teardown whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.peers import audio
from tests.peers.baresip import Baresip
from tests.peers.fixtures import (
    DEFAULT_USERS,
    kamailio,
    make_baresip,
    make_kamailio,
    make_phone,
    make_sipp,
    peer_ports,
)
from tests.peers.kamailio import Kamailio
from tests.peers.phone import Phone, PhoneError
from tests.peers.ports import PortAllocator
from tests.peers.sipp import Sipp

__all__ = ["kamailio", "make_baresip", "make_kamailio", "make_phone", "make_sipp", "peer_ports"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

MakePhone = Callable[..., Phone]
MakeSipp = Callable[..., Sipp]

LOW_TONE = 600.0
HIGH_TONE = 1000.0


def assert_hears(path: str | Path, expected: float, not_expected: float) -> None:
    samples, rate = audio.read_wav(path)
    summary = audio.describe(samples, rate)
    assert audio.tone_present(samples, rate, expected), f"{path}: no {expected} Hz tone ({summary})"
    assert audio.band_energy_ratio(samples, rate, not_expected) < 0.1, (
        f"{path}: hears {not_expected} Hz ({summary})"
    )
    assert abs(audio.dominant_frequency(samples, rate) - expected) < 20, summary


# --- pjsua2 phone ------------------------------------------------------------------------------


def test_phone_call_to_sipp_uas_reaches_confirmed(make_phone: MakePhone, make_sipp: MakeSipp) -> None:
    alice = make_phone("alice")
    uas = make_sipp("uas", calls=1, timeout=15).start()
    call = alice.call_and_wait_confirmed(f"sip:service@127.0.0.1:{uas.local_port}")
    media = alice.wait_for("media_state", call=call, status="ACTIVE")
    assert media["codec"] == "PCMU/8000"
    assert alice.call_state(call) == "CONFIRMED"
    alice.hangup_and_wait(call)
    uas.wait().assert_ok(calls=1)


def test_phones_register_with_digest_and_hear_each_other_through_kamailio(
    make_phone: MakePhone, kamailio: Kamailio, tmp_path: Path
) -> None:
    alice = make_phone("alice")
    bob = make_phone("bob", auto_answer=True)
    alice.register("alice", DEFAULT_USERS["alice"], kamailio.registrar)
    bob.register("bob", DEFAULT_USERS["bob"], kamailio.registrar, transport="tcp")
    assert alice.registered and bob.registered
    alice.tone(LOW_TONE)
    bob.tone(HIGH_TONE)
    alice.record(tmp_path / "alice-heard.wav")
    bob.record(tmp_path / "bob-heard.wav")

    call = alice.call_and_wait_confirmed(kamailio.uri("bob"))  # INVITE is challenged with 407 on the way
    bob.wait_call_state("CONFIRMED")
    time.sleep(2.5)
    alice.hangup_and_wait(call)
    bob.wait_call_state("DISCONNECTED")

    assert alice.stop_record() == [str(tmp_path / "alice-heard.wav")]
    assert bob.stop_record() == [str(tmp_path / "bob-heard.wav")]
    assert_hears(tmp_path / "alice-heard.wav", HIGH_TONE, LOW_TONE)
    assert_hears(tmp_path / "bob-heard.wav", LOW_TONE, HIGH_TONE)


def test_dtmf_arrives_as_rfc2833_events_and_as_sip_info(make_phone: MakePhone) -> None:
    alice = make_phone("alice")
    bob = make_phone("bob", auto_answer=True)
    alice.call_and_wait_confirmed(bob.uri)
    bob.wait_call_state("CONFIRMED")
    alice.dtmf("1234#")
    assert bob.wait_dtmf("1234#") == "1234#"
    assert {e["method"] for e in bob.find("dtmf")} == {"rfc2833"}
    alice.dtmf("5*", method="info")
    assert bob.wait_dtmf("5*") == "1234#5*"
    assert [e["method"] for e in bob.find("dtmf")][-2:] == ["info", "info"]


def test_phone_registration_with_wrong_password_reports_401(
    make_phone: MakePhone, kamailio: Kamailio
) -> None:
    alice = make_phone("alice")
    with pytest.raises(PhoneError, match="401"):
        alice.register("alice", "not-the-password", kamailio.registrar)
    assert not alice.registered
    alice.register("alice", DEFAULT_USERS["alice"], kamailio.registrar)
    assert alice.registered
    alice.unregister()
    assert not alice.registered


def test_hold_and_unhold_renegotiate_media_direction(make_phone: MakePhone) -> None:
    alice = make_phone("alice")
    bob = make_phone("bob", auto_answer=True)
    call = alice.call_and_wait_confirmed(bob.uri)
    since = alice.mark()
    alice.hold()
    assert alice.wait_for("media_state", call=call, status="LOCAL_HOLD", since=since)["dir"] == "sendonly"
    assert bob.wait_for("media_state", status="REMOTE_HOLD")["dir"] == "recvonly"
    since = alice.mark()
    alice.unhold()
    assert alice.wait_for("media_state", call=call, status="ACTIVE", since=since)["dir"] == "sendrecv"


def test_blind_transfer_makes_the_transferee_call_the_target(make_phone: MakePhone) -> None:
    alice = make_phone("alice")
    bob = make_phone("bob", auto_answer=True)
    carol = make_phone("carol", auto_answer=True)
    first = alice.call_and_wait_confirmed(bob.uri)
    bob.wait_call_state("CONFIRMED")
    bob.transfer(carol.uri)
    request = alice.wait_for("transfer_request", call=first)
    assert request["target"].startswith(f"<{carol.uri}") or carol.uri in request["target"]
    alice.wait_call_state("CONFIRMED", call=request["new_call"])
    assert bob.wait_for("transfer_status", final=True)["code"] == 200
    carol.wait_call_state("CONFIRMED")


async def test_phone_can_be_driven_from_an_event_loop_without_blocking_it(make_phone: MakePhone) -> None:
    alice = make_phone("alice")
    bob = make_phone("bob", auto_answer=True)
    incoming = asyncio.create_task(bob.aio.wait_incoming(timeout=10))
    await asyncio.sleep(0.3)  # runs although bob is blocked waiting in a worker thread
    assert not incoming.done()
    call = await alice.aio.call_and_wait_confirmed(bob.uri)
    assert await incoming == 1
    await alice.aio.hangup_and_wait(call)


def test_phone_reports_failed_commands_and_exits_on_close(make_phone: MakePhone) -> None:
    alice = make_phone("alice")
    with pytest.raises(PhoneError, match="no active call"):
        alice.hangup()
    with pytest.raises(PhoneError, match="unknown codec"):
        alice.codecs(["NOPE/8000"])
    assert alice.codecs(["PCMA/8000", "PCMU/8000"]) == ["PCMA/8000/1", "PCMU/8000/1"]
    pid = alice.process.pid
    assert alice.close() == 0
    assert not os.path.exists(f"/proc/{pid}")


def test_kamailio_routes_a_number_prefix_to_a_fixed_next_hop(
    make_phone: MakePhone, make_sipp: MakeSipp, make_kamailio: Callable[..., Kamailio]
) -> None:
    # the sipp uas stands in for the switch behind the provider
    trunk = make_sipp("uas_no_180", calls=1, timeout=15).start()
    provider = make_kamailio(routes={"^9": f"sip:127.0.0.1:{trunk.local_port}"})
    alice = make_phone("alice")
    alice.register("alice", DEFAULT_USERS["alice"], provider.registrar)
    call = alice.call_and_wait_confirmed(provider.uri("9123"))
    alice.hangup_and_wait(call)
    trunk.wait().assert_ok(calls=1)
    assert "route 9123 -> sip:127.0.0.1:" in provider.log_tail(200)


# --- baresip -----------------------------------------------------------------------------------


def test_baresip_calls_a_phone_through_kamailio_with_pcmu_and_tones_cross(
    make_phone: MakePhone, make_baresip: Callable[..., Baresip], kamailio: Kamailio, tmp_path: Path
) -> None:
    alice = make_phone("alice", auto_answer=True)
    alice.register("alice", DEFAULT_USERS["alice"], kamailio.registrar)
    alice.tone(LOW_TONE)
    alice.record(tmp_path / "alice-heard.wav")
    carol = make_baresip(
        "carol",
        tone_hz=HIGH_TONE,
        codecs=["pcmu"],
        password=DEFAULT_USERS["carol"],
        registrar=kamailio.registrar,
    )
    assert carol.registered

    since = carol.mark()
    established = carol.dial_and_wait_established(kamailio.uri("alice"))
    assert established["peeruri"] == kamailio.uri("alice")
    alice.wait_call_state("CONFIRMED")
    assert alice.wait_for("media_state", status="ACTIVE")["codec"] == "PCMU/8000"
    time.sleep(1.0)
    carol.send_dtmf("42#")
    alice.wait_dtmf("42#")
    time.sleep(1.0)
    carol.hangup()
    carol.wait_closed(since=since)
    alice.wait_call_state("DISCONNECTED")

    assert alice.stop_record() == [str(tmp_path / "alice-heard.wav")]
    assert_hears(tmp_path / "alice-heard.wav", HIGH_TONE, LOW_TONE)
    samples, rate = carol.received_audio()
    assert rate == 8000
    assert audio.tone_present(samples, rate, LOW_TONE), audio.describe(samples, rate)


def test_two_baresips_talk_opus_through_kamailio(
    make_baresip: Callable[..., Baresip], kamailio: Kamailio
) -> None:
    carol = make_baresip(
        "carol",
        tone_hz=HIGH_TONE,
        codecs=["opus"],
        password=DEFAULT_USERS["carol"],
        registrar=kamailio.registrar,
    )
    dave = make_baresip(
        "dave",
        tone_hz=LOW_TONE,
        codecs=["opus"],
        password=DEFAULT_USERS["dave"],
        registrar=kamailio.registrar,
    )
    since = carol.mark()
    carol.dial_and_wait_established(kamailio.uri("dave"))
    dave.wait_event("CALL_ESTABLISHED")
    time.sleep(2.0)
    carol.hangup()
    carol.wait_closed(since=since)
    dave.wait_closed()
    for listener, expected in ((carol, LOW_TONE), (dave, HIGH_TONE)):
        samples, rate = listener.received_audio()
        assert rate == 48000
        assert audio.tone_present(samples, rate, expected), (
            f"{listener.name}: {audio.describe(samples, rate)}"
        )


# --- sipp scenarios ----------------------------------------------------------------------------


def test_sipp_register_scenarios_against_kamailio(make_sipp: MakeSipp, kamailio: Kamailio) -> None:
    password = DEFAULT_USERS["alice"]
    good = make_sipp(
        "register_auth", kamailio.domain, service="alice", auth_user="alice", auth_password=password
    )
    good.run().assert_ok(calls=1)
    refused = make_sipp(
        "register_wrong_password", kamailio.domain, service="alice", auth_user="alice", auth_password="wrong"
    )
    refused.run().assert_ok(calls=1)
    wrong = make_sipp(
        "register_auth", kamailio.domain, service="alice", auth_user="alice", auth_password="wrong"
    )
    result = wrong.run()
    assert result.returncode == 1 and result.failed == 1, result.details()


def test_sipp_invite_cancel_against_a_ringing_phone(make_phone: MakePhone, make_sipp: MakeSipp) -> None:
    alice = make_phone("alice")
    make_sipp("invite_cancel", f"127.0.0.1:{alice.sip_port}", service="alice").run().assert_ok(calls=1)
    call = alice.wait_incoming()
    assert alice.wait_call_state("DISCONNECTED", call)["code"] == 487


def test_sipp_invite_unknown_user_gets_404_from_kamailio(
    make_sipp: MakeSipp, make_kamailio: Callable[..., Kamailio], peer_ports: PortAllocator
) -> None:
    sipp_port = peer_ports.sip()
    proxy = make_kamailio(trusted_ports=[sipp_port])  # no 407 for sipp: the INVITE reaches lookup()
    make_sipp("invite_unknown", proxy.domain, local_port=sipp_port, service="nobody").run().assert_ok(calls=1)


def test_sipp_auth_call_through_kamailio_reaches_a_registered_phone(
    make_phone: MakePhone, make_sipp: MakeSipp, kamailio: Kamailio
) -> None:
    alice = make_phone("alice", auto_answer=True)
    alice.register("alice", DEFAULT_USERS["alice"], kamailio.registrar)
    sipp = make_sipp(
        "uac_auth_call",
        kamailio.domain,
        service="alice",
        caller="bob",
        auth_user="bob",
        auth_password=DEFAULT_USERS["bob"],
        duration_ms=500,
    )
    sipp.run().assert_ok(calls=1)
    assert alice.wait_call_state("DISCONNECTED", alice.wait_incoming())["code"] == 200


def test_sipp_uac_bye_and_uas_bye_end_calls_from_either_side(
    make_phone: MakePhone, make_sipp: MakeSipp
) -> None:
    alice = make_phone("alice", auto_answer=True)
    make_sipp("uac_bye", f"127.0.0.1:{alice.sip_port}", service="alice", duration_ms=300).run().assert_ok(
        calls=1
    )
    alice.wait_call_state("DISCONNECTED", alice.wait_incoming())
    uas = make_sipp("uas_bye", calls=1, duration_ms=500).start()
    call = alice.call_and_wait_confirmed(f"sip:uas@127.0.0.1:{uas.local_port}")
    assert alice.wait_call_state("DISCONNECTED", call)["code"] == 200
    uas.wait().assert_ok(calls=1)


def test_sipp_options_is_answered_by_a_phone(make_phone: MakePhone, make_sipp: MakeSipp) -> None:
    alice = make_phone("alice")
    make_sipp("options", f"127.0.0.1:{alice.sip_port}", service="alice").run().assert_ok(calls=1)


def test_sipp_uac_echo_rtp_streams_a_1khz_tone(
    make_phone: MakePhone, make_sipp: MakeSipp, tmp_path: Path
) -> None:
    alice = make_phone("alice", auto_answer=True)
    alice.record(tmp_path / "heard.wav")
    make_sipp(
        "uac_echo_rtp", f"127.0.0.1:{alice.sip_port}", service="alice", duration_ms=2500
    ).run().assert_ok(calls=1)
    alice.wait_call_state("DISCONNECTED", alice.wait_incoming())
    assert alice.stop_record() == [str(tmp_path / "heard.wav")]
    samples, rate = audio.read_wav(tmp_path / "heard.wav")
    assert audio.tone_present(samples, rate, 1000.0), audio.describe(samples, rate)


def test_sipp_no_180_pair_runs_calls_at_a_rate(make_sipp: MakeSipp) -> None:
    uas = make_sipp("uas_no_180", calls=60, timeout=15).start()
    uac = make_sipp("uac_no_180", f"127.0.0.1:{uas.local_port}", service="rate", calls=60, rate=60)
    result = uac.run().assert_ok(calls=60)
    assert result.stats is not None and result.stats.unexpected == 0 and result.stats.call_rate > 20
    uas.wait().assert_ok(calls=60)
