"""The media frame: 16-bit linear PCM at the channel's rate, usually 20 ms.

Inside the core every frame is L16.  A frame read from a network leg may also
carry the encoded payload it was decoded from (`encoded`), so that a bridge to
a leg with the same codec can pass the payload through without re-encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


class FrameFlag(IntFlag):
    NONE = 0
    CNG = 1  # comfort noise / nothing was received: samples are silence
    PLC = 2  # concealed: the decoder made this up for a lost packet
    FEC = 4  # recovered from forward error correction


@dataclass(frozen=True, slots=True)
class Encoded:
    """A codec payload as it came off (or goes on) the wire."""

    codec: str  # upper-case codec name as in SDP, e.g. "PCMU", "OPUS"
    rate: int  # the codec's sample rate (not the RTP clock rate)
    payload: bytes


@dataclass(frozen=True, slots=True)
class Frame:
    samples: Samples  # int16, interleaved when channels > 1
    rate: int
    channels: int = 1
    timestamp: int = 0  # in samples at `rate`
    flags: FrameFlag = FrameFlag.NONE
    encoded: Encoded | None = None

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / (self.rate * self.channels)

    @classmethod
    def silence(cls, rate: int, ms: int = 20, channels: int = 1, timestamp: int = 0) -> Frame:
        return cls(np.zeros(rate * ms // 1000 * channels, dtype=np.int16), rate, channels, timestamp, FrameFlag.CNG)

    def with_samples(self, samples: Samples) -> Frame:
        """The same frame with other samples (and no encoded payload, which no longer matches)."""
        return Frame(samples, self.rate, self.channels, self.timestamp, self.flags, None)
