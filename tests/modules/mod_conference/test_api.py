"""The `conference` API: FreeSWITCH's replies, list and json formats, targets, files, recordings, errors."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import numpy as np

from switchcore.core import Switch
from switchcore.media.analysis import frequencies_present, sine
from switchcore.media.resample import to_stereo
from switchcore.media.wavfile import read_wav, write_wav

from .callers import Caller, Events, count, join, room, wait_until

ROW = re.compile(
    r"^(?P<id>\d+);(?P<name>loopback/\d+-b);(?P<uuid>[0-9a-f-]{36});(?P<cid_name>[^;]*);(?P<cid_num>[^;]*);"
    r"(?P<flags>[a-z|-]*);(?P<vin>-?\d+);(?P<vout>-?\d+);(?P<energy>\d+)$"
)


async def pair(
    switch: Switch, dest: str, name: str, freqs: tuple[float | None, float | None] = (None, None)
) -> list[Caller]:
    return [await join(switch, dest, name, 1, freqs[0]), await join(switch, dest, name, 2, freqs[1])]


async def stop_all(callers: list[Caller]) -> None:
    for caller in callers:
        await caller.stop()


async def test_unknown_rooms_members_and_commands_answer_clear_errors(switch: Switch) -> None:
    assert await switch.api("conference nope list") == "-ERR Conference nope not found\n"
    assert await switch.api("conference list") == "No active conferences.\n"
    assert await switch.api("conference json_list nope") == "-ERR Conference nope not found\n"
    callers = await pair(switch, "4040", "q40")
    assert await switch.api("conference q40 mute 99") == "-ERR Non-Existant ID 99\n"
    assert await switch.api("conference q40 frob") == "-ERR Conference command 'frob' not found.\n"
    assert await switch.api("conference q40") == "-ERR Conference command, not specified.\nTry 'help'\n"
    usage = await switch.api("conference q40 mute")
    assert usage == "-USAGE: conference q40 mute <[member_id|all]|last|non_moderator> [<quiet>]\n"
    assert (await switch.api("conference q40 kick someone")).startswith("-USAGE: conference q40 kick")
    assert await switch.api("conference q40 play nope.wav") == "(play) File: nope.wav not found.\n"
    assert await switch.api("conference q40 play nope.wav 77") == "-ERR Member: 77 not found.\n"
    await stop_all(callers)


async def test_list_rows_have_freeswitchs_format(switch: Switch) -> None:
    callers = await pair(switch, "4041", "q41", (500, None))
    await asyncio.sleep(0.3)
    rows = (await switch.api("conference q41 list")).splitlines()
    matches = [ROW.match(row) for row in rows]
    assert all(matches), rows
    first, second = (m.groupdict() for m in matches if m is not None)
    assert (first["id"], second["id"]) == ("1", "2")
    assert first["flags"] == "hear|speak|talking|floor" and second["flags"] == "hear|speak"
    assert (first["vin"], first["vout"], first["energy"]) == ("0", "0", "100")
    assert first["uuid"] == room(switch, "q41").members[0].session.uuid
    assert first["name"] == "loopback/4041-b"
    assert await switch.api("conference q41 list delim |") == (
        await switch.api("conference q41 list")
    ).replace(";", "|")
    assert await switch.api("conference q41 count") == "2"
    assert await switch.api("conference q41 list count") == "2"
    await stop_all(callers)


async def test_conference_list_heads_each_room(switch: Switch) -> None:
    a = await join(switch, "4042", "q42", 1)
    b = await join(switch, "4043", "q43", 1)
    await switch.api("conference q43 lock")
    text = await switch.api("conference list")
    assert "Conference q42 (1 member rate: 8000 flags: running|answered|enforce_min|dynamic|" in text
    assert "Conference q43 (1 member rate: 8000 locked flags: locked|running|" in text
    summary = await switch.api("conference list summary")
    assert summary.count("\n") == 2 and all(line.startswith("Conference ") for line in summary.splitlines())
    assert await switch.api("conference list count") == "2\n"
    await stop_all([a, b])


async def test_json_list_describes_rooms_and_members(switch: Switch) -> None:
    callers = await pair(switch, "4044", "q44", (600, None))
    await switch.api("conference q44 mute 2 quiet")
    await asyncio.sleep(0.3)
    [conf] = json.loads(await switch.api("conference json_list q44"))
    assert conf["conference_name"] == "q44" and conf["member_count"] == 2 and conf["rate"] == 8000
    assert conf["running"] is True and conf["locked"] is False and conf["recording"] is False
    assert conf["conference_uuid"] == room(switch, "q44").uuid
    first, second = conf["members"]
    assert first["id"] == 1 and first["flags"]["talking"] is True and first["flags"]["has_floor"] is True
    assert second["flags"]["can_speak"] is False and second["flags"]["can_hear"] is True
    assert first["uuid"] == room(switch, "q44").members[0].uuid and first["energy"] == 100
    everything = json.loads(await switch.api("conference json_list"))
    assert [c["conference_name"] for c in everything] == ["q44"]
    await stop_all(callers)


async def test_energy_and_volumes_answer_as_freeswitch_and_clamp(switch: Switch) -> None:
    callers = await pair(switch, "4045", "q45")
    assert await switch.api("conference q45 energy 1") == "Energy 1 = 100\n"
    assert await switch.api("conference q45 energy 1 500") == "Energy 1 = 500\n"
    assert await switch.api("conference q45 energy 1 up") == "Energy 1 = 700\n"
    assert await switch.api("conference q45 energy 1 1800") == "Energy 1 = 1800\n"
    assert await switch.api("conference q45 energy 1 up") == "Energy 1 = 1800\n"
    assert await switch.api("conference q45 volume_in 2 up") == "Volume IN 2 = 1\n"
    assert await switch.api("conference q45 volume_in 2 9") == "Volume IN 2 = 4\n"
    assert await switch.api("conference q45 volume_out 2 -2") == "Volume OUT 2 = -2\n"
    assert await switch.api("conference q45 volume_out 2 down") == "Volume OUT 2 = -3\n"
    row = (await switch.api("conference q45 list")).splitlines()[1].split(";")
    assert row[6:] == ["4", "-3", "100"]
    assert await switch.api("conference q45 tmute 1 quiet") == "OK mute 1\n"
    assert await switch.api("conference q45 tmute 1 quiet") == "OK unmute 1\n"
    await stop_all(callers)


async def test_all_last_and_non_moderator_targets(switch: Switch) -> None:
    a = await join(switch, "4046", "q46", 1)
    b = await join(switch, "4446", "q46", 2)  # moderator (and endconf)
    c = await join(switch, "4046", "q46", 3)
    assert await switch.api("conference q46 mute all quiet") == "OK mute 1\nOK mute 2\nOK mute 3\n"
    assert await switch.api("conference q46 unmute non_moderator quiet") == "OK unmute 1\nOK unmute 3\n"
    assert await switch.api("conference q46 deaf last") == "OK deaf 3\n"
    await stop_all([a, b, c])


async def test_play_into_the_room_reaches_every_member_with_events(switch: Switch) -> None:
    events = Events(switch)
    callers = await pair(switch, "4047", "q47")
    reply = await switch.api("conference q47 play tone_stream://%(1000,0,2000)")
    assert reply == "(play) Playing file tone_stream://%(1000,0,2000)\n"
    mark = [c.mark() for c in callers]
    [done] = await events.wait("play-file-done")
    assert done.get("File") == "tone_stream://%(1000,0,2000)" and done.get("Async") == "false"
    assert events.of("play-file")[0].get("Conference-Name") == "q47"
    for caller, start in zip(callers, mark, strict=True):
        assert frequencies_present(caller.since(start), 8000, [2000]) == [2000]
    await stop_all(callers)


async def test_play_to_one_member_is_heard_by_that_member_only(switch: Switch) -> None:
    callers = await pair(switch, "4048", "q48")
    marks = [c.mark() for c in callers]
    assert await switch.api("conference q48 play tone_stream://%(600,0,1800) 2") == (
        "(play) Playing file tone_stream://%(600,0,1800) to member 2\n"
    )
    await asyncio.sleep(0.5)
    assert frequencies_present(callers[1].since(marks[1]), 8000, [1800]) == [1800]
    assert frequencies_present(callers[0].since(marks[0]), 8000, [1800]) == []
    await stop_all(callers)


async def test_stop_ends_what_plays(switch: Switch) -> None:
    callers = await pair(switch, "4049", "q49")
    await switch.api("conference q49 play tone_stream://%(10000,0,900)")
    await switch.api("conference q49 play tone_stream://%(10000,0,950) async")
    assert await switch.api("conference q49 stop") == "Stopped 2 files.\n"
    assert await switch.api("conference q49 stop") == "Stopped 0 files.\n"
    await stop_all(callers)


async def test_a_stereo_44k_file_plays_converted(switch: Switch, tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    write_wav(path, to_stereo(sine(750, 800, 44100, 6000)), 44100, 2)
    callers = await pair(switch, "4050", "q50")
    marks = [c.mark() for c in callers]
    assert await switch.api(f"conference q50 play {path}") == f"(play) Playing file {path}\n"
    await asyncio.sleep(1.0)
    for caller, start in zip(callers, marks, strict=True):
        assert frequencies_present(caller.since(start), 8000, [750]) == [750]
    assert room(switch, "q50").tick_errors == 0
    await stop_all(callers)


async def test_a_recording_holds_every_members_tone(switch: Switch, tmp_path: Path) -> None:
    events = Events(switch)
    tones = (400.0, 700.0, 1100.0)
    callers = [await join(switch, "4051", "q51", i + 1, f) for i, f in enumerate(tones)]
    path = tmp_path / "rec" / "q51.wav"
    assert await switch.api(f"conference q51 record {path}") == f"Record file {path}\n"
    await asyncio.sleep(1.0)
    assert await switch.api("conference q51 recording check") == f"Record file {path}\n"
    assert await switch.api(f"conference q51 norecord {path}") == "Stopped recording 1 file\n"
    samples, info = read_wav(path)
    assert info.rate == 8000 and 0.8 < len(samples) / 8000 < 1.3
    assert frequencies_present(samples[1600:], 8000, tones) == list(tones)
    [start] = events.of("start-recording")
    [stop] = events.of("stop-recording")
    assert start.get("Path") == str(path) and stop.get("Path") == str(path)
    assert int(stop.get("Samples-Out")) == len(samples) and stop.get("Other-Recordings") == "false"
    await stop_all(callers)


async def test_recording_subcommands_pause_resume_and_stop_all(switch: Switch, tmp_path: Path) -> None:
    events = Events(switch)
    callers = await pair(switch, "4052", "q52", (500, None))
    path = tmp_path / "r.wav"
    assert await switch.api(f"conference q52 recording start {path}") == f"Record file {path}\n"
    assert await switch.api(f"conference q52 recording pause {path}") == f"Pause recording file {path}\n"
    assert await switch.api("conference q52 recording check") == f"Record file {path} (Paused)\n"
    await asyncio.sleep(0.3)
    assert await switch.api(f"conference q52 recording resume {path}") == f"Resume recording file {path}\n"
    await asyncio.sleep(0.3)
    assert await switch.api("conference q52 recording stop") == "Stopped recording 1 file\n"
    assert await switch.api("conference q52 recording check") == "Conference is not being recorded.\n"
    samples, _ = read_wav(path)
    assert len(samples) / 8000 < 0.45  # the paused part is not in the file
    assert events.actions().count("pause-recording") == 1 and events.actions().count("resume-recording") == 1
    await stop_all(callers)


async def test_a_recording_that_cannot_be_opened_fails_once_and_loudly(switch: Switch) -> None:
    events = Events(switch)
    callers = await pair(switch, "4053", "q53")
    reply = await switch.api("conference q53 record /proc/no-such-dir/r.wav")
    assert reply == "-ERR Cannot record to /proc/no-such-dir/r.wav\n"
    await asyncio.sleep(0.3)
    [event] = events.of("start-recording")
    assert event.get("Error") == "File could not be opened for recording"
    assert room(switch, "q53").recorders == {}
    await stop_all(callers)


async def test_auto_record_expands_the_template_once(switch: Switch) -> None:
    callers = await pair(switch, "4500", "a00", (500, 900))
    await asyncio.sleep(0.5)
    path = switch.data_dir / "recordings" / f"a00-{time.strftime('%Y')}.wav"
    assert await switch.api("conference a00 recording check") == f"Record file {path} (Auto)\n"
    await switch.api("conference a00 hup all")
    await wait_until(lambda: count(switch, "a00") == 0, what="room ended")
    samples, _ = read_wav(path)
    assert frequencies_present(samples, 8000, [500, 900]) == [500, 900]
    await stop_all(callers)


async def test_an_auto_record_path_that_fails_is_not_retried(switch: Switch) -> None:
    events = Events(switch)
    callers = [await join(switch, "4900", "b00", 1), await join(switch, "4900", "b00", 2)]
    await asyncio.sleep(1.0)
    third = await join(switch, "4900", "b00", 3)
    await asyncio.sleep(0.5)
    failures = events.of("start-recording")
    assert len(failures) == 1 and failures[0].get("Error") == "File could not be opened for recording"
    assert events.of("stop-recording") == []
    await stop_all([*callers, third])


async def test_get_set_and_pins(switch: Switch) -> None:
    callers = await pair(switch, "4054", "q54")
    assert await switch.api("conference q54 get count") == "2"
    assert await switch.api("conference q54 get rate") == "8000"
    assert await switch.api("conference q54 get profile_name") == "quiet"
    assert await switch.api("conference q54 set max_members 5") == "0"
    assert await switch.api("conference q54 get max_members") == "5"
    assert await switch.api("conference q54 pin 4321") == "Pin for conference q54 set: 4321\n"
    assert await switch.api("conference q54 pin mod 8765") == "Moderator Pin for conference q54 set: 8765\n"
    assert room(switch, "q54").pin == "4321"
    assert await switch.api("conference q54 nopin") == "Pin for conference q54 deleted\n"
    assert await switch.api("conference q54 exit_sound off") == "OK q54 exit sounds off\n"
    assert not room(switch, "q54").exit_sound_on
    await stop_all(callers)


async def test_floor_and_dtmf_to_members(switch: Switch) -> None:
    callers = await pair(switch, "4055", "q55")
    assert await switch.api("conference q55 floor 2") == "OK floor 2\n"
    assert room(switch, "q55").floor_holder is room(switch, "q55").members[1]
    assert await switch.api("conference q55 floor 2") == "OK floor none\n"
    assert await switch.api("conference q55 dtmf 1 123") == "OK sent 123 to 1\n"
    queue = callers[0].session.dtmf
    await wait_until(lambda: queue.qsize() == 3, what="digits at the caller")
    assert [queue.get_nowait() for _ in range(3)] == ["1", "2", "3"]
    await stop_all(callers)


async def test_a_lone_member_hears_every_frame_of_a_file_played_to_the_room(switch: Switch) -> None:
    caller = await join(switch, "4056", "q56", 1)
    mark = caller.mark()
    await switch.api("conference q56 play tone_stream://%(400,0,1000)")
    await asyncio.sleep(0.7)
    frames = caller.heard[mark:]
    playing = [k for k, frame in enumerate(frames) if np.any(frame)]
    assert len(playing) == 20 and playing == list(range(playing[0], playing[0] + 20))  # 400 ms, no gap
    assert frequencies_present(np.concatenate(frames), 8000, [1000]) == [1000]
    await caller.stop()
