"""mod_local_stream: `local_stream://<name>`, a looping stream every listener hears at the same place.

The stream's audio (every WAV of its directory, in order) is loaded once at
the stream's rate; a listener starts at the stream's current position, which
follows wall-clock time, so two callers on hold hear the same bar of music,
as with FreeSWITCH's shared stream, without a task per stream.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from switchcore.media.frame import Frame, Samples
from switchcore.media.sources import SourceError
from switchcore.media.wavfile import WavError, WavReader
from switchcore.module import Module

if TYPE_CHECKING:
    from switchcore.core import Switch

log = logging.getLogger("mod_local_stream")

module = Module("mod_local_stream", "Shared looping streams (music on hold)")


@dataclass(slots=True)
class StreamDef:
    name: str
    path: Path
    rate: int
    shuffle: bool = False


class SharedStream:
    def __init__(self, definition: StreamDef) -> None:
        self.definition = definition
        self.rate = definition.rate
        self.frame = self.rate // 50
        chunks: list[Samples] = []
        files = sorted(p for p in definition.path.glob("*.wav") if p.is_file())
        for file in files:
            try:
                reader = WavReader(file, rate=self.rate, channels=1)
            except (WavError, OSError) as exc:
                log.error("local_stream %s: skipping %s: %s", definition.name, file, exc)
                continue
            try:
                while (frame := reader.read_frame()) is not None:
                    chunks.append(frame.samples)
            finally:
                reader.close()
        if not chunks:
            raise SourceError(f"local_stream {definition.name}: no playable files in {definition.path}")
        self.audio = np.concatenate(chunks)
        self.frames = len(self.audio) // self.frame
        self.epoch = time.monotonic()

    def position(self) -> int:
        return int((time.monotonic() - self.epoch) * 50) % self.frames


class StreamListener:
    def __init__(self, stream: SharedStream) -> None:
        self.stream = stream
        self.rate = stream.rate
        self.index = stream.position()

    def read_frame(self) -> Frame | None:
        s = self.stream
        start = self.index * s.frame
        samples = s.audio[start : start + s.frame]
        self.index = (self.index + 1) % s.frames
        return Frame(samples, s.rate)

    def close(self) -> None:
        return None


class LocalStreams:
    def __init__(self) -> None:
        self.definitions: dict[str, StreamDef] = {}
        self.streams: dict[str, SharedStream] = {}

    def configure(self, switch: Switch) -> None:
        assert switch.config is not None
        element = switch.config.current.configuration("local_stream.conf")
        self.definitions.clear()
        self.streams.clear()
        if element is None:
            return
        for directory in element.iter("directory"):
            name, path = directory.get("name", ""), directory.get("path", "")
            params = {p.get("name", ""): p.get("value", "") for p in directory.iter("param")}
            try:
                rate = int(params.get("rate") or "8000")
            except ValueError:
                log.error("local_stream %s: bad rate %r", name, params.get("rate"))
                continue
            if name and path:
                self.definitions[name] = StreamDef(name, Path(path), rate, params.get("shuffle") == "true")

    def open(self, rest: str, rate: int) -> StreamListener:
        name = rest.strip().strip("/")
        for key in (f"{name}/{rate}", name, *[f"{name}/{r}" for r in (48000, 16000, 8000)]):
            definition = self.definitions.get(key)
            if definition is None:
                continue
            stream = self.streams.get(key)
            if stream is None:
                stream = self.streams[key] = SharedStream(definition)
            return StreamListener(stream)
        raise SourceError(f"no local stream named {name}")


streams = LocalStreams()
module.add_file_format("local_stream", streams.open)


@module.loaded
async def _load(switch: Switch) -> None:
    streams.configure(switch)
