"""Event socket benchmark: events per second delivered to 1 and to 20 subscribers while loopback calls
are placed at a steady rate, and `api status` round trips per second.

Run:  python3 bench/bench_event_socket.py [--cps 30] [--seconds 5] [--loop uvloop|asyncio] [--quick]

The switch (core, mod_loopback, mod_dptools, mod_commands, the event socket) runs in this process;
the subscribers and the api clients run in a child process, so their reading does not steal the
switch's CPU.  Each call is `originate loopback/9999 &park()` then `uuid_kill` (two legs, ~36 events).
Reported: events delivered per second to each subscriber and in total, whether any subscriber was
dropped as a slow consumer, the switch's CPU per call with and without subscribers, and api round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modules.mod_event_socket.server import EventSocketServer  # noqa: E402
from modules.mod_event_socket.settings import EslSettings  # noqa: E402
from switchcore.causes import HangupCause  # noqa: E402
from switchcore.core import Switch  # noqa: E402
from switchcore.eslwire import Command, FrameReader  # noqa: E402
from switchcore.media.clock import MediaClock  # noqa: E402
from switchcore.module import Module  # noqa: E402

PORT = 15598


class ParkPlan:
    name = "XML"

    async def hunt(self, session: Any, arg: str) -> list[tuple[str, str]]:
        return [("answer", ""), ("park", "")]


async def build_switch(data_dir: Path) -> Switch:
    sw = Switch(data_dir=data_dir)
    clock = MediaClock(20)
    clock.start()
    sw.clock = clock
    for name in ("mod_commands", "mod_dptools", "mod_loopback"):
        mod = sw.loader.import_module(name)
        if mod.on_load is not None:
            await mod.on_load(sw)
        sw.registry.add(mod)
    plan = Module("bench_dialplan")
    plan.add_dialplan(ParkPlan())  # type: ignore[arg-type]
    sw.registry.add(plan)
    return sw


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def place_calls(sw: Switch, cps: float, seconds: float) -> tuple[int, int, float]:
    """Originate and kill calls at `cps` for `seconds`; returns (placed, failed, switch CPU seconds)."""
    loop = asyncio.get_running_loop()
    start_cpu = cpu_seconds()
    start = loop.time()
    placed = failed = 0
    tasks = set()

    async def one() -> None:
        nonlocal failed
        reply = await sw.api("originate loopback/9999 &park()")
        if not reply.startswith("+OK"):
            failed += 1
            return
        await sw.api(f"uuid_kill {reply.split()[1]}")

    while loop.time() - start < seconds:
        due = start + placed / cps
        if loop.time() < due:
            await asyncio.sleep(due - loop.time())
        task = loop.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        placed += 1
    if tasks:
        await asyncio.wait(tasks, timeout=10)
    for _ in range(100):
        if not sw.sessions:
            break
        await asyncio.sleep(0.05)
    return placed, failed, cpu_seconds() - start_cpu


# ---- the child process: subscribers and api clients -----------------------------------------------


async def login(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, FrameReader]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    frames = FrameReader()

    async def next_frame() -> None:
        while frames.next_frame() is None:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed")
            frames.receive_data(data)

    await next_frame()  # auth/request
    writer.write(bytes(Command("auth ClueCon")))
    await next_frame()
    return reader, writer, frames


async def subscriber(port: int, seconds: float, go: asyncio.Event, ready: list[int]) -> dict[str, float]:
    reader, writer, frames = await login(port)
    writer.write(bytes(Command("event plain ALL")))
    ready.append(1)
    await go.wait()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    events = size = 0
    dropped = False
    while loop.time() < end:
        try:
            data = await asyncio.wait_for(reader.read(1 << 16), max(0.01, end - loop.time()))
        except TimeoutError:
            break
        if not data:
            dropped = True
            break
        size += len(data)
        frames.receive_data(data)
        while (frame := frames.next_frame()) is not None:
            if frame.content_type == "text/event-plain":
                events += 1
            elif frame.content_type == "text/disconnect-notice":
                dropped = True
    writer.close()
    return {"events": events, "bytes": size, "dropped": dropped}


async def api_client(port: int, seconds: float) -> int:
    reader, writer, frames = await login(port)
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    count = 0
    request = bytes(Command("api status"))
    while loop.time() < end:
        writer.write(request)
        while True:
            frame = frames.next_frame()
            if frame is not None:
                if frame.content_type == "api/response":
                    break
                continue
            frames.receive_data(await reader.read(65536))
        count += 1
    writer.close()
    return count


async def child(args: argparse.Namespace) -> None:
    if args.role == "subscribers":
        go = asyncio.Event()
        ready: list[int] = []
        tasks = [asyncio.ensure_future(subscriber(args.port, args.seconds, go, ready)) for _ in range(args.count)]
        while len(ready) < args.count:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        go.set()
        results = await asyncio.gather(*tasks)
        print(json.dumps(results), flush=True)
    else:
        counts = await asyncio.gather(*(api_client(args.port, args.seconds) for _ in range(args.count)))
        print(json.dumps(counts), flush=True)


# ---- the parent: the switch ---------------------------------------------------------------------


async def spawn(role: str, count: int, seconds: float, loop_name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--role", role, "--count", str(count), "--seconds", str(seconds),
        "--port", str(PORT), "--loop", loop_name,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )


async def with_subscribers(sw: Switch, server: EventSocketServer, count: int, args: argparse.Namespace) -> None:
    proc = await spawn("subscribers", count, args.seconds + 1.0, args.loop)
    assert proc.stdout is not None and proc.stdin is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    fired = {"n": 0}
    remove = sw.events.listen(lambda e: fired.__setitem__("n", fired["n"] + 1))
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    placed, failed, cpu = await place_calls(sw, args.cps, args.seconds)
    remove()
    results = json.loads((await proc.stdout.readline()).decode())
    await proc.wait()
    delivered = [r["events"] for r in results]
    dropped = sum(1 for r in results if r["dropped"])
    mbytes = sum(r["bytes"] for r in results) / 1e6 / args.seconds
    print(
        f"  {count:>3} subscriber(s)  {min(delivered) / args.seconds:7.0f} ev/s each  "
        f"{sum(delivered) / args.seconds:7.0f} ev/s total  {mbytes:5.1f} MB/s  "
        f"delivered {100 * min(delivered) / max(fired['n'], 1):5.1f}% of {fired['n']} fired  dropped {dropped}  "
        f"calls {placed - failed}/{placed}  switch CPU {1000 * cpu / max(placed, 1):5.2f} ms/call"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sw = await build_switch(Path(tmp))
        server = EventSocketServer(sw, EslSettings(listen_port=PORT, max_queue=100_000))
        await server.start()
        try:
            print(f"event socket benchmark: python {sys.version.split()[0]}, loop {args.loop}, "
                  f"{os.cpu_count()} CPUs, {args.cps} calls/s for {args.seconds} s")
            placed, failed, cpu = await place_calls(sw, args.cps, args.seconds)
            events_per_call = 0
            counter = {"n": 0}
            remove = sw.events.listen(lambda e: counter.__setitem__("n", counter["n"] + 1))
            await place_calls(sw, 10, 1.0)
            remove()
            events_per_call = counter["n"] / 10
            print(f"  {0:>3} subscriber(s)  calls {placed - failed}/{placed}  switch CPU "
                  f"{1000 * cpu / max(placed, 1):6.2f} ms/call  (~{events_per_call:.0f} events per call)")
            for count in (1, 20):
                await with_subscribers(sw, server, count, args)
            for count in (1, 10):
                proc = await spawn("api", count, args.seconds, args.loop)
                assert proc.stdout is not None
                counts = json.loads((await proc.stdout.readline()).decode())
                await proc.wait()
                print(f"  api status, {count:>2} client(s): {sum(counts) / args.seconds:9.0f} round trips/s")
        finally:
            await server.stop()
            await sw.hangup_all(HangupCause.SYSTEM_SHUTDOWN, 2)
            sw.clock.stop()


def run(coro: Any, loop_name: str) -> None:
    if loop_name == "uvloop":
        try:
            import uvloop

            uvloop.run(coro)
            return
        except ImportError:
            pass
    asyncio.run(coro)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument("--quick", action="store_true", help="2 s runs")
    parser.add_argument("--role", choices=("switch", "subscribers", "api"), default="switch", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=PORT, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.seconds = 2.0
    run(main(arguments) if arguments.role == "switch" else child(arguments), arguments.loop)
