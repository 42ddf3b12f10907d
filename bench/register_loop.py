"""REGISTER -> 401 -> REGISTER -> 200 in one process, without sockets: the switch's own CPU per registration.

Run:  python3 bench/register_loop.py [--count 3000] [--profile out.prof] [--root TREE]

bench_register.py measures the switch as a peer sees it, on a shared machine where a step's
CPU time per REGISTER moves by 10% from one run to the next.  This boots the switch from the
mod_sofia test tree (ports 16750/16751, bound but unused), swaps the internal profile's UDP
socket for a recorder and feeds `datagram_received` sipp's register_auth scenario directly
(user 1000 / 1234, a new Call-ID and From tag each time, as bench_register's sipp sends):
the process time printed is the server's side only (parsing, validation, digest, registrar,
the answer's bytes), not the client's.

For an A/B that the machine's noise cannot blur, count instructions with callgrind, switched
on only for the measured loop (`--wait-for FLAG` holds the loop until FLAG exists):

    valgrind --tool=callgrind --instr-atstart=no $PY bench/register_loop.py --count 500 \\
        --wait-for /tmp/go &   # then: callgrind_control -i on <pid>; touch /tmp/go
    # "Collected" / 500 = instructions per registration (client side included, the same in A and B)

($PY the interpreter itself, `python3 -c 'import sys; print(sys.executable)'`, not a shell shim.)

`--root` runs another tree (a `git worktree` of the base commit) with this same driver.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REQUEST = (
    "REGISTER sip:127.0.0.1:16750 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:16760;rport;branch=z9hG4bK-{n}-{cseq}\r\n"
    "From: <sip:1000@127.0.0.1:16750>;tag=1234SIPpTag00{n}\r\n"
    "To: <sip:1000@127.0.0.1:16750>\r\n"
    "Call-ID: {n}-1234@127.0.0.1\r\n"
    "CSeq: {cseq} REGISTER\r\n"
    "Contact: <sip:1000@127.0.0.1:16760;transport=UDP>\r\n"
    "{authorization}"
    "Expires: 300\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: sipp register_auth\r\n"
    "Content-Length: 0\r\n\r\n"
)
PEER = ("127.0.0.1", 16760)


class Recorder:
    """Stands in for the profile's datagram transport: keeps what is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def run(root: Path, count: int, profile: str | None, wait_for: str | None) -> None:
    sys.path.insert(0, str(root))
    from modules.mod_sofia.digest import answer, pick_challenge
    from modules.mod_sofia.message import Response, parse_message
    from switchcore.core import Switch

    work = Path(tempfile.mkdtemp(prefix="register-loop-"))
    conf = work / "conf"
    shutil.copytree(root / "tests" / "modules" / "mod_sofia" / "conf", conf)
    vars_xml = conf / "vars.xml"
    vars_xml.write_text(
        vars_xml.read_text()
        .replace("internal_sip_port=15660", "internal_sip_port=16750")
        .replace("external_sip_port=15661", "external_sip_port=16751")
    )
    switch_xml = conf / "autoload_configs" / "switch.conf.xml"
    switch_xml.write_text(switch_xml.read_text().replace('value="debug"', 'value="warning"'))
    switch = Switch(conf_dir=str(conf), data_dir=str(work / "data"), sounds_dir=str(root / "sounds"))
    await switch.start()
    # The module is loaded under its registry's name: find its lifecycle module by suffix.
    lifecycle = next(m for name, m in sys.modules.items() if name.endswith("mod_sofia.lifecycle"))
    stack = lifecycle.runtime_of(switch).profiles["internal"].stack
    recorder = Recorder()
    stack.udp._transport = recorder
    receive = stack.udp.datagram_received
    profiler = cProfile.Profile() if profile else None

    async def exchange(data: bytes) -> tuple[bytes, float]:
        start = time.process_time()
        if profiler is not None:
            profiler.enable()
        receive(data, PEER)
        while not recorder.sent:  # answered at once, unless the answer had to wait
            await asyncio.sleep(0)
        if profiler is not None:
            profiler.disable()
        return recorder.sent.pop(), time.process_time() - start

    async def registration(n: int) -> float:
        challenge, first = await exchange(REQUEST.format(n=n, cseq=1, authorization="").encode())
        response = parse_message(challenge)
        assert isinstance(response, Response) and response.status == 401, challenge[:40]
        picked = pick_challenge(response)
        assert picked is not None
        credentials = answer(
            picked, method="REGISTER", uri="sip:127.0.0.1:16750", username="1000", password="1234"
        ).header_value()
        request = REQUEST.format(n=n, cseq=2, authorization=f"Authorization: {credentials}\r\n")
        ok, second = await exchange(request.encode())
        assert ok.startswith(b"SIP/2.0 200 "), ok[:40]
        return first + second

    warm = 300  # memos, caches and the nonce table as a running switch has them
    saved, profiler = profiler, None
    for n in range(warm):
        await registration(n)
    profiler = saved
    if wait_for:
        print(f"waiting for {wait_for} (pid {os.getpid()})", flush=True)
        while not os.path.exists(wait_for):
            time.sleep(0.05)
    total = 0.0
    for n in range(warm, warm + count):
        total += await registration(n)
    print(f"{root}: {total / count * 1e6:.1f} us of server CPU per registration ({count} registrations)")
    if wait_for:
        sys.stdout.flush()
        os._exit(0)  # callgrind counts up to here: not the shutdown
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    await switch.stop()
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--count", type=int, default=3000, help="registrations measured (after 300 to warm up)"
    )
    parser.add_argument("--profile", help="write a cProfile of the server side here")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the tree to run")
    parser.add_argument("--wait-for", help="hold the measured loop until this file exists (callgrind)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(Path(args.root).resolve(), args.count, args.profile, args.wait_for))


if __name__ == "__main__":
    main()
