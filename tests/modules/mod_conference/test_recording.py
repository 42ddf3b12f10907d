"""Room recordings: opened once, silence for quiet ticks, pause, a readable file when cut short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modules.mod_conference.recording import RecordError, RoomRecorder
from switchcore.media.wavfile import read_wav


def test_writes_ticks_and_silence_then_closes_once(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "room.wav"
    recorder = RoomRecorder.open(str(path), 8000)
    recorder.write(np.full(160, 1000, dtype=np.int16), 160)
    recorder.write(None, 160)
    assert recorder.samples == 320
    assert recorder.close() == 320
    assert recorder.close() == 0 and recorder.closed
    samples, info = read_wav(path)
    assert info.rate == 8000 and len(samples) == 320
    assert np.all(samples[:160] == 1000) and not np.any(samples[160:])


def test_paused_recordings_skip_ticks(tmp_path: Path) -> None:
    recorder = RoomRecorder.open(str(tmp_path / "p.wav"), 16000)
    recorder.paused = True
    recorder.write(np.ones(320, dtype=np.int16), 320)
    recorder.paused = False
    recorder.write(np.ones(320, dtype=np.int16), 320)
    assert recorder.close() == 320


def test_a_path_that_cannot_be_opened_says_why() -> None:
    with pytest.raises(RecordError, match="cannot record to /proc/no-such-dir/x.wav"):
        RoomRecorder.open("/proc/no-such-dir/x.wav", 8000)
    with pytest.raises(RecordError, match="no recording path"):
        RoomRecorder.open("", 8000)


def test_the_file_is_readable_before_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "live.wav"
    recorder = RoomRecorder.open(str(path), 8000)
    for _ in range(60):  # 1.2 s: the header is patched every second
        recorder.write(np.full(160, 3, dtype=np.int16), 160)
    samples, _ = read_wav(path)
    assert len(samples) >= 8000
    recorder.close()
