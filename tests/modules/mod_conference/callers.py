"""Test callers: the far end of loopback legs that join rooms, each sending a tone and keeping what it hears."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modules.mod_conference import Room, manager_for
from switchcore.core import Switch
from switchcore.errors import Hangup
from switchcore.events import Event
from switchcore.media.frame import Frame
from switchcore.originate import originate
from switchcore.session import Session

ROOT_SOUNDS = Path(__file__).resolve().parents[3] / "sounds"


async def dial(switch: Switch, dest: str, **variables: str) -> Session:
    """Call `dest` over loopback; the answered A-leg is ours to play the caller on."""
    prefix = "{" + ",".join(f"{k}={v}" for k, v in variables.items()) + "}" if variables else ""
    result = await originate(switch, f"{prefix}loopback/{dest}", timeout=5.0)
    assert result.session is not None, f"{dest} failed: {result.cause.name}"
    return result.session


class Caller:
    """Sends `freq` (None: silence) every 20 ms on its leg and keeps every frame it reads back."""

    def __init__(self, session: Session, freq: float | None = None, amplitude: float = 8000.0) -> None:
        self.session = session
        self.freq = freq
        self.amplitude = amplitude
        self.heard: list[np.ndarray] = []
        self._n = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def rate(self) -> int:
        return self.session.rate

    def _chunk(self) -> np.ndarray:
        size = self.rate // 50
        if self.freq is None:
            self._n += size
            return np.zeros(size, dtype=np.int16)
        t = (np.arange(size) + self._n) / self.rate
        self._n += size
        return np.rint(self.amplitude * np.sin(2 * np.pi * self.freq * t)).astype(np.int16)

    async def step(self) -> None:
        await self.session.write_frame(Frame(self._chunk(), self.rate))
        frame = await self.session.read_frame()
        self.heard.append(frame.samples.copy())

    async def _loop(self) -> None:
        try:
            while True:
                await self.step()
        except Hangup:
            return

    def start(self) -> Caller:
        self._task = asyncio.get_running_loop().create_task(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def mark(self) -> int:
        """A position in `heard`, to look at what was heard after it."""
        return len(self.heard)

    def since(self, mark: int, skip_ms: int = 0) -> np.ndarray:
        frames = self.heard[mark + skip_ms // 20 :]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)

    def last(self, ms: int) -> np.ndarray:
        frames = self.heard[-(ms // 20) :]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


async def wait_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def count(switch: Switch, name: str) -> int:
    """Members of a room (0 when there is no such room)."""
    found = manager_for(switch).find(name)
    return found.count if found is not None else 0


def room(switch: Switch, name: str) -> Room:
    found = manager_for(switch).find(name)
    assert found is not None, f"no room {name}"
    return found


async def join(
    switch: Switch, dest: str, name: str, size: int, freq: float | None = None, **variables: str
) -> Caller:
    """Dial into a room and wait until it has `size` members."""
    caller = Caller(await dial(switch, dest, **variables), freq).start()
    await wait_until(lambda: count(switch, name) >= size, what=f"{name} has {size}")
    return caller


class Events:
    """conference::maintenance events fired while attached."""

    def __init__(self, switch: Switch, subclass: str = "conference::maintenance") -> None:
        self.events: list[Event] = []
        self.subclass = subclass
        self._remove = switch.events.listen(self._take)

    def _take(self, event: Event) -> None:
        if event.subclass == self.subclass:
            self.events.append(event)

    def actions(self) -> list[str]:
        return [e.get("Action") for e in self.events]

    def of_channel_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.get("Event-Channel-Type") == kind]

    def of(self, action: str) -> list[Event]:
        return [e for e in self.events if e.get("Action") == action]

    async def wait(self, action: str, count: int = 1, timeout: float = 5.0) -> list[Event]:
        await wait_until(lambda: len(self.of(action)) >= count, timeout, what=f"{count} {action} event(s)")
        return self.of(action)

    def close(self) -> None:
        self._remove()
