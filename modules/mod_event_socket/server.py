"""The event socket's asyncio side: the TCP listener, one `Connection` per client, the event fan-out.

Each connection owns a sans-I/O `CommandReader` and `ListenerState`; bytes
read from the socket go in, effects come out and are carried out here.
Replies are written as soon as they are ready, in command order (an `api`
command is answered before the next command is read, as FreeSWITCH does).
Events and log lines go through a bounded per-connection queue drained by a
writer task: the switch fires an event in O(listeners) without waiting for
anyone, and a client whose queue fills up -- it stopped reading -- is
disconnected with a log line (mod_event_socket.c kills a listener that misses
too many events).  One listener on the event bus and one logging handler feed
every connection, inbound and outbound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from switchcore.eslwire import (
    DISCONNECT_GOODBYE,
    Command,
    CommandReader,
    EslWireError,
    EventFormat,
    LogLine,
    api_response,
    auth_request,
    command_reply,
    disconnect_notice,
    event_frame,
    linger_notice,
    log_frame,
    rude_rejection,
    serialize_event,
    serialize_plain,
)
from switchcore.events import Event, EventBus

from .acl import Acl
from .control import CallControl
from .guard import AuthGuard
from .listener import (
    AuthResult,
    Close,
    ConnectReply,
    Effect,
    FireEvent,
    Flush,
    GetVar,
    ListenerState,
    Phase,
    Reply,
    RunApi,
    RunBgApi,
    SendMsg,
)
from .loghandler import LogFanout
from .settings import EslSettings

if TYPE_CHECKING:
    from switchcore.session import Session

log = logging.getLogger("mod_event_socket")

AUTH_TIMEOUT = 25.0  # seconds an inbound client has to authenticate (read_packet(listener, &event, 25))
SHUTDOWN_NOTICE = "The system is being shut down.\n"


class SwitchLike(Protocol):
    """What the event socket needs of the switch."""

    events: EventBus
    sessions: Any  # Mapping[str, Session]

    async def api(self, line: str, session: Any = None) -> str: ...


class PendingEvent:
    """An event waiting in connection queues, serialised at most once per format."""

    __slots__ = ("event", "_frames")

    def __init__(self, event: Event) -> None:
        self.event = event
        self._frames: dict[EventFormat, bytes] = {}

    def frame(self, fmt: EventFormat) -> bytes:
        data = self._frames.get(fmt)
        if data is None:
            serialized = serialize_event(self.event.headers.items(), self.event.body, fmt)
            data = self._frames[fmt] = event_frame(serialized, fmt)
        return data


Outgoing = PendingEvent | LogLine


class Connection:
    """One client (inbound) or one outbound socket to a call-control server."""

    def __init__(
        self,
        hub: EventSocketServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        state: ListenerState,
        session: Session | None = None,
    ) -> None:
        self.hub = hub
        self.reader = reader
        self.writer = writer
        self.state = state
        self.session = session
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        self.address = str(peer[0])
        settings = hub.settings
        limit = settings.pre_auth_max_command if state.phase is Phase.AUTH else settings.max_command
        self.commands = CommandReader(limit, 0 if state.phase is Phase.AUTH else settings.max_body)
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue(settings.max_queue)
        self.closing = False
        self.closed = asyncio.Event()
        self._idle = asyncio.Event()  # no command is being carried out
        self._idle.set()
        self._notice_sent = False

    # ---- reading commands -------------------------------------------------------------------------

    async def run(self) -> None:
        self.hub.connections.add(self)
        writer_task = asyncio.get_running_loop().create_task(self._write_loop())
        watcher = None
        try:
            if self.session is None:
                self._send(auth_request())
            else:
                watcher = asyncio.get_running_loop().create_task(self._watch_session(self.session))
            await self._read_loop()
        except (ConnectionError, OSError):
            pass
        finally:
            self.hub.connections.discard(self)
            self.hub.logs_changed()
            self.closing = True
            writer_task.cancel()
            if watcher is not None:
                watcher.cancel()
            await self._shut(DISCONNECT_GOODBYE)
            self.closed.set()

    async def _read_loop(self) -> None:
        while not self.closing:
            timeout = AUTH_TIMEOUT if self.state.phase is Phase.AUTH else None
            try:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
            except TimeoutError:
                log.info("event socket %s: no authentication within %d s; closing", self.peer, AUTH_TIMEOUT)
                return
            if not data:
                return
            try:
                self.commands.receive_data(data)
                while not self.closing and (command := self.commands.next_command()) is not None:
                    self._idle.clear()
                    try:
                        await self._dispatch(command)
                    finally:
                        self._idle.set()
            except EslWireError as exc:
                log.warning("event socket %s: %s; closing the connection", self.peer, exc)
                await self._shut(f"-ERR {exc}\n")
                return

    async def _dispatch(self, command: Command) -> None:
        for effect in self.state.handle(command):
            await self._carry_out(effect)
            if self.closing:
                return
        self.hub.logs_changed()

    async def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, Reply):
            self._send(command_reply(effect.text, dict(effect.headers)))
        elif isinstance(effect, AuthResult):
            await self._auth_result(effect.ok)
        elif isinstance(effect, RunApi):
            await self._api(effect)
        elif isinstance(effect, RunBgApi):
            self.hub.spawn(self.hub.background_job(effect.command, effect.arg, effect.job_uuid, effect.owner))
        elif isinstance(effect, SendMsg):
            await self._sendmsg(effect)
        elif isinstance(effect, FireEvent):
            self._fire(effect)
        elif isinstance(effect, ConnectReply):
            self._send(self._channel_data())
        elif isinstance(effect, GetVar):
            value = self.session.get_var(effect.name) if self.session is not None else None
            self._send(command_reply(value or ""))
        elif isinstance(effect, Flush):
            self._flush(effect.events, effect.logs)
        elif isinstance(effect, Close):
            await self._shut(effect.message)

    async def _auth_result(self, ok: bool) -> None:
        guard = self.hub.guard
        if ok:
            guard.succeeded(self.address)
            self.commands.max_head = self.hub.settings.max_command
            self.commands.max_body = self.hub.settings.max_body
            return
        delay = guard.failed(self.address, self.hub.clock())
        log.warning("event socket %s: authentication failed", self.peer)
        if delay > 0:
            await asyncio.sleep(delay)

    async def _api(self, effect: RunApi) -> None:
        line = f"{effect.command} {effect.arg}".strip()
        if effect.detach:
            job = str(uuidlib.uuid4())
            self.hub.spawn(self.hub.background_job(effect.command, effect.arg, job, ""))
            self._send(api_response(f"+OK Job-UUID: {job}\n"))
            return
        result = await self.hub.switch.api(line)
        if not self.closing:
            self._send(api_response(result))

    async def _sendmsg(self, effect: SendMsg) -> None:
        error, done = self.hub.control.submit(effect.uuid, effect.message)
        if not error and effect.wait:
            await done
        self._send(command_reply(error or "+OK"))

    def _fire(self, effect: FireEvent) -> None:
        subclass = next((v for k, v in effect.headers if k == "Event-Subclass"), "")
        event = Event.create(effect.name, subclass)
        event.headers.update((k, v) for k, v in effect.headers if k != "Event-Subclass")
        event.body = effect.body
        self.hub.switch.events.fire(event)

    def _channel_data(self) -> bytes:
        """The `connect` reply: the call's data as a plain event, then the reply headers (parse_command)."""
        headers = dict(Event.create("CHANNEL_DATA").headers)
        session = self.session
        if session is not None:
            headers.update(session.profile.event_headers("Channel"))
            headers.update(session.event_headers())
            headers.setdefault("variable_uuid", session.uuid)
            headers.setdefault("variable_call_uuid", session.uuid)
        headers["Content-Type"] = "command/reply"
        headers["Reply-Text"] = "+OK\n"
        headers["Socket-Mode"] = "async" if self.state.async_mode else "static"
        headers["Control"] = "full" if self.state.full else "single-channel"
        return serialize_plain(headers.items()).encode("utf-8")

    # ---- writing ------------------------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def push(self, item: Outgoing) -> None:
        """Queue an event or a log line; a full queue means the client stopped reading."""
        if self.closing:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.closing = True
            log.warning(
                "event socket %s: disconnected, %d events and log lines wait unread (max-queue); "
                "the client is not reading",
                self.peer,
                self.queue.qsize(),
            )
            self.writer.transport.abort()

    async def _write_loop(self) -> None:
        # Everything queued is written in one go (one send, one drain), however many frames it is.
        try:
            while True:
                batch = [self._frame(await self.queue.get())]
                size = len(batch[0])
                while size < 262_144 and not self.queue.empty():
                    batch.append(self._frame(self.queue.get_nowait()))
                    size += len(batch[-1])
                self._send(b"".join(batch))
                for _ in batch:
                    self.queue.task_done()
                await self.writer.drain()
        except (ConnectionError, OSError):
            self.closing = True

    def _frame(self, item: Outgoing) -> bytes:
        return item.frame(self.state.format) if isinstance(item, PendingEvent) else log_frame(item)

    def _flush(self, events: bool, logs: bool) -> None:
        kept: list[Outgoing] = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            self.queue.task_done()
            if (events and isinstance(item, PendingEvent)) or (logs and isinstance(item, LogLine)):
                continue
            kept.append(item)
        for item in kept:
            self.queue.put_nowait(item)

    async def _shut(self, message: str) -> None:
        """Send the disconnect notice (once) and close the socket."""
        self.closing = True
        if not self._notice_sent and not self.writer.is_closing():
            self._notice_sent = True
            uuid = self.session.uuid if self.session is not None else ""
            self._send(disconnect_notice(message, uuid))
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(self.writer.drain(), 2)
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (TimeoutError, ConnectionError, OSError):
            self.writer.transport.abort()

    # ---- outbound: the controlled call ----------------------------------------------------------

    async def _watch_session(self, session: Session) -> None:
        """When the call hangs up: linger (keep sending its last events), or say goodbye and close."""
        await session.wait_hangup()
        # A command in progress (a static sendmsg that hung up the call) is answered first,
        # as FreeSWITCH replies before its next read notices the channel is down.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 5)
        linger = self.state.linger
        if linger is None:
            await self._drain_queue(1.0)
            await self._shut(DISCONNECT_GOODBYE)
            self.reader.feed_eof()
            return
        self._send(linger_notice(session.uuid, session.name, linger))
        if linger < 0:
            return
        await asyncio.sleep(linger)
        await self._drain_queue(1.0)
        await self._shut(DISCONNECT_GOODBYE)
        self.reader.feed_eof()

    async def _drain_queue(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    async def close(self, message: str) -> None:
        """Close from outside (module shutdown), with `message` as the disconnect notice."""
        await self._shut(message)


class EventSocketServer:
    """The module's hub: the listening socket, every connection, the event and log fan-out."""

    def __init__(
        self,
        switch: SwitchLike,
        settings: EslSettings,
        acl: Acl | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.switch = switch
        self.settings = settings
        self.acl = acl if acl is not None else Acl(settings.inbound_acl)
        self.clock = clock
        self.guard = AuthGuard(settings.auth_delay_after, settings.auth_ban_after, settings.auth_ban_seconds)
        self.control = CallControl(switch)
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unlisten: Callable[[], None] | None = None
        self._logs: LogFanout | None = None
        self.address: tuple[str, int] = (settings.listen_ip, settings.listen_port)

    async def start(self, listen: bool = True) -> None:
        """Join the event bus and the log, then (unless `listen` is False) open the TCP listener."""
        self._unlisten = self.switch.events.listen(self._on_event, wants=self._wants)
        self._logs = LogFanout(self._on_log, asyncio.get_running_loop())
        self._logs.install()
        if listen:
            host = None if self.settings.listen_ip in ("::", "") else self.settings.listen_ip
            self._server = await asyncio.start_server(self._accept, host, self.settings.listen_port)
            sockname = self._server.sockets[0].getsockname()
            self.address = (str(sockname[0]), int(sockname[1]))
            log.info("event socket listening on %s:%d", self.settings.listen_ip, self.address[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._unlisten is not None:
            self._unlisten()
        if self._logs is not None:
            self._logs.uninstall()
        connections = list(self.connections)
        for conn in connections:
            await conn.close(SHUTDOWN_NOTICE)
        await self.control.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ---- accepting ----------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("", 0)
        host = str(peer[0])
        refusal = ""
        if not self.acl.allows(host):
            log.warning('event socket: IP %s rejected by acl "%s"', host, self.acl.denying(host))
            refusal = "Access Denied, go away.\n"
        elif (left := self.guard.refused_for(host, self.clock())) > 0:
            log.warning("event socket: IP %s refused for %d s more after failed logins", host, left)
            refusal = "Too many failed logins, try again later.\n"
        if refusal:
            writer.write(rude_rejection(refusal))
            with contextlib.suppress(TimeoutError, ConnectionError, OSError):
                await asyncio.wait_for(writer.drain(), 2)
            writer.close()
            return
        conn = Connection(self, reader, writer, ListenerState(self.settings.password, exists=self._exists))
        await conn.run()

    def outbound(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: Session,
        full: bool,
        async_mode: bool,
    ) -> Connection:
        """A connection for the `socket` application: already trusted, bound to its call."""
        state = ListenerState.for_outbound(session.uuid, full, async_mode)
        state.exists = self._exists
        conn = Connection(self, reader, writer, state, session)
        self.spawn(conn.run())
        return conn

    def _exists(self, uuid: str) -> bool:
        return uuid in self.switch.sessions

    # ---- fan-out ------------------------------------------------------------------------------------

    def _wants(self, name: str, subclass: str) -> bool:
        """Does any connection subscribe to events named so (so the core builds them at all)?"""
        return any(conn.state.wants_name(name, subclass) for conn in self.connections)

    def _on_event(self, event: Event) -> None:
        pending: PendingEvent | None = None
        for conn in list(self.connections):
            if conn.state.wants(event):
                if pending is None:
                    pending = PendingEvent(event)
                conn.push(pending)

    def _on_log(self, line: LogLine) -> None:
        for conn in list(self.connections):
            if conn.state.wants_log(line.level):
                conn.push(line)

    def logs_changed(self) -> None:
        """Python logging goes down to the most verbose level a connected client asked for, no further."""
        if self._logs is not None:
            levels = [c.state.log_level for c in self.connections if c.state.log_level is not None]
            self._logs.need(max(levels) if levels else None)

    async def background_job(self, command: str, arg: str, job_uuid: str, owner: str) -> None:
        """Run a bgapi command and fire its BACKGROUND_JOB event (api_exec with bg set)."""
        line = f"{command} {arg}".strip()
        try:
            result = await self.switch.api(line)
        except Exception as exc:  # switch.api answers -ERR itself; this is a last resort
            result = f"-ERR {exc}\n"
        headers = {"Job-UUID": job_uuid, "Job-Command": command}
        if arg:
            headers["Job-Command-Arg"] = arg
        if owner:
            headers["Job-Owner-UUID"] = owner
        event = Event.create("BACKGROUND_JOB", **headers)
        event.body = result or "Command returned no output!"
        self.switch.events.fire(event)
