"""The in-process event bus, with FreeSWITCH's event names and headers.

Events are plain header maps (as FreeSWITCH's `switch_event_t`) so the event
socket can serialise them exactly as FreeSWITCH does.  Firing never blocks:
each subscriber has a bounded queue, and a subscriber whose queue is full is
marked `overflowed` and loses the event; the caller (a call's task) never waits
for a slow consumer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger("switchcore.events")

EVENT_NAMES: tuple[str, ...] = (
    "CUSTOM", "CLONE", "CHANNEL_CREATE", "CHANNEL_DESTROY", "CHANNEL_STATE", "CHANNEL_CALLSTATE",
    "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HOLD", "CHANNEL_UNHOLD", "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE",
    "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_OUTGOING", "CHANNEL_PARK", "CHANNEL_UNPARK",
    "CHANNEL_APPLICATION", "CHANNEL_ORIGINATE", "CHANNEL_UUID", "API", "LOG", "INBOUND_CHAN",
    "OUTBOUND_CHAN", "STARTUP", "SHUTDOWN", "PUBLISH", "UNPUBLISH", "TALK", "NOTALK", "SESSION_CRASH",
    "MODULE_LOAD", "MODULE_UNLOAD", "DTMF", "MESSAGE", "PRESENCE_IN", "NOTIFY_IN", "PRESENCE_OUT",
    "PRESENCE_PROBE", "MESSAGE_WAITING", "MESSAGE_QUERY", "ROSTER", "CODEC", "BACKGROUND_JOB",
    "DETECTED_SPEECH", "DETECTED_TONE", "PRIVATE_COMMAND", "HEARTBEAT", "TRAP", "ADD_SCHEDULE",
    "DEL_SCHEDULE", "EXE_SCHEDULE", "RE_SCHEDULE", "RELOADXML", "NOTIFY", "PHONE_FEATURE",
    "PHONE_FEATURE_SUBSCRIBE", "SEND_MESSAGE", "RECV_MESSAGE", "REQUEST_PARAMS", "CHANNEL_DATA",
    "GENERAL", "COMMAND", "SESSION_HEARTBEAT", "CLIENT_DISCONNECTED", "SERVER_DISCONNECTED",
    "SEND_INFO", "RECV_INFO", "RECV_RTCP_MESSAGE", "SEND_RTCP_MESSAGE", "CALL_SECURE", "NAT",
    "RECORD_START", "RECORD_STOP", "PLAYBACK_START", "PLAYBACK_STOP", "CALL_UPDATE", "FAILURE",
    "SOCKET_DATA", "MEDIA_BUG_START", "MEDIA_BUG_STOP", "CONFERENCE_DATA_QUERY", "CONFERENCE_DATA",
    "CALL_SETUP_REQ", "CALL_SETUP_RESULT", "CALL_DETAIL", "DEVICE_STATE", "TEXT", "SHUTDOWN_REQUESTED",
    "ALL",
)
_KNOWN = frozenset(EVENT_NAMES)

HOSTNAME = socket.gethostname()
CORE_UUID = str(uuidlib.uuid4())
_sequence = itertools.count(1)


_date_cache: tuple[int, str, str] = (0, "", "")


def _dates(second: int) -> tuple[str, str]:
    """Event-Date-Local and Event-Date-GMT, formatted once per second (they change no faster)."""
    global _date_cache
    if _date_cache[0] != second:
        local = datetime.fromtimestamp(second).strftime("%Y-%m-%d %H:%M:%S")
        gmt = datetime.fromtimestamp(second, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
        _date_cache = (second, local, gmt)
    return _date_cache[1], _date_cache[2]


@dataclass(slots=True)
class Event:
    """One event: its name, ordered headers and an optional body.

    `headers` keeps insertion order, which is the order the event socket writes.
    """

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    @classmethod
    def create(cls, event_name: str, subclass: str = "", /, **extra: str) -> Event:
        """An event with FreeSWITCH's standard headers filled in (switch_event_prep_for_delivery)."""
        name = event_name
        if name not in _KNOWN:
            raise ValueError(f"unknown event name {name!r}")
        if name == "CUSTOM" and not subclass:
            raise ValueError("a CUSTOM event needs a subclass")
        now = time.time()
        local_text, gmt_text = _dates(int(now))
        headers = {"Event-Name": name}
        if subclass:
            headers["Event-Subclass"] = subclass
        headers.update(
            {
                "Core-UUID": CORE_UUID,
                "FreeSWITCH-Hostname": HOSTNAME,
                "FreeSWITCH-Switchname": HOSTNAME,
                "FreeSWITCH-IPv4": "127.0.0.1",
                "FreeSWITCH-IPv6": "::1",
                "Event-Date-Local": local_text,
                "Event-Date-GMT": gmt_text,
                "Event-Date-Timestamp": str(int(now * 1_000_000)),
                "Event-Calling-File": "switchcore",
                "Event-Calling-Function": name.lower(),
                "Event-Calling-Line-Number": "0",
                "Event-Sequence": str(next(_sequence)),
            }
        )
        headers.update(extra)
        return cls(name, headers)

    @property
    def subclass(self) -> str:
        return self.headers.get("Event-Subclass", "")

    def get(self, header: str, default: str = "") -> str:
        return self.headers.get(header, default)

    def add(self, header: str, value: object) -> Event:
        self.headers[header] = str(value)
        return self


@dataclass(slots=True)
class Subscription:
    """A subscriber's view of the bus: what it wants, and a bounded queue of what it got."""

    names: set[str]
    subclasses: set[str]
    queue: asyncio.Queue[Event]
    overflowed: bool = False
    dropped: int = 0
    on_overflow: Callable[[Subscription], None] | None = None

    def wants(self, event: Event) -> bool:
        if "ALL" in self.names:
            return True
        if event.name == "CUSTOM":
            return "CUSTOM" in self.names and (not self.subclasses or event.subclass in self.subclasses)
        return event.name in self.names


@dataclass(slots=True)
class _Listener:
    callback: Callable[[Event], None]
    names: frozenset[str] | None
    predicate: Callable[[str, str], bool] | None

    def wants(self, name: str, subclass: str) -> bool:
        if self.names is None and self.predicate is None:
            return True
        if self.names is not None and ("ALL" in self.names or name in self.names):
            return True
        return self.predicate is not None and self.predicate(name, subclass)


class EventBus:
    """Fan-out of events to subscribers; firing is synchronous and never blocks."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._listeners: list[_Listener] = []

    def subscribe(
        self,
        names: Iterable[str] = ("ALL",),
        subclasses: Iterable[str] = (),
        maxsize: int = 10_000,
        on_overflow: Callable[[Subscription], None] | None = None,
    ) -> Subscription:
        sub = Subscription(set(names), set(subclasses), asyncio.Queue(maxsize), on_overflow=on_overflow)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def wanted(self, name: str, subclass: str = "") -> bool:
        """Would anyone receive this event?  Firers skip building events nobody wants."""
        for listener in self._listeners:
            if listener.wants(name, subclass):
                return True
        for sub in self._subs:
            named = "ALL" in sub.names or name in sub.names
            if named and (name != "CUSTOM" or not sub.subclasses or subclass in sub.subclasses):
                return True
        return False

    def listen(
        self,
        callback: Callable[[Event], None],
        names: Iterable[str] | None = None,
        wants: Callable[[str, str], bool] | None = None,
    ) -> Callable[[], None]:
        """A synchronous in-process listener (must be quick); returns a function that removes it.

        `names` (event names, "ALL" for all) or `wants(name, subclass)` say what it wants, so
        events nobody wants are never built; with neither it gets every event.
        """
        listener = _Listener(callback, frozenset(names) if names is not None else None, wants)
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def fire(self, event: Event) -> None:
        for listener in list(self._listeners):
            if not listener.wants(event.name, event.subclass):
                continue
            try:
                listener.callback(event)
            except Exception:  # a listener's bug must not break the caller's call
                log.exception("event listener failed on %s", event.name)
        for sub in list(self._subs):
            if not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                sub.dropped += 1
                if not sub.overflowed:
                    sub.overflowed = True
                    if sub.on_overflow is not None:
                        sub.on_overflow(sub)
