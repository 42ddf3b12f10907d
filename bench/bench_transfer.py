"""Costs of issue #4's call-layer features, each printed beside a reference measured in the same run.

Run:  python3 bench/bench_transfer.py [--quick]

Ports (this work area's): switch SIP 16290 (internal) / 16291 (external), ESL 16292, Verto 16293,
sipp 16294 (media 43960), switch RTP 43800-43959.  The machine is shared, so absolute figures move
between runs; the ratios are what to read.

1. Delayed offer through sipp: the switch's CPU time per call (its own process, /proc/<pid>/stat)
   for calls whose INVITE has no SDP (our 200 offers, the ACK answers:
   tests/peers/scenarios/uac_delayed_offer.xml) beside the same calls with the offer in the INVITE
   (uac_no_180.xml), at the same fixed rate, to an `answer` + `park` extension on the external
   profile.  Both runs must complete every call.

2. Replaces parsing in process (time.process_time): a REFER's Refer-To with an escaped Replaces
   read into a `ReferTarget`, and an INVITE's Replaces header read and judged (RFC 3891 3),
   beside the reference: parsing the whole REFER request that carries it (what every REFER pays
   anyway).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.mod_sofia.message import parse_message  # noqa: E402
from modules.mod_sofia.replaces import Replaces, judge, refer_target  # noqa: E402
from tests.e2e.switch_process import make_conf  # noqa: E402
from tests.peers.sipp import Sipp  # noqa: E402
from tests.peers.sipping import wait_for_sip  # noqa: E402

SWITCH_VARS = {
    "internal_sip_port": "16290",
    "external_sip_port": "16291",
    "event_socket_port": "16292",
    "verto_port": "16293",
}
SWITCH = 16291  # external profile: context public, no auth-calls
UAC, UAC_MEDIA = 16294, 43960
SWITCH_RTP = (43800, 43959)
ANSWER = "7100"

EXTENSION = f"""
    <!-- bench_transfer.py: answer and park (sipp ends the call) -->
    <extension name="bench_transfer_answer">
      <condition field="destination_number" expression="^{ANSWER}$">
        <action application="answer"/>
        <action application="park"/>
      </condition>
    </extension>
"""

SERVE = """
import asyncio, logging, signal, sys
sys.path.insert(0, {root!r})
logging.basicConfig(level=logging.ERROR)
import uvloop
from switchcore.core import Switch

async def main():
    switch = Switch({conf!r}, {data!r}, sounds_dir={sounds!r})
    await switch.start()
    print("READY", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await asyncio.wait_for(switch.stop(), 10)

uvloop.run(main())
"""


def bench_conf(work: Path) -> Path:
    conf = make_conf(work / "conf", SWITCH_VARS)
    public = conf / "dialplan" / "public.xml"
    public.write_text(public.read_text().replace("  </context>", EXTENSION + "  </context>", 1))
    switch_xml = conf / "autoload_configs" / "switch.conf.xml"
    text = switch_xml.read_text()
    for name, value in (
        ("loglevel", "warning"),
        ("rtp-start-port", str(SWITCH_RTP[0])),
        ("rtp-end-port", str(SWITCH_RTP[1])),
    ):
        text = re.sub(rf'(<param name="{name}" value=")[^"]*(")', rf"\g<1>{value}\g<2>", text)
    switch_xml.write_text(text)
    return conf


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_switch(work: Path) -> subprocess.Popen[str]:
    conf = bench_conf(work)
    script = SERVE.format(
        root=str(ROOT), conf=str(conf), data=str(work / "data"), sounds=str(ROOT / "sounds")
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    seen: list[str] = []
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the switch did not start:\n" + "".join(seen))
        if line.startswith("READY"):
            break
        seen.append(line)
    wait_for_sip("127.0.0.1", SWITCH, timeout=10)
    return proc


def run_calls(scenario: str, rate: int, calls: int, work: Path, pid: int) -> tuple[int, float]:
    """(successful calls, switch CPU us per call) for `calls` sipp calls at `rate`/s."""
    sipp = Sipp(
        scenario,
        f"127.0.0.1:{SWITCH}",
        local_port=UAC,
        media_port=UAC_MEDIA,
        calls=calls,
        rate=rate,
        rate_period_ms=1000,
        duration_ms=0,
        service=ANSWER,
        timeout=calls / rate * 4 + 20,
        timeout_error=False,
        trace_messages=False,
        workdir=work / f"{scenario}-{rate}",
    )
    before = cpu_seconds(pid)
    result = sipp.run(timeout=calls / rate * 4 + 40)
    used = cpu_seconds(pid) - before
    ok = result.stats.successful if result.stats else 0
    return ok, used / ok * 1e6 if ok else float("nan")


def delayed_offer(work: Path, rate: int, calls: int, rounds: int) -> None:
    print(
        f"\n1. Delayed offer vs offer in the INVITE: switch CPU per call ({calls} calls at {rate}/s, {rounds} rounds)"
    )
    proc = start_switch(work)
    try:
        figures: dict[str, list[float]] = {"uac_no_180": [], "uac_delayed_offer": []}
        for index in range(rounds):
            for scenario in figures:  # alternate, so drift of a shared machine hits both alike
                ok, us = run_calls(scenario, rate, calls, work / f"round{index}", proc.pid)
                mark = "" if ok == calls else f"  !! only {ok}/{calls} calls completed"
                print(
                    f"  round {index + 1}  {scenario:<18} ok {ok:>5}  switch CPU {us:7.0f} us/call{mark}",
                    flush=True,
                )
                if ok == calls:  # a round that lost calls is not a figure
                    figures[scenario].append(us)
                time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if not figures["uac_no_180"] or not figures["uac_delayed_offer"]:
        print("  no complete round for one of the two: no figure")
        return
    ref = min(figures["uac_no_180"])
    late = min(figures["uac_delayed_offer"])
    print(
        f"  reference (offer in INVITE): {ref:7.0f} us/call   delayed offer: {late:7.0f} us/call   ratio {late / ref:.2f}"
    )


def per_op(func: object, n: int) -> float:
    """Best of 5: CPU microseconds per call of `func()` over n calls."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(n):
            func()  # type: ignore[operator]
        best = min(best, (time.process_time() - start) / n * 1e6)
    return best


REFER = (
    "REFER sip:127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5062;rport;branch=z9hG4bKPj3f1c\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:1000@127.0.0.1>;tag=a73kszlfl\r\n"
    "To: <sip:1001@127.0.0.1>;tag=8e1f20c4\r\n"
    "Call-ID: 0b5e6c1a-44b2-11ef-9a1b-0242ac120002\r\n"
    "CSeq: 5 REFER\r\n"
    "Contact: <sip:1000@127.0.0.1:5062>\r\n"
    "Event: refer\r\n"
    "Refer-To: {refer_to}\r\n"
    "Referred-By: <sip:1000@127.0.0.1>\r\n"
    "Content-Length: 0\r\n\r\n"
)


def replaces_parsing(n: int) -> None:
    print(f"\n2. Replaces parsing in process (CPU per operation, best of 5 x {n})", flush=True)
    refer_to = (
        "<sip:1002@127.0.0.1:5060?Replaces=7f3a1c9e-44b2-11ef-9a1b-0242ac120002%40127.0.0.1"
        "%3Bto-tag%3Dz9hG4bK-switch-tag%3Bfrom-tag%3Da73kszlfl&Require=replaces>"
    )
    header = "7f3a1c9e-44b2-11ef-9a1b-0242ac120002@127.0.0.1;to-tag=z9hG4bK-switch-tag;from-tag=a73kszlfl"
    dialog = ("7f3a1c9e-44b2-11ef-9a1b-0242ac120002@127.0.0.1", "z9hG4bK-switch-tag", "a73kszlfl")
    data = REFER.format(refer_to=refer_to).encode()
    # The reference: parsing the REFER request itself, which every REFER pays before we look inside.
    reference = per_op(lambda: parse_message(data).get("Refer-To"), n)
    target = per_op(lambda: refer_target(refer_to), n)
    judged = per_op(lambda: judge(Replaces.parse(header), dialog, terminated=False), n)
    print(f"  reference: parse the REFER request      {reference:6.2f} us")
    print(
        f"  refer_target(Refer-To)                  {target:6.2f} us   ({target / reference:.2f} x reference)"
    )
    print(
        f"  Replaces.parse + judge (INVITE header)  {judged:6.2f} us   ({judged / reference:.2f} x reference)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    args = parser.parse_args()
    calls, rounds, n = (200, 1, 2000) if args.quick else (1000, 3, 20000)
    replaces_parsing(n)
    with tempfile.TemporaryDirectory(prefix="bench_transfer-") as tmp:
        delayed_offer(Path(tmp), 100, calls, rounds)


if __name__ == "__main__":
    main()
