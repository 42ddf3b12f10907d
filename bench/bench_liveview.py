"""Live-array cost: what one talking / mute update of a conference member costs the switch.

Run:  python3 bench/bench_liveview.py [--members 10,50,200]

Every start-talking, stop-talking, mute and unmute of a member makes mod_conference's live array
build the member's row (status JSON included), compare it with the last one sent and fire a
`verto::broadcast` event carrying it (liveview.py).  Measured as process CPU time per update
(time.process_time, so other load on the machine does not count), in a real room of N loopback
members on the in-process switch (tests/modules/mod_conference/conf), beside references from the
same run on the same room:

- `json.dumps` of the same message alone (the least any live array must do per update);
- one mix tick of the room's board with every member talking (what the room costs 50 times a
  second whatever happens), so an update can be read as a fraction of a tick;
- `conference <room> la_bootstrap` (the whole array, what a browser asks for on joining).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from modules.mod_conference import manager_for  # noqa: E402
from switchcore.core import Switch  # noqa: E402
from switchcore.events import Event  # noqa: E402
from switchcore.media.analysis import sine  # noqa: E402
from switchcore.originate import originate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "tests" / "modules" / "mod_conference" / "conf"


def cpu_per_call_us(func: Callable[[], object], number: int, repeat: int = 5) -> float:
    """The least process CPU time of one call over `repeat` runs of `number` calls, in µs."""
    func()
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            func()
        best = min(best, time.process_time() - start)
    return best / number * 1e6


async def room_of(switch: Switch, members: int, name: str) -> object:
    dest = "4099" if name == "q99" else "4098"
    for _ in range(members):
        result = await originate(switch, f"loopback/{dest}", timeout=5.0)
        assert result.session is not None, result.cause
    for _ in range(200):
        room = manager_for(switch).find(name)
        if room is not None and room.count >= members:
            return room
        await asyncio.sleep(0.02)
    raise RuntimeError(f"room {name} did not fill")


async def bench(sizes: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as data:
        switch = Switch(conf_dir=CONF, data_dir=Path(data), sounds_dir=ROOT / "sounds")
        await switch.start()
        try:
            print(
                f"{'members':>8} {'update':>10} {'update+listener':>16} {'json.dumps':>11} "
                f"{'mix tick':>10} {'bootstrap':>10}   (CPU µs per call)"
            )
            for i, size in enumerate(sizes):
                name = "q99" if i % 2 == 0 else "q98"
                room = await room_of(switch, size, name)
                await report(switch, room, size)
                await switch.api(f"conference {name} hup all")
                await asyncio.sleep(0.5)
        finally:
            await switch.stop()


async def report(switch: Switch, room: object, size: int) -> None:
    from modules.mod_conference.room import Room

    assert isinstance(room, Room)
    live = room.live
    member = room.members[size // 2]

    def update() -> None:
        # A mute toggles the row; modify builds it, compares and sends (as the talk events do).
        member.can_speak = not member.can_speak
        live.modify(member)

    number = 2000
    alone = cpu_per_call_us(update, number)
    got: list[Event] = []
    remove = switch.events.listen(got.append, wants=lambda name, sub: sub == "verto::broadcast")
    try:
        heard = cpu_per_call_us(update, number)
    finally:
        remove()
    assert got and json.loads(got[-1].body)["action"] == "modify"
    message = {
        "action": "modify",
        "name": live.name,
        "hashKey": member.uuid,
        "wireSerno": 1,
        "data": live.rows[member.uuid],
    }
    dumps = cpu_per_call_us(lambda: json.dumps(message, separators=(",", ":")), number)

    frames = [sine(300.0 + 7 * i, 20, room.rate, 3000.0).astype(np.int16) for i in range(size)]
    slots = np.array([m.slot for m in room.members], dtype=np.intp)
    tick = cpu_per_call_us(lambda: room.board.tick(slots, frames), 200)
    boot = cpu_per_call_us(lambda: live.bootstrap("s"), 200)
    print(f"{size:>8} {alone:>10.1f} {heard:>16.1f} {dumps:>11.1f} {tick:>10.1f} {boot:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="10,50,200")
    args = parser.parse_args()
    asyncio.run(bench([int(x) for x in args.members.split(",")]))


if __name__ == "__main__":
    main()
