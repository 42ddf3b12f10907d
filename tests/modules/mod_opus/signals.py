"""Test signals for codec tests."""

from __future__ import annotations

import numpy as np

from switchcore.media.frame import Samples


def speech_like(rate: int, seconds: float, peak: float = 9000.0) -> Samples:
    """A stand-in for voiced speech: harmonics of a wandering pitch (110-230 Hz) at syllable-rate loudness.

    Unlike a steady tone, the next 20 ms cannot be guessed from the last, so
    concealment has to make things up while FEC carries the real audio.
    """
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.7 * t) + 30 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 40) if k * 230 < rate / 2)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3.1 * t)) ** 1.5
    out: Samples = (peak * wave / np.max(np.abs(wave)) * envelope).astype(np.int16)
    return out


def frames(signal: Samples, size: int) -> list[Samples]:
    return [signal[i : i + size] for i in range(0, len(signal) - size + 1, size)]
