"""The codecs the core ships: PCMU, PCMA, L16 and G722.

Each is a `CodecSpec` whose factories build one encoder or decoder per call
leg (codec state is per stream).  Payload formats:

- PCMU / PCMA: RFC 3551 section 4.5.14, one G.711 byte per sample at 8000 Hz,
  static payload types 0 and 8.
- L16: RFC 3551 section 4.5.11, 16-bit signed samples in network (big-endian)
  byte order; offered here as dynamic payload types at 8, 16 and 48 kHz mono.
- G722: RFC 3551 section 4.5.2, static payload type 9.  The codec samples at
  16000 Hz but its RTP clock runs at 8000 Hz (an error in the original RFC 1890
  kept for compatibility).  The ADPCM work is done by FFmpeg through PyAV;
  one codec context is opened per encoder/decoder and reused for every frame.

Decoders conceal a lost packet with `RepeatFade`: the last good audio is
repeated while fading to silence over 60 ms, then silence.
"""

from __future__ import annotations

import fractions
from collections.abc import Callable, Mapping
from typing import Literal

import av
import numpy as np

from ..errors import SwitchError
from .codec import CodecSpec, Decoder, Encoder
from .frame import Samples
from .g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

__all__ = [
    "CodecError",
    "G722Decoder",
    "G722Encoder",
    "G711Decoder",
    "G711Encoder",
    "L16Decoder",
    "L16Encoder",
    "RepeatFade",
    "builtin_codecs",
]

G711_PTIMES = (20, 10, 30, 40, 60)  # the first is the default
G722_PTIMES = (20, 40, 60)  # FFmpeg's G.722 encoder works in 20 ms (320-sample) blocks
G722_PCM_RATE = 16000
G722_CLOCK_RATE = 8000
G722_BLOCK = 320
L16_RATES = (8000, 16000, 48000)


class CodecError(SwitchError):
    """A codec was handed something it cannot code (wrong length, corrupt payload)."""


class RepeatFade:
    """Packet loss concealment by repeating the last good audio while fading out.

    `good()` records each decoded frame; `conceal(n)` returns `n` samples that
    continue the repetition with a linear gain falling from 1 to 0 over
    `fade_ms`.  Once faded, concealment is silence until the next good frame.
    """

    __slots__ = ("_fade_samples", "_last", "_lost")

    def __init__(self, rate: int, fade_ms: int = 60) -> None:
        self._fade_samples = max(1, rate * fade_ms // 1000)
        self._last: Samples | None = None
        self._lost = 0  # samples concealed since the last good frame

    def good(self, samples: Samples) -> None:
        self._last = samples if len(samples) else self._last
        self._lost = 0

    def conceal(self, samples: int) -> Samples:
        last = self._last
        if last is None or self._lost >= self._fade_samples or samples <= 0:
            self._lost += max(samples, 0)
            return np.zeros(max(samples, 0), dtype=np.int16)
        positions = np.arange(self._lost, self._lost + samples)
        repeated = last[positions % len(last)].astype(np.float32)
        gain = np.clip(1.0 - positions / self._fade_samples, 0.0, 1.0).astype(np.float32)
        self._lost += samples
        out: Samples = np.rint(repeated * gain).astype(np.int16)
        return out


class G711Encoder:
    """PCMU or PCMA encoder (stateless apart from the law)."""

    __slots__ = ("_encode",)

    def __init__(self, law: str) -> None:
        self._encode = _G711_LAWS[law][0]

    def encode(self, samples: Samples) -> bytes:
        return self._encode(samples)


class G711Decoder:
    """PCMU or PCMA decoder with repeat-and-fade concealment."""

    __slots__ = ("_decode", "_plc")

    def __init__(self, law: str) -> None:
        self._decode = _G711_LAWS[law][1]
        self._plc = RepeatFade(8000)

    def decode(self, payload: bytes) -> Samples:
        samples = self._decode(payload)
        self._plc.good(samples)
        return samples

    def conceal(self, samples: int) -> Samples:
        return self._plc.conceal(samples)


_G711_LAWS: dict[str, tuple[Callable[[Samples], bytes], Callable[[bytes], Samples]]] = {
    "PCMU": (ulaw_encode, ulaw_decode),
    "PCMA": (alaw_encode, alaw_decode),
}


class L16Encoder:
    """Host int16 -> RFC 3551 L16 (big-endian)."""

    __slots__ = ()

    def encode(self, samples: Samples) -> bytes:
        return np.asarray(samples, dtype=">i2").tobytes()


class L16Decoder:
    """RFC 3551 L16 (big-endian) -> host int16, with repeat-and-fade concealment."""

    __slots__ = ("_plc",)

    def __init__(self, rate: int) -> None:
        self._plc = RepeatFade(rate)

    def decode(self, payload: bytes) -> Samples:
        if len(payload) % 2:
            raise CodecError(f"L16 payload has an odd length ({len(payload)} bytes)")
        samples = np.frombuffer(payload, dtype=">i2").astype(np.int16)
        self._plc.good(samples)
        return samples

    def conceal(self, samples: int) -> Samples:
        return self._plc.conceal(samples)


def _g722_context(mode: Literal["r", "w"]) -> av.AudioCodecContext:
    context = av.CodecContext.create("g722", mode)
    context.format = "s16"
    context.layout = "mono"
    context.sample_rate = G722_PCM_RATE
    if mode == "w":
        context.time_base = fractions.Fraction(1, G722_PCM_RATE)
    context.open()
    return context


class G722Encoder:
    """16 kHz PCM -> G.722 at 64 kbit/s (one byte per two samples).

    Takes whole 20 ms blocks (multiples of 320 samples): FFmpeg's encoder
    queues anything shorter, which would break "one ptime in, one payload out".
    """

    __slots__ = ("_context", "_frames", "_pts")

    def __init__(self) -> None:
        self._context = _g722_context("w")
        self._frames: dict[int, av.AudioFrame] = {}
        self._pts = 0

    def _frame(self, samples: int) -> av.AudioFrame:
        frame = self._frames.get(samples)
        if frame is None:
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
            frame.sample_rate = G722_PCM_RATE
            self._frames[samples] = frame
        return frame

    def encode(self, samples: Samples) -> bytes:
        count = len(samples)
        if count == 0 or count % G722_BLOCK:
            raise CodecError(f"G722 encodes whole 20 ms blocks of {G722_BLOCK} samples, not {count}")
        frame = self._frame(count)
        frame.planes[0].update(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
        frame.pts = self._pts
        self._pts += count
        return b"".join(bytes(packet) for packet in self._context.encode(frame))


class G722Decoder:
    """G.722 -> 16 kHz PCM, with repeat-and-fade concealment."""

    __slots__ = ("_context", "_plc")

    def __init__(self) -> None:
        self._context = _g722_context("r")
        self._plc = RepeatFade(G722_PCM_RATE)

    def decode(self, payload: bytes) -> Samples:
        if not payload:
            return np.zeros(0, dtype=np.int16)
        try:
            frames = self._context.decode(av.Packet(payload))
        except av.FFmpegError as exc:
            raise CodecError(f"G722 payload could not be decoded: {exc}") from exc
        parts = [frame.to_ndarray().reshape(-1) for frame in frames]
        samples = np.concatenate(parts).astype(np.int16, copy=False) if parts else np.zeros(0, np.int16)
        self._plc.good(samples)
        return samples

    def conceal(self, samples: int) -> Samples:
        return self._plc.conceal(samples)


def _encoder(make: Callable[[], Encoder]) -> Callable[[Mapping[str, str]], Encoder]:
    def factory(fmtp: Mapping[str, str]) -> Encoder:
        return make()

    return factory


def _decoder(make: Callable[[], Decoder]) -> Callable[[Mapping[str, str]], Decoder]:
    def factory(fmtp: Mapping[str, str]) -> Decoder:
        return make()

    return factory


def _g711(name: str, pt: int, description: str) -> CodecSpec:
    return CodecSpec(
        name=name,
        rate=8000,
        clock_rate=8000,
        channels=1,
        static_pt=pt,
        make_encoder=_encoder(lambda: G711Encoder(name)),
        make_decoder=_decoder(lambda: G711Decoder(name)),
        ptimes=G711_PTIMES,
        description=description,
    )


def _l16(rate: int) -> CodecSpec:
    return CodecSpec(
        name="L16",
        rate=rate,
        clock_rate=rate,
        channels=1,
        static_pt=None,
        make_encoder=_encoder(L16Encoder),
        make_decoder=_decoder(lambda: L16Decoder(rate)),
        ptimes=G711_PTIMES,
        description=f"Raw signed linear (16 bit) at {rate} Hz",
    )


def builtin_codecs() -> list[CodecSpec]:
    """The core's codecs, in default preference order."""
    return [
        CodecSpec(
            name="G722",
            rate=G722_PCM_RATE,
            clock_rate=G722_CLOCK_RATE,
            channels=1,
            static_pt=9,
            make_encoder=_encoder(G722Encoder),
            make_decoder=_decoder(G722Decoder),
            ptimes=G722_PTIMES,
            description="G.722 64k (FFmpeg)",
        ),
        _g711("PCMU", 0, "G.711 ulaw"),
        _g711("PCMA", 8, "G.711 alaw"),
        *(_l16(rate) for rate in L16_RATES),
    ]
