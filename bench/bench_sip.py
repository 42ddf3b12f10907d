"""SIP call benchmarks driven by sipp: calls per second, and concurrent bridged calls with RTP both ways.

Run:  python3 bench/bench_sip.py [--quick] [--skip cps,media] [--rates 100,200,...] [--levels 100,200,...]

Everything runs on 127.0.0.1, ports 15950-15999 (switch RTP 46000-49999), in one run, so the
ratios hold across machines (the machines are shared; absolute figures are not comparable
across runs).  REGISTERs per second are bench/bench_register.py's.

1. Calls per second.  A "call" is INVITE -> 200 -> ACK -> BYE -> 200 with PCMU SDP and no media
   (sipp -d 0, tests/peers/scenarios/uac_no_180.xml: no provisional response can overtake the
   200).  Beside the switch, in the same run, sipp's own ceiling: the same uac against a sipp uas
   (uas_no_180.xml).  The switch runs the default conf/ (a copy with bench ports) with one extension
   added to the public context of the external profile (no digest auth): `answer`, `park`.  The rate
   steps up until a step fails more than 0.1% of its calls or falls 10% short of its rate; printed:
   the best passing rate, the switch's own CPU time per call (/proc/<pid>/stat) and the ratio to
   the ceiling.

2. Concurrent bridged calls with RTP in both directions on one core.  sipp places N calls to an
   extension that bridges each to a sipp uas; both SDPs name the ports of a small Python RTP endpoint
   (in its own process) that learns every switch stream from the packets it receives and sends each
   one PCMU packet every 20 ms (spread over the 20 ms, as real phones are), so every leg carries 50
   packets/s each way (and it takes the switch's RTCP on port + 1, as a phone would).  Every payload carries its send time, so the endpoint measures how late each
   packet comes out of the switch on the other leg.  N steps up until "frames run late": a media
   clock tick skipped, more than 1% of the packets delayed past 60 ms, or delivery below 99%
   (95% for the worst stream).  Printed per level: the switch's CPU share and CPU per relayed
   packet, late/missed clock ticks, delivery and latency.  Two sweeps: the RTP relay the SIP legs
   use between themselves when they share a codec, and (rtp_pass_through=false) every packet
   through the core's frames.  Beside them, in the same run, a bare uvloop relay in the switch's
   place (a socket per leg, same endpoint and streams): the floor any Python relay pays here; and
   the core's `RtpRelay` alone (RtpSessions with RTCP, statistics and the header rewrite, no switch
   around them): what the relay itself adds to that floor.  The switch also reports its garbage
   collections per window (`gc`), so a pause of the collector is told apart from a busy machine.

   On a 2-core machine the endpoint itself needs a good part of a core at 300 calls (60,000
   packets/s in and out): when it says it sent less than ~97% of its packets, the machine is too
   busy for that level's verdict to mean much; the CPU per packet still does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.switch_process import make_conf  # noqa: E402
from tests.peers.sipp import Sipp  # noqa: E402
from tests.peers.sipping import wait_for_sip  # noqa: E402

SWITCH_VARS = {
    "internal_sip_port": "15950",
    "external_sip_port": "15951",
    "event_socket_port": "15952",
    "verto_port": "15953",
}
SWITCH = 15951  # the external profile: context public, no auth-calls
SWITCH_VARS_PORTS = [int(port) for port in SWITCH_VARS.values()]
UAS, UAC = 15960, 15961
REF_UAS, REF_UAC = 15962, 15963
MEDIA = {"uac": 15964, "uas": 15968, "ref_uac": 15972, "ref_uas": 15976}  # sipp binds mp and mp + 2
RTP_A, RTP_B = 15990, 15992  # the RTP endpoint: what the A legs and the B legs send to
SWITCH_RTP = (46000, 49999)
ANSWER, BRIDGE, BRIDGE_FRAMES = "7000", "7001", "7002"

EXTENSIONS = f"""
    <!-- bench_sip.py: answer and park (sipp ends the call) -->
    <extension name="bench_answer">
      <condition field="destination_number" expression="^{ANSWER}$">
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>
    <!-- bench_sip.py: bridge to a sipp uas -->
    <extension name="bench_bridge">
      <condition field="destination_number" expression="^{BRIDGE}$">
        <action application="bridge" data="sofia/external/bench@127.0.0.1:{UAS}"/>
      </condition>
    </extension>
    <!-- bench_sip.py: the same, every packet through the core's frames (no RTP relay) -->
    <extension name="bench_bridge_frames">
      <condition field="destination_number" expression="^{BRIDGE_FRAMES}$">
        <action application="export" data="rtp_pass_through=false"/>
        <action application="bridge" data="sofia/external/bench@127.0.0.1:{UAS}"/>
      </condition>
    </extension>
"""


def bench_conf(work: Path) -> Path:
    conf = make_conf(work / "conf", SWITCH_VARS)
    public = conf / "dialplan" / "public.xml"
    text = public.read_text()
    public.write_text(text.replace("  </context>", EXTENSIONS + "  </context>", 1))
    switch_xml = conf / "autoload_configs" / "switch.conf.xml"
    text = switch_xml.read_text()
    for name, value in (
        ("loglevel", "warning"),
        ("max-sessions", "10000"),
        ("sessions-per-second", "10000"),
        ("rtp-start-port", str(SWITCH_RTP[0])),
        ("rtp-end-port", str(SWITCH_RTP[1])),
    ):
        text = re.sub(rf'(<param name="{name}" value=")[^"]*(")', rf"\g<1>{value}\g<2>", text)
    switch_xml.write_text(text)
    return conf


SERVE = """
import asyncio, json, logging, signal, sys
sys.path.insert(0, {root!r})
logging.basicConfig(level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
import gc, time, uvloop
from switchcore.core import Switch

GC = {{"collections": [0, 0, 0], "max_ms": [0.0, 0.0, 0.0], "started": 0.0}}

def gc_watch(phase, info):  # how long the collector stops the loop, per generation
    if phase == "start":
        GC["started"] = time.perf_counter()
        return
    gen = info["generation"]
    GC["collections"][gen] += 1
    GC["max_ms"][gen] = max(GC["max_ms"][gen], (time.perf_counter() - GC["started"]) * 1000)

gc.callbacks.append(gc_watch)

def relays():  # legs whose RTP goes through the core's RtpRelay now (the rest are on frames)
    try:
        from switchcore.media.relay import RelayWatch
    except ImportError:
        return None
    return len(RelayWatch.for_loop())

async def main():
    switch = Switch({conf!r}, {data!r}, sounds_dir={sounds!r})
    await switch.start()
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def status():
        s = switch.clock.stats()
        print("STATUS " + json.dumps({{"ticks": s.ticks, "late": s.late_ticks, "missed": s.missed_ticks,
            "max_ms": round(s.max_lateness_ms, 2), "sessions": len(switch.sessions),
            "gc": list(GC["collections"]), "gc_max_ms": [round(v, 1) for v in GC["max_ms"]],
            "relays": relays()}}), flush=True)
        GC["max_ms"] = [0.0, 0.0, 0.0]

    loop.add_signal_handler(signal.SIGUSR1, status)
    await stop.wait()
    await asyncio.wait_for(switch.stop(), 10)

uvloop.run(main())
"""


class SwitchChild:
    """The switch in a child process (its CPU time is its own); SIGUSR1 prints the media clock's figures."""

    def __init__(self, work: Path, conf: Path) -> None:
        script = SERVE.format(
            root=str(ROOT), conf=str(conf), data=str(work / "data"), sounds=str(ROOT / "sounds")
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        self.errors: list[str] = []
        try:
            while True:
                line = self.proc.stdout.readline()
                if not line:
                    raise RuntimeError("the switch did not start:\n" + "".join(self.errors))
                if line.startswith("READY"):
                    break
                self.errors.append(line)
            # (another run holding the SIP port shows up here: the port is shared with --skip media runs)
            wait_for_sip("127.0.0.1", SWITCH, timeout=10)
        except BaseException:
            self.proc.kill()  # never leave a switch behind
            self.proc.wait()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        self.proc.send_signal(signal.SIGUSR1)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the switch died:\n" + "".join(self.errors[-40:]))
            if line.startswith("STATUS "):
                result: dict[str, Any] = json.loads(line[7:])
                return result
            self.errors.append(line)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stdout is not None:
            self.errors += self.proc.stdout.readlines()
        tracebacks = sum("Traceback" in line for line in self.errors)
        if tracebacks:
            print(f"  !! {tracebacks} traceback(s) in the switch's log; last lines:")
            print("".join(self.errors[-30:]))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runqueue_seconds(pid: int) -> float:
    """How long the process's main thread (the event loop) has waited, runnable, for a CPU."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


# ---- 1. calls per second ---------------------------------------------------------------------------


@dataclass
class Step:
    target: str
    rate: int
    sent: int
    ok: int
    achieved: float
    cpu_us: float | None

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def passed(self) -> bool:
        return self.sent > 0 and self.failed <= self.sent * 0.001 and self.achieved >= self.rate * 0.9


def cps_step(
    target: str, port: int, local: int, media: int, rate: int, seconds: float, work: Path, pid: int | None
) -> Step:
    calls = max(int(rate * seconds), 50)
    sipp = Sipp(
        "uac_no_180",
        f"127.0.0.1:{port}",
        local_port=local,
        media_port=media,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        limit=5000,
        duration_ms=0,
        service=ANSWER,
        timeout=seconds * 4 + 20,
        timeout_error=False,
        trace_messages=False,
        extra_args=["-max_recv_loops", "10000", "-max_sched_loops", "10000"],
        workdir=work / f"cps-{target}-{rate}",
    )
    before = cpu_seconds(pid) if pid else 0.0
    result = sipp.run(timeout=seconds * 4 + 40)
    used = cpu_seconds(pid) - before if pid else None
    stats = result.stats
    ok = stats.successful if stats else 0
    elapsed = stats.elapsed if stats and stats.elapsed else seconds
    return Step(
        target, rate, calls, ok, ok / elapsed if elapsed else 0.0, used / ok * 1e6 if used and ok else None
    )


def cps_sweep(
    target: str,
    port: int,
    local: int,
    media: int,
    rates: list[int],
    seconds: float,
    work: Path,
    pid: int | None,
) -> Step | None:
    best: Step | None = None
    for rate in rates:
        step = cps_step(target, port, local, media, rate, seconds, work, pid)
        who = "sipp uas" if target == "sipp" else "switch"
        cpu = f"  {who} CPU {step.cpu_us:6.0f} us/call" if step.cpu_us else ""
        print(
            f"  {target:<7} {rate:>5}/s  ok {step.ok:>6}  failed {step.failed:>4}  "
            f"achieved {step.achieved:7.1f}/s  {'pass' if step.passed else 'FAIL'}{cpu}",
            flush=True,
        )
        if not step.passed:
            break
        if best is None or step.achieved > best.achieved:
            best = step
        time.sleep(1.0)
    return best


def calls_per_second(work: Path, rates: list[int], ceiling_rates: list[int], seconds: float) -> None:
    print(f"\n1. Calls per second (INVITE -> 200 -> ACK -> BYE -> 200, sipp -d 0, {seconds:g} s steps)")
    print("sipp uac -> sipp uas (the harness's ceiling)")
    uas = Sipp(
        "uas_no_180",
        None,
        local_port=REF_UAS,
        media_port=MEDIA["ref_uas"],
        calls=None,
        timeout=None,
        trace_messages=False,
        workdir=work / "ref-uas",
    ).start()
    time.sleep(0.5)
    try:
        ceiling = cps_sweep(
            "sipp",
            REF_UAS,
            REF_UAC,
            MEDIA["ref_uac"],
            ceiling_rates,
            seconds,
            work,
            uas.process.pid if uas.process else None,
        )
    finally:
        uas.stop()
    print("sipp uac -> switchcore (answer + park; sipp sends the BYE)")
    switch = SwitchChild(work, bench_conf(work / "cps"))
    try:
        best = cps_sweep("switch", SWITCH, UAC, MEDIA["uac"], rates, seconds, work, switch.pid)
    finally:
        switch.stop()
    print("Best passing rate (< 0.1% failed)")
    if ceiling:
        print(
            f"  sipp ceiling {ceiling.achieved:8.1f} calls/s   (sipp uas CPU {ceiling.cpu_us or 0:.0f} us/call)"
        )
    if best:
        print(f"  switchcore   {best.achieved:8.1f} calls/s   switch CPU {best.cpu_us or 0:.0f} us/call")
        if best.cpu_us:
            print(f"               => one core of the switch holds ~{1e6 / best.cpu_us:.0f} calls/s")
    if best and ceiling:
        print(f"  switch / sipp ceiling: {best.achieved / ceiling.achieved:.3f}")
    if best and best.rate == max(rates):
        print("  (the switch passed the highest rate tried: raise --rates to find its limit)")


# ---- 2. concurrent bridged calls with RTP ------------------------------------------------------------

PAYLOAD = bytes(range(0x40, 0x40 + 160))  # any PCMU
STAMP = struct.Struct("!4sId")  # magic, stream, send time: the switch relays payloads untouched
MAGIC = b"SWCB"
TAIL = PAYLOAD[STAMP.size :]
SLICES = 10  # the 20 ms of sending are spread over this many slices, as real phones are
LATENCY_EDGES_MS = (5.0, 10.0, 20.0, 40.0, 60.0, 100.0)


def rtp_endpoint(conn: multiprocessing.connection.Connection, ports: tuple[int, int]) -> None:
    """Learn each stream from what arrives, send it one packet per 20 ms; count what arrives per stream.

    Each payload carries the sending stream and time, so a packet that comes back out of the
    switch on the other leg tells how long it took (both ends of a call are this process).
    """
    sel = selectors.DefaultSelector()
    rtcp_socks: list[socket.socket] = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.bind(("127.0.0.1", port))
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        # RTCP on port + 1, as a phone has it: reports land somewhere (not an ICMP error each).
        rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtcp.bind(("127.0.0.1", port + 1))
        rtcp.setblocking(False)
        sel.register(rtcp, selectors.EVENT_READ)
        rtcp_socks.append(rtcp)
    rtcp_received = 0
    streams: dict[tuple[socket.socket, tuple[str, int]], list[int]] = {}  # -> [received, seq, id]
    order: list[tuple[socket.socket, tuple[str, int]]] = []
    header = struct.Struct("!BBHII")
    latency = [0] * (len(LATENCY_EDGES_MS) + 1)
    worst = 0.0
    period = 0.02 / SLICES
    next_slice = time.monotonic()
    slice_index = 0
    sent = 0
    while True:
        now = time.monotonic()
        if now >= next_slice:
            next_slice += period
            if next_slice < now:  # we fell behind: do not burst
                next_slice = now + period
            sent_at = time.monotonic()
            for key in order[slice_index::SLICES]:
                state = streams[key]
                seq = state[1] = (state[1] + 1) & 0xFFFF
                try:  # noqa: SIM105 - a hot loop: suppress() costs more than try
                    key[0].sendto(
                        header.pack(0x80, 0, seq, seq * 160 & 0xFFFFFFFF, 0x1000 + state[2])
                        + STAMP.pack(MAGIC, state[2], sent_at)
                        + TAIL,
                        key[1],
                    )
                    sent += 1
                except OSError:
                    pass
            slice_index = (slice_index + 1) % SLICES
        for ready, _ in sel.select(max(0.0, next_slice - time.monotonic())):
            ready_sock = ready.fileobj
            assert isinstance(ready_sock, socket.socket)
            sock = ready_sock
            if sock in rtcp_socks:
                while True:
                    try:
                        sock.recvfrom(2048)
                    except BlockingIOError:
                        break
                    rtcp_received += 1
                continue
            while True:
                try:
                    data, addr = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                counts = streams.get((sock, addr))
                if counts is None:
                    counts = streams[(sock, addr)] = [0, 0, len(streams)]
                    order.append((sock, addr))
                counts[0] += 1
                if data[12:16] == MAGIC and len(data) >= 12 + STAMP.size:
                    sent_time = STAMP.unpack_from(data, 12)[2]
                    ms = (time.monotonic() - sent_time) * 1000
                    worst = max(worst, ms)
                    bucket = 0
                    while bucket < len(LATENCY_EDGES_MS) and ms > LATENCY_EDGES_MS[bucket]:
                        bucket += 1
                    latency[bucket] += 1
        while conn.poll():
            command = conn.recv()
            if command == "stats":
                counts = [streams[k][0] for k in order]
                conn.send(
                    {
                        "streams": len(streams),
                        "counts": counts,
                        "sent": sent,
                        "latency": list(latency),
                        "worst_ms": worst,
                        "rtcp": rtcp_received,
                        "cpu": time.process_time(),
                    }
                )
                worst = 0.0
            elif command == "forget":
                streams.clear()
                order.clear()
            elif command == "quit":
                return


def latency_quantile(before: list[int], after: list[int], q: float) -> float:
    """The upper edge (ms) of the latency bucket holding quantile `q` of the packets in between."""
    counts = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(counts)
    if not total:
        return float("nan")
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= q * total:
            return LATENCY_EDGES_MS[index] if index < len(LATENCY_EDGES_MS) else float("inf")
    return float("inf")


class RtpEndpoint:
    def __init__(self, ports: tuple[int, int]) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(target=rtp_endpoint, args=(child, ports), daemon=True)
        self.proc.start()

    def stats(self) -> dict[str, Any]:
        self.conn.send("stats")
        result: dict[str, Any] = self.conn.recv()
        return result

    def forget(self) -> None:
        self.conn.send("forget")

    def close(self) -> None:
        self.conn.send("quit")
        self.proc.join(3)
        if self.proc.is_alive():
            self.proc.kill()


def media_scenario(name: str, work: Path) -> Path:
    """uac_no_180 / uas_no_180 with the SDP's port taken from -key rtp_port."""
    text = (ROOT / "tests" / "peers" / "scenarios" / f"{name}.xml").read_text(encoding="latin-1")
    path = work / f"{name}_rtp.xml"
    path.write_text(text.replace("m=audio [media_port]", "m=audio [rtp_port]"), encoding="latin-1")
    return path


RELAY = """
import asyncio, uvloop
class Leg(asyncio.DatagramProtocol):
    def connection_made(self, transport): self.transport = transport
    def datagram_received(self, data, addr): self.other.transport.sendto(data, self.other.dest)
async def bind(loop, leg, ports):
    while True:  # skip ports someone else holds (ephemeral ports of other programs land here too)
        try:
            return await loop.create_datagram_endpoint(lambda: leg, local_addr=("127.0.0.1", next(ports)))
        except OSError:
            continue
async def main():
    loop = asyncio.get_running_loop()
    ports = iter(range({base}, 50000))
    for i in range({calls}):
        a, b = Leg(), Leg()
        await bind(loop, a, ports)
        await bind(loop, b, ports)
        a.other, b.other = b, a
        a.dest, b.dest = ("127.0.0.1", {rtp_a}), ("127.0.0.1", {rtp_b})
        for leg in (a, b):  # as the switch's first frames do: the endpoint learns the stream
            leg.transport.sendto(bytes(172), leg.dest)
    print("READY", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""
CORE_RELAY = """
import asyncio, sys, uvloop
sys.path.insert(0, {root!r})
from switchcore.media.relay import RtpRelay
from switchcore.media.rtp_session import PortAllocator, RtpConfig, RtpSession
async def main():
    legs = []
    ports = PortAllocator({base}, {end})  # skips pairs someone else holds
    for i in range({calls}):
        a = await RtpSession.open("127.0.0.1", ports, RtpConfig(), remote=("127.0.0.1", {rtp_a}))
        b = await RtpSession.open("127.0.0.1", ports, RtpConfig(), remote=("127.0.0.1", {rtp_b}))
        legs.append((RtpRelay(a, b), RtpRelay(b, a)))
        for leg in (a, b):  # as the switch's first frames do: the endpoint learns the stream
            leg.send_audio(bytes(160))
    print("READY", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""
REF_BASE = 47000  # in the bench switch's RTP range, which is idle while this runs


def relay_reference(endpoint: RtpEndpoint, calls: int, window: float, core: bool = False) -> float | None:
    """CPU µs per packet of a bare uvloop relay in the switch's place: a socket per leg, 50 packets/s each way.

    Same endpoint, same streams, same rates, nothing done to a packet but sending it on: the
    kernel and event-loop cost any Python relay on this machine pays.  With `core`, the same
    process runs the core's `RtpSession`s and `RtpRelay`s instead (RTCP ports, statistics, header
    rewrite, no switch around them): what the relay itself adds to that floor.
    """
    endpoint.forget()
    if core:
        script = CORE_RELAY.format(
            root=str(ROOT), calls=calls, base=REF_BASE, end=SWITCH_RTP[1], rtp_a=RTP_A, rtp_b=RTP_B
        )
    else:
        script = RELAY.format(calls=calls, base=REF_BASE, rtp_a=RTP_A, rtp_b=RTP_B)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        if "READY" not in proc.stdout.readline():
            return None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and endpoint.stats()["streams"] < 2 * calls:
            time.sleep(0.2)
        time.sleep(1.0)
        e0, c0, t0 = endpoint.stats(), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(window)
        e1, c1 = endpoint.stats(), cpu_seconds(proc.pid)
        received = sum(e1["counts"]) - sum(e0["counts"][: len(e1["counts"])])
        del t0
        return (c1 - c0) / received * 1e6 if received > 0 else None
    finally:
        proc.kill()
        proc.wait()
        endpoint.forget()


@dataclass
class Level:
    calls: int
    cpu_share: float
    cpu_us_per_packet: float
    late: float
    missed: int
    delivery: float
    worst_stream: float
    p99_ms: float
    worst_ms: float
    endpoint_sent: float = 1.0  # share of its packets the RTP endpoint managed to send
    cpu_wait: float = 0.0  # share of the window the switch's loop was runnable but had no CPU
    gc_full: int = 0  # full (generation 2) collections in the switch during the window
    gc_max_ms: float = 0.0  # the longest collection then

    @property
    def passed(self) -> bool:
        # Frames run late: a whole 20 ms tick skipped, packets lost, or 1% of them delayed past 60 ms.
        return (
            self.missed == 0 and self.delivery >= 0.99 and self.worst_stream >= 0.95 and self.p99_ms <= 60.0
        )


def media_level(
    switch: SwitchChild,
    endpoint: RtpEndpoint,
    calls: int,
    work: Path,
    window: float,
    uac_scenario: Path,
    service: str = BRIDGE,
) -> Level | None:
    ramp = calls / 100.0
    hold_ms = int((ramp + window + 4.0) * 1000)
    deadline = time.monotonic() + 30  # the last level's calls are gone (no stray streams)
    while time.monotonic() < deadline and switch.status()["sessions"]:
        time.sleep(0.5)
    time.sleep(0.5)
    endpoint.forget()
    uac = Sipp(
        uac_scenario,
        f"127.0.0.1:{SWITCH}",
        local_port=UAC,
        media_port=MEDIA["uac"],
        calls=calls,
        rate=100,
        rate_period_ms=1000,
        limit=calls,
        duration_ms=hold_ms,
        service=service,
        keys={"rtp_port": str(RTP_A)},
        timeout=hold_ms / 1000 + 60,
        timeout_error=False,
        trace_messages=False,
        workdir=work / f"media-uac-{service}-{calls}",
    ).start()
    try:
        deadline = time.monotonic() + ramp + 15
        while time.monotonic() < deadline and endpoint.stats()["streams"] < 2 * calls:
            time.sleep(0.2)
        got = endpoint.stats()["streams"]
        if got < 2 * calls:
            print(f"  {calls:>5} calls: only {got} of {2 * calls} streams came up; stopping")
            return None
        time.sleep(1.0)
        w0 = runqueue_seconds(switch.pid)
        s0, e0, c0, t0 = switch.status(), endpoint.stats(), cpu_seconds(switch.pid), time.monotonic()
        time.sleep(window)
        s1, e1, c1, t1 = switch.status(), endpoint.stats(), cpu_seconds(switch.pid), time.monotonic()
        w1 = runqueue_seconds(switch.pid)
    finally:
        result = uac.wait(hold_ms / 1000 + 90)
    elapsed = t1 - t0
    ticks = max(1, s1["ticks"] - s0["ticks"])
    counts0, counts1 = e0["counts"], e1["counts"]
    rate = (e1["sent"] - e0["sent"]) / max(1, len(counts0)) / elapsed  # per stream, as sent
    per_stream = [(b - a) / (elapsed * rate) if rate else 0.0 for a, b in zip(counts0, counts1, strict=False)]
    received = sum(counts1[: len(counts0)]) - sum(counts0)
    expected = e1["sent"] - e0["sent"]  # what the endpoint managed to send (each packet comes back once)
    endpoint_share = (e1["cpu"] - e0["cpu"]) / elapsed
    sending = expected / (len(counts0) * elapsed * 50) if counts0 else 0.0
    # Every packet the endpoint receives was received and sent once by the switch.
    cpu = c1 - c0
    level = Level(
        calls=calls,
        cpu_share=cpu / elapsed,
        cpu_us_per_packet=cpu / max(1.0, received) * 1e6,
        late=(s1["late"] - s0["late"]) / ticks,
        missed=s1["missed"] - s0["missed"],
        delivery=received / expected if expected else 0.0,
        worst_stream=min(per_stream) if per_stream else 0.0,
        p99_ms=latency_quantile(e0["latency"], e1["latency"], 0.99),
        worst_ms=e1["worst_ms"],
        endpoint_sent=sending,
        cpu_wait=(w1 - w0) / elapsed,
        gc_full=s1["gc"][2] - s0["gc"][2],
        gc_max_ms=max(s1["gc_max_ms"]),
    )
    if sending < 0.97:
        print(
            f"  (the RTP endpoint sent only {sending * 100:.0f}% of its packets, at {endpoint_share * 100:.0f}% CPU)"
        )
    if result.failed:
        print(f"  ({result.failed} sipp calls failed at this level)")
    return level


def media_sweep(
    label: str,
    service: str,
    levels: list[int],
    switch: SwitchChild,
    endpoint: RtpEndpoint,
    work: Path,
    window: float,
    measured: list[Level] | None = None,
) -> Level | None:
    """Step up the levels until one fails; the best passing level (all measured go into `measured`)."""
    uac_scenario = media_scenario("uac_no_180", work)
    print(f"{label}")
    print("  calls  switch CPU  us/packet  late ticks  missed  delivery  worst stream  p99 latency  worst")
    best: Level | None = None
    for calls in levels:
        level = media_level(switch, endpoint, calls, work, window, uac_scenario, service)
        if level is None:
            break
        if measured is not None:
            measured.append(level)
        print(
            f"  {level.calls:>5}  {level.cpu_share * 100:8.1f} %  {level.cpu_us_per_packet:8.1f}  "
            f"{level.late * 100:8.2f} %  {level.missed:6d}  {level.delivery * 100:6.2f} %"
            f"  {level.worst_stream * 100:10.1f} %  {level.p99_ms:8.0f} ms  {level.worst_ms:5.0f} ms"
            f"  {'pass' if level.passed else 'FAIL'}  (endpoint sent {level.endpoint_sent * 100:.0f}%,"
            f" switch waited for a CPU {level.cpu_wait * 100:.0f}% of the time,"
            f" switch gc: {level.gc_full} full, longest {level.gc_max_ms:.0f} ms)",
            flush=True,
        )
        if not level.passed:
            break
        best = level
    if best is None:
        print("  no level passed")
        return None
    print(
        f"  best passing level: {best.calls} concurrent bridged calls, switch at {best.cpu_share * 100:.0f}% of a core"
        f" => about {best.calls / max(best.cpu_share, 1e-9):.0f} calls per core at this cost"
    )
    if best.calls == max(levels):
        print("  (the switch passed the highest level tried: raise --levels to find its limit)")
    return best


def wait_for_free_ports(ports: list[int], timeout: float = 600.0) -> None:
    """Wait while another bench_sip run (e.g. `--skip media`) holds our SIP ports: they are shared."""
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for port in ports:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
            finally:
                probe.close()
        if not busy or time.monotonic() > deadline:
            return
        print(f"  (ports {busy} are in use by another run: waiting)", flush=True)
        time.sleep(10)


def concurrent_media(work: Path, levels: list[int], frame_levels: list[int], window: float) -> None:
    print(f"\n2. Concurrent bridged PCMU calls, RTP both ways on both legs ({window:g} s windows)")
    wait_for_free_ports([*SWITCH_VARS_PORTS, UAS, UAC, RTP_A, RTP_A + 1, RTP_B, RTP_B + 1])
    conf = bench_conf(work / "media")
    uas_scenario = media_scenario("uas_no_180", work)
    endpoint = RtpEndpoint((RTP_A, RTP_B))
    switch = SwitchChild(work, conf)
    uas = Sipp(
        uas_scenario,
        None,
        local_port=UAS,
        media_port=MEDIA["uas"],
        calls=None,
        timeout=None,
        keys={"rtp_port": str(RTP_B)},
        trace_messages=False,
        workdir=work / "media-uas",
    ).start()
    time.sleep(0.5)
    try:
        relayed: list[Level] = []
        best = media_sweep(
            "RTP relay between the legs (same codec)", BRIDGE, levels, switch, endpoint, work, window, relayed
        )
        if frame_levels:
            media_sweep(
                "every packet through the core's frames (rtp_pass_through=false: decode, pump, pass the payload on)",
                BRIDGE_FRAMES,
                frame_levels,
                switch,
                endpoint,
                work,
                window,
            )
    finally:
        uas.stop()
        switch.stop()
    # The references run at the best passing level, or at the first one measured if none passed.
    compared = best or (relayed[0] if relayed else None)
    try:
        reference = relay_reference(endpoint, compared.calls, window) if compared else None
        core = relay_reference(endpoint, compared.calls, window, core=True) if compared else None
    finally:
        endpoint.close()
    if compared and reference:
        print(
            f"bare uvloop relay in the switch's place, same endpoint, {compared.calls} calls:"
            f" {reference:.1f} us/packet (switch's relay {compared.cpu_us_per_packet:.1f} us/packet:"
            f" ratio {compared.cpu_us_per_packet / reference:.2f}x)"
        )
    if compared and core:
        print(
            f"the core's RtpRelay alone (no switch around it), same endpoint and calls: {core:.1f} us/packet"
            f" (ratio to the bare relay {core / reference:.2f}x)"
            if reference
            else f"the core's RtpRelay alone (no switch around it), same endpoint and calls: {core:.1f} us/packet"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rates", default="")
    parser.add_argument("--levels", default="", help="concurrent calls per step, RTP relay")
    parser.add_argument("--frame-levels", default="", help="concurrent calls per step, frames (none: '0')")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per calls/s step")
    parser.add_argument("--window", type=float, default=5.0, help="seconds measured per media level")
    parser.add_argument("--skip", default="", help="cps,media")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    rates = [int(r) for r in args.rates.split(",") if r] or (
        [100, 300] if args.quick else [100, 200, 300, 400, 500, 700, 1000]
    )
    ceiling_rates = [1000, 3000] if args.quick else [1000, 2000, 4000, 6000, 8000]
    levels = [int(n) for n in args.levels.split(",") if n] or (
        [50, 150] if args.quick else [100, 200, 250, 300, 350, 400, 500]
    )
    frame_levels = [int(n) for n in args.frame_levels.split(",") if n and n != "0"] or (
        [] if args.frame_levels == "0" else [25] if args.quick else [25, 50, 75, 100, 150]
    )
    seconds = 2.0 if args.quick else args.seconds
    window = 3.0 if args.quick else args.window
    work = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    print(f"bench_sip: work dir {work}; python {sys.version.split()[0]}, uvloop")
    try:
        if "cps" not in skip:
            calls_per_second(work, rates, ceiling_rates, seconds)
        if "media" not in skip:
            concurrent_media(work, levels, frame_levels, window)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
