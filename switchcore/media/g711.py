"""G.711 PCMU (mu-law) and PCMA (A-law), by table lookup.

The tables are built once at import from the ITU-T G.191 reference
algorithm (the G.711 software tools, `g711.c`), so encoding is bit-exact to
ITU-T G.711 section 2 (A-law) and section 3 (mu-law):

- encoding indexes a 65536-entry `uint8` table with the 16-bit sample's bit
  pattern; decoding indexes a 256-entry `int16` table with the code byte.
- Negative samples are folded with the one's complement (``~x``) as G.191
  does, so the quantiser is symmetric around zero.  The classic Sun
  reference (and CPython's old `audioop`) folds mu-law with ``-x`` instead and
  so differs from G.191 for some small negative inputs (e.g. -1 encodes to
  0x7F here, 0x7E there); A-law and both decoders agree exactly.

Both codecs carry 8-bit codes at 8000 Hz: one byte per sample.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .frame import Samples

__all__ = [
    "alaw_decode",
    "alaw_encode",
    "ulaw_decode",
    "ulaw_encode",
]


def _ulaw_compress(x: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """G.191 `ulaw_compress` on 16-bit samples (14 most significant bits used)."""
    absno = np.where(x < 0, (~x) >> 2, x >> 2) + 33
    absno = np.minimum(absno, 0x1FFF)
    # segment number: 1 + number of significant bits of absno >> 6
    segno = np.ones_like(absno)
    i = absno >> 6
    while np.any(i):
        segno += i != 0
        i >>= 1
    high_nibble = 0x8 - segno
    low_nibble = 0xF - ((absno >> segno) & 0xF)
    code = (high_nibble << 4) | low_nibble
    code = np.where(x >= 0, code | 0x80, code)
    result: npt.NDArray[np.uint8] = code.astype(np.uint8)
    return result


def _ulaw_expand(code: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
    """G.191 `ulaw_expand`: 8-bit code -> 16-bit sample (14 bits, left-justified)."""
    sign = np.where(code < 0x80, -1, 1)
    mantissa = (~code) & 0x7F
    exponent = (mantissa >> 4) & 0x7
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    value = sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)
    result: Samples = value.astype(np.int16)
    return result


def _alaw_compress(x: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8]:
    """G.191 `alaw_compress` on 16-bit samples (13 most significant bits used)."""
    ix = np.where(x < 0, (~x) >> 4, x >> 4)
    code = ix.copy()
    big = ix > 15
    iexp = np.ones_like(ix)
    shifted = ix.copy()
    while np.any(big & (shifted > 16 + 15)):
        grow = big & (shifted > 16 + 15)
        shifted = np.where(grow, shifted >> 1, shifted)
        iexp += grow
    code = np.where(big, shifted - 16 + (iexp << 4), code)
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


def _alaw_expand(code: npt.NDArray[np.int64]) -> npt.NDArray[np.int16]:
    """G.191 `alaw_expand`: 8-bit code -> 16-bit sample (13 bits, left-justified)."""
    ix = code ^ 0x55
    ix &= 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    mant = np.where(iexp > 0, mant + 16, mant)
    mant = (mant << 4) + 0x0008
    mant = np.where(iexp > 1, mant << np.maximum(iexp - 1, 0), mant)
    value = np.where(code > 127, mant, -mant)
    return value.astype(np.int16)


_ALL_SAMPLES = np.arange(65536, dtype=np.int64)
_ALL_SAMPLES = np.where(_ALL_SAMPLES >= 32768, _ALL_SAMPLES - 65536, _ALL_SAMPLES)
_ALL_CODES = np.arange(256, dtype=np.int64)

# Indexed by the sample's bit pattern (int16 viewed as uint16).
_ULAW_ENCODE: npt.NDArray[np.uint8] = _ulaw_compress(_ALL_SAMPLES)
_ALAW_ENCODE: npt.NDArray[np.uint8] = _alaw_compress(_ALL_SAMPLES)
_ULAW_DECODE: Samples = _ulaw_expand(_ALL_CODES)
_ALAW_DECODE: Samples = _alaw_expand(_ALL_CODES)
for _table in (_ULAW_ENCODE, _ALAW_ENCODE, _ULAW_DECODE, _ALAW_DECODE):
    _table.setflags(write=False)
del _ALL_SAMPLES, _ALL_CODES


def _as_index(samples: Samples) -> npt.NDArray[np.uint16]:
    return np.ascontiguousarray(samples, dtype=np.int16).view(np.uint16)


def ulaw_encode(samples: Samples) -> bytes:
    """16-bit linear PCM -> mu-law bytes (one byte per sample)."""
    return _ULAW_ENCODE[_as_index(samples)].tobytes()


def alaw_encode(samples: Samples) -> bytes:
    """16-bit linear PCM -> A-law bytes (one byte per sample)."""
    return _ALAW_ENCODE[_as_index(samples)].tobytes()


def ulaw_decode(payload: bytes) -> Samples:
    """mu-law bytes -> 16-bit linear PCM."""
    return _ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]


def alaw_decode(payload: bytes) -> Samples:
    """A-law bytes -> 16-bit linear PCM."""
    return _ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)]
