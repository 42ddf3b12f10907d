"""Carrying out `sendmsg` on a call (switch_ivr_parse_event): execute an application, or hang up.

Messages for one call are carried out one after another, in the order they
came.  Two ways to run an application:

- A call controlled by an outbound `socket` application runs it *inside* that
  application, as FreeSWITCH runs queued messages inside its park loop: the
  socket application is the call's current application, and each message's
  application is executed nested in it (`InlineRunner`).
- Any other call (`sendmsg <uuid>` on an inbound socket) is instructed through
  the session: a parked or waiting call runs the application and goes back to
  park, as FreeSWITCH's park loop does; a call busy in another application is
  interrupted.  Completion is seen on the event bus (CHANNEL_EXECUTE, then
  CHANNEL_EXECUTE_COMPLETE of that application on that call).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from switchcore.causes import HangupCause
from switchcore.eslwire import Command
from switchcore.events import Event, EventBus
from switchcore.session import RunApps
from switchcore.states import ChannelState

if TYPE_CHECKING:
    from switchcore.session import Session

log = logging.getLogger("mod_event_socket")

_IDLE = (ChannelState.NEW, ChannelState.INIT, ChannelState.CONSUME_MEDIA)


class Switchboard(Protocol):
    """What call control needs of the switch."""

    events: EventBus
    sessions: Any  # Mapping[str, Session]


@dataclass(slots=True)
class Job:
    """One `execute` message: run `app(arg)` `loops` times, then resolve `done`."""

    app: str
    arg: str
    loops: int
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


def _resolved() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


def parse_message(message: Command) -> tuple[str, Job | HangupCause | None]:
    """Read a sendmsg block: ('', Job) to execute, ('', cause) to hang up, or (error, None)."""
    command = message.header("call-command").lower()
    if command == "execute":
        app = message.header("execute-app-name")
        if not app:
            return "-ERR missing execute-app-name", None
        arg = message.header("execute-app-arg")
        if not arg and message.body and message.header("content-type").lower().startswith("text/plain"):
            arg = message.body
        loops = message.header("loops", "1")
        return "", Job(app, arg, max(1, int(loops)) if loops.isdigit() else 1)
    if command == "hangup":
        name = message.header("hangup-cause", "NORMAL_CLEARING").upper()
        cause = HangupCause.__members__.get(name)
        if cause is None and name.isdigit():
            cause = next((c for c in HangupCause if int(c) == int(name)), None)
        return "", cause or HangupCause.NORMAL_CLEARING
    if not command:
        return "-ERR missing call-command", None
    return f"-ERR call-command {command} is not supported", None


class InlineRunner:
    """Runs jobs inside the socket application's own task, one at a time; idles like park meanwhile."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.jobs: asyncio.Queue[Job] = asyncio.Queue()
        self._current: asyncio.Task[None] | None = None
        self._current_app = ""

    def submit(self, job: Job) -> None:
        self.jobs.put_nowait(job)
        # A parked job only waits for the next message (FreeSWITCH runs it from inside park).
        if self._current is not None and self._current_app == "park":
            self._current.cancel()

    async def serve(self, until: Awaitable[Any]) -> None:
        """Run jobs until `until` completes or the call hangs up."""
        stop = asyncio.ensure_future(until)
        hangup = asyncio.ensure_future(self.session.wait_hangup())
        outer = asyncio.current_task()
        try:
            while not stop.done() and not self.session.hungup:
                getter = asyncio.ensure_future(self.jobs.get())
                pump = asyncio.ensure_future(self._idle())
                try:
                    await asyncio.wait({getter, stop, hangup}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    pump.cancel()
                    if not getter.done():
                        getter.cancel()
                if getter.done() and not getter.cancelled():
                    await self._run(getter.result(), outer)
        finally:
            hangup.cancel()
            if not stop.done():
                stop.cancel()
            while not self.jobs.empty():
                self.jobs.get_nowait().finish()

    async def _idle(self) -> None:
        # A channel waiting for its socket keeps reading media, as a parked one does.
        try:
            while not self.session.hungup:
                await self.session.read_frame()
        except Exception:  # Hangup, or a driver without media: nothing to pump
            return

    async def _run(self, job: Job, outer: asyncio.Task[Any] | None) -> None:
        try:
            for _ in range(job.loops):
                if self.session.hungup:
                    break
                self._current_app = job.app
                self._current = asyncio.ensure_future(self.session.execute(job.app, job.arg))
                try:
                    await asyncio.wait({self._current})
                finally:
                    self._current, self._current_app = None, ""
                    _restore_app_task(self.session, outer)
        finally:
            job.finish()


def _restore_app_task(session: Session, outer: asyncio.Task[Any] | None) -> None:
    # Session.execute() forgets the running application when a nested one ends; the socket
    # application is still running, so hang-up and transfer must still be able to stop it.
    if outer is not None and not session.hungup:
        session._app_task = outer


class CallControl:
    """Routes sendmsg blocks to calls: to their socket application's runner, or through the session."""

    def __init__(self, switch: Switchboard) -> None:
        self.switch = switch
        self._inline: dict[str, InlineRunner] = {}
        self._queues: dict[str, asyncio.Queue[Job]] = {}
        self._workers: set[asyncio.Task[None]] = set()

    def attach(self, uuid: str, runner: InlineRunner) -> None:
        self._inline[uuid] = runner

    def detach(self, uuid: str) -> None:
        self._inline.pop(uuid, None)

    def submit(self, uuid: str, message: Command) -> tuple[str, asyncio.Future[None]]:
        """Start carrying out `message`; returns an error reply ('' if none) and a future for its end."""
        session = self.switch.sessions.get(uuid)
        if session is None:
            return f"-ERR invalid session id [{uuid}]", _resolved()
        error, what = parse_message(message)
        if error or what is None:
            return error, _resolved()
        if isinstance(what, HangupCause):
            session.hangup(what)
            return "", _resolved()
        runner = self._inline.get(uuid)
        if runner is not None:
            runner.submit(what)
        else:
            self._enqueue(session, what)
        return "", what.done

    def _enqueue(self, session: Session, job: Job) -> None:
        queue = self._queues.get(session.uuid)
        if queue is not None:
            queue.put_nowait(job)
            return
        queue = asyncio.Queue()
        queue.put_nowait(job)
        self._queues[session.uuid] = queue
        task = asyncio.get_running_loop().create_task(self._work(session, queue))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _work(self, session: Session, queue: asyncio.Queue[Job]) -> None:
        try:
            while not queue.empty():
                job = queue.get_nowait()
                try:
                    for _ in range(job.loops):
                        if session.hungup:
                            break
                        await self._instruct(session, job.app, job.arg)
                finally:
                    job.finish()
        finally:
            while not queue.empty():
                queue.get_nowait().finish()
            self._queues.pop(session.uuid, None)

    async def _instruct(self, session: Session, app: str, arg: str) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        started = False

        def watch(event: Event) -> None:
            nonlocal started
            if event.headers.get("Unique-ID") != session.uuid or event.headers.get("Application") != app:
                return
            if event.name == "CHANNEL_EXECUTE":
                started = True
            elif event.name == "CHANNEL_EXECUTE_COMPLETE" and started and not done.done():
                done.set_result(None)

        idle = session.state in _IDLE
        back_to_park = idle or session.state is ChannelState.PARK
        apps: tuple[tuple[str, str], ...] = ((app, arg),)
        if back_to_park and app != "park":
            apps += (("park", ""),)
        remove = self.switch.events.listen(watch, names=("CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE"))
        hangup: asyncio.Future[Any] = asyncio.ensure_future(session.wait_hangup())
        waiters: set[asyncio.Future[Any]] = {done, hangup}
        try:
            session.instruct(RunApps(apps), interrupt=not idle)
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            remove()
            hangup.cancel()

    async def close(self) -> None:
        for task in list(self._workers):
            task.cancel()
        if self._workers:
            await asyncio.wait(list(self._workers), timeout=1)
