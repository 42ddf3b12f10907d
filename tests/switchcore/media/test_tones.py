"""tone_stream:// and silence_stream://: parsing, levels, timing and phase."""

from __future__ import annotations

import numpy as np
import pytest

from switchcore.media.analysis import dbfs, frequencies_present, rms, sine
from switchcore.media.tones import (
    SilenceGenerator,
    Tone,
    ToneGenerator,
    ToneSpecError,
    parse_silence_stream,
    parse_tone_stream,
    tone_source,
)


def play(url: str, rate: int = 8000, limit: int = 10_000) -> np.ndarray:
    source = tone_source(url, rate)
    frames = []
    for frame in source:
        frames.append(frame.samples)
        if len(frames) >= limit:
            break
    return np.concatenate(frames) if frames else np.zeros(0, np.int16)


def test_plain_tone_parses_to_one_tone_at_the_default_volume() -> None:
    script = parse_tone_stream("tone_stream://%(100,100,350,440)")
    assert script.tones == (Tone(100, 100, (350, 440), -7.0),)
    assert script.loops == 1 and script.duration_ms == 200


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_us_dialtone_cadence_plays_both_frequencies_then_silence(rate: int) -> None:
    y = play("tone_stream://%(100,100,350,440)", rate)
    assert len(y) == rate // 5  # 200 ms = 10 frames
    on, off = y[: rate // 10], y[rate // 10 :]
    assert frequencies_present(on, rate, [350, 440, 480, 620]) == [350, 440]
    assert not np.any(off)


def test_default_level_matches_libteletone() -> None:
    y = play("tone_stream://%(500,0,1000)")
    # 32767 * sqrt(2) * 10 ** ((-7 - 6.16) / 20) = 10185
    assert np.max(y) == pytest.approx(10185, abs=2)
    assert rms(play("tone_stream://v=-20;%(500,0,1000)")) == pytest.approx(
        rms(y) * 10 ** (-13 / 20), rel=0.01
    )


def test_frequencies_are_averaged_so_a_chord_never_clips() -> None:
    y = play("tone_stream://v=0;%(200,0,400,500,600,700)")
    assert np.max(np.abs(y)) <= 22800
    assert frequencies_present(y, 8000, [400, 500, 600, 700]) == [400, 500, 600, 700]


def test_phase_runs_on_across_frame_boundaries() -> None:
    y = play("tone_stream://%(1000,0,440)")
    ideal = sine(440, 1000, 8000, amplitude=Tone(1, 0, (440,)).amplitude())
    assert np.max(np.abs(y.astype(int) - ideal)) <= 1


def test_segments_play_in_order_with_their_own_cadence() -> None:
    y = play("tone_stream://%(400,200,400,450);%(400,2000,400,450)")  # UK ring
    assert len(y) == 8000 * 3  # 3.0 s
    assert frequencies_present(y[:3200], 8000, [400, 450]) == [400, 450]
    assert not np.any(y[3200:4800])
    assert rms(y[4800:8000]) > 1000
    assert not np.any(y[8000:])


def test_loops_suffix_repeats_the_whole_tone() -> None:
    script = parse_tone_stream("tone_stream://%(100,100,440);loops=3")
    assert script.loops == 3 and script.duration_ms == 600
    y = play("tone_stream://%(100,100,440);loops=3")
    assert len(y) == 4800
    bursts = [rms(y[i : i + 800]) > 1000 for i in range(0, 4800, 800)]
    assert bursts == [True, False, True, False, True, False]


def test_loops_minus_one_plays_forever() -> None:
    script = parse_tone_stream("tone_stream://%(20,20,440);loops=-1")
    assert script.duration_ms is None
    assert len(play("tone_stream://%(20,20,440);loops=-1", limit=500)) == 500 * 160


def test_capital_l_repeats_the_script_and_settings_carry_over_like_libteletone() -> None:
    script = parse_tone_stream("tone_stream://L=3;%(100,250,1000);v=-20;%(50,0,500)")
    assert [(t.freqs[0], t.volume_db) for t in script.tones] == [
        (1000, -7.0),
        (500, -20.0),
        (1000, -20.0),  # v=-20 is still set when the script runs again
        (500, -20.0),
        (1000, -20.0),
        (500, -20.0),
    ]
    assert script.duration_ms == 3 * 400


def test_small_l_repeats_only_the_next_tone() -> None:
    script = parse_tone_stream("tone_stream://l=3;%(100,100,350)%(100,100,440)")
    assert [(t.repeat, t.freqs) for t in script.tones] == [(3, (350,)), (1, (440,))]
    assert len(play("tone_stream://l=3;%(100,100,350)%(100,100,440)")) == 4 * 1600


def test_dtmf_keys_use_the_default_duration_and_wait() -> None:
    script = parse_tone_stream("tone_stream://d=100;w=50;1#;5(60,40)")
    assert [(t.on_ms, t.off_ms, t.freqs) for t in script.tones] == [
        (100, 50, (697, 1209)),
        (100, 50, (941, 1477)),
        (60, 40, (770, 1336)),
    ]


def test_fade_down_steps_the_volume_every_interval() -> None:
    y = play("tone_stream://>=100;+=3;%(1000,0,1000)")
    levels = [dbfs(y[i : i + 800]) for i in range(0, 8000, 800)]
    steps = np.diff(levels)
    assert np.allclose(steps, -3.0, atol=0.1)


def test_fade_up_stops_at_zero_db() -> None:
    y = play("tone_stream://v=-60;<=100;+=20;%(1000,0,1000)")
    assert np.max(np.abs(y)) == pytest.approx(22800, abs=5)  # the 0 dB level, not beyond


def test_zero_frequency_is_silence_for_the_tone_length() -> None:
    y = play("tone_stream://%(100,0,0);%(100,0,440)")
    assert len(y) == 1600 and not np.any(y[:800]) and rms(y[800:]) > 1000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("tone_stream://", "no tones"),
        ("tone_stream://%(100,100)", r"%\(100,100\) needs on, off and a frequency"),
        ("tone_stream://%(100,100,350", r"missing '\)'"),
        ("tone_stream://%(a,100,350)", "tone field 'a' is not a number"),
        ("tone_stream://v=5;%(1,1,1)", "volume 5 dB is outside -63..0"),
        ("tone_stream://v=loud;%(1,1,1)", "volume 'loud' is not a number"),
        ("tone_stream://x=4;%(1,1,1)", "unknown setting 'x='"),
        ("tone_stream://Z", "unknown tone 'Z'"),
        ("tone_stream://1(100)", r"takes on and off durations only"),
        ("tone_stream://%(-5,100,350)", "negative duration"),
        ("tone_stream://%(100,100,350);loops=x", "loops 'x' is not an integer"),
        ("tone_stream://%(1,1," + ",".join(["100"] * 19) + ")", "more than 18 frequencies"),
        ("tone_stream://L=100000;%(1,1,1)%(1,1,1)", "more than 10000 tones"),
    ],
)
def test_malformed_tone_specs_raise_clear_errors(spec: str, message: str) -> None:
    with pytest.raises(ToneSpecError, match=message) as caught:
        parse_tone_stream(spec)
    assert caught.value.spec == spec
    assert repr(spec) in str(caught.value)


def test_silence_stream_plays_the_requested_length() -> None:
    assert parse_silence_stream("silence_stream://500") == parse_silence_stream("500")
    y = play("silence_stream://500", 16000)
    assert len(y) == 8000 and not np.any(y)


def test_silence_stream_with_divisor_is_quiet_noise() -> None:
    y = play("silence_stream://1000,1400")
    assert 0 < np.max(np.abs(y)) <= 32768 // 1400 + 1
    assert rms(y) > 5


@pytest.mark.parametrize("url", ["silence_stream://-1", "silence_stream://0"])
def test_silence_stream_without_positive_length_is_forever(url: str) -> None:
    source = tone_source(url, 8000)
    assert isinstance(source, SilenceGenerator)
    assert all(source.read() is not None for _ in range(1000))
    assert not source.ended


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("silence_stream://", "expected <ms>"),
        ("silence_stream://abc", "duration 'abc'"),
        ("http://x", "not a"),
    ],
)
def test_bad_silence_and_unknown_urls_raise(url: str, message: str) -> None:
    with pytest.raises(ToneSpecError, match=message):
        tone_source(url, 8000)


def test_frames_carry_rate_and_running_timestamps() -> None:
    frames = list(ToneGenerator(parse_tone_stream("%(60,0,440)"), 16000))
    assert [f.timestamp for f in frames] == [0, 320, 640]
    assert all(f.rate == 16000 and f.channels == 1 and len(f.samples) == 320 for f in frames)


def test_zero_length_script_ends_at_once_even_when_looping_forever() -> None:
    source = ToneGenerator(parse_tone_stream("%(0,0,440);loops=-1"), 8000)
    assert source.ended and source.read() is None
    assert ToneGenerator(parse_tone_stream("l=-1;%(0,0,440)"), 8000).read() is None


def test_small_l_minus_one_repeats_a_tone_forever() -> None:
    source = ToneGenerator(parse_tone_stream("l=-1;%(20,20,440)"), 8000)
    assert source.script.duration_ms is None
    assert all(source.read() is not None for _ in range(1000))
