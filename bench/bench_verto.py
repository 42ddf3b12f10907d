"""mod_verto benchmark: concurrent browser-like Opus calls to 9196 (echo) on one core, and the login rate.

Run:  python3 bench/bench_verto.py [--calls 10,20,30,40,50,60] [--seconds 10] [--quick]
                                   [--loop uvloop|asyncio] [--pin] [--spy FILE] [--cprofile FILE]

The switch runs in this process (with --pin on CPU 0); the browsers are aiortc
clients (ICE, DTLS-SRTP, RTCP, Opus: a 1 kHz tone encoded once and looped,
received packets counted) in a separate process (with --pin on CPU 1).  For each call count the clients set the calls up, then both sides
measure the same steady window:
- switch: media-clock ticks that fired late (> 5 ms) or were skipped, the CPU
  the switch used (process time / wall time: 1.0 is one full core), and the
  20 ms frames each call delivered from the browser (50/s expected);
- clients: frames each call heard back, the dominant frequency on a sample of
  calls (the echo of 1 kHz), and the clients' own CPU (when they saturate their
  core first, the figures show it).
A count is "sustained" when under 1 % of ticks are late, none is skipped, and
every call got >= 97 % of its frames both ways.

The pass/fail point depends on what else runs on the machine (a starved switch
misses ticks at any count; `machine_busy_pct` shows the whole machine's load),
so each step also gives the switch's CPU per RTP packet moved (in + out), the
figure that carries across runs.  Beside it, measured in the same run:
- reference, the SRTP floor: the least any Python WebRTC leg does per packet on
  this stack (header, pylibsrtp protect, sendto; receive on the loop, unprotect);
- mod_verto's own transport (srtp_path.py into a jitter buffer, no codec) over
  the same traffic, so the rest of a call's cost (Opus decode, the session, the
  event loop waking per datagram) is the difference.

The switch runs on uvloop, as `switchcore` itself does (`--loop asyncio` for
the stock loop).  `--spy FILE` samples the switch with py-spy during each
steady window (FILE.<calls>.txt, collapsed stacks), to see where the time goes;
`--cprofile FILE` does the same with cProfile (call counts; Python code runs slower).

Login rate: sockets that connect, get -32000, log in, wait for
verto.clientReady and close, 4 at a time, for a few seconds.
Aim (issue 6): >= 50 concurrent WebRTC Opus calls per core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONF = ROOT / "tests" / "modules" / "mod_verto" / "conf"
PORT = 16345  # bench ports: 16300-16399, away from the verto tests (15900s)


PIN = os.environ.get("BENCH_VERTO_PIN") == "1"


def pin(cpu: int) -> None:
    """With BENCH_VERTO_PIN=1 (or --pin): the switch on CPU 0, the clients on CPU 1.  Pinning makes
    "one core" exact on a quiet machine, but on a shared one it keeps the switch off an idle core."""
    if PIN and hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


# ---- the clients (separate process) -----------------------------------------------------------


class FastPeer:
    """A browser's media for load: aiortc transport (ICE, DTLS-SRTP, RTCP) with a 1 kHz Opus tone
    encoded once and sent in a loop, and received packets counted, not decoded (a sample of them is
    decoded at the end to check the echo).  Keeps the clients' CPU close to the switch's own."""

    def __init__(self, clock, tone: list[bytes]) -> None:  # type: ignore[no-untyped-def]
        import fractions

        from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection
        from aiortc.mediastreams import MediaStreamError

        class ToneTrack(MediaStreamTrack):
            kind = "audio"

            def __init__(self) -> None:
                super().__init__()
                self.n = 0

            async def recv(self):  # type: ignore[no-untyped-def]
                if self.readyState != "live":
                    raise MediaStreamError
                await clock.tick()
                packet = Packet(tone[self.n % len(tone)], self.n * 960, fractions.Fraction(1, 48000))
                self.n += 1
                return packet

        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ToneTrack()
        self.transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        self.frames = 0
        self.last: list[bytes] = []

    def _intercept(self) -> None:
        receiver = self.transceiver.receiver

        async def count(packet, arrival_time_ms):  # type: ignore[no-untyped-def]
            self.frames += 1
            self.last.append(packet.payload)
            if len(self.last) > 25:
                del self.last[0]

        receiver._handle_rtp_packet = count

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        self._intercept()

    def heard_hz(self) -> float:
        import numpy as np
        import opuslib

        from switchcore.media.analysis import dominant_frequency

        decoder = opuslib.Decoder(48000, 1)
        pcm = b"".join(decoder.decode(p, 960) for p in self.last)
        return dominant_frequency(np.frombuffer(pcm, dtype=np.int16), 48000)

    async def close(self) -> None:
        self.track.stop()
        await self.pc.close()


class Packet:
    """What aiortc's sender packs as is."""

    __slots__ = ("payload", "pts", "time_base")

    def __init__(self, payload: bytes, pts: int, time_base) -> None:  # type: ignore[no-untyped-def]
        self.payload, self.pts, self.time_base = payload, pts, time_base

    def __bytes__(self) -> bytes:
        return self.payload


def opus_tone(freq: float = 1000.0) -> list[bytes]:
    """One second of a tone as 50 Opus packets (20 ms, 48 kHz mono)."""
    import numpy as np
    import opuslib

    encoder = opuslib.Encoder(48000, 1, opuslib.APPLICATION_VOIP)
    t = np.arange(48000) / 48000
    pcm = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    return [encoder.encode(pcm[i * 960 : (i + 1) * 960].tobytes(), 960) for i in range(50)]


async def _one_call(port: int, index: int, calls: list, clock, tone: list[bytes]) -> None:  # type: ignore[type-arg, no-untyped-def]
    from tests.modules.mod_verto.verto_client import VertoTestClient, dialog

    client = await VertoTestClient.open(port)
    await client.login(str(1000 + index % 2))
    peer = FastPeer(clock, tone)
    call_id = str(uuid.uuid4())
    reply = await client.call(
        "verto.invite", {"sdp": await peer.offer(), "dialogParams": dialog(call_id)}, timeout=60
    )
    assert "result" in reply, reply
    answer = await client.next_request("verto.answer", timeout=60)
    await peer.accept(answer["params"]["sdp"])
    end = time.monotonic() + 60
    while peer.frames < 25 and time.monotonic() < end:
        await asyncio.sleep(0.05)
    calls.append((client, peer, call_id))


async def _clients(port: int, count: int, seconds: float, pipe) -> dict:  # type: ignore[no-untyped-def]
    import aioice.ice

    from switchcore.media.clock import MediaClock

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]  # loopback only
    clock = MediaClock(20)
    clock.start()
    tone = opus_tone()
    calls: list = []  # type: ignore[type-arg]
    start = time.monotonic()
    for batch in range(0, count, 10):
        await asyncio.gather(
            *(_one_call(port, i, calls, clock, tone) for i in range(batch, min(count, batch + 10)))
        )
    setup = time.monotonic() - start
    pipe.send(("ready", setup))
    pipe.recv()  # go
    before = [peer.frames for _, peer, _ in calls]
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    heard = [peer.frames - b for (_, peer, _), b in zip(calls, before, strict=True)]
    sample = [peer.heard_hz() for _, peer, _ in calls[:: max(1, count // 5)]]
    for client, peer, call_id in calls:
        await client.call("verto.bye", {"dialogParams": {"callID": call_id}})
        await peer.close()
        await client.close()
    clock.stop()
    return {
        "setup_s": setup,
        "frames_heard": heard,
        "sample_hz": sample,
        "client_cpu": cpu / wall,
        "wall": wall,
    }


async def _logins(port: int, seconds: float, parallel: int = 4) -> dict:
    from tests.modules.mod_verto.verto_client import VertoTestClient

    done = 0
    end = time.monotonic() + seconds

    async def worker(index: int) -> None:
        nonlocal done
        while time.monotonic() < end:
            client = await VertoTestClient.open(port)
            await client.login(str(1000 + index % 2))
            await client.next_request("verto.clientReady")
            await client.close()
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(parallel)))
    return {"logins": done, "seconds": time.monotonic() - start}


def client_process(task: str, port: int, count: int, seconds: float, pipe) -> None:  # type: ignore[no-untyped-def]
    pin(1)
    logging.basicConfig(level=logging.ERROR)
    if task == "logins":
        result = asyncio.run(_logins(port, seconds))
    else:
        result = asyncio.run(_clients(port, count, seconds, pipe))
    pipe.send(("done", result))


# ---- the switch (this process) ----------------------------------------------------------------


@dataclass
class Step:
    calls: int
    setup_s: float
    late_ticks_pct: float
    missed_ticks: int
    max_lateness_ms: float
    switch_cpu: float
    switch_cpu_per_call_pct: float
    switch_us_per_packet: float
    machine_busy_pct: float  # all CPUs, every process (shared machines: others' load shows here)
    client_cpu: float
    min_frames_in_pct: float
    min_frames_heard_pct: float
    sample_hz: list[float]
    sustained: bool


def make_conf(folder: Path) -> Path:
    conf = folder / "conf"
    shutil.copytree(CONF, conf)
    (conf / "vars.xml").write_text(
        f'<include><X-PRE-PROCESS cmd="set" data="verto_port={PORT}"/></include>\n'
    )
    plan = conf / "dialplan" / "default.xml"
    # No recording in the benchmark: 9196 is a plain echo.
    text = plan.read_text().replace(
        '        <action application="record_session" data="$${recordings_dir}/${uuid}.wav"/>\n', ""
    )
    plan.write_text(text)
    verto = conf / "autoload_configs" / "verto.conf.xml"
    verto.write_text(
        verto.read_text().replace(
            'name="auth-failures-before-delay" value="3"', 'name="auth-failures-before-delay" value="1000"'
        )
    )
    return conf


async def run_step(switch, calls: int, seconds: float) -> Step:  # type: ignore[no-untyped-def]
    from modules.mod_verto import running_service

    ours, theirs = mp.Pipe()
    process = mp.get_context("spawn").Process(
        target=client_process, args=("calls", PORT, calls, seconds, theirs)
    )
    process.start()
    loop = asyncio.get_running_loop()
    kind, setup = await loop.run_in_executor(None, ours.recv)
    assert kind == "ready"
    service = running_service()
    medias = [c.driver.media for c in service.calls.by_id.values() if c.driver.media is not None]
    frames0 = [m.frames_in for m in medias]
    sent0 = [m.track.frames_sent for m in medias]
    clock0 = switch.clock.stats()
    cpu0, wall0, machine0 = time.process_time(), loop.time(), _machine_ticks()
    ours.send("go")
    spy = _start_spy(f"{SPY}.{calls}.txt", seconds) if SPY else None
    profile = cProfile.Profile(time.process_time) if PROFILE else None  # CPU time: preemption is not cost
    if profile is not None:
        profile.enable()
    await asyncio.sleep(seconds)
    if profile is not None:
        profile.disable()
        profile.dump_stats(f"{PROFILE}.{calls}.prof")
    if spy is not None:
        await loop.run_in_executor(None, spy.wait)
    cpu, wall = time.process_time() - cpu0, loop.time() - wall0
    busy = _busy(machine0, _machine_ticks())
    clock = switch.clock.stats()
    frames_in = [m.frames_in - f for m, f in zip(medias, frames0, strict=True)]
    frames_out = [m.track.frames_sent - f for m, f in zip(medias, sent0, strict=True)]
    packets = sum(frames_in) + sum(frames_out)
    kind, result = await loop.run_in_executor(None, ours.recv)
    process.join(30)
    ticks = max(1, clock.ticks - clock0.ticks)
    late = clock.late_ticks - clock0.late_ticks
    missed = clock.missed_ticks - clock0.missed_ticks
    expected = 50 * seconds
    min_in = 100 * min(frames_in or [0]) / expected
    min_heard = 100 * min(result["frames_heard"] or [0]) / (50 * result["wall"])
    step = Step(
        calls=calls,
        setup_s=round(setup, 2),
        late_ticks_pct=round(100 * late / ticks, 2),
        missed_ticks=missed,
        max_lateness_ms=round(clock.max_lateness_ms, 1),
        switch_cpu=round(cpu / wall, 2),
        switch_cpu_per_call_pct=round(100 * cpu / wall / calls, 2),
        switch_us_per_packet=round(1e6 * cpu / max(1, packets), 1),
        machine_busy_pct=round(100 * busy, 1),
        client_cpu=round(result["client_cpu"], 2),
        min_frames_in_pct=round(min_in, 1),
        min_frames_heard_pct=round(min_heard, 1),
        sample_hz=[round(f) for f in result["sample_hz"]],
        sustained=late / ticks < 0.01 and missed == 0 and min_in >= 97 and min_heard >= 97,
    )
    await asyncio.sleep(1.0)  # let the calls end
    return step


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat ((0, 0) where there is none)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else 0.0


SPY = ""
PROFILE = ""


def _start_spy(path: str, seconds: float):  # type: ignore[no-untyped-def]
    """py-spy on this process for the steady window (its own sampling costs a little CPU)."""
    import subprocess

    duration = max(1, int(seconds) - 1)
    command = ["py-spy", "record", "-p", str(os.getpid()), "-r", "200", "-d", str(duration), "--nonblocking"]
    return subprocess.Popen(
        [*command, "-f", "raw", "-o", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def run_logins(seconds: float) -> dict:  # type: ignore[type-arg]
    ours, theirs = mp.Pipe()
    process = mp.get_context("spawn").Process(
        target=client_process, args=("logins", PORT, 0, seconds, theirs)
    )
    cpu0, wall0 = time.process_time(), time.monotonic()
    process.start()
    loop = asyncio.get_running_loop()
    _, result = await loop.run_in_executor(None, ours.recv)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    process.join(30)
    rate = result["logins"] / result["seconds"]
    return {
        "logins_per_s": round(rate, 1),
        "logins": result["logins"],
        "switch_cpu_ms_per_login": round(1000 * cpu / max(1, result["logins"]), 2),
        "wall": round(wall, 1),
    }


async def srtp_floor(count: int = 20000) -> float:
    """The reference: CPU µs per packet for the least any Python WebRTC leg on this stack does per
    packet (build a header, pylibsrtp protect, sendto; then receive on the loop and unprotect),
    on loopback, in this process and on this loop.  `switch_us_per_packet` counts the same way."""
    import struct

    import pylibsrtp

    key = bytes(range(30))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    received = 0

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            nonlocal received
            rx.unprotect(data)
            received += 1
            if received == count and not done.done():
                done.set_result(None)

    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    source, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    address = sink.get_extra_info("sockname")
    header, payload = struct.Struct("!BBHII"), bytes(80)
    cpu0 = time.process_time()
    for n in range(count):
        source.sendto(tx.protect(header.pack(0x80, 111, n, n * 960, 0x1234) + payload), address)
        if n % 20 == 19:
            await asyncio.sleep(0)  # let the sink read, as a switch interleaves both directions
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(done, 5)
    cpu = time.process_time() - cpu0
    sink.close()
    source.close()
    return 1e6 * cpu / (count + received)


async def path_cost(count: int = 20000) -> float:
    """The same traffic as `srtp_floor` through mod_verto's own path (srtp_path.py: demultiplexer,
    SrtpPath send and receive, RFC 3550 receive statistics) into a core jitter buffer, popped as
    the session would: what the transport half of a call costs per packet, without the codec."""
    import pylibsrtp

    from modules.mod_verto.srtp_path import SrtpPath, attach
    from switchcore.media.jitter import JitterBuffer

    key = bytes(range(30))
    policy = pylibsrtp.Policy
    tx = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_INBOUND))
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    jitter = JitterBuffer(2, 8, 960, 48000)
    received = 0

    def on_rtp(packet, plain) -> None:  # type: ignore[no-untyped-def]
        nonlocal received
        jitter.push(packet, time.monotonic())
        received += 1
        if received == count and not done.done():
            done.set_result(None)

    sink, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    source, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    address = sink.get_extra_info("sockname")
    attach(sink, SrtpPath(rx, tx, lambda data: None, 1, 111, 48000, on_rtp))

    def send(data: bytes) -> None:
        source.sendto(data, address)

    sender = SrtpPath(rx, tx, send, 0x1234, 111, 48000, on_rtp)
    payload = bytes(80)
    cpu0 = time.process_time()
    for n in range(count):
        sender.send_audio(payload, time.monotonic())
        if n % 20 == 19:
            await asyncio.sleep(0)
            while jitter.pop() is not None:
                pass
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(done, 5)
    cpu = time.process_time() - cpu0
    sink.close()
    source.close()
    return 1e6 * cpu / (count + received)


def _line(steps: list[Step]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of switch CPU against calls (through 0 with one point)."""
    if not steps:
        return 0.0, 0.0
    if len(steps) == 1:
        return steps[0].switch_cpu / steps[0].calls, 0.0
    n = len(steps)
    mx = sum(s.calls for s in steps) / n
    my = sum(s.switch_cpu for s in steps) / n
    var = sum((s.calls - mx) ** 2 for s in steps)
    slope = sum((s.calls - mx) * (s.switch_cpu - my) for s in steps) / var
    return slope, max(0.0, my - slope * mx)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", default="10,20,30,40,50,60")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="5 and 10 calls, 4 s windows")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--pin", action="store_true", help="switch on CPU 0, clients on CPU 1")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--spy", default="", help="py-spy the switch during each step (FILE.<calls>.txt)")
    parser.add_argument(
        "--cprofile", default="", help="cProfile each steady window (FILE.<calls>.prof; slows Python code)"
    )
    return parser.parse_args()


async def main(args: argparse.Namespace) -> None:
    global SPY, PROFILE
    SPY, PROFILE = args.spy, args.cprofile
    counts = [5, 10] if args.quick else [int(c) for c in args.calls.split(",")]
    if args.pin:
        os.environ["BENCH_VERTO_PIN"] = "1"  # inherited by the client processes
        global PIN
        PIN = True
    seconds = 4.0 if args.quick else args.seconds
    pin(0)
    logging.basicConfig(level=logging.ERROR)
    from switchcore.core import Switch

    with tempfile.TemporaryDirectory() as tmp:
        switch = Switch(
            conf_dir=make_conf(Path(tmp)), data_dir=Path(tmp) / "data", sounds_dir=ROOT / "sounds"
        )
        await switch.start()
        try:
            floor = await srtp_floor()
            path = await path_cost()
            logins = await run_logins(3.0 if args.quick else 5.0)
            steps = []
            for count in counts:
                step = await run_step(switch, count, seconds)
                steps.append(step)
                if not args.json:
                    print(json.dumps(asdict(step)), flush=True)
                if not step.sustained and step.switch_cpu > 0.95:
                    break
        finally:
            await switch.stop()
    best = max((s.calls for s in steps if s.sustained), default=0)
    # The switch's CPU as a line over the call counts measured while it kept time (a loaded machine
    # caps what the process gets, so capped steps would flatten the line): base + per_call * calls.
    # The projection is what one whole core carries at 85 % busy.
    fit = [s for s in steps if s.late_ticks_pct < 5 and s.missed_ticks == 0] or steps[:1]
    per_call, base = _line(fit)
    projected = int((0.85 - base) / per_call) if per_call > 0 else 0
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "loop": args.loop,
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "logins": logins,
        "steps": [asdict(s) for s in steps],
        "load_average": os.getloadavg(),
        "sustained_calls": best,
        "switch_cpu_per_call_pct": round(100 * per_call, 2),
        "switch_cpu_base_pct": round(100 * base, 2),
        "projected_calls_per_core": projected,
        "aim": 50,
        "reference_srtp_floor_us_per_packet": round(floor, 1),
        "srtp_path_us_per_packet": round(path, 1),
        "switch_us_per_packet": [s.switch_us_per_packet for s in steps],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"login rate: {logins['logins_per_s']}/s ({logins['switch_cpu_ms_per_login']} ms of switch CPU each)"
        )
        print(
            f"sustained concurrent Opus calls: {best} (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        print(
            f"switch CPU: {100 * base:.1f} % + {100 * per_call:.2f} % per call -> {projected} calls per core at 85 % busy (aim 50)"
        )
        mean = sum(s.switch_us_per_packet for s in steps) / max(1, len(steps))
        print(
            f"switch CPU per RTP packet (in + out): {mean:.1f} us = {mean * 100 / 1e4:.2f} % of a core per call"
            f" at 100 packets/s; reference, same run: the SRTP floor (header, protect, sendto, receive,"
            f" unprotect on {args.loop}) {floor:.1f} us = {floor * 100 / 1e4:.2f} % per call"
        )
        print(
            f"of which the transport: mod_verto's srtp_path into a jitter buffer, no codec: {path:.1f} us per packet"
        )


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.loop == "uvloop":
        import uvloop

        uvloop.run(main(arguments))
    else:
        asyncio.run(main(arguments))
