"""Bitrate adaptation from RTCP loss reports (FreeSWITCH's `adjust-bitrate` and `keep-fec-enabled`).

Theory of operation.  Each RTCP receiver report block carries the fraction
of packets lost since the last report as an 8-bit fixed-point number
(RFC 3550 6.4.1).  `BitrateController.on_loss_report(fraction_lost, now)`:

1. turns it into the encoder's packet-loss hint (OPUS_SET_PACKET_LOSS_PERC),
   never below opus.conf's `packet-loss-percent` while `keep-fec-enabled`, so
   the encoder keeps spending bits on in-band FEC;
2. with `adjust-bitrate`, steps the bitrate the way the loss-based controller
   of Google Congestion Control does (draft-ietf-rmcat-gcc-02 6): above 10 %
   loss multiply by (1 - 0.5 * loss), below 2 % grow by 5 % (at most once per
   `increase_interval` seconds, so a burst of reports is not a burst of
   increases), in between hold;
3. keeps the result in [floor, maxaveragebitrate] and on Opus's 400 bps grid
   (one byte per 20 ms frame, OpusFAQ), where the floor is 6000 bps or, with
   `keep-fec-enabled` and some loss, the lowest bitrate at which libopus still
   codes in-band FEC (see `fec_floor`).

It returns the new bitrate when it changed, else None.  Time is an input:
nothing here reads a clock.
"""

from __future__ import annotations

import math
from typing import Final

from .fmtp import local_max_bitrate
from .settings import MAX_BITRATE, MIN_BITRATE, OpusSettings

__all__ = ["BitrateController", "fec_floor", "loss_percent"]

STEP: Final = 400  # bps: one byte per 20 ms frame
HIGH_LOSS: Final = 0.10  # draft-ietf-rmcat-gcc-02 6: decrease above 10 % loss
LOW_LOSS: Final = 0.02  # ... increase below 2 %
INCREASE: Final = 1.05

# opus_encoder.c fec_thresholds: the rate below which a band gets no LBRR (in-band FEC), plus the
# 1000 bps hysteresis that applies while FEC is off.
_FEC_THRESHOLD: Final = {8000: 12000 + 1000, 12000: 14000 + 1000, 16000: 16000 + 1000, 48000: 22000 + 1000}


def loss_percent(fraction_lost: int) -> int:
    """RFC 3550 6.4.1 fraction lost (0-255, the loss fraction times 256) -> whole percent."""
    return round(min(max(fraction_lost, 0), 255) * 100 / 256)


def _up(bps: float) -> int:
    return int(math.ceil(bps / STEP)) * STEP


def _down(bps: float) -> int:
    return int(math.floor(bps / STEP)) * STEP


def fec_floor(
    rate: int, loss: int, ptime: int = 20, channels: int = 1, vbr: bool = True, complexity: int = 10
) -> int:
    """The lowest bitrate (on the 400 bps grid) at which libopus still codes FEC for `loss` percent.

    libopus (opus_encoder.c `decide_fec`) codes LBRR when its "equivalent
    rate" beats the band's threshold scaled by (125 - min(loss, 25)) %; the
    equivalent rate is the bitrate less the per-packet overhead of frames
    shorter than 20 ms, less 1/12 for CBR, scaled by (90 + complexity) %, and
    less loss / (6 loss + 10) of itself (`compute_equiv_rate`).  Above 5 %
    loss libopus narrows the band until FEC fits, so the narrowband threshold
    applies at any rate; at 5 % or less it is the implementation's own band
    (fullband at 48 kHz, an upper bound: libopus may pick a narrower
    band and code FEC a little lower).  Measured against libopus 1.3.1 this is
    exact to one 400 bps step for 8 and 16 kHz and for any rate above 5 % loss.
    No loss: no FEC is wanted, and the floor is the Opus minimum.
    """
    if loss <= 0:
        return MIN_BITRATE
    band = 8000 if loss > 5 else max(r for r in _FEC_THRESHOLD if r <= max(rate, 8000))
    threshold = _FEC_THRESHOLD[band] * (125 - min(loss, 25)) / 100
    equivalent = (1 - loss / (6 * loss + 10)) * (90 + complexity) / 100 * (1.0 if vbr else 11 / 12)
    packets_per_second = 1000 / ptime
    overhead = (40 * channels + 20) * (packets_per_second - 50) if packets_per_second > 50 else 0.0
    return min(_up(threshold / equivalent + overhead), MAX_BITRATE)


class BitrateController:
    """Turns RTCP loss reports into the encoder's loss hint and bitrate (see the module docstring)."""

    __slots__ = (
        "_last_increase",
        "bitrate",
        "increase_interval",
        "max_bitrate",
        "packet_loss_percent",
        "channels",
        "ptime",
        "rate",
        "settings",
        "vbr",
    )

    def __init__(
        self,
        settings: OpusSettings,
        rate: int = 48000,
        max_bitrate: int | None = None,
        ptime: int = 20,
        channels: int = 1,
        vbr: bool | None = None,
        increase_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self.rate = rate
        self.ptime = ptime
        self.channels = channels
        self.vbr = settings.use_vbr if vbr is None else vbr
        self.increase_interval = increase_interval
        ceiling = max_bitrate if max_bitrate is not None else local_max_bitrate(settings, rate)
        self.max_bitrate = min(max(ceiling, MIN_BITRATE), MAX_BITRATE)
        self.packet_loss_percent = settings.packet_loss_percent
        self.bitrate = self.max_bitrate  # FreeSWITCH starts at maxaveragebitrate
        self._last_increase = -math.inf

    def floor(self) -> int:
        """The lowest bitrate allowed now: 6000, or the FEC threshold while `keep-fec-enabled`."""
        if not self.settings.keep_fec_enabled:
            return MIN_BITRATE
        settings = self.settings
        floor = fec_floor(
            self.rate,
            self.packet_loss_percent,
            self.ptime,
            self.channels,
            settings.use_vbr,
            settings.complexity,
        )
        return min(floor, self.max_bitrate)

    def on_loss_report(self, fraction_lost: int, now: float) -> int | None:
        """One RTCP report block's fraction lost (0-255) at time `now` (seconds) -> the new bitrate, or None."""
        measured = loss_percent(fraction_lost)
        minimum_hint = self.settings.packet_loss_percent if self.settings.keep_fec_enabled else 0
        self.packet_loss_percent = max(measured, minimum_hint)
        target: float = self.bitrate
        if self.settings.adjust_bitrate:
            loss = min(max(fraction_lost, 0), 255) / 256
            if loss > HIGH_LOSS:
                target = _down(self.bitrate * (1.0 - 0.5 * loss))
            elif loss < LOW_LOSS and now - self._last_increase >= self.increase_interval:
                target = _up(self.bitrate * INCREASE)
                self._last_increase = now
        new = int(min(max(target, self.floor()), self.max_bitrate))
        if new == self.bitrate:
            return None
        self.bitrate = new
        return new
