"""sipp scenarios against the real switch on the default conf (tests/peers/scenarios/).

Calls on the internal profile authenticate as 1000/1234 (auth-calls is on there);
the external profile takes unauthenticated calls into the public context.
"""

from __future__ import annotations

import re
import time

import pytest

from switchcore.causes import HangupCause
from switchcore.store import Store
from tests.peers.audio import describe, tone_present

from .conftest import ESL_PORT, EXTERNAL_SIP_PORT, SIP_PORT
from .esl_events import EslEvents
from .rtp_probe import RtpProbe
from .switch_process import wait_until

pytestmark = pytest.mark.slow

INTERNAL = f"127.0.0.1:{SIP_PORT}"
EXTERNAL = f"127.0.0.1:{EXTERNAL_SIP_PORT}"
AUTH = {"caller": "1000", "auth_user": "1000", "auth_password": "1234"}


def _cdrs(switch_proc) -> list:  # type: ignore[no-untyped-def]
    switch_proc.stop()
    store = Store(f"sqlite:///{switch_proc.data}/switchcore.db")
    store.open()
    try:
        return store.cdrs()
    finally:
        store.close()


def _channel_uuids(switch_proc) -> list[str]:  # type: ignore[no-untyped-def]
    listing = switch_proc.api("show channels", port=ESL_PORT)
    return re.findall(r"^([0-9a-f-]{36}),", listing, re.M)


def test_invite_cancel_gets_487_and_stops_the_ringing_phone(switch_proc, make_sipp, make_phone):
    phone = make_phone("b1001")  # rings, never answers
    phone.register("1001", "1234", "sip:" + INTERNAL, domain="127.0.0.1")
    sipp = make_sipp("auth_invite_cancel", INTERNAL, service="1001", **AUTH)
    result = sipp.run()
    result.assert_ok(calls=1)
    phone.wait_incoming(timeout=5)
    phone.wait_call_state("DISCONNECTED", timeout=10)
    assert wait_until(lambda: not _channel_uuids(switch_proc), 5), switch_proc.api(
        "show channels", port=ESL_PORT
    )
    cdrs = _cdrs(switch_proc)
    legs = {cdr.direction: cdr for cdr in cdrs}
    assert set(legs) == {"inbound", "outbound"}, [(c.direction, c.hangup_cause) for c in cdrs]
    assert legs["inbound"].hangup_cause is HangupCause.ORIGINATOR_CANCEL
    assert legs["inbound"].sip_status == 487
    assert (
        legs["outbound"].answer is None and legs["outbound"].hangup_cause is not HangupCause.NORMAL_CLEARING
    )


def test_invite_to_an_unknown_number_is_refused_with_404(switch_proc, make_sipp):
    make_sipp("auth_invite_unknown", INTERNAL, service="4711", **AUTH).run().assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.NO_ROUTE_DESTINATION and cdr.sip_status == 404
    assert cdr.context == "default"


def test_unauthenticated_invite_is_challenged_on_internal_and_routes_only_in_public_on_external(
    switch_proc, make_sipp
):
    # 9196 is the echo test of the default context: the public context has no such number.
    make_sipp("invite_unknown", EXTERNAL, service="9196").run().assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.context == "public" and cdr.hangup_cause is HangupCause.NO_ROUTE_DESTINATION
    assert "sip_authorized" not in cdr.variables


def test_bye_from_the_caller_ends_the_call(switch_proc, make_sipp, peer_ports):
    with RtpProbe(peer_ports.rtp(2)) as probe:
        sipp = make_sipp(
            "auth_call_bye",
            INTERNAL,
            service="9198",
            duration_ms=1500,
            keys={"rtp_port": str(probe.port)},
            **AUTH,
        )
        sipp.run().assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.NORMAL_CLEARING
    assert cdr.variables.get("sip_hangup_disposition") == "recv_bye"


def test_bye_from_the_switch_ends_the_call(switch_proc, make_sipp):
    sipp = make_sipp("auth_call_recv_bye", INTERNAL, service="9198", **AUTH).start()
    assert wait_until(lambda: len(_channel_uuids(switch_proc)) == 1, 10), switch_proc.output(40)
    time.sleep(0.5)
    [uuid] = _channel_uuids(switch_proc)
    assert switch_proc.api(f"uuid_kill {uuid}", port=ESL_PORT).startswith("+OK")
    sipp.wait(15).assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.hangup_cause is HangupCause.MANAGER_REQUEST  # uuid_kill's default, as FreeSWITCH
    assert cdr.variables.get("sip_hangup_disposition") == "send_bye"


@pytest.mark.parametrize("who_hangs_up", ["callee", "switch"])
def test_outbound_leg_to_a_sipp_uas_ends_by_either_side(
    who_hangs_up: str, switch_proc, make_sipp, peer_ports
):
    port = peer_ports.sip()
    scenario = "uas_bye" if who_hangs_up == "callee" else "uas_no_180"
    uas = make_sipp(scenario, None, local_port=port, calls=1, duration_ms=1000, timeout=15).start()
    time.sleep(0.3)
    reply = switch_proc.api(f"originate sofia/internal/sipp@127.0.0.1:{port} &echo", port=ESL_PORT)
    assert reply.startswith("+OK"), reply
    uuid = reply.split()[1]
    if who_hangs_up == "switch":
        time.sleep(1.0)
        assert switch_proc.api(f"uuid_kill {uuid}", port=ESL_PORT).startswith("+OK")
    uas.wait(15).assert_ok(calls=1)
    [cdr] = _cdrs(switch_proc)
    assert cdr.direction == "outbound" and cdr.answer is not None
    killed = who_hangs_up == "switch"
    assert cdr.hangup_cause is (HangupCause.MANAGER_REQUEST if killed else HangupCause.NORMAL_CLEARING)
    expected = "recv_bye" if who_hangs_up == "callee" else "send_bye"
    assert cdr.variables.get("sip_hangup_disposition") == expected


def test_options_is_answered(switch_proc, make_sipp):
    make_sipp("options", INTERNAL, service="1000").run().assert_ok(calls=1)
    make_sipp("options", EXTERNAL, service="1000").run().assert_ok(calls=1)


def test_stray_in_dialog_requests_get_481_and_unknown_methods_501(switch_proc, make_sipp):
    make_sipp("stray_requests", INTERNAL, service="1000").run().assert_ok(calls=1)


def test_invite_with_unusable_sdp_gets_488(switch_proc, make_sipp):
    make_sipp("auth_invite_bad_sdp", INTERNAL, service="9196", **AUTH).run().assert_ok(calls=1)
    assert _channel_uuids(switch_proc) == []


def test_calls_survive_ten_percent_packet_loss(switch_proc, make_sipp, peer_ports):
    with RtpProbe(peer_ports.rtp(2)) as probe:
        sipp = make_sipp(
            "auth_call_bye",
            INTERNAL,
            service="9198",
            calls=20,
            rate=10,
            duration_ms=200,
            timeout=60,
            keys={"rtp_port": str(probe.port)},
            extra_args=["-lost", "10"],
            **AUTH,
        )
        result = sipp.run(timeout=70)
    assert result.successful >= 19, result.details()
    assert result.stats is not None and result.stats.retransmissions > 0, result.details()
    # sipp's loss model can also swallow a whole call's BYE (its own answer to a retransmitted 407
    # is an ACK on the wrong branch, and it may then give the call up); such a call is alive for
    # the switch, rightly, until its media times out.  Every call that got its BYE is gone.
    wait_until(lambda: not _channel_uuids(switch_proc), 3)
    leftover = _channel_uuids(switch_proc)
    assert len(leftover) <= 2, result.details()
    for uuid in leftover:
        switch_proc.api(f"uuid_kill {uuid}", port=ESL_PORT)
    cdrs = _cdrs(switch_proc)
    call_ids = [cdr.variables.get("sip_call_id") for cdr in cdrs]
    assert len(cdrs) == 20 and len(set(call_ids)) == 20, "a retransmitted INVITE made a second call"
    by_bye = [c for c in cdrs if c.variables.get("sip_hangup_disposition") == "recv_bye"]
    assert len(by_bye) >= 18 and all(c.hangup_cause is HangupCause.NORMAL_CLEARING for c in by_bye)


def test_call_to_9196_echoes_a_real_tone(switch_proc, make_sipp, peer_ports):
    with RtpProbe(peer_ports.rtp(2)) as probe, EslEvents(ESL_PORT, "CHANNEL_ANSWER") as events:
        sipp = make_sipp(
            "auth_call_bye",
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
    assert probe.sent >= 140
