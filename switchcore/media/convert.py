"""Frame rate and channel conversion on the media path (streaming, so 20 ms chunks join cleanly)."""

from __future__ import annotations

from .frame import Frame
from .resample import Resampler, convert_channels


class FrameConverter:
    """Converts a stream of frames from one (rate, channels) to another; every frame keeps its ptime."""

    def __init__(self, from_rate: int, from_channels: int, to_rate: int, to_channels: int = 1) -> None:
        self.from_rate, self.from_channels = from_rate, from_channels
        self.to_rate, self.to_channels = to_rate, to_channels
        # Resample after down-mixing (fewer samples to filter) or before up-mixing.
        mid = min(from_channels, to_channels)
        self._resampler = Resampler(from_rate, to_rate, mid) if from_rate != to_rate else None
        self._mid = mid

    def __call__(self, frame: Frame) -> Frame:
        samples = convert_channels(frame.samples, frame.channels, self._mid)
        if self._resampler is not None:
            samples = self._resampler.process(samples)
        samples = convert_channels(samples, self._mid, self.to_channels)
        return Frame(samples, self.to_rate, self.to_channels, frame.timestamp, frame.flags, None)
