"""The media core: frames, codecs, resampling, files, tones, DTMF and taps."""

from .frame import Encoded, Frame, FrameFlag, Samples

__all__ = ["Encoded", "Frame", "FrameFlag", "Samples"]
