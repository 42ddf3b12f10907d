"""µs per 20 ms Opus frame: mod_opus (opuslib + Debian libopus) beside PyAV's bundled libopus.

    python3 bench/bench_opus.py [--frames 500] [--rounds 7]

All sides do the same work in the same run: mono, VOIP application,
complexity 10, VBR, the same target bitrate, the same input (a speech-like
harmonic signal), the same packets to decode.  A third column is opuslib's
own classes, which allocate their buffers on every call: what mod_opus's
reused buffers save.  Rounds alternate between the contenders so background
load hits them alike; the table shows the best round (the least disturbed)
and the median.  The mean packet size is printed as a check that the
encoders really ran at the same bitrate.  The aim is a ratio (mod_opus /
PyAV) within 1.3.
"""

from __future__ import annotations

import argparse
import fractions
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import opuslib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modules.mod_opus import EncoderConfig, OpusDecoder, OpusEncoder, library_version  # noqa: E402
from switchcore.media.frame import Samples  # noqa: E402

AIM = 1.3
CASES = ((48000, 30000), (16000, 20000))  # (rate, bitrate): FreeSWITCH's defaults for each rate


def speech_like(rate: int, seconds: float) -> Samples:
    """A voiced-speech stand-in: 20+ harmonics of a wandering pitch, with syllable-rate loudness."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 + 60 * np.sin(2 * np.pi * 0.7 * t) + 30 * np.sin(2 * np.pi * 2.3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 40) if k * 230 < rate / 2)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 3.1 * t)) ** 1.5
    out: Samples = (9000 * wave / np.max(np.abs(wave)) * envelope).astype(np.int16)
    return out


class PyavOpus:
    """PyAV's libopus encoder and decoder, set up like ours, reusing one AudioFrame."""

    def __init__(self, rate: int, bitrate: int) -> None:
        self.rate = rate
        encoder = av.CodecContext.create("libopus", "w")
        encoder.sample_rate = rate
        encoder.layout = "mono"
        encoder.format = "s16"
        encoder.bit_rate = bitrate
        encoder.time_base = fractions.Fraction(1, rate)
        encoder.options = {
            "application": "voip",
            "vbr": "on",
            "compression_level": "10",
            "frame_duration": "20",
        }
        encoder.open()
        self.encoder = encoder
        decoder = av.CodecContext.create("libopus", "r")
        decoder.sample_rate = rate
        decoder.layout = "mono"
        decoder.format = "s16"
        decoder.open()
        self.decoder = decoder
        self.frame = av.AudioFrame(format="s16", layout="mono", samples=rate // 50)
        self.frame.sample_rate = rate
        self.pts = 0

    def encode(self, samples: Samples) -> bytes:
        self.frame.planes[0].update(samples.tobytes())
        self.frame.pts = self.pts
        self.pts += len(samples)
        return b"".join(bytes(packet) for packet in self.encoder.encode(self.frame))

    def decode(self, payload: bytes) -> Samples:
        parts = [frame.to_ndarray().reshape(-1) for frame in self.decoder.decode(av.Packet(payload))]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]


class PlainOpuslib:
    """opuslib's Encoder/Decoder classes used as they come."""

    def __init__(self, rate: int, bitrate: int) -> None:
        self.size = rate // 50
        self.encoder = opuslib.Encoder(rate, 1, opuslib.APPLICATION_VOIP)
        self.encoder.bitrate = bitrate
        self.encoder.complexity = 10
        self.decoder = opuslib.Decoder(rate, 1)

    def encode(self, samples: Samples) -> bytes:
        return bytes(self.encoder.encode(samples.tobytes(), self.size))

    def decode(self, payload: bytes) -> Samples:
        return np.frombuffer(self.decoder.decode(payload, 5760 * self.size // 960), dtype=np.int16)


def per_frame_us(work: Callable[[], object], count: int) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) / count * 1e6


Timings = list[float]


def bench(rate: int, bitrate: int, frames: int, rounds: int) -> list[tuple[str, Timings, Timings, Timings]]:
    size = rate // 50
    signal = speech_like(rate, frames / 50)
    chunks = [np.ascontiguousarray(signal[i * size : (i + 1) * size]) for i in range(frames)]
    ours_encoder = OpusEncoder(EncoderConfig(rate=rate, bitrate=bitrate, complexity=10))
    ours_decoder = OpusDecoder(rate)
    theirs = PyavOpus(rate, bitrate)
    plain = PlainOpuslib(rate, bitrate)
    ours_packets = [ours_encoder.encode(c) for c in chunks]  # warm-up, and the packets to decode
    theirs_packets = [theirs.encode(c) for c in chunks]
    plain_packets = [plain.encode(c) for c in chunks]
    results: dict[str, tuple[Timings, Timings, Timings]] = {"encode": ([], [], []), "decode": ([], [], [])}
    for _ in range(rounds):
        encode, decode = results["encode"], results["decode"]
        encode[0].append(per_frame_us(lambda: [ours_encoder.encode(c) for c in chunks], frames))
        encode[1].append(per_frame_us(lambda: [plain.encode(c) for c in chunks], frames))
        encode[2].append(per_frame_us(lambda: [theirs.encode(c) for c in chunks], frames))
        decode[0].append(per_frame_us(lambda: [ours_decoder.decode(p) for p in ours_packets], frames))
        decode[1].append(per_frame_us(lambda: [plain.decode(p) for p in ours_packets], frames))
        decode[2].append(per_frame_us(lambda: [theirs.decode(p) for p in ours_packets], frames))
    sizes = [
        np.mean([len(p) for p in packets if p]) for packets in (ours_packets, plain_packets, theirs_packets)
    ]
    print(
        f"  mean packet: mod_opus {sizes[0]:.0f} B, opuslib {sizes[1]:.0f} B, PyAV {sizes[2]:.0f} B"
        f" (at most {bitrate // 400} B at {bitrate} bps; VBR spends less on quiet parts)"
    )
    return [(work, *timings) for work, timings in results.items()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=500, help="20 ms frames per round (default 500)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds per measurement (default 7)")
    args = parser.parse_args()
    print(
        f"mod_opus on {library_version()} (opuslib ctypes, reused buffers) vs PyAV {av.__version__} libopus"
    )
    print(f"{args.frames} frames x {args.rounds} rounds; µs per 20 ms frame, best round (median)")
    rows = []
    for rate, bitrate in CASES:
        print(f"{rate} Hz mono, {bitrate} bps:")
        for work, ours, plain, pyav in bench(rate, bitrate, args.frames, args.rounds):
            rows.append((rate, work, ours, plain, pyav))
    print()
    print(f"{'case':<16}{'mod_opus':>18}{'opuslib as is':>18}{'PyAV libopus':>18}{'mod_opus/PyAV':>15}")
    worst = 0.0
    for rate, work, ours, plain, pyav in rows:
        ratio = min(ours) / min(pyav)
        worst = max(worst, ratio)
        cells = [f"{min(t):.1f} ({statistics.median(t):.1f})" for t in (ours, plain, pyav)]
        print(f"{f'{rate // 1000} kHz {work}':<16}" + "".join(f"{c:>18}" for c in cells) + f"{ratio:>14.2f}x")
    verdict = "within" if worst <= AIM else "OUTSIDE"
    print(f"worst ratio {worst:.2f}x: {verdict} the {AIM}x aim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
