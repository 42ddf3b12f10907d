"""The Opus decoder of one call leg: packets, concealment, in-band FEC, and the counters.

A packet is decoded as it comes.  A lost packet is made up one of two ways
(FreeSWITCH's `switch_opus_decode`, O4):

- `decode_fec(next_payload, samples)`: when the endpoint can peek the next
  packet in its jitter buffer and that packet carries in-band FEC (SILK LBRR,
  RFC 6716 2.1.7), libopus rebuilds the lost audio from it (decode_fec=1).
  The endpoint then decodes `next_payload` as usual when its turn comes.
- `conceal(samples)`: packet loss concealment, libopus's own PLC (a NULL
  packet), in whole 2.5 ms steps.

Nothing a peer sends can make `decode` raise: an empty, truncated or corrupt
payload is concealed instead and counted.  `last_flag` tells the endpoint
which of FrameFlag.NONE / PLC / FEC the last call produced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from switchcore.media.frame import FrameFlag, Samples

from .libopus import DecoderState, has_fec

__all__ = ["OpusDecoder", "OpusStats"]

log = logging.getLogger("mod_opus")


@dataclass(frozen=True, slots=True)
class OpusStats:
    """The decoder's counters, as FreeSWITCH logs them at hangup (`Frames[n] PLC[n] FEC[n]`)."""

    frames: int = 0  # packets decoded
    plc: int = 0  # losses made up by concealment (including payloads libopus refused)
    fec: int = 0  # losses rebuilt from the next packet's in-band FEC
    invalid: int = 0  # payloads libopus refused (each also counted in plc)

    def __str__(self) -> str:
        return f"Frames[{self.frames}] PLC[{self.plc}] FEC[{self.fec}]"

    def variables(self, prefix: str = "rtp_audio_in_opus_") -> dict[str, str]:
        """As channel variables, for `uuid_dump` and the CDR."""
        return {
            f"{prefix}frames": str(self.frames),
            f"{prefix}plc": str(self.plc),
            f"{prefix}fec": str(self.fec),
            f"{prefix}invalid": str(self.invalid),
        }


class OpusDecoder:
    """Opus packets -> int16 PCM at `rate` (interleaved when `channels` is 2), whatever the sender coded.

    `samples` arguments count per channel, at `rate`.
    """

    __slots__ = (
        "_frame",
        "_state",
        "_unit",
        "channels",
        "fec",
        "frames",
        "invalid",
        "last_flag",
        "plc",
        "rate",
        "use_fec",
    )

    def __init__(self, rate: int, channels: int = 1, use_fec: bool = True) -> None:
        self._state = DecoderState(rate, channels)
        self.rate = rate
        self.channels = channels
        self.use_fec = use_fec  # opus.conf use-jb-lookahead
        self._unit = rate // 400  # 2.5 ms, the step of every Opus frame size
        self._frame = rate // 50  # what a lost packet stands for until a packet says otherwise
        self.frames = 0
        self.plc = 0
        self.fec = 0
        self.invalid = 0
        self.last_flag = FrameFlag.NONE

    @property
    def stats(self) -> OpusStats:
        return OpusStats(self.frames, self.plc, self.fec, self.invalid)

    def decode(self, payload: bytes) -> Samples:
        """One RTP payload -> PCM; an empty or undecodable one is concealed (never raises)."""
        if not payload:
            return self.conceal(self._frame)
        result = self._state.decode(payload, self._state.max_samples)
        if isinstance(result, int):
            self.invalid += 1
            log.debug("opus: undecodable payload of %d bytes (libopus %d), concealed", len(payload), result)
            return self.conceal(self._frame)
        self.frames += 1
        if len(result):
            self._frame = len(result) // self.channels
        self.last_flag = FrameFlag.NONE
        return result

    def conceal(self, samples: int) -> Samples:
        """`samples` per channel of libopus packet loss concealment."""
        self.plc += 1
        self.last_flag = FrameFlag.PLC
        if samples <= 0:
            return np.zeros(0, dtype=np.int16)
        parts: list[Samples] = []
        remaining = samples
        while remaining > 0:
            size = min(-(-remaining // self._unit) * self._unit, self._state.max_samples)
            result = self._state.decode(None, size)
            if isinstance(result, int):  # cannot happen with a valid size; stay silent rather than raise
                result = np.zeros(size * self.channels, dtype=np.int16)
            parts.append(result)
            remaining -= size
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return out[: samples * self.channels]

    def decode_fec(self, next_payload: bytes, samples: int) -> Samples:
        """Rebuild `samples` per channel of a lost packet from the in-band FEC of the packet after it.

        Falls back to `conceal` when FEC is off, the next packet has none, or
        `samples` is not a whole number of 2.5 ms steps.
        """
        usable = (
            self.use_fec
            and 0 < samples <= self._state.max_samples
            and samples % self._unit == 0
            and has_fec(next_payload)
        )
        if not usable:
            return self.conceal(samples)
        result = self._state.decode(next_payload, samples, fec=True)
        if isinstance(result, int) or len(result) != samples * self.channels:
            return self.conceal(samples)
        self.fec += 1
        self.last_flag = FrameFlag.FEC
        return result
