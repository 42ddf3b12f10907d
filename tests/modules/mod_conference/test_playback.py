"""Room and member file playback: queue order, async on top, looping, stop, and files of any shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modules.mod_conference.playback import Player
from switchcore.media.analysis import dominant_frequency, frequencies_present, sine
from switchcore.media.frame import Frame
from switchcore.media.resample import to_stereo
from switchcore.media.sources import FrameSource, SourceError, open_source
from switchcore.media.wavfile import write_wav


class Frames:
    """A source of fixed frames (and optionally one that raises)."""

    def __init__(self, frames: list[Frame], fail_after: int | None = None) -> None:
        self.frames = list(frames)
        self.rate = frames[0].rate if frames else 8000
        self.fail_after = fail_after
        self.closed = False
        self.read = 0

    def read_frame(self) -> Frame | None:
        if self.fail_after is not None and self.read >= self.fail_after:
            raise OSError("disk went away")
        self.read += 1
        return self.frames.pop(0) if self.frames else None

    def close(self) -> None:
        self.closed = True


def constant(value: int, count: int, rate: int = 8000) -> list[Frame]:
    return [Frame(np.full(rate // 50, value, dtype=np.int16), rate) for _ in range(count)]


def player_of(sources: dict[str, FrameSource]) -> Player:
    def opener(spec: str) -> FrameSource:
        if spec not in sources:
            raise SourceError(f"file not found: {spec}")
        return sources[spec]

    return Player(8000, 160, opener)


def drain(player: Player, ticks: int) -> list[np.ndarray | None]:
    return [player.read() for _ in range(ticks)]


def test_queued_files_play_in_turn_and_report_when_done() -> None:
    a, b = Frames(constant(100, 2)), Frames(constant(200, 1))
    player = player_of({"a": a, "b": b})
    player.play("a")
    player.play("b")
    out = drain(player, 4)
    assert [None if f is None else int(f[0]) for f in out] == [100, 100, 200, None]
    assert [(i.spec, i.status) for i in player.collect()] == [("a", "done"), ("b", "done")]
    assert a.closed and b.closed and not player.busy


def test_an_async_file_plays_on_top_of_the_queue() -> None:
    player = player_of({"a": Frames(constant(100, 3)), "m": Frames(constant(7, 5))})
    player.play("a")
    player.play("m", is_async=True)
    out = drain(player, 4)
    assert [int(f[0]) for f in out if f is not None] == [107, 107, 107, 7]


def test_a_looping_source_reopens_when_it_ends() -> None:
    opened = []

    def opener(spec: str) -> FrameSource:
        opened.append(spec)
        return Frames(constant(5, 2))

    player = Player(8000, 160, opener)
    player.play("moh", is_async=True, loop=True, tag="moh")
    out = drain(player, 7)
    assert all(f is not None for f in out) and len(opened) == 4
    assert player.playing("moh")
    assert player.stop("async", tag="moh") == 1 and not player.busy


def test_stop_current_all_and_by_tag() -> None:
    sources = {n: Frames(constant(1, 10)) for n in ("a", "b", "m")}
    player = player_of(sources)
    player.play("a")
    player.play("b")
    player.play("m", is_async=True, tag="moh")
    assert player.stop("current") == 1 and [i.spec for i in player.queue] == ["b"]
    assert player.stop("all", tag="moh") == 1 and player.async_item is None
    assert player.stop("all") == 1 and not player.busy
    assert sources["a"].closed and sources["b"].closed and sources["m"].closed


def test_a_missing_file_raises_and_a_failing_one_ends_with_an_error() -> None:
    player = player_of({"bad": Frames(constant(1, 5), fail_after=2)})
    with pytest.raises(SourceError):
        player.play("missing.wav")
    player.play("bad")
    out = drain(player, 4)
    assert [f is not None for f in out] == [True, True, False, False]
    [item] = player.collect()
    assert item.status == "error" and "disk went away" in item.error


def test_frames_of_another_rate_channels_or_length_are_conformed() -> None:
    stereo_16k = Frame(to_stereo(sine(500, 20, 16000, 4000)), 16000, 2)
    short = Frame(np.full(100, 9, dtype=np.int16), 8000)
    player = player_of({"odd": Frames([stereo_16k] * 20 + [short])})
    player.play("odd")
    out = [f for f in drain(player, 21) if f is not None]
    assert all(len(f) == 160 and f.dtype == np.int16 for f in out)
    assert abs(dominant_frequency(np.concatenate(out[5:20]), 8000) - 500) < 10
    assert np.all(out[-1][:100] == 9) and not np.any(out[-1][100:])


@pytest.mark.parametrize(("rate", "channels"), [(44100, 2), (22050, 1), (48000, 2), (8000, 2)])
def test_wav_files_of_any_rate_and_channels_play_at_the_room_rate(
    tmp_path: Path, rate: int, channels: int
) -> None:
    tone = sine(600, 1000, rate, 6000)
    path = tmp_path / f"tone-{rate}-{channels}.wav"
    write_wav(path, to_stereo(tone) if channels == 2 else tone, rate, channels)
    player = Player(16000, 320, lambda spec: open_source(spec, 16000))
    player.play(str(path))
    out = [f for f in drain(player, 60) if f is not None]
    assert 45 <= len(out) <= 52
    assert frequencies_present(np.concatenate(out[5:45]), 16000, [600, 1200]) == [600]
