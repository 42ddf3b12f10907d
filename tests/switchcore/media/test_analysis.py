"""The measuring helpers other tests rely on must themselves be right."""

from __future__ import annotations

import numpy as np
import pytest

from switchcore.media.analysis import (
    dbfs,
    dominant_frequency,
    frequencies_present,
    rms,
    sine,
    split_channels,
    tone_power_ratio,
    tone_present,
)


def test_sine_has_the_requested_length_peak_and_dtype() -> None:
    x = sine(1000, 20, 8000, amplitude=10000)
    assert x.dtype == np.int16
    assert len(x) == 160
    assert 9900 <= np.max(x) <= 10000


def test_rms_of_a_sine_is_peak_over_root_two() -> None:
    assert rms(sine(440, 1000, 8000, amplitude=10000)) == pytest.approx(10000 / np.sqrt(2), rel=1e-3)
    assert rms(np.zeros(0, np.int16)) == 0.0


def test_dbfs_of_full_scale_sine_is_zero_and_silence_is_minus_infinity() -> None:
    assert dbfs(sine(1000, 100, 8000, amplitude=32767)) == pytest.approx(0.0, abs=0.01)
    assert dbfs(sine(1000, 100, 8000, amplitude=3277)) == pytest.approx(-20.0, abs=0.05)
    assert dbfs(np.zeros(160, np.int16)) == float("-inf")


@pytest.mark.parametrize(
    ("freq", "rate"), [(350, 8000), (1000, 8000), (1633, 16000), (7000, 48000), (440.5, 48000)]
)
def test_dominant_frequency_finds_a_tone_within_a_hertz(freq: float, rate: int) -> None:
    assert dominant_frequency(sine(freq, 200, rate), rate) == pytest.approx(freq, abs=1.0)


def test_dominant_frequency_picks_the_louder_of_two_tones() -> None:
    mix = sine(440, 100, 8000, amplitude=3000).astype(np.int32) + sine(1200, 100, 8000, amplitude=9000)
    assert dominant_frequency(mix.astype(np.int16), 8000) == pytest.approx(1200, abs=1.0)


def test_dominant_frequency_of_silence_is_zero() -> None:
    assert dominant_frequency(np.zeros(800, np.int16), 8000) == 0.0


def test_tone_power_ratio_is_one_for_a_pure_tone_and_half_for_an_equal_pair() -> None:
    assert tone_power_ratio(sine(1000, 20, 8000), 8000, 1000) == pytest.approx(1.0, abs=0.01)
    pair = (sine(440, 500, 16000).astype(np.int32) + sine(1000, 500, 16000)).astype(np.int16)
    assert tone_power_ratio(pair, 16000, 440) == pytest.approx(0.5, abs=0.02)
    assert tone_power_ratio(pair, 16000, 1000) == pytest.approx(0.5, abs=0.02)


def test_tone_present_respects_the_tolerance() -> None:
    x = sine(1020, 200, 8000)
    assert tone_present(x, 8000, 1000, tolerance_hz=25)
    assert not tone_present(x, 8000, 1000, tolerance_hz=5)


def test_tone_present_rejects_noise_silence_and_other_tones() -> None:
    noise = np.random.default_rng(7).normal(0, 4000, 8000).astype(np.int16)
    assert not tone_present(noise, 8000, 1000)
    assert not tone_present(np.zeros(8000, np.int16), 8000, 1000)
    assert not tone_present(sine(440, 200, 8000), 8000, 1000)
    # a barely audible tone is below the rms floor
    assert not tone_present(sine(1000, 200, 8000, amplitude=20), 8000, 1000)


def test_frequencies_present_lists_each_tone_of_a_mix() -> None:
    mix = sine(400, 300, 8000).astype(np.int32) + sine(900, 300, 8000) + sine(1500, 300, 8000)
    found = frequencies_present(np.clip(mix, -32768, 32767), 8000, [400, 600, 900, 1500, 2000])
    assert found == [400, 900, 1500]


def test_split_channels_deinterleaves() -> None:
    left, right = split_channels(np.array([1, -1, 2, -2, 3, -3], np.int16), 2)
    assert left.tolist() == [1, 2, 3]
    assert right.tolist() == [-1, -2, -3]
    with pytest.raises(ValueError, match="channels must be >= 1"):
        split_channels(np.zeros(4, np.int16), 0)
