"""Helpers for driving loopback calls from a test: act as the far end of an A-leg."""

from __future__ import annotations

import asyncio

import numpy as np

from switchcore.core import Switch
from switchcore.events import Event
from switchcore.media.analysis import sine
from switchcore.media.frame import Frame
from switchcore.originate import originate
from switchcore.session import Session


async def call(switch: Switch, dialstring: str, timeout: float = 5.0) -> Session:
    """Originate and return the answered A-leg (the test plays the caller on it)."""
    result = await originate(switch, dialstring, timeout=timeout)
    assert result.session is not None, f"{dialstring} failed: {result.cause.name}"
    return result.session


async def talk(
    session: Session, freq: float | None, seconds: float, samples: list[np.ndarray] | None = None
) -> np.ndarray:
    """Send a tone (or silence) for `seconds` while collecting what comes back; returns what was heard."""
    rate = session.rate
    heard: list[np.ndarray] = [] if samples is None else samples
    frames = int(seconds * 50)
    tone = sine(freq, seconds * 1000, rate) if freq else np.zeros(rate * frames // 50, dtype=np.int16)
    n = rate // 50
    for i in range(frames):
        await session.write_frame(Frame(tone[i * n : (i + 1) * n].astype(np.int16), rate))
        frame = await session.read_frame()
        heard.append(frame.samples)
    return np.concatenate(heard) if heard else np.zeros(0, dtype=np.int16)


class EventLog:
    """Every event fired while it is attached, for ordering assertions."""

    def __init__(self, switch: Switch) -> None:
        self.events: list[Event] = []
        self._remove = switch.events.listen(self.events.append)

    def names(self, uuid: str | None = None) -> list[str]:
        return [e.name for e in self.events if uuid is None or e.get("Unique-ID") == uuid]

    def close(self) -> None:
        self._remove()

    async def wait_for(self, predicate, timeout: float = 5.0) -> Event:  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            for event in self.events:
                if predicate(event):
                    return event
            await asyncio.sleep(0.02)
        raise AssertionError("event not seen in time")
