"""Media core micro-benchmarks: microseconds per 20 ms frame.

Run:  python3 bench/bench_media.py [--quick]

Each figure is the best of several timed batches (the least disturbed by
other load), in microseconds per 20 ms frame; "budget" is that time as a
share of the 20 ms a frame lasts, i.e. of one core.  Reference rows do the
same work with another implementation in the same run (FFmpeg through PyAV,
libsoxr), so the numbers can be compared across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import av  # noqa: E402
import numpy as np  # noqa: E402
import soxr  # noqa: E402

from switchcore.media.analysis import sine  # noqa: E402
from switchcore.media.builtin_codecs import builtin_codecs  # noqa: E402
from switchcore.media.clock import MediaClock  # noqa: E402
from switchcore.media.dtmf import DtmfDetector, dtmf_frames, generate_dtmf  # noqa: E402
from switchcore.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode  # noqa: E402
from switchcore.media.mixer import energies, mix  # noqa: E402
from switchcore.media.resample import Resampler  # noqa: E402
from switchcore.media.tones import tone_source  # noqa: E402
from switchcore.media.wavfile import WavReader, write_wav  # noqa: E402

FRAME_US = 20_000.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def per_call_us(func: Callable[[], object], number: int, repeat: int) -> float:
    func()  # warm up (tables, first allocations)
    return min(timeit.repeat(func, number=number, repeat=repeat)) / number * 1e6


def row(name: str, us: float, note: str = "") -> None:
    print(f"  {name:<46} {us:9.1f} us  {100 * us / FRAME_US:6.2f} %  {note}")


def section(title: str) -> None:
    print(f"\n{title}")


def pyav_codec(name: str, mode: str, rate: int) -> av.AudioCodecContext:
    context = av.CodecContext.create(name, mode)  # type: ignore[call-overload]
    context.format = "s16"
    context.layout = "mono"
    context.sample_rate = rate
    context.open()
    return context  # type: ignore[no-any-return]


def bench_codecs(number: int, repeat: int) -> None:
    section("Codecs (one 20 ms frame)")
    pcm8 = sine(1000, 20, 8000, 8000)
    ulaw, alaw = ulaw_encode(pcm8), alaw_encode(pcm8)
    row("PCMU encode (g711 tables)", per_call_us(lambda: ulaw_encode(pcm8), number, repeat))
    row("PCMU decode (g711 tables)", per_call_us(lambda: ulaw_decode(ulaw), number, repeat))
    row("PCMA encode (g711 tables)", per_call_us(lambda: alaw_encode(pcm8), number, repeat))
    row("PCMA decode (g711 tables)", per_call_us(lambda: alaw_decode(alaw), number, repeat))

    for codec_name, payload in (("pcm_mulaw", ulaw), ("pcm_alaw", alaw)):
        encoder = pyav_codec(codec_name, "w", 8000)
        decoder = pyav_codec(codec_name, "r", 8000)
        frame = av.AudioFrame.from_ndarray(pcm8.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 8000

        def encode(encoder: av.AudioCodecContext = encoder, frame: av.AudioFrame = frame) -> bytes:
            return bytes(encoder.encode(frame)[0])

        def decode(decoder: av.AudioCodecContext = decoder, payload: bytes = payload) -> object:
            return decoder.decode(av.Packet(payload))[0].to_ndarray()

        row(f"  reference: PyAV {codec_name} encode", per_call_us(encode, number, repeat), "FFmpeg")
        row(f"  reference: PyAV {codec_name} decode", per_call_us(decode, number, repeat), "FFmpeg")

    specs = {s.key: s for s in builtin_codecs()}
    for key, rate in (("G722/16000/1", 16000), ("L16/48000/1", 48000)):
        spec = specs[key]
        encoder, decoder = spec.make_encoder({}), spec.make_decoder({})
        pcm = sine(1000, 20, rate, 8000)
        payload = encoder.encode(pcm)
        row(f"{key} encode", per_call_us(lambda e=encoder, p=pcm: e.encode(p), number // 4, repeat))
        row(f"{key} decode", per_call_us(lambda d=decoder, b=payload: d.decode(b), number // 4, repeat))


def bench_resample(number: int, repeat: int) -> None:
    section("Resampling (streaming, one 20 ms frame in)")
    for a, b in ((8000, 48000), (48000, 8000), (8000, 16000), (16000, 8000), (16000, 48000), (32000, 48000)):
        pcm = sine(1000, 20, a, 8000)
        ours = Resampler(a, b)
        row(f"Resampler {a} -> {b}", per_call_us(lambda r=ours, x=pcm: r.process(x), number // 4, repeat))
        stream = soxr.ResampleStream(a, b, 1, dtype="int16", quality="HQ")
        row(
            "  reference: soxr ResampleStream HQ",
            per_call_us(lambda s=stream, x=pcm: s.resample_chunk(x), number // 4, repeat),
            "bursty output",
        )
        swr = av.AudioResampler(format="s16", layout="mono", rate=b)

        def run_swr(swr: av.AudioResampler = swr, x: np.ndarray = pcm, rate: int = a) -> object:
            frame = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            return [f.to_ndarray() for f in swr.resample(frame)]

        row("  reference: PyAV AudioResampler (swresample)", per_call_us(run_swr, number // 4, repeat))


def bench_mix(number: int, repeat: int) -> None:
    section("Conference mix (one tick: all members' outputs)")
    rng = np.random.default_rng(1)
    for members in (10, 50, 100, 300):
        for rate in (8000, 16000, 48000):
            length = rate // 50
            inputs = {m: rng.integers(-4000, 4000, length).astype(np.int16) for m in range(members)}
            batches = max(5, number // (members * 2))
            us = per_call_us(lambda i=inputs: mix(i), batches, repeat)
            energy_us = per_call_us(lambda i=inputs: energies(i), batches, repeat)
            row(f"mix {members:>3} members @ {rate // 1000:>2} kHz", us, f"energies: {energy_us:.0f} us")


def bench_dsp(number: int, repeat: int) -> None:
    section("DTMF detection, tone generation, WAV reading (per 20 ms frame)")
    for rate in (8000, 16000, 48000):
        frames = list(dtmf_frames(generate_dtmf("1234567890*#ABCD", rate, 60, 60), rate))
        detector = DtmfDetector(rate)
        state = {"i": 0}

        def feed(
            d: DtmfDetector = detector, f: list[np.ndarray] = frames, s: dict[str, int] = state
        ) -> object:
            s["i"] = (s["i"] + 1) % len(f)
            return d.feed(f[s["i"]])

        row(f"DtmfDetector.feed @ {rate // 1000} kHz", per_call_us(feed, number // 2, repeat))
    for rate in (8000, 48000):
        tones = tone_source("tone_stream://%(2000,4000,440,480);loops=-1", rate)
        row(f"tone_stream (2 freqs) @ {rate // 1000} kHz", per_call_us(tones.read, number // 2, repeat))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "b.wav")
        write_wav(path, sine(440, 60_000, 44100), 44100)
        reader = WavReader(path, rate=8000, channels=1)

        def read(reader: WavReader = reader) -> object:
            frame = reader.read_frame()
            if frame is None:
                reader.rewind()
            return frame

        row("WavReader 44.1 kHz file -> 8 kHz frames", per_call_us(read, number // 2, repeat))
        reader.close()


def bench_clock() -> None:
    section("Media clock (1000 waiters, 50 ticks of 20 ms)")

    async def run() -> tuple[float, float, float]:
        clock = MediaClock(20)
        clock.start()

        async def waiter() -> None:
            for _ in range(50):
                await clock.tick()

        cpu = time.process_time()
        await asyncio.gather(*(waiter() for _ in range(1000)))
        cpu_per_tick = (time.process_time() - cpu) / 50 * 1e6
        clock.stop()
        stats = clock.stats()
        return cpu_per_tick, stats.mean_lateness_ms, stats.max_lateness_ms

    cpu_us, mean_ms, max_ms = asyncio.run(run())
    row("CPU per tick, 1000 waiters", cpu_us, f"lateness mean {mean_ms:.2f} ms, max {max_ms:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (noisier)")
    args = parser.parse_args()
    number, repeat = (200, 3) if args.quick else (1000, 7)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print("switchcore media benchmarks: microseconds per 20 ms frame (best of batches), share of one core")
    print(
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.system()} {platform.machine()}"
    )
    print(f"CPU: {cpu_model()} x{os.cpu_count()}, load average {load[0]:.2f}")
    print(f"numpy {np.__version__}, soxr {soxr.__version__}, PyAV {av.__version__}")
    started = time.perf_counter()
    bench_codecs(number, repeat)
    bench_resample(number, repeat)
    bench_mix(number, repeat)
    bench_dsp(number, repeat)
    bench_clock()
    print(f"\n(took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
