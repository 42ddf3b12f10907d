"""Frame rate and channel conversion on the media path (streaming, so 20 ms chunks join cleanly)."""

from __future__ import annotations

import numpy as np
import soxr

from .frame import Frame, Samples


class FrameConverter:
    """Converts a stream of frames from one (rate, channels) to another with a real resampler (libsoxr)."""

    def __init__(self, from_rate: int, from_channels: int, to_rate: int, to_channels: int = 1) -> None:
        self.from_rate, self.from_channels = from_rate, from_channels
        self.to_rate, self.to_channels = to_rate, to_channels
        self._stream = (
            soxr.ResampleStream(from_rate, to_rate, 1, dtype="int16", quality="MQ")
            if from_rate != to_rate
            else None
        )
        self._carry = np.zeros(0, dtype=np.int16)

    def convert(self, samples: Samples) -> Samples:
        if self.from_channels == 2:
            samples = samples.reshape(-1, 2).mean(axis=1).astype(np.int16)
        if self._stream is not None:
            samples = self._stream.resample_chunk(samples)
        if self.to_channels == 2:
            samples = np.repeat(samples, 2)
        return samples

    def __call__(self, frame: Frame) -> Frame:
        out = self.convert(frame.samples)
        # Keep every output frame exactly one ptime long: the resampler's delay shows up as a
        # short first chunk, which is padded, and any remainder is carried to the next frame.
        want = int(round(len(frame.samples) / frame.channels * self.to_rate / frame.rate)) * self.to_channels
        if len(self._carry):
            out = np.concatenate((self._carry, out))
        if len(out) >= want:
            self._carry = out[want:]
            out = out[:want]
        else:
            out = np.concatenate((np.zeros(want - len(out), dtype=np.int16), out))
            self._carry = np.zeros(0, dtype=np.int16)
        return Frame(out, self.to_rate, self.to_channels, frame.timestamp, frame.flags, None)
