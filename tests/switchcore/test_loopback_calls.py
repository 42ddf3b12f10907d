"""Calls through mod_loopback: routing, applications, events, CDRs, media, bridge and originate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from switchcore.causes import HangupCause
from switchcore.media.analysis import dominant_frequency, tone_present
from switchcore.media.dtmf import generate_dtmf
from switchcore.media.frame import Frame
from switchcore.media.wavfile import read_wav, write_wav

from .helpers import EventLog, call, talk


async def test_originate_park_then_kill_fires_events_in_order_and_writes_a_cdr_per_leg(switch):
    log = EventLog(switch)
    reply = await switch.api("originate loopback/9999 &park()")
    assert reply.startswith("+OK ")
    a_uuid = reply.split()[1]
    await asyncio.sleep(0.2)
    assert len(switch.sessions) == 2
    assert "2 total." in await switch.api("show channels")
    b = next(s for s in switch.sessions.values() if s.uuid != a_uuid)
    assert b.current_app == "park"
    assert await switch.api(f"uuid_kill {a_uuid}") == "+OK\n"
    await asyncio.sleep(0.3)
    assert switch.sessions == {}
    names = log.names(a_uuid)
    assert names[0] == "CHANNEL_CREATE"
    assert names.index("CHANNEL_ANSWER") < names.index("CHANNEL_EXECUTE") < names.index("CHANNEL_HANGUP")
    assert names[-3:] == ["CHANNEL_HANGUP_COMPLETE", "CHANNEL_STATE", "CHANNEL_DESTROY"]
    cdrs = switch.store.cdrs()
    assert {c.uuid for c in cdrs} == {a_uuid, b.uuid}
    assert {c.hangup_cause for c in cdrs} == {HangupCause.MANAGER_REQUEST}
    assert all(c.answer is not None for c in cdrs)
    log.close()


async def test_unknown_extension_gives_no_route_destination(switch):
    assert await switch.api("originate loopback/5555 &park()") == "-ERR NO_ROUTE_DESTINATION\n"
    await asyncio.sleep(0.1)
    assert switch.sessions == {}


async def test_exhausted_app_list_hangs_up_normal_clearing(switch):
    log = EventLog(switch)
    a = await call(switch, "loopback/9000")
    assert await a.wait_hangup(3)
    hangup = await log.wait_for(
        lambda e: e.name == "CHANNEL_HANGUP" and e.get("Channel-Name") == "loopback/9000-b"
    )
    assert hangup.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert hangup.get("variable_test_var") == "hello"
    log.close()


async def test_echo_returns_a_1khz_tone(switch):
    a = await call(switch, "loopback/9196")
    heard = await talk(a, 1000, 1.5)
    a.hangup()
    tail = heard[len(heard) // 3 :]
    assert tone_present(tail, a.rate, 1000)
    assert abs(dominant_frequency(tail, a.rate) - 1000) < 20


async def test_unloading_a_module_in_use_is_refused_without_force(switch):
    a = await call(switch, "loopback/9999")
    reply = await switch.api("unload mod_loopback")
    assert reply.startswith("-ERR") and "in use" in reply
    assert "mod_loopback" in switch.registry.modules
    a.hangup()


async def test_api_errors_say_usage_and_unknown_commands(switch):
    assert await switch.api("uuid_kill") == "-USAGE: <uuid> [cause]\n"
    assert await switch.api("nosuchcommand x") == "-ERR nosuchcommand Command not found!\n"
    assert await switch.api("uuid_kill not-a-uuid") == "-ERR No such channel!\n"


async def test_playback_of_an_8k_file_to_a_48k_channel_keeps_the_frequency(switch, tmp_path: Path):
    tone = tmp_path / "tone8k.wav"
    t = np.arange(8000 * 2) / 8000
    write_wav(tone, (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16), 8000)
    a = await call(switch, "{loopback_rate=48000}loopback/9999")
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    assert await switch.api(f"uuid_broadcast {b.uuid} {tone}") == "+OK Message sent\n"
    heard = await talk(a, None, 1.5)
    a.hangup()
    assert a.rate == 48000
    assert abs(dominant_frequency(heard[48000 // 2 :], 48000) - 1000) < 20


async def test_missing_file_ends_the_playback_not_the_call(switch):
    log = EventLog(switch)
    a = await call(switch, "loopback/9999")
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    await switch.api(f"uuid_broadcast {b.uuid} no/such/file.wav")
    stop = await log.wait_for(lambda e: e.name == "PLAYBACK_STOP")
    assert stop.get("Playback-Status") == "error" and "not found" in stop.get("Playback-Error")
    await asyncio.sleep(0.1)
    assert not a.hungup and not b.hungup
    a.hangup()
    log.close()


async def test_inband_dtmf_is_collected_by_play_and_get_digits(switch):
    a = await call(switch, "loopback/9100")
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    tones = generate_dtmf("4721#", a.rate, 80, 80)
    n = a.rate // 50
    await talk(a, None, 0.3)
    for i in range(0, len(tones) - n + 1, n):
        await a.write_frame(Frame(tones[i : i + n], a.rate))
        await a.read_frame()
    await talk(a, None, 0.5)
    assert b.get_var("got_digits") == "4721"
    assert b.get_var("read_terminator_used") == "#"
    a.hangup()


async def test_record_session_stereo_holds_both_parties(switch, tmp_path: Path):
    path = tmp_path / "rec.wav"
    a = await call(switch, f"{{rec_path={path}}}loopback/859601")
    await talk(a, 1000, 2.0)
    a.hangup()
    await asyncio.sleep(0.3)
    samples, info = read_wav(path)
    assert info.channels == 2
    left, right = samples[0::2], samples[1::2]
    half = len(left) // 4
    assert tone_present(left[half:], info.rate, 1000) and not tone_present(left[half:], info.rate, 600)
    assert tone_present(right[half:], info.rate, 600) and not tone_present(right[half:], info.rate, 1000)


async def test_simultaneous_ring_first_answer_wins_and_the_loser_gets_lose_race(switch):
    log = EventLog(switch)
    a = await call(switch, "loopback/8200")
    loser = await log.wait_for(
        lambda e: e.name == "CHANNEL_HANGUP" and e.get("Channel-Name") == "loopback/9001-a", timeout=3
    )
    assert loser.get("Hangup-Cause") == "LOSE_RACE"
    heard = await talk(a, 1000, 1.0)
    assert tone_present(heard[len(heard) // 2 :], a.rate, 1000)  # bridged to 9003's echo
    a.hangup()
    log.close()


async def test_failover_moves_on_after_leg_timeout(switch):
    log = EventLog(switch)
    loop = asyncio.get_running_loop()
    start = loop.time()
    a = await call(switch, "loopback/8201", timeout=6)
    first = await log.wait_for(
        lambda e: e.name == "CHANNEL_HANGUP" and e.get("Channel-Name") == "loopback/9001-a"
    )
    assert first.get("Hangup-Cause") == "NO_ANSWER"
    heard = await talk(a, 1000, 1.0)
    assert loop.time() - start >= 1.0
    assert tone_present(heard[len(heard) // 2 :], a.rate, 1000)
    a.hangup()
    log.close()


async def test_continue_on_fail_lets_the_dialplan_go_on(switch):
    a = await call(switch, "loopback/8202")
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    await asyncio.sleep(0.3)
    assert b.get_var("after_failed_bridge") == "USER_BUSY"
    assert b.current_app == "park"
    a.hangup()


async def test_without_continue_on_fail_a_failed_bridge_hangs_up_with_its_cause(switch):
    log = EventLog(switch)
    result = await switch.api("originate loopback/8203 &park()")
    hangup = await log.wait_for(
        lambda e: e.name == "CHANNEL_HANGUP" and e.get("Channel-Name") == "loopback/8203-b"
    )
    assert hangup.get("Hangup-Cause") == "USER_BUSY"
    assert "variable_never_here" not in hangup.headers
    assert result.startswith("-ERR") or result.startswith("+OK")
    log.close()


async def test_hangup_after_bridge_ends_the_a_leg_when_b_hangs_up(switch):
    a = await call(switch, "loopback/819999")
    await asyncio.sleep(0.3)
    b_leg = next(s for s in switch.sessions.values() if s.name == "loopback/9999-b")
    b_leg.hangup()
    assert await a.wait_hangup(3)


async def test_transfer_reroutes_the_call(switch):
    a = await call(switch, "loopback/7000")
    await asyncio.sleep(0.3)
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    assert b.current_app == "park"
    assert b.profile.destination_number == "9999"
    a.hangup()


async def test_shutdown_hangs_up_calls_with_system_shutdown_and_writes_cdrs(switch):
    a = await call(switch, "loopback/9999")
    await switch.stop()
    assert a.cause is HangupCause.SYSTEM_SHUTDOWN


async def test_ringback_is_played_to_the_caller_while_the_far_end_rings(switch):
    from switchcore.module import OutgoingRequest

    a = await switch.registry.endpoints["loopback"].outgoing(OutgoingRequest("8300", {}))
    heard = await talk(a, None, 1.5)
    assert a.early and not a.answered
    assert tone_present(heard[len(heard) // 3 :], a.rate, 425)
    a.hangup()


async def test_uuid_record_records_both_directions(switch, tmp_path: Path):
    path = tmp_path / "uuid_rec.wav"
    a = await call(switch, "loopback/9196")
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]
    assert await switch.api(f"uuid_record {b.uuid} start {path}") == "+OK Success\n"
    await talk(a, 1000, 1.0)
    assert await switch.api(f"uuid_record {b.uuid} stop {path}") == "+OK Success\n"
    a.hangup()
    samples, info = read_wav(path)
    assert info.channels == 1 and tone_present(samples[len(samples) // 3 :], info.rate, 1000)
    assert (await switch.api("uuid_record nope start /tmp/x.wav")).startswith("-ERR No such channel")


async def test_live_channels_are_mirrored_into_the_store_and_removed_when_gone(switch):
    a = await call(switch, "loopback/9999")
    await switch.channel_mirror.flush()
    rows = switch.store.channels(node=switch.node)
    assert {r.uuid for r in rows} == set(switch.sessions)
    assert any(r.application == "park" for r in rows)
    a.hangup()
    await a.wait_destroyed(3)
    await asyncio.sleep(0.2)
    await switch.channel_mirror.flush()
    assert switch.store.channels(node=switch.node) == []


async def test_transferring_the_bridged_far_leg_takes_it_out_of_the_bridge_alive(switch):
    a = await call(switch, "loopback/819999")
    await asyncio.sleep(0.3)
    far = next(s for s in switch.sessions.values() if s.name == "loopback/9999-a")
    assert await switch.api(f"uuid_transfer {far.uuid} 9196") == "+OK\n"
    await asyncio.sleep(0.5)
    assert not far.hungup
    assert far.profile.destination_number == "9196" and far.current_app == "echo"
    assert await a.wait_hangup(3)  # its caller had hangup_after_bridge=true
    far.hangup()


async def test_legs_still_ringing_hang_up_when_the_caller_goes_away(switch):
    from switchcore.module import OutgoingRequest

    a = await switch.registry.endpoints["loopback"].outgoing(OutgoingRequest("8201", {}))
    await asyncio.sleep(0.4)  # 8201 rings 9001 (which never answers) for a second first
    assert any(s.name == "loopback/9001-a" for s in switch.sessions.values())
    a.hangup()
    await asyncio.sleep(1.0)
    assert switch.sessions == {}


async def test_uuid_broadcast_on_a_bridged_call_plays_over_the_bridge_without_breaking_it(switch):
    a = await call(switch, "loopback/819196")
    await asyncio.sleep(0.3)
    b = switch.sessions[a.variables["other_loopback_leg_uuid"]]  # the leg running bridge
    assert b.partner is not None
    reply = await switch.api(f"uuid_broadcast {b.uuid} tone_stream://%(1000,0,425);loops=1")
    assert reply == "+OK Message sent\n"
    heard = await talk(a, 1000, 0.8)
    assert tone_present(heard[len(heard) // 4 :], a.rate, 425)  # the file, not the echo
    heard = await talk(a, 1000, 1.0)
    assert tone_present(heard[len(heard) // 2 :], a.rate, 1000)  # the echo again: still bridged
    assert not a.hungup and b.partner is not None
    a.hangup()
