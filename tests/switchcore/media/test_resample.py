"""Streaming resampling: exact frame lengths, kept frequency, no seams between frames."""

from __future__ import annotations

import numpy as np
import pytest

from switchcore.media.analysis import dominant_frequency, rms, sine, split_channels
from switchcore.media.resample import Resampler, convert_channels, resample_buffer, to_mono, to_stereo

RATES = [8000, 16000, 32000, 48000]
PAIRS = [(a, b) for a in RATES for b in RATES if a != b]


def stream(resampler: Resampler, x: np.ndarray, chunk: int) -> list[np.ndarray]:
    return [resampler.process(x[i : i + chunk]) for i in range(0, len(x), chunk)]


@pytest.mark.parametrize(("a", "b"), [(8000, 48000), (48000, 8000)])
def test_1khz_tone_keeps_its_frequency_and_length_over_many_frames(a: int, b: int) -> None:
    x = sine(1000, 4000, a, amplitude=10000)  # 200 frames of 20 ms
    out = stream(Resampler(a, b), x, a // 50)
    assert {len(o) for o in out} == {b // 50}
    y = np.concatenate(out)
    assert len(y) == 4000 * b // 1000
    assert dominant_frequency(y[b // 10 :], b) == pytest.approx(1000, abs=0.5)
    assert rms(y[b // 10 :]) == pytest.approx(10000 / np.sqrt(2), rel=0.01)


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_20ms_frame_comes_out_exactly_20ms_long(a: int, b: int) -> None:
    out = stream(Resampler(a, b), sine(440, 1000, a), a // 50)
    assert [len(o) for o in out] == [b // 50] * 50


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_frames_join_without_clicks(a: int, b: int) -> None:
    """After the fixed delay the output is the ideal sine at the new rate, sample for sample."""
    r = Resampler(a, b)
    y = np.concatenate(stream(r, sine(1000, 600, a, amplitude=10000), a // 50))
    ideal = sine(1000, 600, b, amplitude=10000)
    settled = b // 50
    error = y[r.delay + settled :].astype(int) - ideal[settled : len(y) - r.delay]
    assert np.max(np.abs(error)) <= 3


def test_odd_chunk_sizes_give_the_same_stream_as_20ms_chunks() -> None:
    x = sine(700, 500, 8000)
    even = np.concatenate(stream(Resampler(8000, 48000), x, 160))
    r = Resampler(8000, 48000)
    cuts = [0, 1, 7, 160, 161, 333, 1000, 2500, 4000]
    odd = np.concatenate([r.process(x[s:e]) for s, e in zip(cuts, cuts[1:], strict=False)])
    assert np.array_equal(even, odd)


def test_downsampling_removes_content_above_the_new_nyquist() -> None:
    x = sine(6000, 500, 48000, amplitude=10000)  # would alias to 2 kHz at 8 kHz
    y = np.concatenate(stream(Resampler(48000, 8000), x, 960))
    assert rms(y[200:]) < 5  # after the switch-on transient


def test_telephone_band_passes_flat() -> None:
    for freq in (300, 1000, 3400):
        y = np.concatenate(stream(Resampler(48000, 8000), sine(freq, 300, 48000, amplitude=10000), 960))
        assert rms(y[800:]) == pytest.approx(10000 / np.sqrt(2), rel=0.01)


def test_flush_returns_the_delayed_tail_so_nothing_is_lost() -> None:
    r = Resampler(16000, 8000)
    x = sine(500, 100, 16000, amplitude=10000)
    y = np.concatenate([*stream(r, x, 320), r.flush()])
    assert len(y) == 800 + r.delay
    assert abs(int(y[-r.delay - 1])) > 0  # the last real samples came out of the filter


def test_stereo_channels_are_resampled_independently() -> None:
    left, right = sine(500, 200, 8000), sine(1500, 200, 8000)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    y = np.concatenate(stream(Resampler(8000, 16000, channels=2), interleaved, 320))
    assert len(y) == 2 * 3200
    out_l, out_r = split_channels(y, 2)
    assert dominant_frequency(out_l[400:], 16000) == pytest.approx(500, abs=1)
    assert dominant_frequency(out_r[400:], 16000) == pytest.approx(1500, abs=1)


def test_same_rate_is_a_passthrough() -> None:
    x = sine(440, 20, 8000)
    r = Resampler(8000, 8000)
    assert np.array_equal(r.process(x), x)
    assert r.delay == 0 and len(r.flush()) == 0


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="rates must be positive"):
        Resampler(0, 8000)
    with pytest.raises(ValueError, match="do not split into 2 channels"):
        Resampler(8000, 16000, channels=2).process(np.zeros(3, np.int16))


def test_reset_starts_a_fresh_stream() -> None:
    r = Resampler(8000, 16000)
    first = r.process(sine(440, 20, 8000))
    r.process(sine(900, 40, 8000))
    r.reset()
    assert np.array_equal(r.process(sine(440, 20, 8000)), first)


def test_resample_buffer_converts_a_whole_buffer() -> None:
    y = resample_buffer(sine(1000, 500, 44100), 44100, 8000)
    assert len(y) == 4000
    assert dominant_frequency(y, 8000) == pytest.approx(1000, abs=1)


def test_mono_stereo_helpers() -> None:
    stereo = np.array([100, 300, -100, -300, 32767, 32767], np.int16)
    assert to_mono(stereo, 2).tolist() == [200, -200, 32767]
    assert to_stereo(np.array([1, 2], np.int16)).tolist() == [1, 1, 2, 2]
    assert convert_channels(np.array([1, 2], np.int16), 1, 2).tolist() == [1, 1, 2, 2]
    assert convert_channels(stereo, 2, 1).tolist() == [200, -200, 32767]
    assert convert_channels(np.array([1, 2, 3, 4, 5, 6], np.int16), 3, 2).tolist() == [1, 2, 4, 5]
