"""FreeSWITCH's most reported conference crashes, each as a test: the room stays up and mixing.

signalwire/freeswitch #2297 (crash at member leave), #1939 (play to a member then leave), #659 (`hup all`),
#2669 (stereo/mp3 file), #52 (recording while the room ends), #2676 (a stuck room goes silent).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import numpy as np
import pytest

from modules.mod_conference import manager_for
from switchcore.core import Switch
from switchcore.media.analysis import frequencies_present
from switchcore.media.frame import Frame
from switchcore.media.wavfile import read_wav

from .callers import Caller, Events, count, dial, join, room, wait_until

TONES = (400.0, 700.0, 1100.0)


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.ERROR)
    return caplog


def no_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and "mod_conference" in (r.name + r.getMessage())
    ]
    assert not bad, [r.getMessage() for r in bad]


async def test_a_member_who_leaves_mid_playback_leaves_a_clean_room(
    switch: Switch, errors: pytest.LogCaptureFixture
) -> None:
    callers = [await join(switch, "4070", "q70", i + 1, f) for i, f in enumerate(TONES)]
    await switch.api("conference q70 play tone_stream://%(5000,0,1500) 2")  # to member 2 only
    await switch.api("conference q70 play tone_stream://%(5000,0,1800)")  # to the room
    await asyncio.sleep(0.2)
    member = room(switch, "q70").members[1]
    callers[1].session.hangup()
    await wait_until(lambda: count(switch, "q70") == 2, what="member gone")
    assert not member.player.busy and not member.inbox and not member.outbox
    marks = [c.mark() for c in callers]
    await asyncio.sleep(0.5)
    assert frequencies_present(callers[0].since(marks[0]), 8000, [*TONES, 1800]) == [TONES[2], 1800]
    assert room(switch, "q70").tick_errors == 0
    no_errors(errors)
    for c in callers:
        await c.stop()


async def test_hup_all_hangs_everyone_up_and_ends_the_room(
    switch: Switch, errors: pytest.LogCaptureFixture
) -> None:
    events = Events(switch)
    callers = [await join(switch, "4071", "q71", i + 1, f) for i, f in enumerate(TONES)]
    await switch.api("conference q71 play tone_stream://%(5000,0,900)")
    reply = await switch.api("conference q71 hup all")
    assert reply == "OK hup 1\nOK hup 2\nOK hup 3\n"
    await events.wait("conference-destroy")
    await wait_until(lambda: all(c.session.hungup for c in callers), what="everyone hung up")
    assert manager_for(switch).find("q71") is None
    assert events.actions().count("hup-member") == 3 and events.actions().count("del-member") == 3
    assert await switch.api("conference q71 list") == "-ERR Conference q71 not found\n"
    no_errors(errors)
    for c in callers:
        await c.stop()


async def test_a_room_destroyed_while_recording_closes_a_good_file(
    switch: Switch, tmp_path: Path, errors: pytest.LogCaptureFixture
) -> None:
    events = Events(switch)
    callers = [await join(switch, "4072", "q72", i + 1, f) for i, f in enumerate(TONES)]
    path = tmp_path / "q72.wav"
    await switch.api(f"conference q72 record {path}")
    await asyncio.sleep(0.6)
    for c in callers:
        c.session.hangup()
    [stopped] = await events.wait("stop-recording")
    samples, info = read_wav(path)
    assert int(stopped.get("Samples-Out")) == len(samples) > 3000
    assert frequencies_present(samples[800:], 8000, TONES) == list(TONES)
    no_errors(errors)
    for c in callers:
        await c.stop()


async def test_members_hanging_up_between_ticks_do_not_disturb_the_rest(
    switch: Switch, errors: pytest.LogCaptureFixture
) -> None:
    keep = [await join(switch, "4073", "q73", 1, TONES[0]), await join(switch, "4073", "q73", 2, TONES[1])]
    leavers = [await join(switch, "4073", "q73", 3 + i) for i in range(6)]
    loop = asyncio.get_running_loop()
    for i, caller in enumerate(leavers):
        await switch.clock.tick()
        if i % 2:
            loop.call_soon(caller.session.hangup)  # right after the tick woke everyone
        else:
            caller.session.hangup()  # before anything else runs in this tick
    await wait_until(lambda: count(switch, "q73") == 2, what="leavers gone")
    mark = keep[0].mark()
    await asyncio.sleep(0.4)
    assert frequencies_present(keep[0].since(mark), 8000, TONES[:2]) == [TONES[1]]
    assert room(switch, "q73").tick_errors == 0
    no_errors(errors)
    for c in keep + leavers:
        await c.stop()


async def test_a_caller_hanging_up_at_the_pin_prompt_leaves_no_room_behind(switch: Switch) -> None:
    session = await dial(switch, "4202")
    await wait_until(lambda: manager_for(switch).find("p02") is not None, what="room made")
    session.hangup()
    await wait_until(lambda: manager_for(switch).find("p02") is None, what="empty room ended")


async def test_a_tick_that_fails_is_logged_and_the_room_keeps_mixing(
    switch: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    callers = [await join(switch, "4074", "q74", 1, TONES[0]), await join(switch, "4074", "q74", 2, TONES[1])]
    r = room(switch, "q74")
    real = r.board.tick
    failures = {"left": 3}

    def flaky(*args: object, **kwargs: object) -> object:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("boom")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(r.board, "tick", flaky)
    await wait_until(lambda: r.tick_errors == 3, what="failed ticks")
    mark = callers[1].mark()
    await asyncio.sleep(0.4)
    assert frequencies_present(callers[1].since(mark), 8000, TONES[:2]) == [TONES[0]]
    for c in callers:
        await c.stop()


async def test_a_source_that_breaks_while_playing_ends_only_that_file(switch: Switch) -> None:
    events = Events(switch)
    callers = [await join(switch, "4075", "q75", 1), await join(switch, "4075", "q75", 2, TONES[2])]
    r = room(switch, "q75")

    class Broken:
        rate = 8000

        def __init__(self) -> None:
            self.reads = 0

        def read_frame(self) -> Frame | None:
            self.reads += 1
            if self.reads > 3:
                raise OSError("the disk is gone")
            return Frame(np.zeros(160, dtype=np.int16), 8000)

        def close(self) -> None:
            return None

    r.player._open = lambda spec: Broken()  # type: ignore[assignment, return-value]
    r.play("broken.wav")
    [done] = await events.wait("play-file-done")
    assert "the disk is gone" in done.get("Error")
    mark = callers[0].mark()
    await asyncio.sleep(0.3)
    assert frequencies_present(callers[0].since(mark), 8000, [TONES[2]]) == [TONES[2]]
    assert r.tick_errors == 0
    for c in callers:
        await c.stop()


async def test_a_member_whose_frames_are_odd_is_fitted(switch: Switch) -> None:
    """A caller that sends stereo 44.1 kHz frames of odd length is converted, not refused."""
    a = await join(switch, "4076", "q76", 1, TONES[0])
    b = await join(switch, "4076", "q76", 2)
    member = room(switch, "q76").members[1]
    for _ in range(10):
        member.push(Frame(np.full(1000, 300, dtype=np.int16), 44100, 2))
        member.push(Frame(np.full(7, 300, dtype=np.int16), 8000))
        await switch.clock.tick()
    assert room(switch, "q76").tick_errors == 0
    await a.stop()
    await b.stop()


async def test_unloading_the_module_ends_every_room(switch: Switch) -> None:
    callers = [await join(switch, "4077", "q77", 1), await join(switch, "4078", "q78", 1)]
    manager = manager_for(switch)
    rooms = list(manager)
    await switch.loader.unload("mod_conference", force=True)
    await wait_until(lambda: all(c.session.hungup for c in callers), what="members hung up")
    assert manager.rooms == {} and all(r.destroyed for r in rooms)
    assert "conference" not in switch.registry.apis
    for c in callers:
        await c.stop()


async def test_many_members_join_and_leave_at_once(switch: Switch) -> None:
    callers = [Caller(await dial(switch, "4079")).start() for _ in range(20)]
    await wait_until(lambda: count(switch, "q79") == 20, what="20 members")
    for c in callers[::2]:
        c.session.hangup()
    await wait_until(lambda: count(switch, "q79") == 10, what="10 left")
    assert room(switch, "q79").tick_errors == 0
    rows = (await switch.api("conference q79 list")).splitlines()
    assert len(rows) == 10
    for c in callers:
        await c.stop()


async def test_a_caller_admitted_after_the_room_emptied_gets_a_running_room(switch: Switch) -> None:
    first = Caller(await dial(switch, "4203")).start()
    await asyncio.sleep(0.15)
    await first.session.send_dtmf("1234")
    await wait_until(lambda: count(switch, "p03") == 1, what="first member")
    old = room(switch, "p03")
    second = Caller(await dial(switch, "4203")).start()
    await asyncio.sleep(0.1)
    first.session.hangup()  # the room empties while the second caller is asked for the PIN
    await wait_until(lambda: old.destroyed, what="room ended")
    await second.session.send_dtmf("1234")
    await wait_until(lambda: count(switch, "p03") == 1, what="second member")
    new = room(switch, "p03")
    assert new is not old and not new.destroyed
    ticks = new.ticks
    await asyncio.sleep(0.2)
    assert new.ticks > ticks
    for c in (first, second):
        await c.stop()
