"""One event-socket connection's protocol state, without I/O (mod_event_socket.c parse_command).

Theory of operation.  A listener is in one of three phases: AUTH (an inbound
client has been greeted and must send `auth`), READY (authenticated, or an
outbound socket, which is trusted from the start) and CLOSED.  `handle(cmd)`
takes one parsed command block and returns *effects*: replies to send, API
commands to run, messages for a call, events to fire, or Close.  The asyncio
connection carries them out; nothing here touches a socket, the switch or
the clock.  What a listener wants to receive (`wants(event)`) is decided here
too, exactly as mod_event_socket's event_handler: the event list (or ALL),
CUSTOM subclasses, header filters, then the myevents session check.

Commands are tried in FreeSWITCH's order, and an outbound socket without
`full` is refused everything after `sendmsg` with FreeSWITCH's
`-ERR command not found`.
"""

from __future__ import annotations

import hmac
import re
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from switchcore.errors import InvalidTransition
from switchcore.eslwire import (
    DISCONNECT_GOODBYE,
    LOG_DEBUG,
    Command,
    EventFormat,
    log_level_from_string,
)
from switchcore.events import EVENT_NAMES, Event


class Phase(Enum):
    AUTH = "auth"
    READY = "ready"
    CLOSED = "closed"


_TRANSITIONS: frozenset[tuple[Phase, Phase]] = frozenset(
    {(Phase.AUTH, Phase.READY), (Phase.AUTH, Phase.CLOSED), (Phase.READY, Phase.CLOSED)}
)

# The events `myevents` turns on (parse_command, "myevents").
MYEVENTS = (
    "CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
    "CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "CHANNEL_OUTGOING", "CHANNEL_PARK",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE", "CHANNEL_UNBRIDGE", "CHANNEL_UNPARK",
    "DETECTED_SPEECH", "DTMF", "NOTALK", "TALK",
)
_NAMES = frozenset(EVENT_NAMES)


# ---- effects -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """Send `Content-Type: command/reply` with this Reply-Text (and headers)."""

    text: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AuthResult:
    """An `auth` attempt was judged (the connection counts failures per address)."""

    ok: bool


@dataclass(frozen=True, slots=True)
class RunApi:
    """Run `command arg` and send its text as api/response (`detach`: in the background, reply a Job-UUID)."""

    command: str
    arg: str
    detach: bool = False


@dataclass(frozen=True, slots=True)
class RunBgApi:
    """Run `command arg` in the background and fire BACKGROUND_JOB with the result."""

    command: str
    arg: str
    job_uuid: str
    owner: str = ""


@dataclass(frozen=True, slots=True)
class SendMsg:
    """Deliver a sendmsg block to a call; `wait`: reply only once it has been carried out."""

    uuid: str
    message: Command
    wait: bool


@dataclass(frozen=True, slots=True)
class FireEvent:
    name: str
    headers: tuple[tuple[str, str], ...]
    body: str


@dataclass(frozen=True, slots=True)
class ConnectReply:
    """Send the controlled call's channel data as the `connect` reply (outbound sockets)."""


@dataclass(frozen=True, slots=True)
class GetVar:
    name: str


@dataclass(frozen=True, slots=True)
class Flush:
    """Drop what waits to be sent: queued events, queued log lines."""

    events: bool
    logs: bool


@dataclass(frozen=True, slots=True)
class Close:
    """Send a disconnect notice with this message, then close."""

    message: str = DISCONNECT_GOODBYE


Effect = Reply | AuthResult | RunApi | RunBgApi | SendMsg | FireEvent | ConnectReply | GetVar | Flush | Close


def event_name(word: str) -> str | None:
    """An event name as switch_name_event() reads it: any case, with or without `SWITCH_EVENT_`."""
    upper = word.upper()
    if upper.startswith("SWITCH_EVENT_"):
        upper = upper[13:]
    return upper if upper in _NAMES else None


def _header(event: Event, name: str) -> str | None:
    """A header of `event`, matched without regard to case (switch_event_get_header)."""
    value = event.headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, val in event.headers.items():
        if key.lower() == wanted:
            return val
    return None


def _regex(pattern: str) -> re.Pattern[str] | None:
    """A `/regex/` filter value as switch_regex_perform reads it; None when it does not compile."""
    body = pattern[1:-1] if len(pattern) > 1 and pattern.endswith("/") else pattern[1:]
    try:
        return re.compile(body)
    except re.error:
        return None


@dataclass(slots=True)
class ListenerState:
    """What one connection asked for, and the rules that answer its commands."""

    password: str
    session_uuid: str = ""  # the call this listener controls (outbound) or follows (myevents <uuid>)
    outbound: bool = False
    full: bool = True
    async_mode: bool = False
    exists: Callable[[str], bool] = field(default=lambda _uuid: False)
    phase: Phase = Phase.AUTH
    format: EventFormat = EventFormat.PLAIN
    events_on: bool = False
    names: set[str] = field(default_factory=set)
    subclasses: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    myevents: bool = False
    log_level: int | None = None
    linger: int | None = None  # seconds after hangup; -1 for as long as the client stays
    divert: bool = False
    resume: bool = False
    connected: bool = False

    @classmethod
    def for_outbound(cls, session_uuid: str, full: bool, async_mode: bool) -> ListenerState:
        return cls("", session_uuid, True, full, async_mode, phase=Phase.READY)

    def _set_phase(self, new: Phase) -> None:
        if self.phase is new:
            return
        if (self.phase, new) not in _TRANSITIONS:
            raise InvalidTransition(f"event socket listener: {self.phase.value} -> {new.value}")
        self.phase = new

    # ---- commands ------------------------------------------------------------------------------

    def handle(self, cmd: Command) -> list[Effect]:
        """The effects of one command block, in order."""
        if self.phase is Phase.CLOSED:
            return []
        name = cmd.name
        if name in ("exit", "...") or cmd.line.startswith("..."):
            self._set_phase(Phase.CLOSED)
            return [Reply("+OK bye"), Close()]
        if self.phase is Phase.AUTH:
            return self._unauthenticated(cmd)
        for handler in (self._session_commands, self._call_commands):
            effects = handler(cmd)
            if effects is not None:
                return effects
        if self.outbound and not self.full:
            return [Reply("-ERR command not found")]
        effects = self._full_commands(cmd)
        return effects if effects is not None else [Reply("-ERR command not found")]

    def _unauthenticated(self, cmd: Command) -> list[Effect]:
        if cmd.name == "auth":
            if hmac.compare_digest(cmd.arg.encode(), self.password.encode()):
                self._set_phase(Phase.READY)
                return [AuthResult(True), Reply("+OK accepted")]
            self._set_phase(Phase.CLOSED)
            return [AuthResult(False), Reply("-ERR invalid"), Close()]
        if cmd.name == "userauth":
            # Directory users with esl-password are not supported: refuse as a wrong password.
            self._set_phase(Phase.CLOSED)
            return [AuthResult(False), Reply("-ERR invalid"), Close()]
        return [Reply("-ERR command not found")]

    def _session_commands(self, cmd: Command) -> list[Effect] | None:
        name = cmd.name
        if name == "filter":
            return [self._filter(cmd.arg)]
        if name == "resume" and self.session_uuid:
            self.resume = True
            return [Reply("+OK")]
        if self.session_uuid or name == "myevents":
            if name == "connect":
                self.connected = True
                return [ConnectReply()]
            if name == "getvar":
                return [GetVar(cmd.arg)]
            if name == "myevents":
                return [self._myevents(cmd.arg)]
        if name == "divert_events":
            if not self.session_uuid:
                return [Reply("-ERR not controlling a session.")]
            if not cmd.arg:
                return [Reply("-ERR missing value.")]
            self.divert = cmd.arg.lower() == "on"
            return [Reply("+OK events diverted" if self.divert else "+OK events not diverted")]
        return None

    def _call_commands(self, cmd: Command) -> list[Effect] | None:
        if cmd.name != "sendmsg":
            return None
        target = cmd.arg or cmd.header("session-id")
        if target == self.session_uuid:
            target = ""
        if not target and self.session_uuid:
            asynchronous = self.async_mode or cmd.header("async").lower() in ("true", "yes", "on", "1")
            return [SendMsg(self.session_uuid, cmd, wait=self.outbound and not asynchronous)]
        if target and self.exists(target):
            return [SendMsg(target, cmd, wait=False)]
        return [Reply(f"-ERR invalid session id [{target}]")]

    def _full_commands(self, cmd: Command) -> list[Effect] | None:
        name = cmd.name
        if name == "sendevent":
            return self._sendevent(cmd)
        if name == "api":
            command, _, arg = cmd.arg.partition(" ")
            if not command:
                return [Reply("-ERR command not found")]
            # An unload/reload of this very module would end the connection running it (parse_command).
            line = cmd.arg.lower()
            detach = "mod_event_socket" in line and ("unload" in line or "reload" in line)
            return [RunApi(command, arg.strip(), detach)]
        if name == "bgapi":
            command, _, arg = cmd.arg.partition(" ")
            job = cmd.header("job-uuid") or str(uuidlib.uuid4())
            reply = Reply(f"+OK Job-UUID: {job}", (("Job-UUID", job),))
            return [reply, RunBgApi(command, arg.strip(), job, self.session_uuid)]
        if name == "log":
            return [self._log(cmd.arg)]
        if name == "linger":
            return [self._linger(cmd.arg)]
        if name == "nolinger":
            if not self.session_uuid:
                return [Reply("-ERR not controlling a session")]
            self.linger = None
            return [Reply("+OK will not linger")]
        if name == "nolog":
            was = self.log_level is not None
            self.log_level = None
            return [Flush(events=False, logs=True), Reply("+OK no longer logging" if was else "-ERR not loging")]
        if name == "event":
            return [self._event(cmd.arg.split())]
        if name == "nixevent":
            return [self._nixevent(cmd.arg.split())]
        if name == "noevents":
            return [Flush(events=True, logs=False), self._noevents()]
        return None

    def _filter(self, arg: str) -> Reply:
        header, _, value = arg.strip().partition(" ")
        if header.lower() == "delete" and value:
            header, _, value = value.partition(" ")
            if header.lower() == "all":
                self.filters.clear()
            else:
                self.filters = [(h, v) for h, v in self.filters if not (h == header and (not value or v == value))]
            return Reply(f"+OK filter deleted. [{header}][{value}]")
        if not value:
            return Reply("-ERR invalid syntax")
        if header.lower() == "add":
            header, _, value = value.partition(" ")
        self.filters.append((header, value))
        return Reply(f"+OK filter added. [{header}]=[{value}]")

    def _myevents(self, arg: str) -> Reply:
        if self.myevents:
            return Reply("-ERR aready enabled.")
        words = arg.split()
        if not self.session_uuid:
            if not words or not self.exists(words[0]):
                return Reply("-ERR invalid uuid")
            self.session_uuid = words[0]
            self.async_mode = True
        self.names.update(MYEVENTS)
        self.myevents = True
        self.events_on = True
        lowered = arg.lower()
        if "xml" in lowered:
            self.format = EventFormat.XML
        if "json" in lowered:
            self.format = EventFormat.JSON
        return Reply("+OK Events Enabled")

    def _sendevent(self, cmd: Command) -> list[Effect]:
        name = event_name(cmd.arg) if cmd.arg else None
        if name is None:
            return [Reply(f"-ERR invalid event name [{cmd.arg}]")]
        subclass = cmd.header("Event-Subclass")
        if name == "CUSTOM" and not subclass:
            return [Reply("-ERR a CUSTOM event needs an Event-Subclass header")]
        event_uuid = str(uuidlib.uuid4())
        headers = tuple(h for h in cmd.headers if h[0].lower() not in ("event-name", "event-subclass"))
        headers += (("Event-UUID", event_uuid),)
        if subclass:
            headers = (("Event-Subclass", subclass),) + headers
        return [FireEvent(name, headers, cmd.body), Reply(f"+OK {event_uuid}")]

    def _log(self, arg: str) -> Reply:
        level = LOG_DEBUG if not arg else log_level_from_string(arg)
        if level is None:
            return Reply("-ERR invalid log level")
        self.log_level = level
        return Reply(f"+OK log level {arg} [{level}]")

    def _linger(self, arg: str) -> Reply:
        if not self.session_uuid:
            return Reply("-ERR not controlling a session")
        seconds = int(arg) if arg.isdigit() else -1
        self.linger = seconds
        return Reply(f"+OK will linger {seconds} seconds" if seconds != -1 else "+OK will linger")

    def _event(self, words: list[str]) -> Reply:
        keys = 0
        custom = False
        for count, word in enumerate(words):
            if count == 0 and word.lower() in ("plain", "json", "xml"):
                self.format = EventFormat(word.lower())
                continue
            if custom:
                self.subclasses.add(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            self.names.add(name)
            custom = name == "CUSTOM"
        if not keys:
            return Reply("-ERR no keywords supplied")
        self.events_on = True
        return Reply(f"+OK event listener enabled {self.format.value}")

    def _nixevent(self, words: list[str]) -> Reply:
        keys = 0
        custom = False
        for word in words:
            if custom:
                self.subclasses.discard(word)
                continue
            name = event_name(word)
            if name is None:
                continue
            keys += 1
            if name == "CUSTOM":
                custom = True
            elif name == "ALL":
                self.names.clear()
            else:
                if "ALL" in self.names:
                    self.names = set(EVENT_NAMES) - {"ALL"}
                self.names.discard(name)
        if not keys:
            return Reply("-ERR no keywords supplied")
        self.events_on = True
        return Reply("+OK events nixed")

    def _noevents(self) -> Reply:
        if not self.events_on:
            return Reply("-ERR not listening for events")
        self.events_on = False
        self.names.clear()
        self.subclasses.clear()
        return Reply("+OK no longer listening for events")

    # ---- what this listener receives -------------------------------------------------------------

    def wants_name(self, name: str, subclass: str) -> bool:
        """Whether events of this name (and subclass) may go to this listener, filters aside."""
        if not self.events_on or self.phase is not Phase.READY:
            return False
        if "ALL" in self.names:
            return True
        if name not in self.names:
            return False
        return name != "CUSTOM" or not subclass or subclass in self.subclasses

    def wants(self, event: Event) -> bool:
        """Whether `event` goes to this listener (mod_event_socket.c event_handler)."""
        if not self.events_on or self.phase is not Phase.READY:
            return False
        if "ALL" not in self.names:
            if event.name not in self.names:
                return False
            subclass = event.subclass
            if event.name == "CUSTOM" and subclass and subclass not in self.subclasses:
                return False
        if self.filters and not self._passes_filters(event):
            return False
        if self.myevents:
            owner = _header(event, "Unique-ID")
            if owner is None:
                owner = _header(event, "Job-Owner-UUID")
            return owner == self.session_uuid
        return True

    def _passes_filters(self, event: Event) -> bool:
        send = False
        for header, wanted in self.filters:
            value = _header(event, header)
            if value is None:
                continue
            positive = True
            stripped = wanted
            while stripped and stripped[0] in "+- ":
                if stripped[0] != " ":
                    positive = stripped[0] == "+"
                stripped = stripped[1:]
            if send and positive:
                continue
            if wanted.startswith("/"):
                pattern = _regex(stripped)
                matched = pattern is not None and pattern.search(value) is not None
            else:
                matched = value.lower() == stripped.lower()
            if matched:
                if not positive:
                    return False
                send = True
        return send

    def wants_log(self, level: int) -> bool:
        """Log lines at `level` or more severe go to a listener that asked for `log <level>`."""
        return self.log_level is not None and self.log_level >= level and self.phase is Phase.READY
