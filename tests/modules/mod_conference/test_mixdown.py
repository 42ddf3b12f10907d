"""The mix board: mix-minus on tone vectors, the rules of switchcore.media.mixer.mix, talk detection, gains."""

from __future__ import annotations

import numpy as np
import pytest

from modules.mod_conference.mixdown import (
    DIFF_LEVEL,
    HANGOVER,
    HANGUNDER,
    SMALL_ROOM,
    MixBoard,
    comfort_noise,
    normalize_volume,
    volume_gain,
)
from switchcore.media.analysis import frequencies_present, sine
from switchcore.media.mixer import mix

TONES = (350.0, 620.0, 940.0, 1330.0, 1780.0)


def board_with(
    n: int, rate: int = 8000, energy_level: int = 0, noise: int = 0
) -> tuple[MixBoard, np.ndarray]:
    board = MixBoard(rate, 20, noise)
    slots = np.array([board.allocate(energy_level) for _ in range(n)], dtype=np.intp)
    return board, slots


def tone_frames(rate: int, count: int, frames: int = 10, amplitude: float = 6000.0) -> list[np.ndarray]:
    """`frames` ticks of each member's own tone, as a list per tick."""
    size = rate // 50
    signals = [sine(TONES[i], frames * 20, rate, amplitude) for i in range(count)]
    return [[s[k * size : (k + 1) * size] for s in signals] for k in range(frames)]


def run(
    board: MixBoard, slots: np.ndarray, ticks: list[list[np.ndarray | None]], **kwargs: object
) -> list[np.ndarray]:
    """Every member's output over all ticks, concatenated."""
    outs: list[list[np.ndarray]] = [[] for _ in slots]
    for frames in ticks:
        result = board.tick(slots, frames, **kwargs)  # type: ignore[arg-type]
        for i, row in enumerate(result.outputs):
            outs[i].append(np.array(row))
    return [np.concatenate(o) for o in outs]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize("members", [2, 3, 5])
def test_each_member_hears_exactly_the_other_tones(rate: int, members: int) -> None:
    board, slots = board_with(members, rate)
    outs = run(board, slots, tone_frames(rate, members))
    for i, heard in enumerate(outs):
        expected = [TONES[j] for j in range(members) if j != i]
        assert frequencies_present(heard, rate, TONES[:members]) == expected


def test_matches_the_core_mix_rules_on_random_vectors() -> None:
    rng = np.random.default_rng(7)
    board, slots = board_with(6)
    frames: list[np.ndarray | None] = [rng.integers(-20000, 20000, 160).astype(np.int16) for _ in range(6)]
    frames[4] = None  # nothing arrived from member 4
    board.configure(slots[1], can_speak=False)  # muted
    board.configure(slots[2], can_hear=False)  # deaf
    result = board.tick(slots, frames)
    reference = mix(dict(enumerate(frames)), deaf={2}, muted={1})
    for i in range(6):
        assert np.array_equal(result.outputs[i], reference[i]), i
    assert result.heard == 4


def test_sums_clip_to_16_bits() -> None:
    board, slots = board_with(3)
    loud = np.full(160, 30000, dtype=np.int16)
    result = board.tick(slots, [loud, loud, loud])
    assert np.all(result.outputs == 32767)
    assert result.mix is not None and np.all(result.mix == 32767)
    quiet = np.full(160, -30000, dtype=np.int16)
    result = board.tick(slots, [quiet, quiet, quiet])
    assert np.all(result.outputs == -32768)


def test_a_deaf_member_hears_silence_but_is_heard() -> None:
    board, slots = board_with(3)
    board.configure(slots[0], can_hear=False)
    outs = run(board, slots, tone_frames(8000, 3))
    assert not np.any(outs[0])
    assert frequencies_present(outs[1], 8000, TONES[:3]) == [TONES[0], TONES[2]]


def test_a_muted_member_is_not_heard_but_hears() -> None:
    board, slots = board_with(3)
    board.configure(slots[0], can_speak=False)
    outs = run(board, slots, tone_frames(8000, 3))
    assert frequencies_present(outs[0], 8000, TONES[:3]) == [TONES[1], TONES[2]]
    assert frequencies_present(outs[1], 8000, TONES[:3]) == [TONES[2]]
    assert frequencies_present(outs[2], 8000, TONES[:3]) == [TONES[1]]


def test_a_lone_member_is_not_mixed_and_hears_the_background() -> None:
    board, slots = board_with(1)
    music = sine(440, 20, 8000, 3000)
    result = board.tick(slots, [sine(700, 20, 8000, 6000)], background=music, mix_members=False)
    assert np.array_equal(result.outputs[0], music)
    assert result.heard == 0


def test_everyone_hears_the_background_with_the_others() -> None:
    board, slots = board_with(2)
    ticks = tone_frames(8000, 2)
    music = sine(2500, 200, 8000, 3000)
    outs = []
    for k, frames in enumerate(ticks):
        outs.append(board.tick(slots, frames, background=music[k * 160 : (k + 1) * 160]).outputs[0].copy())
    heard = np.concatenate(outs)
    assert frequencies_present(heard, 8000, [*TONES[:2], 2500]) == [TONES[1], 2500]


def test_comfort_noise_when_nobody_is_heard() -> None:
    board, slots = board_with(3, noise=1400)
    board.configure(slots[2], can_hear=False)
    result = board.tick(slots, [None, None, None])
    assert result.mix is None
    noise = np.asarray(result.outputs[0], dtype=np.float64)
    assert 3 < np.sqrt(np.mean(noise**2)) < 30  # soft: full scale / 1400
    assert np.array_equal(result.outputs[0], result.outputs[1])
    assert not np.any(result.outputs[2])  # deaf: silence, not noise


def test_no_comfort_noise_means_silence() -> None:
    board, slots = board_with(2)
    result = board.tick(slots, [None, None])
    assert not np.any(result.outputs)


def test_volume_levels_follow_freeswitchs_chart() -> None:
    assert volume_gain(0) == 1.0
    assert [volume_gain(v) for v in (1, 2, 3, 4)] == [1.3, 2.3, 3.3, 4.3]
    assert [volume_gain(v) for v in (-1, -2, -3, -4)] == [0.8, 0.6, 0.4, 0.2]
    assert normalize_volume(9) == 4 and normalize_volume(-9) == -4


def test_input_gain_scales_what_others_hear_and_output_gain_what_one_hears() -> None:
    board, slots = board_with(2)
    frame = np.full(160, 1000, dtype=np.int16)
    board.configure(slots[0], gain_in=volume_gain(2))
    board.configure(slots[0], gain_out=volume_gain(-2))
    result = board.tick(slots, [frame, frame])
    assert np.all(result.outputs[1] == 2300)  # member 0 talks louder
    assert np.all(result.outputs[0] == 600)  # member 0 hears softer


def test_energy_gate_keeps_quiet_members_out_of_the_mix() -> None:
    board, slots = board_with(2, energy_level=300)
    hum = np.full(160, 100, dtype=np.int16)  # score 100, under the gate
    voice = sine(500, 20, 8000, 8000)
    result = board.tick(slots, [hum, voice])
    assert not np.any(result.outputs[1])  # the hum is not mixed
    assert frequencies_present(result.outputs[0], 8000, [500]) == [500]


def test_a_loud_frame_starts_talking_at_once_and_quiet_ones_after_hangunder() -> None:
    board, slots = board_with(1, energy_level=100)
    loud = np.full(160, 100 + DIFF_LEVEL + 10, dtype=np.int16)
    assert board.tick(slots, [loud]).started == (0,)
    board2, slots2 = board_with(1, energy_level=100)
    soft = np.full(160, 150, dtype=np.int16)  # over the gate by less than DIFF_LEVEL
    starts = [board2.tick(slots2, [soft]).started for _ in range(HANGUNDER)]
    assert starts[: HANGUNDER - 1] == [()] * (HANGUNDER - 1)
    assert starts[-1] == (0,)


def test_talking_stops_after_hangover_frames_under_the_gate_or_without_audio() -> None:
    board, slots = board_with(2, energy_level=100)
    loud = np.full(160, 2000, dtype=np.int16)
    board.tick(slots, [loud, loud])
    stops = []
    for k in range(HANGOVER):
        frames = [np.zeros(160, dtype=np.int16), None]  # silence for one, no frame at all for the other
        stops.append(board.tick(slots, frames).stopped)
        assert board.talking[slots[0]] == (k < HANGOVER - 1)
    assert stops[-1] == (0, 1)
    assert all(s == () for s in stops[:-1])


def test_talking_members_stay_mixed_through_the_hangover() -> None:
    board, slots = board_with(2, energy_level=100)
    board.tick(slots, [sine(500, 20, 8000, 8000), None])
    faint = np.full(160, 50, dtype=np.int16)
    result = board.tick(slots, [faint, None])
    assert np.all(result.outputs[1] == 50)  # still talking, so still heard


def test_talk_events_are_at_most_one_pair_per_hangover() -> None:
    board, slots = board_with(1, energy_level=100)
    loud, quiet = np.full(160, 3000, dtype=np.int16), np.zeros(160, dtype=np.int16)
    events = 0
    for k in range(500):  # 10 s of 100 ms bursts
        result = board.tick(slots, [loud if (k // 5) % 2 == 0 else quiet])
        events += len(result.started) + len(result.stopped)
    assert events <= 2  # starts once, never stops: the bursts are closer than the hangover


def test_muting_clears_talking_without_an_event() -> None:
    board, slots = board_with(1, energy_level=100)
    board.tick(slots, [np.full(160, 3000, dtype=np.int16)])
    assert board.stop_talking(slots[0]) is True
    assert not board.talking[slots[0]]


def test_slots_are_reused_and_arrays_grow() -> None:
    board = MixBoard(8000, capacity=2)
    slots = [board.allocate() for _ in range(5)]
    assert slots == [0, 1, 2, 3, 4] and board.capacity >= 5
    board.configure(3, can_speak=False, gain_in=2.0)
    board.release(3)
    assert board.allocate() == 3 and board.can_speak[3] and board.gain_in[3] == 1.0


def test_frames_of_the_wrong_length_are_fitted_not_refused() -> None:
    board, slots = board_with(2)
    result = board.tick(slots, [np.full(100, 500, dtype=np.int16), np.full(400, 700, dtype=np.int16)])
    assert result.outputs.shape == (2, 160)
    assert np.all(result.outputs[0] == 700)
    assert np.all(result.outputs[1][:100] == 500) and not np.any(result.outputs[1][100:])


def test_an_empty_room_ticks() -> None:
    board = MixBoard(8000)
    result = board.tick(np.zeros(0, dtype=np.intp), [])
    assert result.outputs.shape == (0, 160) and result.mix is None


def test_comfort_noise_bank_is_soft_and_varied() -> None:
    bank = comfort_noise(8000, 1400)
    assert bank.shape == (25, 160)
    assert np.max(np.abs(bank)) <= 32768 // 1400 + 1
    assert not np.array_equal(bank[0], bank[1])


@pytest.mark.parametrize("members", [4, SMALL_ROOM + 8])
def test_per_member_and_vectorised_talk_detection_agree(members: int) -> None:
    """Small rooms detect talking member by member, big ones with arrays: the same rules, the same answers."""
    rng = np.random.default_rng(members)
    a, slots = board_with(members, energy_level=200)
    b, _ = board_with(members, energy_level=200)
    for slot in slots[::3]:
        a.configure(slot, can_speak=False)
        b.configure(slot, can_speak=False)
    levels = np.array([0, 150, 250, 500, 900, 3000])
    for _ in range(400):
        present = rng.random(members) < 0.9
        present_arr = np.asarray(present)
        eligible = present_arr & a.can_speak[slots]
        scores = np.where(eligible, rng.choice(levels, members), 0).astype(np.int64)
        level = a.energy_level[slots]
        one = a._detect_rows(slots, present_arr, eligible, scores, level)
        two = b._detect(slots, present_arr, eligible, scores, level)
        assert one[0] == two[0] and one[1] == two[1]
        assert np.array_equal(one[2], two[2])
    assert np.array_equal(a.hangover, b.hangover) and np.array_equal(a.hangunder, b.hangunder)


def test_a_big_room_mixes_like_a_small_one() -> None:
    rng = np.random.default_rng(3)
    members = SMALL_ROOM + 10
    board, slots = board_with(members, energy_level=100)
    frames = [rng.integers(-9000, 9000, 160).astype(np.int16) for _ in range(members)]
    result = board.tick(slots, frames)
    reference = mix(dict(enumerate(frames)))
    assert all(np.array_equal(result.outputs[i], reference[i]) for i in range(members))
