"""Event channels (`verto.subscribe`, `verto.unsubscribe`, `verto.broadcast`, `verto.event`) and
mod_verto's CUSTOM events (`verto::login`, `verto::client_connect`, `verto::client_disconnect`).

Event channels are names a browser subscribes to ("conference-liveArray.3000@dom",
"demo", its own sessid).  A subscriber of "a.b" hears what is sent to "a.b";
a subscriber of the main channel "a" hears everything sent to "a.<anything>"
too (mod_verto.c jsock_send_event writes to the channel and to its main
channel).  Every delivery carries the subscriber's own running `eventSerno`.
Who may subscribe or broadcast is the user's `jsonrpc-allowed-event-channels`;
a browser may always use its own sessid and the uuids of its own calls.

`EventChannels` only keeps the bookkeeping (no I/O): it says which subscriber
gets which params, and the service sends them.

Other modules reach browsers through the event bus, never by importing this
one: a CUSTOM event with subclass `verto::broadcast`, an `Event-Channel`
header and a JSON body is delivered as `verto.event` on that channel, as
`{"eventChannel": <channel>, "data": <body>}` (a live-array message), or, when
the body carries `pvtData` (header `Event-Channel-Type: channelPvtData`), with
the body's members at the top (`{"eventChannel", "eventType", "pvtData"}`, the
shape verto.js reads).  It goes to the channel's subscribers, or straight to one
socket when the channel is its sessid or the uuid of its call.  The other way,
every `verto.broadcast` of a browser is fired as CUSTOM `verto::client_broadcast`
(`Event-Channel`, `verto_login`, `verto_sessid`, the params as JSON body), for
the modules that own channels (conference chat and moderator controls).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from switchcore.core import Switch
from switchcore.events import Event

LOGIN = "verto::login"
CLIENT_CONNECT = "verto::client_connect"
CLIENT_DISCONNECT = "verto::client_disconnect"
BROADCAST = "verto::broadcast"  # the seam other modules use to reach browsers
CLIENT_BROADCAST = "verto::client_broadcast"  # what browsers broadcast, for other modules

Subscriber = Hashable


@dataclass(slots=True)
class _Subscription:
    serno: int = 0


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    subscribed: tuple[str, ...] = ()
    unauthorized: tuple[str, ...] = ()
    already: tuple[str, ...] = ()

    def as_result(self) -> dict[str, Any]:
        """mod_verto's reply: only the non-empty lists appear."""
        out: dict[str, Any] = {}
        if self.subscribed:
            out["subscribedChannels"] = list(self.subscribed)
        if self.unauthorized:
            out["unauthorizedChannels"] = list(self.unauthorized)
        if self.already:
            out["alreadySubscribedChannels"] = list(self.already)
        return out


@dataclass(slots=True)
class EventChannels:
    """Who is subscribed to which channel, with each subscriber's serial number per channel."""

    _channels: dict[str, dict[Subscriber, _Subscription]] = field(default_factory=dict)

    def subscribe(self, who: Subscriber, channels: Iterable[str], allowed: Any) -> SubscribeResult:
        """Subscribe `who` to each channel `allowed(channel)` permits."""
        subscribed: list[str] = []
        unauthorized: list[str] = []
        already: list[str] = []
        for channel in channels:
            if not allowed(channel):
                unauthorized.append(channel)
                continue
            members = self._channels.setdefault(channel, {})
            if who in members:
                already.append(channel)
            else:
                members[who] = _Subscription()
                subscribed.append(channel)
        return SubscribeResult(tuple(subscribed), tuple(unauthorized), tuple(already))

    def unsubscribe(self, who: Subscriber, channels: Iterable[str]) -> tuple[list[str], list[str]]:
        """(unsubscribed, not subscribed)."""
        done: list[str] = []
        missing: list[str] = []
        for channel in channels:
            members = self._channels.get(channel)
            if members is not None and members.pop(who, None) is not None:
                done.append(channel)
                if not members:
                    del self._channels[channel]
            else:
                missing.append(channel)
        return done, missing

    def drop(self, who: Subscriber) -> int:
        """Forget every subscription of `who` (its socket closed); returns how many there were."""
        count = 0
        for channel in list(self._channels):
            members = self._channels[channel]
            if members.pop(who, None) is not None:
                count += 1
            if not members:
                del self._channels[channel]
        return count

    def subscribers(self, channel: str) -> list[Subscriber]:
        return list(self._channels.get(channel, {}))

    def channels_of(self, who: Subscriber) -> list[str]:
        return [c for c, members in self._channels.items() if who in members]

    def deliveries(self, channel: str, params: dict[str, Any]) -> list[tuple[Subscriber, dict[str, Any]]]:
        """The `verto.event` params each subscriber of `channel` (or of its main channel) gets."""
        out: list[tuple[Subscriber, dict[str, Any]]] = []
        targets = [channel]
        main = channel.partition(".")[0]
        if main != channel:
            targets.append(main)
        seen: set[Subscriber] = set()
        for target in targets:
            for who, sub in self._channels.get(target, {}).items():
                if who in seen:
                    continue
                seen.add(who)
                delivered = dict(params)
                delivered["eventSerno"] = sub.serno
                delivered["subscribedChannel"] = target
                sub.serno += 1
                out.append((who, delivered))
        return out

    def __len__(self) -> int:
        return sum(len(m) for m in self._channels.values())


def channel_list(value: Any) -> list[str] | None:
    """`eventChannel` as a list of names (a string or an array of strings); None when malformed."""
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return list(value)
    return None


def fire(switch: Switch, subclass: str, **headers: str) -> None:
    """Fire one of mod_verto's CUSTOM events."""
    switch.events.fire(Event.create("CUSTOM", subclass, **headers))


def fire_login(
    switch: Switch, profile: str, address: str, login: str, sessid: str, ok: bool, text: str
) -> None:
    """verto::login, as mod_verto.c login_fire_custom_event (verto_sessid only on success)."""
    headers = {"verto_profile_name": profile, "verto_client_address": address, "verto_login": login}
    if ok:
        headers["verto_sessid"] = sessid
    headers["verto_success"] = "1" if ok else "0"
    headers["verto_result_txt"] = text
    fire(switch, LOGIN, **headers)


def broadcast_target(event: Event) -> str | None:
    """The channel of a `verto::broadcast` bus event, or None when the event is something else."""
    if event.name != "CUSTOM" or event.subclass != BROADCAST:
        return None
    return event.get("Event-Channel") or None


def channel_event(channel: str, body: Any, kind: str = "") -> dict[str, Any]:
    """The `verto.event` params for a bus message on `channel` (see the module docstring)."""
    if isinstance(body, dict) and (kind == "channelPvtData" or "pvtData" in body):
        return {"eventChannel": channel, **{k: v for k, v in body.items() if k != "eventChannel"}}
    return {"eventChannel": channel, "data": body}


def fire_client_broadcast(
    switch: Switch, channel: str, login: str, sessid: str, params: dict[str, Any]
) -> None:
    event = Event.create(
        "CUSTOM", CLIENT_BROADCAST, **{"Event-Channel": channel, "verto_login": login, "verto_sessid": sessid}
    )
    event.body = json.dumps(params, separators=(",", ":"))
    switch.events.fire(event)
