"""What a codec is to the core: a named factory of encoders and decoders.

Built-in codecs and `mod_opus` register `CodecSpec`s with the module registry;
endpoints look them up by (name, rate, channels) after SDP negotiation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from .frame import Samples


class Encoder(Protocol):
    def encode(self, samples: Samples) -> bytes:
        """One ptime of PCM at the codec's rate -> one payload."""
        ...


class Decoder(Protocol):
    def decode(self, payload: bytes) -> Samples:
        """One payload -> PCM at the codec's rate."""
        ...

    def conceal(self, samples: int) -> Samples:
        """PCM to stand in for a lost packet (silence where the codec has no PLC)."""
        ...


@dataclass(frozen=True, slots=True)
class CodecSpec:
    """One codec implementation, as `show codec` lists it."""

    name: str  # upper case, as in SDP rtpmap ("PCMU", "OPUS", "G722", "L16")
    rate: int  # PCM sample rate
    clock_rate: int  # RTP clock rate (8000 for G722, 48000 for Opus)
    channels: int
    static_pt: int | None  # RFC 3551 static payload type, or None for dynamic
    make_encoder: Callable[[Mapping[str, str]], Encoder]
    make_decoder: Callable[[Mapping[str, str]], Decoder]
    ptimes: tuple[int, ...] = (20,)
    default_fmtp: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    # The codec's fmtp rules for offer/answer (a `negotiate.FmtpNegotiator`); None = pass through.
    fmtp_negotiator: Any = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.rate}/{self.channels}"
