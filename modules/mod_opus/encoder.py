"""The Opus encoder of one call leg, configured from the negotiated fmtp and opus.conf.

`EncoderConfig.from_fmtp` reads what the peer asked for (RFC 7587 6.1) the
way FreeSWITCH's `switch_opus_init` does:

- bitrate: start at the lower of our and the peer's `maxaveragebitrate`;
- bandwidth: no wider than the peer's `maxplaybackrate` or our capture rate;
- in-band FEC when the peer says `useinbandfec=1`, protecting against
  opus.conf's `packet-loss-percent` until RTCP says otherwise;
- DTX when the peer asks (`usedtx=1`) or opus.conf's `use-dtx`; a DTX frame is
  a payload of 1-2 bytes that the endpoint may leave unsent (RFC 7587 3.3);
- CBR when the peer asks (`cbr=1`) or opus.conf's `use-vbr` is 0;
- the voice signal hint at 16 kHz and below (FreeSWITCH's
  `switch_opus_encoder_set_audio_bandwidth`), libopus's own guess above;
- a stereo implementation codes mono unless the peer said `stereo=1`
  (RFC 7587 6.1: stereo=0, the default, means the receiver prefers mono),
  and always mono with opus.conf's `mono`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from switchcore.media.frame import Samples

from .bitrate import BitrateController
from .fmtp import OpusFmtp, local_max_bitrate, lowest
from .libopus import APPLICATION_AUDIO, APPLICATION_VOIP, EncoderState
from .settings import MAX_BITRATE, MIN_BITRATE, OpusSettings

__all__ = ["EncoderConfig", "OpusEncoder"]


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """Everything an encoder is opened with."""

    rate: int
    channels: int = 1
    bitrate: int = 30000
    complexity: int = 10
    vbr: bool = True
    dtx: bool = False
    fec: bool = False
    packet_loss_percent: int = 0
    force_mono: bool = False
    max_audio_rate: int = 48000
    application: int = APPLICATION_VOIP
    ptime: int = 20
    voice: bool = False  # OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE) rather than letting libopus guess

    @classmethod
    def from_fmtp(
        cls, rate: int, channels: int, settings: OpusSettings, fmtp: Mapping[str, str]
    ) -> EncoderConfig:
        """The encoder for a PCM `rate`/`channels` implementation, given the merged fmtp and opus.conf."""
        theirs = OpusFmtp.parse(fmtp, quiet=True)
        ceiling = lowest(local_max_bitrate(settings, rate), theirs.maxaveragebitrate) or MAX_BITRATE
        capture = min(settings.sprop_maxcapturerate or rate, rate)
        return cls(
            rate=rate,
            channels=channels,
            bitrate=min(max(ceiling, MIN_BITRATE), MAX_BITRATE),
            complexity=settings.complexity,
            vbr=settings.use_vbr and not theirs.cbr,
            dtx=settings.use_dtx or bool(theirs.usedtx),
            fec=bool(theirs.useinbandfec),
            packet_loss_percent=settings.packet_loss_percent,
            force_mono=channels == 2 and (settings.mono or not theirs.stereo),
            max_audio_rate=min(theirs.maxplaybackrate or rate, capture),
            application=APPLICATION_VOIP if channels == 1 else APPLICATION_AUDIO,
            ptime=theirs.ptime or 20,
            voice=min(theirs.maxplaybackrate or rate, capture) <= 16000,
        )


class OpusEncoder:
    """int16 PCM (interleaved when stereo) -> Opus packets, with RTCP-driven adaptation.

    `controller`, when given, is fed by `on_loss_report`; its bitrate and loss
    hint are applied to the encoder at once.
    """

    __slots__ = ("_state", "bytes", "config", "controller", "frames")

    def __init__(self, config: EncoderConfig, controller: BitrateController | None = None) -> None:
        self.config = config
        self.controller = controller
        state = EncoderState(config.rate, config.channels, config.application)
        state.set_complexity(config.complexity)
        state.set_vbr(config.vbr)
        state.set_dtx(config.dtx)
        state.set_inband_fec(config.fec)
        state.set_packet_loss_percent(config.packet_loss_percent)
        state.set_max_bandwidth(config.max_audio_rate)
        if config.force_mono:
            state.set_force_channels(1)
        if config.voice:
            state.set_voice_signal()
        state.set_bitrate(controller.bitrate if controller is not None else config.bitrate)
        self._state = state
        self.frames = 0
        self.bytes = 0

    @classmethod
    def for_fmtp(
        cls, rate: int, channels: int, settings: OpusSettings, fmtp: Mapping[str, str]
    ) -> OpusEncoder:
        """The encoder `CodecSpec.make_encoder` builds: configured from fmtp, adapting per opus.conf."""
        config = EncoderConfig.from_fmtp(rate, channels, settings, fmtp)
        controller = BitrateController(
            settings,
            rate=rate,
            max_bitrate=config.bitrate,
            ptime=config.ptime,
            channels=1 if config.force_mono else channels,
            vbr=config.vbr,
        )
        return cls(config, controller)

    def encode(self, samples: Samples) -> bytes:
        """One ptime of PCM (2.5 to 120 ms) -> one Opus packet; CodecError for any other length."""
        payload = self._state.encode(samples)
        self.frames += 1
        self.bytes += len(payload)
        return payload

    @property
    def bitrate(self) -> int:
        return self._state.bitrate()

    @property
    def lookahead(self) -> int:
        """How many samples (per channel) the decoded audio lags the input."""
        return self._state.lookahead()

    def set_bitrate(self, bps: int) -> None:
        self._state.set_bitrate(min(max(bps, MIN_BITRATE), MAX_BITRATE))

    def set_packet_loss_percent(self, percent: int) -> None:
        self._state.set_packet_loss_percent(min(max(percent, 0), 100))

    def on_loss_report(self, fraction_lost: int, now: float) -> int | None:
        """An RTCP report block's fraction lost (0-255): update the loss hint and maybe the bitrate.

        Returns the new bitrate when it changed.  Without a controller only the
        loss hint follows the report.
        """
        controller = self.controller
        if controller is None:
            self.set_packet_loss_percent(round(min(max(fraction_lost, 0), 255) * 100 / 256))
            return None
        new = controller.on_loss_report(fraction_lost, now)
        self.set_packet_loss_percent(controller.packet_loss_percent)
        if new is not None:
            self.set_bitrate(new)
        return new
