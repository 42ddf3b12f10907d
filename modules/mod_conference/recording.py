"""Recording a room: the mix a listener outside the room hears, to a WAV file.

A recording is opened once.  If the file cannot be opened the room reports it
(a `start-recording` event with an `Error` header, and the log) and does not
try again: FreeSWITCH's auto-record retried forever, burning CPU and flooding
events (signalwire/freeswitch #2888).  A write that fails later closes the
recording the same way, once.  The WAV header is kept valid while recording
(switchcore.media.wavfile.WavWriter), so a room that ends abruptly - or a
switch that crashes - still leaves a playable file.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

import numpy as np

from switchcore.errors import SwitchError
from switchcore.media.frame import Samples
from switchcore.media.wavfile import WavError, WavWriter

__all__ = ["RecordError", "RoomRecorder"]


class RecordError(SwitchError):
    """A recording could not be opened or written."""


@dataclass(slots=True)
class RoomRecorder:
    """One `conference <room> record <path>`."""

    path: str
    rate: int
    auto: bool = False
    paused: bool = False
    started: float = field(default_factory=time.time)
    _writer: WavWriter | None = None
    _silence: Samples | None = None

    @classmethod
    def open(cls, path: str, rate: int, auto: bool = False) -> RoomRecorder:
        """Create the file (and its directory); raises RecordError with the reason."""
        if not path:
            raise RecordError("no recording path given")
        try:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            writer = WavWriter(path, rate, 1)
        except (OSError, WavError, ValueError) as exc:
            raise RecordError(f"cannot record to {path}: {exc}") from exc
        return cls(path, rate, auto, _writer=writer)

    @property
    def samples(self) -> int:
        return self._writer.frames_written if self._writer is not None else 0

    @property
    def closed(self) -> bool:
        return self._writer is None

    def write(self, mix: Samples | None, length: int) -> None:
        """Append one tick (`None`: silence); raises RecordError once, after closing, on a write error."""
        writer = self._writer
        if writer is None or self.paused:
            return
        if mix is None:
            if self._silence is None or len(self._silence) != length:
                self._silence = np.zeros(length, dtype=np.int16)
            mix = self._silence
        try:
            writer.write(mix)
        except (OSError, WavError) as exc:
            self.close()
            raise RecordError(f"recording {self.path} failed: {exc}") from exc

    def close(self) -> int:
        """Finish the file; returns the samples written (closing twice is harmless)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return 0
        written = writer.frames_written
        with contextlib.suppress(OSError, WavError):
            writer.close()
        return written
