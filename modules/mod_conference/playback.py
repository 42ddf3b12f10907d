"""Files played into a room or to one member (FreeSWITCH's conference file nodes).

A `Player` holds a queue of sources played one after the other (`fnode`) and
at most one source played on top of it (`async_fnode`: `play <file> async`,
and the music on hold).  `read()` returns the next frame of everything that
plays, mixed, at the room's rate, or None when nothing plays.

Sources come from switchcore.media.sources (files, tone_stream://,
local_stream:// ...), opened at the room's rate.  A frame of another rate,
channel count or length (a stereo file, a stream that ignores the rate it was
asked for) is converted or fitted, never trusted: FreeSWITCH crashed on such
files (signalwire/freeswitch #2669).  A source that fails while playing ends
that item with an error rather than the room.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from switchcore.media.convert import FrameConverter
from switchcore.media.frame import Frame, Samples
from switchcore.media.sources import FrameSource, SourceError

__all__ = ["PlayItem", "Player"]

log = logging.getLogger("mod_conference")

Opener = Callable[[str], FrameSource]


@dataclass(slots=True)
class PlayItem:
    """One file node: what plays, and how it ended."""

    spec: str
    source: FrameSource | None = None
    is_async: bool = False
    loop: bool = False  # music on hold: reopen when it ends
    tag: str = ""  # "moh", "alone", "enter" ... for the room's own bookkeeping
    status: str = "playing"  # "done", "stopped", "error"
    error: str = ""
    frames: int = 0
    _converter: FrameConverter | None = field(default=None, repr=False)
    _converter_key: tuple[int, int] = (0, 0)


class Player:
    """A queue of sources and one async source, read one frame at a time."""

    def __init__(self, rate: int, samples: int, opener: Opener) -> None:
        self.rate = rate
        self.samples = samples
        self._open = opener
        self.queue: deque[PlayItem] = deque()
        self.async_item: PlayItem | None = None
        self.finished: list[PlayItem] = []  # ended since the owner last collected them

    @property
    def busy(self) -> bool:
        return bool(self.queue) or self.async_item is not None

    def playing(self, tag: str) -> bool:
        return any(item.tag == tag for item in self.queue) or (
            self.async_item is not None and self.async_item.tag == tag
        )

    def play(self, spec: str, *, is_async: bool = False, loop: bool = False, tag: str = "") -> PlayItem:
        """Queue `spec` (async: replace what plays on top); raises SourceError when it cannot be opened."""
        item = PlayItem(spec, self._open(spec), is_async, loop, tag)
        if is_async:
            if self.async_item is not None:
                self._end(self.async_item, "stopped")
            self.async_item = item
        else:
            self.queue.append(item)
        return item

    def stop(self, which: str = "all", tag: str = "") -> int:
        """Stop "all" (queue and async), "current" (the head of the queue) or "async"; returns how many."""
        stopped: list[PlayItem] = []
        if which in ("all", "current") and self.queue:
            stopped.extend(self.queue if which == "all" else [self.queue[0]])
        if which in ("all", "async") and self.async_item is not None:
            stopped.append(self.async_item)
        if tag:
            stopped = [item for item in stopped if item.tag == tag]
        for item in stopped:
            self._remove(item)
            self._end(item, "stopped")
        return len(stopped)

    def read(self) -> Samples | None:
        """The next frame of what plays (queue head plus async), or None when nothing does."""
        main = self._read_queue()
        extra = self._read_async()
        if main is None:
            return extra
        if extra is None:
            return main
        total = main.astype(np.int32) + extra
        out: Samples = np.clip(total, -32768, 32767).astype(np.int16)
        return out

    def collect(self) -> list[PlayItem]:
        """Items that ended since the last call (for play-file-done events)."""
        done, self.finished = self.finished, []
        return done

    def close(self) -> None:
        """Stop everything (the room or member is going away)."""
        self.stop("all")

    # ---- internals ------------------------------------------------------------------------------

    def _read_queue(self) -> Samples | None:
        while self.queue:
            item = self.queue[0]
            samples = self._next(item)
            if samples is not None:
                return samples
            self.queue.popleft()
            self._end(item, item.status if item.status != "playing" else "done")
        return None

    def _read_async(self) -> Samples | None:
        item = self.async_item
        if item is None:
            return None
        samples = self._next(item)
        if samples is None:
            self.async_item = None
            self._end(item, item.status if item.status != "playing" else "done")
        return samples

    def _next(self, item: PlayItem) -> Samples | None:
        for _attempt in range(2):
            source = item.source
            if source is None:
                return None
            try:
                frame = source.read_frame()
            except Exception as exc:  # a broken file ends the item, never the room
                log.error("conference playback %s failed: %s", item.spec, exc)
                item.status, item.error = "error", str(exc)
                return None
            if frame is not None:
                item.frames += 1
                return self._conform(item, frame)
            if not item.loop or item.frames == 0:
                return None
            source.close()
            try:
                item.source = self._open(item.spec)
            except SourceError as exc:
                item.source = None
                item.status, item.error = "error", str(exc)
                return None
        return None

    def _conform(self, item: PlayItem, frame: Frame) -> Samples:
        """The frame as mono int16 at the room's rate and exactly one interval long."""
        samples = frame.samples
        if frame.rate != self.rate or frame.channels != 1:
            key = (frame.rate, frame.channels)
            if item._converter is None or item._converter_key != key:
                item._converter = FrameConverter(frame.rate, frame.channels, self.rate, 1)
                item._converter_key = key
            samples = item._converter(frame).samples
        if len(samples) == self.samples and samples.dtype == np.int16:
            return samples
        fitted = np.zeros(self.samples, dtype=np.int16)
        count = min(len(samples), self.samples)
        fitted[:count] = np.asarray(samples[:count], dtype=np.int16)
        return fitted

    def _remove(self, item: PlayItem) -> None:
        if item is self.async_item:
            self.async_item = None
        elif item in self.queue:
            self.queue.remove(item)

    def _end(self, item: PlayItem, status: str) -> None:
        item.status = status
        if item.source is not None:
            try:
                item.source.close()
            except Exception:
                log.exception("conference playback %s: close failed", item.spec)
            item.source = None
        self.finished.append(item)
