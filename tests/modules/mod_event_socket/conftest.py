"""Fixtures: a minimal in-process switch (core + loopback, dptools, commands, a dict dialplan) and
an event socket server on a test port (15500-15599), plus a small raw ESL client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from modules.mod_event_socket.declaration import module, running
from modules.mod_event_socket.server import EventSocketServer
from modules.mod_event_socket.settings import EslSettings
from switchcore.core import Switch
from switchcore.eslwire import Command, Frame, FrameReader
from switchcore.media.clock import MediaClock
from switchcore.module import Module

_ports = itertools.count(15500)


def next_port() -> int:
    """A fresh port in this module's range for each server a test starts."""
    port = next(_ports)
    if port > 15579:
        raise RuntimeError("test ports 15500-15579 used up in one run")
    return port


@dataclass
class DictDialplan:
    """`XML` by destination number: a fixed application list per number (no conf tree needed)."""

    routes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    name: str = "XML"

    async def hunt(self, session: Any, arg: str) -> list[tuple[str, str]] | None:
        return self.routes.get(session.profile.destination_number)


async def minimal_switch(tmp_path: Path, routes: dict[str, list[tuple[str, str]]] | None = None) -> Switch:
    """A switch that is not booted from XML: modules are put in place by hand."""
    sw = Switch(data_dir=tmp_path / "data")
    clock = MediaClock(20)
    clock.start()
    sw.clock = clock
    for name in ("mod_commands", "mod_dptools", "mod_loopback", "mod_tone_stream"):
        mod = sw.loader.import_module(name)
        if mod.on_load is not None:
            await mod.on_load(sw)
        sw.registry.add(mod)
    plan = Module("test_dialplan")
    plan.add_dialplan(DictDialplan(routes or {"9999": [("answer", ""), ("park", "")]}))  # type: ignore[arg-type]
    sw.registry.add(plan)
    return sw


async def stop_switch(sw: Switch) -> None:
    await sw.hangup_all(sw_cause(), timeout=2)
    sw.clock.stop()


def sw_cause() -> Any:
    from switchcore.causes import HangupCause

    return HangupCause.SYSTEM_SHUTDOWN


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[Switch]:
    sw = await minimal_switch(tmp_path)
    try:
        yield sw
    finally:
        await stop_switch(sw)


@pytest.fixture
async def esl(core: Switch) -> AsyncIterator[EventSocketServer]:
    """An event socket server on 127.0.0.1, registered as the switch's hub (so `socket` works)."""
    server = EventSocketServer(core, EslSettings(listen_port=next_port(), max_queue=200))
    await server.start()
    running[core] = server
    core.registry.add(module)  # its `socket` application, without the load hook's own listener
    try:
        yield server
    finally:
        core.registry.remove(module.name)
        running.pop(core, None)
        await server.stop()


class RawClient:
    """The smallest ESL client: send command blocks, read frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames = FrameReader()
        self.raw = bytearray()
        self.backlog: list[Frame] = []  # events and log lines read while waiting for a reply

    @classmethod
    async def connect(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def frame(self, timeout: float = 5.0) -> Frame:
        while True:
            frame = self.frames.next_frame()
            if frame is not None:
                return frame
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise ConnectionError("closed by the switch")
            self.raw += data
            self.frames.receive_data(data)

    async def send(self, line: str, *headers: tuple[str, str], body: str = "") -> None:
        self.writer.write(bytes(Command(line, tuple(headers), body)))
        await self.writer.drain()

    async def command(self, line: str, *headers: tuple[str, str], body: str = "") -> Frame:
        await self.send(line, *headers, body=body)
        return await self.reply()

    async def reply(self) -> Frame:
        """The next reply; events and log lines that arrive meanwhile are kept for `event()`."""
        while True:
            frame = await self.frame()
            if frame.content_type in ("command/reply", "api/response", "text/disconnect-notice"):
                return frame
            self.backlog.append(frame)

    async def next_unreplied(self, timeout: float) -> Frame:
        if self.backlog:
            return self.backlog.pop(0)
        return await self.frame(timeout)

    async def event(self, name: str, timeout: float = 5.0, **match: str) -> Frame:
        """The next event called `name` (whose headers match `match`), skipping others."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            frame = await self.next_unreplied(max(0.01, end - loop.time()))
            if not frame.content_type.startswith("text/event-"):
                continue
            data = frame.event()
            if data.name == name and all(data.get(k.replace("_", "-")) == v for k, v in match.items()):
                return frame

    async def login(self, password: str = "ClueCon") -> Frame:
        greeting = await self.frame()
        assert greeting.content_type == "auth/request"
        return await self.command(f"auth {password}")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


@pytest.fixture
async def client(esl: EventSocketServer) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(esl.address[1])
    reply = await c.login()
    assert reply.reply_text == "+OK accepted"
    try:
        yield c
    finally:
        await c.close()
