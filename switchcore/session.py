"""One call leg: its state machine, variables, media and the applications it runs.

Theory of operation: every session has one asyncio task (`_run`) that walks
the channel states of `states.py`.  An inbound leg is routed (the dialplan
hunt gives an application list) and executes that list, one application at a
time, each in its own task so that a hangup or a transfer can cancel it.  An
originated leg waits in CONSUME_MEDIA until it is bridged, given applications
or hung up.  `hangup()` records the cause once, cancels what runs, and the task
then writes the CDR (REPORTING) before the session is destroyed, so a CDR
exists for every leg even when the switch is stopping.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .causes import HangupCause
from .driver import ChannelDriver
from .errors import Hangup, SwitchError
from .events import Event
from .media.frame import Frame
from .profile import CallerProfile
from .states import CallState, ChannelState, check_call_transition, check_channel_transition

if TYPE_CHECKING:
    from .core import Switch
    from .media.tap import MediaTap

log = logging.getLogger("switchcore.session")

CS = ChannelState


@dataclass(frozen=True, slots=True)
class Route:
    """Go (back) to ROUTING with this destination (transfer, originate to an extension)."""

    destination: str
    dialplan: str = "XML"
    context: str = ""


@dataclass(frozen=True, slots=True)
class RunApps:
    """Execute these applications (originate `&app(arg)`, `sendmsg execute`, `uuid_broadcast`)."""

    apps: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Wait:
    """Stop what runs and wait for the next instruction (a leg taken over by `uuid_bridge`)."""


Instruction = Route | RunApps | Wait


class Session:
    """A channel: FreeSWITCH's switch_core_session_t and switch_channel_t in one object."""

    def __init__(
        self,
        switch: Switch,
        driver: ChannelDriver,
        name: str,
        direction: str,
        profile: CallerProfile,
        variables: dict[str, str] | None = None,
        uuid: str | None = None,
        module: str = "",
    ) -> None:
        self.switch = switch
        self.module = module  # the endpoint module that owns this channel (held while it lives)
        self.driver = driver
        self.uuid = uuid or str(uuidlib.uuid4())
        self.name = name
        self.direction = direction  # "inbound" (the far end called us) or "outbound"
        self.profile = profile
        profile.uuid = self.uuid
        profile.chan_name = name
        self.variables: dict[str, str] = dict(variables or {})
        self.state = CS.NEW
        self.call_state = CallState.DOWN
        self.cause = HangupCause.NONE
        self.created = time.time()
        self.progress_time = 0.0
        self.answered_time = 0.0
        self.hangup_time = 0.0
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.read_taps: list[MediaTap] = []
        self.write_taps: list[MediaTap] = []
        self.partner: Session | None = None  # the leg we are bridged to
        self.current_app = ""
        self.current_app_data = ""
        self.app_log: list[tuple[str, str]] = []
        self._instructions: asyncio.Queue[Instruction] = asyncio.Queue()
        self._app_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._hungup = asyncio.Event()
        self._answered = asyncio.Event()
        self._progress = asyncio.Event()
        # Woken on every answer, early media and hangup: what originate waits on instead of polling.
        self.changed: asyncio.Event = asyncio.Event()
        self._destroyed = asyncio.Event()
        self._interrupt: Instruction | None = None
        # Set when this leg is transferred out of a bridge that another leg's app drives.
        self.leave_bridge = asyncio.Event()
        self.transferred_out = False
        self._pending_apps: tuple[tuple[str, str], ...] = ()  # the app running now and those after it
        self._write_resampler: Callable[[Frame], Frame] | None = None
        self._write_resampler_rate = 0

    # ---- life cycle -------------------------------------------------------------------------

    def start(self, instruction: Instruction | None = None) -> None:
        """Start the session's task; inbound legs are routed, originated legs wait for instructions."""
        self.switch.sessions[self.uuid] = self
        self.switch.registry.acquire(self.module)
        self.switch.sessions_since_start += 1
        self.switch.peak_sessions = max(self.switch.peak_sessions, len(self.switch.sessions))
        self.fire("CHANNEL_CREATE")
        if instruction is not None:
            self._instructions.put_nowait(instruction)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"session {self.uuid}")

    async def _run(self) -> None:
        try:
            self._set_state(CS.INIT)
            if self.direction == "inbound":
                await self._instructions.put(Route(self.profile.destination_number, self.profile.dialplan))
            else:
                self._set_state(CS.CONSUME_MEDIA)
            await self._serve()
        except Exception:
            log.exception("[%s] session failed", self.uuid)
            self.hangup(HangupCause.CRASH)
        finally:
            await self._finish()

    async def _serve(self) -> None:
        """Follow instructions until the channel hangs up."""
        while not self.hungup:
            instruction = await self._next_instruction()
            if instruction is None:
                return
            if isinstance(instruction, Wait):
                continue
            if isinstance(instruction, Route):
                apps = await self._route(instruction)
                if apps is None:
                    self.hangup(HangupCause.NO_ROUTE_DESTINATION)
                    return
            else:
                apps = list(instruction.apps)
            if self.hungup:
                return
            if self.state is not CS.EXECUTE:
                self._set_state(CS.EXECUTE)
            await self._execute_list(apps)
            if self.hungup or self._interrupt is not None:
                continue
            if self.state is CS.EXECUTE and self._instructions.empty():
                # The app list is exhausted while still in EXECUTE (switch_core_state_machine.c).
                self.hangup(HangupCause.NORMAL_CLEARING)
                return

    async def _next_instruction(self) -> Instruction | None:
        self._pending_apps = ()
        if self._interrupt is not None:
            instruction, self._interrupt = self._interrupt, None
            return instruction
        if not self._instructions.empty():
            return self._instructions.get_nowait()
        getter = asyncio.ensure_future(self._instructions.get())
        stopper = asyncio.ensure_future(self._hungup.wait())
        try:
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        return None

    async def _route(self, route: Route) -> list[tuple[str, str]] | None:
        self.profile.destination_number = route.destination
        if route.context:
            self.profile.context = route.context
        if route.dialplan:
            self.profile.dialplan = route.dialplan
        self._set_state(CS.ROUTING)
        for name in (self.profile.dialplan or "XML").split(","):
            dialplan_name, _, arg = name.partition(":")
            dialplan = self.switch.registry.dialplans.get(dialplan_name)
            if dialplan is None:
                log.error("[%s] no dialplan named %s", self.uuid, dialplan_name)
                continue
            apps = await dialplan.hunt(self, arg)
            if apps is not None:
                return apps
        log.info(
            "[%s] no route for %s in context %s",
            self.uuid,
            self.profile.destination_number,
            self.profile.context,
        )
        return None

    async def _execute_list(self, apps: Iterable[tuple[str, str]]) -> None:
        todo = list(apps)
        for index, (app, arg) in enumerate(todo):
            if self.hungup or self._interrupt is not None:
                return
            self._pending_apps = tuple(todo[index:])
            await self.execute(app, arg)
        self._pending_apps = ()

    async def execute(self, app: str, arg: str) -> None:
        """Run one application on this channel (expanding `${}` in its data first)."""
        interface = self.switch.registry.applications.get(app)
        if interface is None:
            log.error("[%s] invalid application %s", self.uuid, app)
            self.hangup(HangupCause.INVALID_MSG_UNSPECIFIED)
            return
        data = await self.expand(arg)
        self.current_app, self.current_app_data = app, data
        self.variables["current_application"] = app
        self.variables["current_application_data"] = data
        self.app_log.append((app, data))
        log.info("[%s] EXECUTE %s %s(%s)", self.uuid, self.name, app, data)
        self.fire("CHANNEL_EXECUTE", **{"Application": app, "Application-Data": data})
        self.switch.registry.acquire(interface.module)
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(interface.func(self, data))
        outer = self._app_task  # an application may run others inside itself (socket, sendmsg)
        self._app_task = task
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            # Our own task was cancelled (the switch is stopping): take the app down with us.
            task.cancel()
            raise
        finally:
            self._app_task = outer
            self.switch.registry.release(interface.module)
        if not task.cancelled():
            exc = task.exception()
            if isinstance(exc, SwitchError) and not isinstance(exc, Hangup):
                log.error("[%s] %s failed: %s", self.uuid, app, exc)
            elif exc is not None and not isinstance(exc, Hangup):
                log.error("[%s] application %s failed", self.uuid, app, exc_info=exc)
        self.fire(
            "CHANNEL_EXECUTE_COMPLETE",
            **{"Application": app, "Application-Data": data, "Application-Response": "_none_"},
        )

    def instruct(self, instruction: Instruction, interrupt: bool = False) -> None:
        """Queue work for a parked or waiting channel (originate, sendmsg); `interrupt` stops what runs now."""
        if interrupt:
            if isinstance(instruction, RunApps):
                # As FreeSWITCH's broadcast: run what was sent now, then go on with what was
                # interrupted (a parked call stays parked, a playing one plays again).
                instruction = RunApps((*instruction.apps, *self._pending_apps))
            self._interrupt = instruction
            self._cancel_app()
        else:
            self._instructions.put_nowait(instruction)

    def detach_for_bridge(self) -> None:
        """Stop what this leg runs so another leg's bridge can drive it."""
        self.instruct(Wait(), interrupt=True)

    def transfer(self, destination: str, dialplan: str = "XML", context: str = "") -> None:
        """Stop what runs and route again (the `transfer` application and `uuid_transfer`).

        A leg bridged by the other leg's `bridge` (it runs no application of its own)
        leaves that bridge and is routed; the other leg goes on as after any bridge.
        """
        self._interrupt = Route(destination, dialplan, context or self.profile.context)
        self.variables["transfer_history"] = f"{int(time.time())}:{destination}"
        if self._app_task is None:
            self.transferred_out = True  # the bridge driving this leg lets it go
            self.leave_bridge.set()
            self._instructions.put_nowait(Wait())  # wake the idle task: the interrupt comes next
        self._cancel_app()

    @property
    def runs_app(self) -> bool:
        """Is an application of this session's own running (rather than another leg's bridge driving it)?"""
        task = self._app_task
        return task is not None and not task.done()

    def _cancel_app(self) -> None:
        task = self._app_task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()

    # ---- states and events ------------------------------------------------------------------

    def _set_state(self, new: ChannelState) -> None:
        old = self.state
        if old is new and new is not CS.ROUTING and new is not CS.EXECUTE:
            return
        check_channel_transition(old, new)
        self.state = new
        mirror = self.switch.channel_mirror
        if mirror is not None:
            if new is CS.DESTROY:
                mirror.gone(self)
            else:
                mirror.changed(self)
        log.debug("[%s] %s -> %s", self.uuid, old.value, new.value)
        self.fire("CHANNEL_STATE")

    def set_state(self, new: ChannelState) -> None:
        """Move to `new` (EXCHANGE_MEDIA for bridges, PARK for park) if the table allows it."""
        if self.state is not new:
            self._set_state(new)

    def set_call_state(self, new: CallState) -> None:
        old = self.call_state
        if old is new:
            return
        check_call_transition(old, new)
        self.call_state = new
        self.fire("CHANNEL_CALLSTATE", **{"Original-Channel-Call-State": old.value})

    def fire(self, name: str, subclass: str = "", /, **headers: str) -> Event | None:
        """Fire a channel event with the channel's headers (not built at all when nobody listens)."""
        if not self.switch.events.wanted(name, subclass):
            return None
        event = Event.create(name, subclass)
        event.headers.update(self.event_headers())
        event.headers.update(headers)
        self.switch.events.fire(event)
        return event

    def event_headers(self) -> dict[str, str]:
        answer_state = (
            "hangup" if self.hungup else "answered" if self.answered else "early" if self.early else "ringing"
        )
        headers = {
            "Channel-State": self.state.value,
            "Channel-Call-State": self.call_state.value,
            "Channel-State-Number": str(list(ChannelState).index(self.state)),
            "Channel-Name": self.name,
            "Unique-ID": self.uuid,
            "Call-Direction": self.direction,
            "Presence-Call-Direction": self.direction,
            "Channel-HIT-Dialplan": "true" if self.direction == "inbound" else "false",
            "Channel-Read-Codec-Name": self.driver.read_codec,
            "Channel-Read-Codec-Rate": str(self.driver.rate),
            "Channel-Write-Codec-Name": self.driver.write_codec,
            "Channel-Write-Codec-Rate": str(self.driver.rate),
            "Answer-State": answer_state,
        }
        if self.cause is not HangupCause.NONE:
            headers["Hangup-Cause"] = self.cause.name
        if self.partner is not None:
            headers["Other-Leg-Unique-ID"] = self.partner.uuid
        caller = self.profile.event_headers("Caller")
        caller["Caller-Direction"] = self.direction
        headers.update(caller)
        headers.update({f"variable_{k}": v for k, v in self.variables.items()})
        return headers

    # ---- signalling ---------------------------------------------------------------------------

    @property
    def hungup(self) -> bool:
        return self._hungup.is_set()

    @property
    def answered(self) -> bool:
        return self._answered.is_set()

    @property
    def early(self) -> bool:
        return self._progress.is_set()

    async def answer(self) -> None:
        if self.answered or self.hungup:
            return
        await self.driver.answer()
        self.mark_answered()

    async def pre_answer(self) -> None:
        if self.answered or self.early or self.hungup:
            return
        await self.driver.pre_answer()
        self.mark_early_media()

    async def ring_ready(self) -> None:
        if self.answered or self.hungup:
            return
        await self.driver.ring_ready()
        self.mark_ringing()

    def mark_ringing(self) -> None:
        """The far end rings (180) / we told the caller we ring."""
        if self.hungup or self.answered:
            return
        if self.call_state in (CallState.DOWN, CallState.DIALING):
            self.set_call_state(CallState.RINGING)
            self.fire("CHANNEL_PROGRESS")

    def mark_early_media(self) -> None:
        """Early media flows (183 with SDP)."""
        if self.hungup or self.answered or self.early:
            return
        self.progress_time = time.time()
        self._progress.set()
        self.changed.set()
        self.set_call_state(CallState.EARLY)
        self.fire("CHANNEL_PROGRESS_MEDIA")

    def mark_answered(self) -> None:
        """The call is answered (200 OK sent or received)."""
        if self.hungup or self.answered:
            return
        self.answered_time = time.time()
        self._answered.set()
        self.changed.set()
        self.set_call_state(CallState.ACTIVE)
        self.fire("CHANNEL_ANSWER")

    async def wait_answer(self, timeout: float | None = None) -> bool:
        """Wait for answer (or early media when `early_ok`); False on hangup or timeout."""
        waiter = asyncio.ensure_future(self._answered.wait())
        stopper = asyncio.ensure_future(self._hungup.wait())
        try:
            await asyncio.wait({waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopper.cancel()
        return self.answered and not self.hungup

    async def wait_hangup(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._hungup.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def wait_destroyed(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._destroyed.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def hangup(self, cause: HangupCause = HangupCause.NORMAL_CLEARING) -> None:
        """End the call with `cause`; safe to call more than once (the first cause wins)."""
        if self.hungup:
            return
        self.cause = cause
        self.hangup_time = time.time()
        self.variables.setdefault("hangup_cause", cause.name)
        self.variables.setdefault("hangup_cause_q850", str(int(cause)))
        self._hungup.set()
        self.changed.set()
        log.info("[%s] Hangup %s [%s] [%s]", self.uuid, self.name, self.state.value, cause.name)
        if self.state is not CS.HANGUP:
            self._set_state(CS.HANGUP)
        self.set_call_state(CallState.HANGUP)
        self.fire("CHANNEL_HANGUP", **{"Hangup-Cause": cause.name})
        self._cancel_app()
        if self._task is None:  # never started: finish in the background
            asyncio.get_running_loop().create_task(self._finish())

    async def _finish(self) -> None:
        if self._destroyed.is_set():
            return
        if not self.hungup:
            self.hangup(HangupCause.NORMAL_CLEARING)
        app = self._app_task
        if app is not None and not app.done():
            app.cancel()
            await asyncio.wait({app}, timeout=2)
        try:
            await self.driver.hangup(self.cause)
        except Exception:
            log.exception("[%s] driver hangup failed", self.uuid)
        for tap in list(self.read_taps) + list(self.write_taps):
            self.remove_tap(tap)
        self._set_state(CS.REPORTING)
        await self.switch.write_cdr(self)
        self.fire("CHANNEL_HANGUP_COMPLETE", **self._duration_headers())
        self._set_state(CS.DESTROY)
        self.fire("CHANNEL_DESTROY")
        self.switch.sessions.pop(self.uuid, None)
        self.switch.registry.release(self.module)
        self._destroyed.set()

    def _duration_headers(self) -> dict[str, str]:
        end = self.hangup_time or time.time()
        billsec = int(end - self.answered_time) if self.answered_time else 0
        return {
            "variable_duration": str(int(end - self.created)),
            "variable_billsec": str(billsec),
            "variable_hangup_cause": self.cause.name,
        }

    # ---- variables ----------------------------------------------------------------------------

    def get_var(self, name: str) -> str | None:
        value = self.variables.get(name)
        if value is not None:
            return value
        builtin = {
            "uuid": self.uuid,
            "channel_name": self.name,
            "direction": self.direction,
            "destination_number": self.profile.destination_number,
            "caller_id_number": self.profile.caller_id_number,
            "caller_id_name": self.profile.caller_id_name,
            "context": self.profile.context,
            "network_addr": self.profile.network_addr,
            "ani": self.profile.ani,
            "read_codec": self.driver.read_codec,
            "write_codec": self.driver.write_codec,
            "read_rate": str(self.driver.rate),
            "hangup_cause": self.cause.name if self.cause is not HangupCause.NONE else None,
            "state": self.state.value,
        }.get(name)
        if builtin is not None:
            return builtin
        return self.switch.global_vars.get(name)

    def set_var(self, name: str, value: str | None) -> None:
        if value is None or value == "":
            self.variables.pop(name, None)
        else:
            self.variables[name] = value

    def var_true(self, name: str, default: bool = False) -> bool:
        value = self.get_var(name)
        if value is None:
            return default
        return value.strip().lower() in ("true", "yes", "on", "1", "enabled", "active", "allow")

    async def expand(self, template: str) -> str:
        return await self.switch.expand(template, self)

    # ---- media --------------------------------------------------------------------------------

    @property
    def rate(self) -> int:
        return self.driver.rate

    async def read_frame(self) -> Frame:
        """The next frame the far end sent (paced by the driver); raises Hangup when the call is down."""
        if self.hungup:
            raise Hangup(self.cause.name)
        frame = await self.driver.read_frame()
        for tap in self.read_taps:
            replaced = tap.on_read(self, frame)
            if replaced is not None:
                frame = replaced
        return frame

    async def write_frame(self, frame: Frame) -> None:
        """Send a frame to the far end, resampled to the channel's rate when needed."""
        if self.hungup:
            raise Hangup(self.cause.name)
        if frame.rate != self.driver.rate or frame.channels != 1:
            frame = self._resample_for_write(frame)
        for tap in self.write_taps:
            replaced = tap.on_write(self, frame)
            if replaced is not None:
                frame = replaced
        await self.driver.write_frame(frame)

    def _resample_for_write(self, frame: Frame) -> Frame:
        from .media.convert import FrameConverter

        key = frame.rate * 10 + frame.channels
        if self._write_resampler is None or self._write_resampler_rate != key:
            self._write_resampler = FrameConverter(frame.rate, frame.channels, self.driver.rate, 1)
            self._write_resampler_rate = key
        return self._write_resampler(frame)

    def add_tap(self, tap: MediaTap, read: bool = True, write: bool = True) -> None:
        if read:
            self.read_taps.append(tap)
        if write:
            self.write_taps.append(tap)
        tap.on_start(self)

    def remove_tap(self, tap: MediaTap) -> None:
        was = tap in self.read_taps or tap in self.write_taps
        if tap in self.read_taps:
            self.read_taps.remove(tap)
        if tap in self.write_taps:
            self.write_taps.remove(tap)
        if was:
            tap.on_close(self)

    def queue_dtmf(self, digit: str, source: str = "RTP", duration_ms: int = 100) -> None:
        """A digit arrived (RFC 4733, SIP INFO, Verto, in-band): queue it for applications and fire DTMF."""
        self.fire(
            "DTMF", **{"DTMF-Digit": digit, "DTMF-Duration": str(duration_ms * 8), "DTMF-Source": source}
        )
        listener = self.dtmf_listener
        if listener is not None and listener(digit, duration_ms):
            return  # consumed (a bridge passes it to the other leg)
        self.dtmf.put_nowait(digit)

    # Set by a bridge: gets each digit first; returning True keeps it out of the queue.
    dtmf_listener: Callable[[str, int], bool] | None = None

    def flush_dtmf(self) -> None:
        while not self.dtmf.empty():
            self.dtmf.get_nowait()

    async def send_dtmf(self, digits: str, duration_ms: int = 100) -> None:
        await self.driver.send_dtmf(digits, duration_ms)

    async def sleep(self, seconds: float) -> None:
        """Wait, keeping the channel's media flowing (reading frames), and stop at hangup."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await self.read_frame()

    def __repr__(self) -> str:
        return f"<Session {self.uuid} {self.name} {self.state.value}>"
