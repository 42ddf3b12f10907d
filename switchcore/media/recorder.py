"""Media taps that record and listen: record_session and in-band DTMF detection.

`SessionRecorder` sees both directions of a channel: what the far end sends
(read) and what is sent to it (write).  Frames of the two directions arrive
at different moments, so each direction is buffered and written out in step:
mono sums them, stereo puts the far end on the left and what it hears on the
right (FreeSWITCH's RECORD_STEREO).  The WAV header is valid at every moment,
so a recording survives an abrupt end.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from .dtmf import DtmfDetector
from .frame import Frame, Samples
from .sources import FrameSource
from .tap import MediaTap
from .wavfile import WavWriter

if TYPE_CHECKING:
    from ..session import Session

log = logging.getLogger("switchcore.media")

MAX_SKEW_FRAMES = 10  # a direction that stops flowing (hold, one-way) is padded with silence


class SessionRecorder(MediaTap):
    name = "record_session"

    def __init__(self, path: str, rate: int, stereo: bool = False, limit_s: float = 0.0) -> None:
        self.path = path
        self.rate = rate
        self.stereo = stereo
        self.limit_s = limit_s
        self.writer = WavWriter(path, rate, 2 if stereo else 1)
        self._read: list[Samples] = []
        self._write: list[Samples] = []
        self.started = time.monotonic()
        self.samples = 0
        self.closed = False

    def on_read(self, session: Session, frame: Frame) -> Frame | None:
        self._read.append(frame.samples)
        self._drain(session)
        return None

    def on_write(self, session: Session, frame: Frame) -> Frame | None:
        self._write.append(frame.samples)
        self._drain(session)
        return None

    def _drain(self, session: Session) -> None:
        while self._read and self._write:
            self._emit(self._read.pop(0), self._write.pop(0))
        # One direction silent for long (hold, a one-way call): pad the other with silence.
        while len(self._read) > MAX_SKEW_FRAMES:
            self._emit(self._read.pop(0), None)
        while len(self._write) > MAX_SKEW_FRAMES:
            self._emit(None, self._write.pop(0))
        if self.limit_s and time.monotonic() - self.started >= self.limit_s:
            session.remove_tap(self)

    def _emit(self, left: Samples | None, right: Samples | None) -> None:
        n = max(len(left) if left is not None else 0, len(right) if right is not None else 0)
        a = _fit(left, n)
        b = _fit(right, n)
        if self.stereo:
            out = np.empty(2 * n, dtype=np.int16)
            out[0::2], out[1::2] = a, b
        else:
            out = np.clip(a.astype(np.int32) + b.astype(np.int32), -32768, 32767).astype(np.int16)
        self.writer.write(out)
        self.samples += n

    def on_close(self, session: Session) -> None:
        if self.closed:
            return
        while self._read or self._write:
            self._emit(self._read.pop(0) if self._read else None, self._write.pop(0) if self._write else None)
        self.writer.close()
        self.closed = True
        session.set_var("record_samples", str(self.samples))
        session.set_var("record_ms", str(self.samples * 1000 // self.rate))
        session.fire("RECORD_STOP", **{"Record-File-Path": self.path})
        log.info("[%s] recorded %s (%d ms)", session.uuid, self.path, self.samples * 1000 // self.rate)


def _fit(samples: Samples | None, n: int) -> Samples:
    if samples is None:
        return np.zeros(n, dtype=np.int16)
    if len(samples) == n:
        return samples
    out = np.zeros(n, dtype=np.int16)
    out[: min(n, len(samples))] = samples[:n]
    return out


class InbandDtmfTap(MediaTap):
    """`start_dtmf`: detect DTMF tones in what the far end sends and queue them as digits."""

    name = "inband_dtmf"

    def __init__(self, rate: int) -> None:
        self.detector = DtmfDetector(rate)

    def on_read(self, session: Session, frame: Frame) -> Frame | None:
        for digit in self.detector.feed(frame.samples):
            session.queue_dtmf(digit, "INBAND_AUDIO")
        return None


class PlayOverTap(MediaTap):
    """Plays a source to a channel in place of what it would hear (FreeSWITCH's broadcast media bug).

    Used while the channel is bridged, so the bridge goes on: each frame written
    to the channel is replaced by the next frame of the source, until it ends.
    """

    name = "play_over"

    def __init__(self, source: FrameSource, spec: str) -> None:
        self.source = source
        self.spec = spec

    def on_write(self, session: Session, frame: Frame) -> Frame | None:
        played = self.source.read_frame()
        if played is None:
            session.remove_tap(self)
            return None
        return played

    def on_close(self, session: Session) -> None:
        self.source.close()
        session.fire("PLAYBACK_STOP", **{"Playback-File-Path": self.spec, "Playback-Status": "done"})
