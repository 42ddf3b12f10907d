"""Core benchmarks: dialplan hunts per second, loopback call cycles per second, bridged calls per core.

Run:  python3 bench/bench_core.py [--quick]

Each figure is printed with a reference measured in the same run, so the
numbers compare across machines:
- hunts/s against a 1,000-extension dialplan, beside a naive loop that tries
  the same 1,000 compiled regexes in order (what an engine without an index does);
- loopback create -> route -> hangup cycles/s (two channels each), with the CPU
  time per cycle, beside the cost of creating and finishing the same number of
  bare asyncio tasks;
- concurrent bridged loopback calls (4 channels, one bridge and an echo each)
  the media clock sustains with under 1 % late ticks.
Aims (issue 2 and 3): >= 20,000 hunts/s, >= 2,000 loopback cycles/s, >= 500 bridged calls per core.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import random
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from switchcore.core import Switch  # noqa: E402
from switchcore.dialplan_xml import hunt  # noqa: E402
from switchcore.originate import originate  # noqa: E402
from switchcore.xmlconf import load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEST_CONF = ROOT / "tests" / "conf"


def write_big_conf(folder: Path, extensions: int) -> Path:
    """tests/conf plus a context `big` of `extensions` extensions, one regex each."""
    import shutil

    conf = folder / "conf"
    shutil.copytree(TEST_CONF, conf)
    lines = ["<include>", '  <context name="big">']
    for i in range(extensions):
        lines.append(
            f'    <extension name="e{i}"><condition field="destination_number" expression="^(2{i:04d})$">'
            '<action application="set" data="target=$1"/><action application="hangup"/></condition></extension>'
        )
    lines += ["  </context>", "</include>"]
    (conf / "dialplan" / "big.xml").write_text("\n".join(lines))
    return conf


async def bench_hunts(conf: Path, seconds: float) -> tuple[float, float]:
    config = load(conf, {"sounds_dir": str(ROOT / "sounds"), "base_dir": str(ROOT), "conf_dir": str(conf)})
    destinations = [f"2{random.randrange(1000):04d}" for _ in range(1000)]
    now = datetime.now()
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for dest in destinations[:200]:
            result = await hunt(config, "big", {"destination_number": dest}, {}.get, None, None, now)
            assert result.actions
        count += 200
    ours = count / (time.perf_counter() - start)
    patterns = [re.compile(f"^(2{i:04d})$") for i in range(1000)]
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for dest in destinations[:200]:
            for pattern in patterns:
                if pattern.match(dest):
                    break
        count += 200
    naive = count / (time.perf_counter() - start)
    return ours, naive


async def bench_cycles(switch: Switch, calls: int) -> tuple[float, float, float]:
    """Sequential-ish batches of `originate loopback/9002` (routes, then hangs up USER_BUSY)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    batch = 50
    for _ in range(calls // batch):
        await asyncio.gather(*(originate(switch, "loopback/9002", timeout=5) for _ in range(batch)))
        await asyncio.gather(*(s.wait_destroyed() for s in list(switch.sessions.values())))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = (calls // batch) * batch

    async def noop() -> None:
        await asyncio.sleep(0)

    ref0 = time.perf_counter()
    for _ in range(done // batch):
        await asyncio.gather(*(noop() for _ in range(batch * 4)))
    ref = time.perf_counter() - ref0
    return done / wall, cpu / done * 1e6, done / ref


async def bench_bridged(switch: Switch, counts: list[int], seconds: float) -> list[tuple[int, float, float]]:
    rows = []
    for n in counts:
        legs = []
        for _ in range(n):
            result = await originate(switch, "loopback/819196", timeout=5)
            if result.session is not None:
                legs.append(result.session)
        await asyncio.sleep(1.0)  # settle
        clock = switch.clock
        before = clock.stats()
        cpu0 = time.process_time()
        await asyncio.sleep(seconds)
        cpu = time.process_time() - cpu0
        after = clock.stats()
        ticks = max(1, after.ticks - before.ticks)
        late = (after.late_ticks - before.late_ticks) / ticks
        rows.append((len(legs), late * 100, cpu / seconds * 100))
        for leg in legs:
            leg.hangup()
        while switch.sessions:
            await asyncio.sleep(0.05)
    return rows


def bench_transcode(rounds: int) -> tuple[float, float]:
    """µs per 20 ms tick for one bridged call's two directions: PCMU <-> L16/48k with resampling,
    and pass-through (the payload is forwarded as received)."""
    import numpy as np

    from switchcore.media.builtin_codecs import builtin_codecs
    from switchcore.media.convert import FrameConverter
    from switchcore.media.frame import Frame

    specs = {f"{c.name}/{c.rate}": c for c in builtin_codecs()}
    pcmu, l16 = specs["PCMU/8000"], specs["L16/48000"]
    enc_u, dec_u = pcmu.make_encoder({}), pcmu.make_decoder({})
    enc_l, dec_l = l16.make_encoder({}), l16.make_decoder({})
    up, down = FrameConverter(8000, 1, 48000), FrameConverter(48000, 1, 8000)
    tone8 = (8000 * np.sin(np.arange(160) * 2 * np.pi / 8)).astype(np.int16)
    tone48 = (8000 * np.sin(np.arange(960) * 2 * np.pi / 48)).astype(np.int16)
    payload_u, payload_l = enc_u.encode(tone8), enc_l.encode(tone48)
    start = time.perf_counter()
    for _ in range(rounds):
        a = up(Frame(dec_u.decode(payload_u), 8000))
        enc_l.encode(a.samples)
        b = down(Frame(dec_l.decode(payload_l), 48000))
        enc_u.encode(b.samples)
    transcode = (time.perf_counter() - start) / rounds * 1e6
    start = time.perf_counter()
    for _ in range(rounds):
        for payload in (payload_u, payload_u):
            frame = Frame(tone8, 8000)
            _ = payload if frame.encoded is None else frame.encoded.payload
    passthrough = (time.perf_counter() - start) / rounds * 1e6
    return transcode, passthrough


async def main(quick: bool) -> None:
    logging.basicConfig(level=logging.ERROR)
    print(f"switchcore core benchmark — Python {platform.python_version()} on {platform.machine()}, "
          f"{platform.node()}, loop={type(asyncio.get_running_loop()).__module__}")
    with tempfile.TemporaryDirectory() as tmp:
        conf = write_big_conf(Path(tmp), 1000)
        ours, naive = await bench_hunts(conf, 1.0 if quick else 3.0)
        print(f"dialplan hunts/s (1,000 extensions): {ours:,.0f}   reference naive regex loop: {naive:,.0f}  "
              f"(aim >= 20,000)")
        transcode, passthrough = bench_transcode(2000 if quick else 10000)
        print(f"per bridged call per 20 ms tick: PCMU<->L16/48k transcoding {transcode:.1f} us "
              f"({20000 / transcode:,.0f} calls/core by codec work alone), pass-through {passthrough:.1f} us")
        switch = Switch(conf_dir=conf, data_dir=Path(tmp) / "data", sounds_dir=ROOT / "sounds")
        await switch.start()
        try:
            rate, cpu_us, ref = await bench_cycles(switch, 500 if quick else 2000)
            print(f"loopback create->route->hangup cycles/s: {rate:,.0f} ({cpu_us:,.0f} us CPU per cycle, 2 channels)"
                  f"   reference bare task batches/s: {ref:,.0f}  (aim >= 2,000)")
            counts = [50, 100] if quick else [50, 100, 200, 300, 400]
            for calls, late_pct, cpu_pct in await bench_bridged(switch, counts, 3.0 if quick else 5.0):
                print(f"bridged loopback calls: {calls:4d}   late ticks {late_pct:5.2f} %   CPU {cpu_pct:5.1f} % of a core")
        finally:
            await switch.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.quick))
    except ImportError:
        asyncio.run(main(args.quick))
