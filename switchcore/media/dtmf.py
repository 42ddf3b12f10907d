"""In-band DTMF: generating key tones and detecting them in audio.

Frequencies are ITU-T Q.23's 4 x 4 grid.  The detector follows the usual
Goertzel design (as in spandsp, which FreeSWITCH uses), with Q.24-style
acceptance limits:

- audio is brought to 8 kHz (a `Resampler` when the stream runs faster) and
  cut into blocks of 102 samples (12.75 ms);
- per block, the power at each of the 8 frequencies is the squared single-bin
  DFT that Goertzel computes (done for all blocks and frequencies of a frame
  in one matrix product instead of a per-sample Python loop);
- a block is a hit for a key when its strongest row and column tones are both
  above `min_level_dbfs`, each stands `peak_ratio_db` above the other tones of
  its group, their ratio is within the allowed twist (row louder than column
  by up to `normal_twist_db`, quieter by up to `reverse_twist_db`) and
  together they carry at least `min_energy_ratio` of the block's power;
- a key is reported once, after `min_ms` of consecutive hits (two blocks for
  40 ms), and may be reported again only after two blocks without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from ..errors import SwitchError
from .frame import Samples
from .resample import Resampler

__all__ = [
    "DTMF_FREQUENCIES",
    "DtmfDetector",
    "DtmfError",
    "detect_dtmf",
    "dtmf_frames",
    "generate_dtmf",
]

ROW_FREQUENCIES = (697.0, 770.0, 852.0, 941.0)
COLUMN_FREQUENCIES = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: dict[str, tuple[float, float]] = {
    key: (ROW_FREQUENCIES[r], COLUMN_FREQUENCIES[c])
    for r, row in enumerate(KEYPAD)
    for c, key in enumerate(row)
}
DTMF_KEYS = frozenset(DTMF_FREQUENCIES)

DETECT_RATE = 8000
BLOCK = 102  # samples at 8 kHz: bins 78 Hz wide, narrow enough to split 697 from 770


class DtmfError(SwitchError):
    """A DTMF request that cannot be honoured (e.g. an unknown key)."""


def generate_dtmf(
    digits: str,
    rate: int,
    duration_ms: float = 100.0,
    gap_ms: float = 100.0,
    amplitude: float = 7000.0,
    twist_db: float = 0.0,
) -> Samples:
    """Key tones for `digits`, each `duration_ms` long and followed by `gap_ms` of silence.

    `amplitude` is the peak of each of the two tones; `twist_db` makes the
    column tone that much louder (negative: quieter) than the row tone.
    """
    unknown = sorted({d for d in digits.upper() if d not in DTMF_KEYS})
    if unknown:
        raise DtmfError(f"not DTMF keys: {''.join(unknown)!r}")
    on = int(round(rate * duration_ms / 1000.0))
    off = int(round(rate * gap_ms / 1000.0))
    t = np.arange(on, dtype=np.float64) / rate
    column_amplitude = amplitude * 10.0 ** (twist_db / 20.0)
    pieces: list[Samples] = []
    for digit in digits.upper():
        low, high = DTMF_FREQUENCIES[digit]
        wave = amplitude * np.sin(2 * np.pi * low * t) + column_amplitude * np.sin(2 * np.pi * high * t)
        pieces.append(np.clip(np.rint(wave), -32768, 32767).astype(np.int16))
        pieces.append(np.zeros(off, dtype=np.int16))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)


def dtmf_frames(samples: Samples, rate: int, ptime_ms: int = 20) -> Iterator[Samples]:
    """Cut a buffer into `ptime_ms` frames, the last one padded with silence."""
    size = rate * ptime_ms // 1000
    for start in range(0, len(samples), size):
        chunk = samples[start : start + size]
        if len(chunk) < size:
            chunk = np.concatenate((chunk, np.zeros(size - len(chunk), dtype=np.int16)))
        yield chunk


def _basis() -> npt.NDArray[np.float64]:
    """(BLOCK, 16): cosines then sines of the 8 DTMF frequencies."""
    n = np.arange(BLOCK, dtype=np.float64)
    phase = 2.0 * np.pi * np.outer(n, np.array(ROW_FREQUENCIES + COLUMN_FREQUENCIES)) / DETECT_RATE
    basis: npt.NDArray[np.float64] = np.ascontiguousarray(
        np.concatenate((np.cos(phase), np.sin(phase)), axis=1)
    )
    return basis


_BASIS = _basis()


class DtmfDetector:
    """Streaming in-band DTMF detector: `feed()` 20 ms frames, get the keys pressed."""

    def __init__(
        self,
        rate: int = DETECT_RATE,
        *,
        min_ms: float = 40.0,
        min_level_dbfs: float = -36.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        peak_ratio_db: float = 6.0,
        min_energy_ratio: float = 0.6,
    ) -> None:
        self.rate = rate
        self._resampler = Resampler(rate, DETECT_RATE) if rate != DETECT_RATE else None
        # blocks wholly inside the shortest accepted tone, whatever the alignment
        self._min_blocks = max(1, math.floor((min_ms * DETECT_RATE / 1000.0 - (BLOCK - 1)) / BLOCK))
        self._release_blocks = 2
        full_scale_power = 32767.0**2 / 2.0
        self._min_power = full_scale_power * 10.0 ** (min_level_dbfs / 10.0)
        self._normal_twist = 10.0 ** (normal_twist_db / 10.0)
        self._reverse_twist = 10.0 ** (reverse_twist_db / 10.0)
        self._peak_ratio = 10.0 ** (peak_ratio_db / 10.0)
        self._min_energy_ratio = min_energy_ratio
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate: str | None = None
        self._candidate_blocks = 0
        self._current: str | None = None  # the key being held (already reported)
        self._misses = 0

    def reset(self) -> None:
        """Forget partial blocks and any key in progress."""
        self._pending = np.zeros(0, dtype=np.float64)
        self._candidate, self._candidate_blocks = None, 0
        self._current, self._misses = None, 0
        if self._resampler is not None:
            self._resampler.reset()

    def feed(self, samples: Samples) -> list[str]:
        """Add audio at the detector's rate; returns the keys newly pressed in it."""
        x = np.asarray(samples, dtype=np.int16).reshape(-1)
        if self._resampler is not None:
            x = self._resampler.process(x)
        buffer = (
            np.concatenate((self._pending, x.astype(np.float64)))
            if len(self._pending)
            else x.astype(np.float64)
        )
        count = len(buffer) // BLOCK
        self._pending = buffer[count * BLOCK :]
        if count == 0:
            return []
        keys = self._classify(buffer[: count * BLOCK].reshape(count, BLOCK))
        pressed: list[str] = []
        for key in keys:
            reported = self._step(key)
            if reported is not None:
                pressed.append(reported)
        return pressed

    def _classify(self, blocks: npt.NDArray[np.float64]) -> list[str | None]:
        """Per block: the key it holds, or None."""
        projection = blocks @ _BASIS  # real and imaginary parts of the 8 single-bin DFTs
        power = (projection[:, :8] ** 2 + projection[:, 8:] ** 2) * (2.0 / BLOCK**2)  # A**2 / 2 for peak A
        totals = np.einsum("ij,ij->i", blocks, blocks) / BLOCK
        # a frame holds one or two blocks: plain Python beats a dozen tiny numpy calls here
        return [self._key(p[:4], p[4:], t) for p, t in zip(power.tolist(), totals.tolist(), strict=True)]

    def _key(self, rows: list[float], columns: list[float], total: float) -> str | None:
        r = max(range(4), key=rows.__getitem__)
        c = max(range(4), key=columns.__getitem__)
        row, column = rows[r], columns[c]
        if row < self._min_power or column < self._min_power:
            return None
        if row + column < self._min_energy_ratio * total:
            return None
        if row > column * self._normal_twist or column > row * self._reverse_twist:
            return None
        # the strongest tone of each group must stand clear of the other three
        if any(row < self._peak_ratio * v for i, v in enumerate(rows) if i != r):
            return None
        if any(column < self._peak_ratio * v for i, v in enumerate(columns) if i != c):
            return None
        return KEYPAD[r][c]

    def _step(self, key: str | None) -> str | None:
        """Debounce one block's result; returns a key when a press is confirmed."""
        if key is not None and key == self._candidate:
            self._candidate_blocks += 1
        else:
            self._candidate, self._candidate_blocks = key, (1 if key is not None else 0)
        if self._current is not None:
            if key == self._current:
                self._misses = 0
                return None
            self._misses += 1
            if self._misses < self._release_blocks:
                return None
            self._current, self._misses = None, 0
        if key is not None and self._candidate_blocks >= self._min_blocks:
            self._current = key
            self._misses = 0
            return key
        return None


def detect_dtmf(samples: Samples, rate: int, ptime_ms: int = 20, **options: float) -> str:
    """All keys pressed in a buffer, fed to a fresh detector frame by frame."""
    detector = DtmfDetector(rate, **options)
    keys: list[str] = []
    for frame in dtmf_frames(np.asarray(samples, dtype=np.int16), rate, ptime_ms):
        keys.extend(detector.feed(frame))
    # trailing silence pushes the last samples through the resampler and block buffer
    for frame in dtmf_frames(np.zeros(rate * 60 // 1000, dtype=np.int16), rate, ptime_ms):
        keys.extend(detector.feed(frame))
    return "".join(keys)
