"""The Opus implementations mod_opus registers, bound to the module's current settings.

Four implementations, as FreeSWITCH has them (O1): 48 kHz mono and stereo,
16 kHz and 8 kHz mono.  All are `opus/48000/2` on the wire (RFC 7587 4.1:
the RTP clock is always 48 kHz); the PCM rate is what the call's frames run
at, the decoder resampling inside libopus.  Each does 20, 10, 40 and 60 ms
(the first is the default ptime).

`OpusCodecs` owns the settings; the spec factories and the fmtp negotiator
read them when a call starts, so `reloadxml` + reload of opus.conf applies to
the next call without re-registering anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final

from switchcore.media.codec import CodecSpec, Decoder, Encoder

from .decoder import OpusDecoder
from .encoder import OpusEncoder
from .fmtp import OpusFmtpNegotiator
from .settings import OpusSettings

__all__ = ["CLOCK_RATE", "IMPLEMENTATIONS", "OpusCodecs", "PTIMES"]

CLOCK_RATE: Final = 48000
PTIMES: Final = (20, 10, 40, 60)
IMPLEMENTATIONS: Final = ((48000, 1), (48000, 2), (16000, 1), (8000, 1))  # (PCM rate, channels)


class _OfferFmtp(Mapping[str, str]):
    """`CodecSpec.default_fmtp` that reads the current settings each time it is looked at."""

    __slots__ = ("_channels", "_negotiator", "_rate")

    def __init__(self, negotiator: OpusFmtpNegotiator, rate: int, channels: int) -> None:
        self._negotiator = negotiator
        self._rate = rate
        self._channels = channels

    def _params(self) -> dict[str, str]:
        return self._negotiator.ours(self._rate, self._channels, PTIMES).to_params()

    def __getitem__(self, key: str) -> str:
        return self._params()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params())

    def __len__(self) -> int:
        return len(self._params())

    def __repr__(self) -> str:
        return repr(self._params())


class OpusCodecs:
    """The settings in force, the CodecSpecs built on them and the OPUS fmtp negotiator."""

    __slots__ = ("negotiator", "settings", "specs", "stop_following")

    def __init__(self, settings: OpusSettings | None = None) -> None:
        self.settings = settings or OpusSettings()
        self.stop_following: Callable[[], None] | None = None  # ends the module's reloadxml listener
        self.negotiator = OpusFmtpNegotiator(lambda: self.settings)
        self.specs: tuple[CodecSpec, ...] = tuple(
            self._spec(rate, channels) for rate, channels in IMPLEMENTATIONS
        )

    def _spec(self, rate: int, channels: int) -> CodecSpec:
        def make_encoder(fmtp: Mapping[str, str]) -> Encoder:
            return OpusEncoder.for_fmtp(rate, channels, self.settings, fmtp)

        def make_decoder(fmtp: Mapping[str, str]) -> Decoder:
            return OpusDecoder(rate, channels, use_fec=self.settings.use_jb_lookahead)

        layout = "stereo" if channels == 2 else "mono"
        return CodecSpec(
            name="OPUS",
            rate=rate,
            clock_rate=CLOCK_RATE,
            channels=channels,
            static_pt=None,
            make_encoder=make_encoder,
            make_decoder=make_decoder,
            ptimes=PTIMES,
            default_fmtp=_OfferFmtp(self.negotiator, rate, channels),
            fmtp_negotiator=self.negotiator,
            description=f"Opus {rate // 1000} kHz {layout} (libopus)",
        )

    def find(self, rate: int, channels: int = 1) -> CodecSpec:
        """The implementation at PCM `rate` with `channels`; KeyError if there is none."""
        for spec in self.specs:
            if spec.rate == rate and spec.channels == channels:
                return spec
        raise KeyError(f"OPUS/{rate}/{channels}")
