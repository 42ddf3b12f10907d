"""In-band DTMF: generated key sequences are detected exactly, and nothing else is."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from switchcore.media.analysis import frequencies_present, sine
from switchcore.media.dtmf import (
    DTMF_FREQUENCIES,
    DtmfDetector,
    DtmfError,
    detect_dtmf,
    dtmf_frames,
    generate_dtmf,
)
from switchcore.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from switchcore.media.resample import Resampler

ALL_KEYS = "1234567890*#ABCD"


def test_keypad_frequencies_are_q23() -> None:
    assert DTMF_FREQUENCIES["1"] == (697, 1209)
    assert DTMF_FREQUENCIES["9"] == (852, 1477)
    assert DTMF_FREQUENCIES["D"] == (941, 1633)
    assert len(DTMF_FREQUENCIES) == 16


def test_generated_key_holds_exactly_its_two_tones() -> None:
    y = generate_dtmf("5", 8000, duration_ms=100, gap_ms=0)
    assert len(y) == 800
    assert frequencies_present(y, 8000, [697, 770, 852, 941, 1209, 1336, 1477, 1633]) == [770, 1336]


def test_generation_rejects_unknown_keys() -> None:
    with pytest.raises(DtmfError, match="not DTMF keys: 'EX'"):
        generate_dtmf("1EX", 8000)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize(("on", "off"), [(100, 100), (50, 50), (40, 40)])
def test_all_keys_are_detected_exactly_at_every_rate(rate: int, on: int, off: int) -> None:
    assert detect_dtmf(generate_dtmf(ALL_KEYS, rate, on, off), rate) == ALL_KEYS


@pytest.mark.parametrize(("source", "target"), [(8000, 48000), (48000, 8000), (8000, 16000), (16000, 48000)])
def test_keys_survive_resampling(source: int, target: int) -> None:
    tones = generate_dtmf(ALL_KEYS, source, 60, 60)
    resampler = Resampler(source, target)
    converted = np.concatenate([resampler.process(f) for f in dtmf_frames(tones, source)])
    assert detect_dtmf(converted, target) == ALL_KEYS


@pytest.mark.parametrize(("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)])
def test_keys_survive_g711(
    encode: Callable[[np.ndarray], bytes], decode: Callable[[bytes], np.ndarray]
) -> None:
    tones = generate_dtmf(ALL_KEYS, 8000, 60, 60, amplitude=3000)
    assert detect_dtmf(decode(encode(tones)), 8000) == ALL_KEYS


def test_a_held_key_is_reported_once() -> None:
    assert detect_dtmf(generate_dtmf("7", 8000, duration_ms=2000, gap_ms=0), 8000) == "7"


def test_repeated_key_with_short_gaps_counts_each_press() -> None:
    assert detect_dtmf(generate_dtmf("1111", 8000, duration_ms=50, gap_ms=45), 8000) == "1111"


def test_tones_shorter_than_the_minimum_are_ignored() -> None:
    assert detect_dtmf(generate_dtmf("5", 8000, duration_ms=20, gap_ms=50), 8000) == ""


def test_twist_limits_are_enforced() -> None:
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, twist_db=3), 8000) == ALL_KEYS
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, twist_db=-7), 8000) == ALL_KEYS
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, twist_db=6), 8000) == ""
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, twist_db=-10), 8000) == ""


def test_quiet_keys_below_the_level_floor_are_ignored() -> None:
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, amplitude=300), 8000) == ""
    assert detect_dtmf(generate_dtmf(ALL_KEYS, 8000, 60, 60, amplitude=700), 8000) == ALL_KEYS


def test_keys_are_found_in_moderate_noise() -> None:
    tones = generate_dtmf(ALL_KEYS, 8000, 60, 60, amplitude=4000).astype(np.float64)
    noisy = tones + np.random.default_rng(5).normal(0, 400, len(tones))
    assert detect_dtmf(noisy.astype(np.int16), 8000) == ALL_KEYS


def test_no_false_key_in_a_1khz_tone() -> None:
    assert detect_dtmf(sine(1000, 5000, 8000, amplitude=12000), 8000) == ""


def speech_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """Voiced pulses through moving formants, with syllable-rate amplitude: the classic talk-off test."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = np.zeros(n)
    for harmonic in range(1, 30):  # a glottal buzz: many harmonics of a wandering pitch
        voiced += np.sin(harmonic * phase) / harmonic
    formants = np.zeros(n)
    for centre, speed in ((700, 0.9), (1200, 1.3), (2500, 0.5)):
        moving = centre * (1 + 0.3 * np.sin(2 * np.pi * speed * t + rng.uniform(0, 6)))
        formants += np.sin(2 * np.pi * np.cumsum(moving) / rate)
    envelope = np.clip(np.sin(2 * np.pi * 3 * t + rng.uniform(0, 6)), 0, None)
    signal = (voiced * (1 + 0.5 * formants) + rng.normal(0, 0.3, n)) * envelope
    return (signal / np.max(np.abs(signal)) * 12000).astype(np.int16)


@pytest.mark.parametrize("seed", range(3))
def test_no_false_keys_in_speech_like_audio_or_noise(seed: int) -> None:
    assert detect_dtmf(speech_like(10, 8000, seed), 8000) == ""
    noise = np.random.default_rng(seed).normal(0, 5000, 80000).astype(np.int16)
    assert detect_dtmf(noise, 8000) == ""


def test_detector_reports_keys_in_the_frame_that_confirms_them() -> None:
    detector = DtmfDetector(16000)
    tones = generate_dtmf("42", 16000, 100, 100)
    per_frame = [detector.feed(frame) for frame in dtmf_frames(tones, 16000)]
    hits = [(i, keys) for i, keys in enumerate(per_frame) if keys]
    assert [keys for _, keys in hits] == [["4"], ["2"]]
    assert hits[0][0] <= 2  # within 60 ms of the key going down
    assert hits[1][0] - hits[0][0] == 10  # one key every 200 ms


def test_reset_forgets_a_key_in_progress() -> None:
    detector = DtmfDetector()
    tone = generate_dtmf("3", 8000, 200, 0)
    assert detector.feed(tone[:800]) == ["3"]
    detector.reset()
    assert detector.feed(tone[800:1600]) == ["3"]
