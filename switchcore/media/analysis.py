"""Measuring audio: what tests (and taps) use to prove a tone or voice got through.

All functions take int16 samples (or anything numpy converts) and compute in
float64.  `tone_present` is a Goertzel-style single-bin measurement: the power
at the probe frequency (through a Hann window, so a strong tone elsewhere
does not leak in) as a fraction of the signal's total power.  A pure tone
scores about 1.0, a tone mixed with an equally loud other tone about 0.5,
and noise or silence near 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .frame import Samples

__all__ = [
    "dbfs",
    "dominant_frequency",
    "frequencies_present",
    "rms",
    "sine",
    "split_channels",
    "tone_power_ratio",
    "tone_present",
]

FloatArray = npt.NDArray[np.float64]


def _floats(samples: npt.ArrayLike) -> FloatArray:
    return np.asarray(samples, dtype=np.float64).reshape(-1)


def sine(freq: float, ms: float, rate: int, amplitude: float = 8000.0, phase: float = 0.0) -> Samples:
    """`ms` milliseconds of a sine at `freq` Hz, peak `amplitude`, as int16."""
    count = int(round(rate * ms / 1000.0))
    t = np.arange(count, dtype=np.float64) / rate
    wave = amplitude * np.sin(2.0 * np.pi * freq * t + phase)
    out: Samples = np.clip(np.rint(wave), -32768, 32767).astype(np.int16)
    return out


def rms(samples: npt.ArrayLike) -> float:
    """Root mean square amplitude (0.0 for no samples)."""
    x = _floats(samples)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def dbfs(samples: npt.ArrayLike) -> float:
    """RMS level in dB relative to a full-scale sine (-inf for silence)."""
    level = rms(samples)
    return 20.0 * float(np.log10(level / (32767.0 / np.sqrt(2.0)))) if level > 0 else float("-inf")


def split_channels(samples: npt.ArrayLike, channels: int) -> list[Samples]:
    """Interleaved samples -> one int16 array per channel."""
    if channels < 1:
        raise ValueError(f"channels must be >= 1, not {channels}")
    x = np.asarray(samples, dtype=np.int16).reshape(-1)
    usable = len(x) - len(x) % channels
    frames = x[:usable].reshape(-1, channels)
    return [np.ascontiguousarray(frames[:, c]) for c in range(channels)]


def dominant_frequency(samples: npt.ArrayLike, rate: int) -> float:
    """The strongest frequency (Hz) in the signal, interpolated between FFT bins.

    Returns 0.0 for silence or fewer than 4 samples.  The DC component is
    ignored.  Accuracy is a small fraction of `rate / len(samples)`.
    """
    x = _floats(samples)
    if len(x) < 4 or not np.any(x):
        return 0.0
    x = x - np.mean(x)
    size = 1 << max(12, int(np.ceil(np.log2(len(x)))) + 2)  # zero-pad for finer bins
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n=size))
    spectrum[0] = 0.0
    peak = int(np.argmax(spectrum))
    if peak == 0:
        return 0.0
    offset = 0.0
    if 0 < peak < len(spectrum) - 1:
        # parabolic interpolation on the log magnitude (Gaussian peak fit)
        a, b, c = np.log(spectrum[peak - 1 : peak + 2] + 1e-12)
        denominator = a - 2.0 * b + c
        if denominator < 0:
            offset = 0.5 * (a - c) / denominator
    return float((peak + offset) * rate / size)


def tone_power_ratio(samples: npt.ArrayLike, rate: int, freq: float, tolerance_hz: float = 10.0) -> float:
    """Fraction of the signal's power carried by a sinusoid within `freq +- tolerance_hz`.

    The single-bin DFT that Goertzel computes, evaluated on a quarter-bin grid
    across the band at once through one zero-padded FFT.
    """
    x = _floats(samples)
    if len(x) < 8:
        return 0.0
    total = float(np.mean(x * x))
    if total <= 0.0:
        return 0.0
    window = np.hanning(len(x))
    size = 1 << (int(np.ceil(np.log2(len(x)))) + 2)
    spectrum = np.fft.rfft(x * window, n=size)
    bin_hz = rate / size
    low = max(int(np.floor((freq - tolerance_hz) / bin_hz)), 1)
    high = min(int(np.ceil((freq + tolerance_hz) / bin_hz)), len(spectrum) - 1)
    if high < low:
        return 0.0
    power = 2.0 * np.abs(spectrum[low : high + 1]) ** 2 / np.sum(window) ** 2
    return min(float(np.max(power)) / total, 1.0)


def tone_present(
    samples: npt.ArrayLike,
    rate: int,
    freq: float,
    tolerance_hz: float = 10.0,
    min_ratio: float = 0.1,
    min_rms: float = 30.0,
) -> bool:
    """Whether a tone near `freq` carries at least `min_ratio` of the power.

    Signals quieter than `min_rms` (about -60 dBFS) count as no tone at all.
    """
    if rms(samples) < min_rms:
        return False
    return tone_power_ratio(samples, rate, freq, tolerance_hz) >= min_ratio


def frequencies_present(
    samples: npt.ArrayLike, rate: int, candidates: Sequence[float], **kwargs: float
) -> list[float]:
    """The candidates for which `tone_present` holds (a convenience for mix tests)."""
    return [f for f in candidates if tone_present(samples, rate, f, **kwargs)]
