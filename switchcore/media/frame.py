"""The media frame: 16-bit linear PCM at the channel's rate, usually 20 ms.

Inside the core every frame is L16.  A frame read from a network leg may also
carry the encoded payload it was decoded from (`encoded`), so that a bridge to
a leg with the same codec can pass the payload through without re-encoding.

A leg may also hand out a frame before decoding it (`Frame.on_demand`): its
samples are decoded the first time something reads them, so a bridge that
only passes `encoded` on to a leg with the same codec never decodes at all.
Only for a decode that keeps no state between packets (G.711, or a leg that
lets its stateful decoder catch up itself, see `Frame.decoded`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntFlag
from typing import Any

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
        return cls(
            np.zeros(rate * ms // 1000 * channels, dtype=np.int16), rate, channels, timestamp, FrameFlag.CNG
        )

    def with_samples(self, samples: Samples) -> Frame:
        """The same frame with other samples (and no encoded payload, which no longer matches)."""
        return Frame(samples, self.rate, self.channels, self.timestamp, self.flags, None)

    @property
    def decoded(self) -> bool:
        """Whether the samples exist yet: False only for an `on_demand` frame nobody has read."""
        return True

    @staticmethod
    def on_demand(
        encoded: Encoded,
        decode: Callable[[bytes], Samples],
        rate: int,
        channels: int = 1,
        timestamp: int = 0,
        flags: FrameFlag = FrameFlag.NONE,
    ) -> Frame:
        """A frame of `encoded` whose samples are `decode(encoded.payload)`, run when first read.

        It is a `Frame` like any other (frozen: the decoded samples are kept,
        and read again without decoding); plain frames pay nothing for it.
        """
        return _OnDemand(encoded, decode, rate, channels, timestamp, flags)


_SAMPLES: Any = Frame.__dict__["samples"]  # the slot under `_OnDemand.samples`
_PENDING: Samples = np.zeros(0, dtype=np.int16)  # the samples of a frame not decoded yet (never handed out)


class _OnDemand(Frame):
    """`Frame.on_demand`'s frame: `samples` is a property over Frame's own slot, filled on first read."""

    __slots__ = ("_decode",)
    _decode: Callable[[bytes], Samples]

    def __init__(
        self,
        encoded: Encoded,
        decode: Callable[[bytes], Samples],
        rate: int,
        channels: int,
        timestamp: int,
        flags: FrameFlag,
    ) -> None:
        Frame.__init__(self, _PENDING, rate, channels, timestamp, flags, encoded)
        object.__setattr__(self, "_decode", decode)

    @property
    def samples(self) -> Samples:
        samples: Samples = _SAMPLES.__get__(self, Frame)
        if samples is _PENDING:
            encoded = self.encoded
            assert encoded is not None
            samples = self._decode(encoded.payload)
            _SAMPLES.__set__(self, samples)
        return samples

    @samples.setter
    def samples(self, samples: Samples) -> None:  # Frame's own __init__ sets the field
        _SAMPLES.__set__(self, samples)

    @property
    def decoded(self) -> bool:
        return _SAMPLES.__get__(self, Frame) is not _PENDING
