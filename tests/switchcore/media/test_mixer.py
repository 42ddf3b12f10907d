"""The conference mix: each member hears everyone else, clipped, with mute/deaf/nohear rules."""

from __future__ import annotations

import numpy as np
import pytest

from switchcore.media.analysis import frequencies_present, sine
from switchcore.media.mixer import energies, energy, mix

TONES = {"alice": 400.0, "bob": 900.0, "carol": 1500.0}


def tone_inputs(rate: int = 8000, amplitude: float = 6000) -> dict[str, np.ndarray]:
    return {name: sine(freq, 200, rate, amplitude) for name, freq in TONES.items()}


def heard(samples: np.ndarray, rate: int = 8000) -> list[float]:
    return frequencies_present(samples, rate, list(TONES.values()))


def naive_mix(inputs, deaf, muted, length, background=None, nohear=None):  # noqa: ANN001 - reference only
    """The reference: FreeSWITCH's per-member loop, written plainly."""
    out = {}
    for listener in inputs:
        if listener in deaf:
            out[listener] = np.zeros(length, np.int16)
            continue
        acc = np.zeros(length, np.int64)
        if background is not None:
            acc += background
        for speaker, samples in inputs.items():
            if speaker == listener or samples is None or speaker in muted:
                continue
            if nohear and speaker in nohear.get(listener, ()):
                continue
            acc += samples
        out[listener] = np.clip(acc, -32768, 32767).astype(np.int16)
    return out


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_each_member_hears_the_others_but_not_itself(rate: int) -> None:
    out = mix(tone_inputs(rate))
    assert heard(out["alice"], rate) == [900, 1500]
    assert heard(out["bob"], rate) == [400, 1500]
    assert heard(out["carol"], rate) == [400, 900]


def test_two_members_hear_exactly_each_other() -> None:
    a, b = sine(440, 20, 8000), sine(700, 20, 8000)
    out = mix({"a": a, "b": b})
    assert np.array_equal(out["a"], b) and np.array_equal(out["b"], a)


def test_muted_member_is_not_heard_but_still_hears() -> None:
    out = mix(tone_inputs(), muted={"bob"})
    assert heard(out["alice"]) == [1500]
    assert heard(out["carol"]) == [400]
    assert heard(out["bob"]) == [400, 1500]


def test_deaf_member_gets_silence_but_is_heard() -> None:
    out = mix(tone_inputs(), deaf={"carol"})
    assert not np.any(out["carol"])
    assert heard(out["alice"]) == [900, 1500]


def test_member_without_input_hears_everyone() -> None:
    inputs: dict[str, np.ndarray | None] = dict(tone_inputs())
    inputs["dave"] = None
    out = mix(inputs)
    assert heard(out["dave"]) == [400, 900, 1500]
    assert heard(out["alice"]) == [900, 1500]


def test_sum_is_clipped_not_wrapped() -> None:
    loud = np.full(160, 30000, np.int16)
    out = mix({"a": loud, "b": loud, "c": loud, "d": -loud})
    assert np.all(out["d"] == 32767)  # 90000 clipped
    assert np.all(out["a"] == 30000)  # 30000 + 30000 - 30000
    out = mix({"a": -loud, "b": -loud, "c": -loud})
    assert np.all(out["a"] == -32768)


def test_background_is_heard_by_everyone() -> None:
    music = sine(2500, 200, 8000, 3000)
    out = mix(tone_inputs(), background=music)
    assert 2500 in frequencies_present(out["alice"], 8000, [2500])
    assert heard(out["alice"]) == [900, 1500]
    assert frequencies_present(mix({"x": None}, frame_samples=1600, background=music)["x"], 8000, [2500]) == [
        2500
    ]


def test_nohear_removes_a_speaker_for_one_listener_only() -> None:
    out = mix(tone_inputs(), nohear={"alice": {"bob"}})
    assert heard(out["alice"]) == [1500]
    assert heard(out["carol"]) == [400, 900]
    assert heard(out["bob"]) == [400, 1500]


def test_matches_the_plain_per_member_loop_on_random_rooms() -> None:
    rng = np.random.default_rng(11)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        members = [f"m{i}" for i in range(n)]
        inputs = {
            m: (None if rng.random() < 0.2 else rng.integers(-20000, 20000, 160).astype(np.int16))
            for m in members
        }
        deaf = {m for m in members if rng.random() < 0.2}
        muted = {m for m in members if rng.random() < 0.2}
        nohear = {members[0]: {members[-1]}} if rng.random() < 0.3 else None
        background = rng.integers(-5000, 5000, 160).astype(np.int16) if rng.random() < 0.3 else None
        got = mix(inputs, deaf, muted, frame_samples=160, background=background, nohear=nohear)
        want = naive_mix(inputs, deaf, muted, 160, background, nohear)
        assert got.keys() == want.keys()
        for m in members:
            assert np.array_equal(got[m], want[m]), m


def test_wrong_length_inputs_are_padded_or_cut() -> None:
    out = mix({"a": np.ones(100, np.int16), "b": np.ones(200, np.int16), "c": None}, frame_samples=160)
    assert all(len(v) == 160 for v in out.values())
    assert out["c"][:100].tolist() == [2] * 100 and out["c"][100:].tolist() == [1] * 60


def test_frame_length_is_needed_when_nobody_speaks() -> None:
    with pytest.raises(ValueError, match="frame_samples"):
        mix({"a": None})
    assert mix({"a": None, "b": None}, muted={"a"}, frame_samples=160)["b"].tolist() == [0] * 160


def test_outputs_are_read_only() -> None:
    out = mix({**tone_inputs(), "x": None}, deaf={"carol"})
    for samples in out.values():
        with pytest.raises(ValueError):
            samples[0] = 1


def test_inputs_are_not_modified() -> None:
    inputs = tone_inputs()
    before = {k: v.copy() for k, v in inputs.items()}
    mix(inputs)
    assert all(np.array_equal(inputs[k], before[k]) for k in inputs)


def test_energy_is_the_mean_absolute_amplitude() -> None:
    assert energy(np.array([100, -100, 300, -300], np.int16)) == 200
    assert energy(np.array([-32768] * 4, np.int16)) == 32768
    assert energy(np.zeros(0, np.int16)) == 0
    scores = energies({"a": sine(997, 200, 8000, 1000), "b": None, "c": np.zeros(1600, np.int16)})
    assert scores["b"] == 0 and scores["c"] == 0
    assert scores["a"] == pytest.approx(1000 * 2 / np.pi, abs=5)
    mixed_lengths = energies({"a": np.full(160, 50, np.int16), "b": np.full(320, -70, np.int16)})
    assert mixed_lengths == {"a": 50, "b": 70}
