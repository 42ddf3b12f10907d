"""Callers in rooms through loopback: who hears whom, rates, prompts, music on hold, PINs, limits, controls."""

from __future__ import annotations

import asyncio

import numpy as np

from switchcore.core import Switch
from switchcore.media.analysis import frequencies_present, rms
from switchcore.media.wavfile import read_wav

from .callers import ROOT_SOUNDS, Caller, Events, count, dial, join, room, wait_until

TONES = (400.0, 700.0, 1100.0)


async def three_callers(switch: Switch, dest: str, name: str, **variables: str) -> list[Caller]:
    callers = []
    for i, freq in enumerate(TONES):
        callers.append(await join(switch, dest, name, i + 1, freq, **variables))
    return callers


async def stop_all(callers: list[Caller]) -> None:
    for caller in callers:
        await caller.stop()


async def test_three_members_each_hear_the_other_two_and_not_themselves(switch: Switch) -> None:
    callers = await three_callers(switch, "4000", "q00")
    await asyncio.sleep(0.6)
    for caller in callers:
        heard = caller.last(400)
        assert frequencies_present(heard, 8000, TONES) == [f for f in TONES if f != caller.freq]
    assert room(switch, "q00").tick_errors == 0
    await stop_all(callers)


async def test_muting_member_1_silences_it_for_the_others(switch: Switch) -> None:
    callers = await three_callers(switch, "4001", "q01")
    assert await switch.api("conference q01 mute 1") == "OK mute 1\n"
    await asyncio.sleep(0.5)
    first, second, third = callers
    assert frequencies_present(second.last(300), 8000, TONES) == [TONES[2]]
    assert frequencies_present(third.last(300), 8000, TONES) == [TONES[1]]
    assert frequencies_present(first.last(300), 8000, TONES) == [TONES[1], TONES[2]]  # still hears
    assert await switch.api("conference q01 unmute 1") == "OK unmute 1\n"
    await asyncio.sleep(0.4)
    assert frequencies_present(second.last(300), 8000, TONES) == [TONES[0], TONES[2]]
    await stop_all(callers)


async def test_a_deaf_member_hears_silence_and_is_still_heard(switch: Switch) -> None:
    callers = await three_callers(switch, "4002", "q02")
    assert await switch.api("conference q02 deaf 2") == "OK deaf 2\n"
    await asyncio.sleep(0.5)
    assert rms(callers[1].last(300)) < 1
    assert frequencies_present(callers[0].last(300), 8000, TONES) == [TONES[1], TONES[2]]
    await stop_all(callers)


async def test_members_at_other_rates_are_resampled_to_the_room(switch: Switch) -> None:
    narrow = await join(switch, "4600", "c00", 1, 400, loopback_rate="8000")  # 48 kHz room
    wide = await join(switch, "4600", "c00", 2, 1500, loopback_rate="16000")
    full = await join(switch, "4600", "c00", 3, 5000, loopback_rate="48000")
    await asyncio.sleep(0.6)
    assert frequencies_present(narrow.last(400), 8000, [400, 1500]) == [1500]  # 5 kHz is above its band
    assert frequencies_present(wide.last(400), 16000, [400, 1500, 5000]) == [400, 5000]
    assert frequencies_present(full.last(400), 48000, [400, 1500, 5000]) == [400, 1500]
    await stop_all([narrow, wide, full])


async def test_a_wideband_room_mixes_narrowband_callers(switch: Switch) -> None:
    callers = await three_callers(switch, "4100", "w00", loopback_rate="8000")
    assert room(switch, "w00").rate == 16000
    await asyncio.sleep(0.6)
    for caller in callers:
        assert frequencies_present(caller.last(400), 8000, TONES) == [f for f in TONES if f != caller.freq]
    await stop_all(callers)


def frame_index(samples: np.ndarray, size: int = 160) -> dict[bytes, int]:
    return {samples[k * size : (k + 1) * size].tobytes(): k for k in range(len(samples) // size)}


async def test_the_first_member_hears_the_alone_prompt_then_music_on_hold(switch: Switch) -> None:
    events = Events(switch)
    caller = await join(switch, "3000", "3000", 1)
    alone, _ = read_wav(ROOT_SOUNDS / "en/us/callie/conference/8000/conf-alone.wav")
    music, _ = read_wav(ROOT_SOUNDS / "music/8000/switchcore-moh.wav")
    seconds = len(alone) / 8000
    await asyncio.sleep(seconds + 1.2)
    heard = np.concatenate(caller.heard)
    start = heard.tobytes().find(alone.tobytes())
    assert start >= 0 and start % 2 == 0, "the alone prompt was not heard whole"
    prompt_end = start // 2 + len(alone)
    after = heard[-(-prompt_end // 160) * 160 :]  # the music starts on the next frame
    known = frame_index(music)
    frames = [after[k * 160 : (k + 1) * 160].tobytes() for k in range(len(after) // 160)]
    matches = [known.get(f) for f in frames[1:]]  # one tick of lead-in, as FreeSWITCH's CONF_DEFAULT_LEADIN
    assert len(matches) >= 20 and all(m is not None for m in matches), "music on hold did not follow"
    assert all(
        b == a + 1 for a, b in zip(matches, matches[1:], strict=False) if a is not None and b is not None
    )
    assert [e.get("File") for e in events.of("play-file-done")] == ["conference/conf-alone.wav"]
    await caller.stop()


async def test_music_stops_and_the_enter_tone_plays_when_a_second_member_joins(switch: Switch) -> None:
    first = await join(switch, "3001", "3001", 1)
    await asyncio.sleep(0.3)
    r = room(switch, "3001")
    assert r.player.playing("alone")
    second = await join(switch, "3001", "3001", 2)
    await asyncio.sleep(0.1)
    assert not r.player.playing("moh")
    await wait_until(lambda: not r.player.busy, timeout=5.0, what="prompts to end")
    await asyncio.sleep(0.3)
    assert not r.player.playing("moh")  # two members: no music
    await stop_all([first, second])


async def test_the_right_pin_lets_a_caller_in_and_the_moderator_pin_makes_a_moderator(switch: Switch) -> None:
    caller = Caller(await dial(switch, "4200")).start()
    await asyncio.sleep(0.15)
    await caller.session.send_dtmf("1234#")
    await wait_until(lambda: count(switch, "p00") == 1, what="member admitted")
    moderator = Caller(await dial(switch, "4200")).start()
    await asyncio.sleep(0.15)
    await moderator.session.send_dtmf("9999")
    await wait_until(lambda: count(switch, "p00") == 2, what="moderator admitted")
    rows = (await switch.api("conference p00 list")).splitlines()
    assert "moderator" not in rows[0].split(";")[5] and "moderator" in rows[1].split(";")[5]
    await stop_all([caller, moderator])


async def test_a_wrong_pin_is_refused_after_the_retries(switch: Switch) -> None:
    session = await dial(switch, "4201")
    caller = Caller(session).start()
    await asyncio.sleep(0.15)
    await session.send_dtmf("1111#")
    await asyncio.sleep(0.4)
    await session.send_dtmf("2222#")
    await wait_until(lambda: session.hungup, what="refused caller hung up")
    assert switch.api is not None and "p01" not in (await switch.api("conference list"))
    await caller.stop()


async def test_a_full_room_refuses_the_next_caller(switch: Switch) -> None:
    callers = [await join(switch, "4300", "s00", 1), await join(switch, "4300", "s00", 2)]
    third = await dial(switch, "4300")
    await wait_until(lambda: third.hungup, what="third caller refused")
    assert room(switch, "s00").count == 2
    await stop_all(callers)


async def test_a_locked_room_refuses_callers_until_unlocked(switch: Switch) -> None:
    first = await join(switch, "4301", "s01", 1)
    assert await switch.api("conference s01 lock") == "OK s01 locked\n"
    refused = await dial(switch, "4301")
    await wait_until(lambda: refused.hungup, what="caller refused by the lock")
    assert await switch.api("conference s01 unlock") == "OK s01 unlocked\n"
    second = await join(switch, "4301", "s01", 2)
    await stop_all([first, second])


async def test_dtmf_zero_toggles_mute_and_hash_leaves_with_the_dialplan_going_on(switch: Switch) -> None:
    events = Events(switch)
    caller = await join(switch, "4800", "q00", 1, 500)
    member = room(switch, "q00").members[0]
    await caller.session.send_dtmf("0")
    await events.wait("mute-member")
    assert not member.can_speak
    await caller.session.send_dtmf("0")
    await events.wait("unmute-member")
    assert member.can_speak
    await caller.session.send_dtmf("9")
    await events.wait("energy-level")
    assert member.energy_level == 300
    await caller.session.send_dtmf("#")
    await wait_until(lambda: member.session.get_var("after_conference") == "reached", what="dialplan after #")
    assert not member.session.hungup
    await caller.stop()


async def test_an_endconf_member_leaving_ends_the_room_and_hangs_up_the_rest(switch: Switch) -> None:
    events = Events(switch)
    others = [await join(switch, "4010", "q10", 1), await join(switch, "4010", "q10", 2)]
    boss = await join(switch, "4410", "q10", 3)
    assert "moderator" in (await switch.api("conference q10 list")).splitlines()[2]
    boss.session.hangup()
    await events.wait("conference-destroy")
    await wait_until(lambda: all(c.session.hungup for c in others), what="the others hung up")
    await stop_all([*others, boss])


async def test_kick_plays_nothing_in_a_quiet_room_and_the_dialplan_goes_on(switch: Switch) -> None:
    events = Events(switch)
    keep = await join(switch, "4011", "q11", 1)
    kicked = await join(switch, "4811", "q11", 2)
    member = room(switch, "q11").members[1]
    assert await switch.api("conference q11 kick 2") == "OK kicked 2\n"
    await events.wait("kick-member")
    await wait_until(
        lambda: member.session.get_var("after_conference") == "reached", what="dialplan after kick"
    )
    assert room(switch, "q11").count == 1
    await stop_all([keep, kicked])


async def test_transfer_moves_a_member_to_another_room_keeping_its_id(switch: Switch) -> None:
    a = await join(switch, "4020", "q20", 1)
    b = await join(switch, "4020", "q20", 2)
    reply = await switch.api("conference q20 transfer q21@quiet 2")
    assert reply == "OK Member '2' sent to conference q21@quiet.\n"
    await wait_until(lambda: count(switch, "q21") == 1, what="member in q21")
    assert room(switch, "q21").members[0].id == 2
    assert room(switch, "q20").count == 1
    await stop_all([a, b])


async def test_dial_calls_a_leg_into_the_room(switch: Switch) -> None:
    a = await join(switch, "4030", "q30", 1)
    reply = await switch.api("conference q30 dial loopback/9999 3000 Conf")
    assert reply == "Call Requested: result: [SUCCESS]\n"
    await wait_until(lambda: room(switch, "q30").count == 2, what="dialled member")
    dialled = room(switch, "q30").members[1].session
    assert dialled.profile.caller_id_number == "3000" and dialled.direction == "outbound"
    await a.stop()


async def test_bgdial_answers_at_once_and_reports_a_background_job(switch: Switch) -> None:
    jobs = Events(switch, subclass="")
    reply = await switch.api("conference q31 bgdial loopback/9999")
    assert reply.startswith("OK Job-UUID: ")
    job = reply.split()[-1]
    await wait_until(lambda: any(e.get("Job-UUID") == job for e in jobs.events), what="BACKGROUND_JOB")
    [event] = [e for e in jobs.events if e.get("Job-UUID") == job]
    assert event.name == "BACKGROUND_JOB" and event.body == "Result: [SUCCESS]\n"
    await wait_until(lambda: count(switch, "q31") == 1, what="dialled member")


async def test_a_nomoh_member_alone_gets_no_music(switch: Switch) -> None:
    caller = await join(switch, "5100", "n00", 1)
    r = room(switch, "n00")
    await wait_until(lambda: not r.player.playing("alone"), timeout=6.0, what="alone prompt done")
    await asyncio.sleep(0.3)
    assert not r.player.busy  # no music on hold
    await caller.stop()


async def test_a_mintwo_room_ends_when_it_falls_below_two(switch: Switch) -> None:
    events = Events(switch)
    first = await join(switch, "5200", "m00", 1)
    await asyncio.sleep(0.2)
    assert count(switch, "m00") == 1  # one member: not yet at its minimum, so it stays
    second = await join(switch, "5200", "m00", 2)
    second.session.hangup()
    await events.wait("conference-destroy")
    await wait_until(lambda: first.session.hungup, what="the other member hung up")
    await stop_all([first, second])


async def test_wait_mod_holds_members_with_music_until_a_moderator_joins(switch: Switch) -> None:
    a = await join(switch, "5300", "w00", 1, 500)
    b = await join(switch, "5300", "w00", 2, 900)
    await asyncio.sleep(0.5)
    assert "wait_mod" in await switch.api("conference list")
    assert frequencies_present(a.last(300), 8000, [900, 2600]) == [2600]  # music, not each other
    moderator = await join(switch, "5400", "w00", 3)
    await asyncio.sleep(0.5)
    assert frequencies_present(a.last(300), 8000, [900, 2600]) == [900]
    assert "wait_mod" not in await switch.api("conference list")
    await stop_all([a, b, moderator])


async def test_moderator_controls_use_the_moderator_group(switch: Switch) -> None:
    events = Events(switch)
    member = await join(switch, "4012", "q12", 1)
    moderator = await join(switch, "4412", "q12", 2)
    await moderator.session.send_dtmf("*1")
    [event] = await events.wait("dtmf")
    assert (event.get("DTMF-Key"), event.get("Data"), event.get("Member-ID")) == (
        "*1",
        "moderator-asked",
        "2",
    )
    await moderator.session.send_dtmf("8")
    await events.wait("lock")
    assert room(switch, "q12").locked
    await member.session.send_dtmf("8")  # "energy equ" for a plain member
    await events.wait("energy-level")
    assert room(switch, "q12").locked
    await stop_all([member, moderator])


def holds(heard: np.ndarray, clip: np.ndarray, tolerance: int = 64) -> bool:
    """Whether `heard` holds `clip` from some frame boundary on, give or take comfort noise."""
    size = len(clip)
    for start in range(0, len(heard) - size + 1, 160):
        if int(np.max(np.abs(heard[start : start + size].astype(np.int32) - clip))) <= tolerance:
            return True
    return False


async def test_a_muted_member_hears_the_muted_prompt(switch: Switch) -> None:
    first = await join(switch, "3003", "3003", 1)
    second = await join(switch, "3003", "3003", 2)
    await wait_until(lambda: not room(switch, "3003").player.busy, timeout=6.0, what="prompts to end")
    mark = second.mark()
    assert await switch.api("conference 3003 mute 2") == "OK mute 2\n"
    muted, _ = read_wav(ROOT_SOUNDS / "en/us/callie/conference/8000/conf-muted.wav")
    await asyncio.sleep(len(muted) / 8000 + 0.4)
    assert holds(second.since(mark), muted)
    assert not holds(first.since(first.mark() - 100), muted)
    await stop_all([first, second])


async def test_a_kicked_member_hears_the_kicked_prompt(switch: Switch) -> None:
    first = await join(switch, "3004", "3004", 1)
    second = await join(switch, "3004", "3004", 2)
    mark = second.mark()
    assert await switch.api("conference 3004 kick 2") == "OK kicked 2\n"
    kicked, _ = read_wav(ROOT_SOUNDS / "en/us/callie/conference/8000/conf-kicked.wav")
    await wait_until(lambda: second.session.hungup, timeout=6.0, what="the kicked caller's call to end")
    assert holds(second.since(mark), kicked, tolerance=0)
    await stop_all([first, second])
