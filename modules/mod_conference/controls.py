"""DTMF caller controls: the digit map of conference.conf.xml and a matcher for it.

`<caller-controls><group name="default"><control action="mute" digits="0"/>...`
names groups of controls; a profile's `caller-controls` picks the group a
member uses and `moderator-controls` the one a moderator uses.  The group
"default" is FreeSWITCH's built-in map (conference_loop.c ccfntbl) when the
configuration does not define it, and "none" turns controls off.

`DigitMatcher` is FreeSWITCH's digit machine (switch_ivr_dmachine) reduced to
what conferences need, sans-I/O: digits and the time go in, a control comes
out.  A sequence that is a control and also the start of a longer one waits
for the inter-digit timeout before it fires; a sequence that can no longer
match anything loses its oldest digits until what is left could.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lxml import etree

__all__ = [
    "ACTIONS",
    "DEFAULT_CONTROLS",
    "Control",
    "ControlGroup",
    "DigitMatcher",
    "parse_control_groups",
]

log = logging.getLogger("mod_conference")

# conference_loop.c control_mappings (the audio ones; video actions are accepted and ignored).
ACTIONS = frozenset(
    {
        "mute",
        "mute on",
        "mute off",
        "deaf mute",
        "deaf",
        "deaf on",
        "deaf off",
        "energy up",
        "energy equ",
        "energy dn",
        "vol talk up",
        "vol talk zero",
        "vol talk dn",
        "vol listen up",
        "vol listen zero",
        "vol listen dn",
        "hangup",
        "event",
        "lock",
        "transfer",
        "execute_application",
        "floor",
        "moh toggle",
        "vmute",
        "vmute on",
        "vmute off",
        "vid-floor",
        "vid-floor-force",
    }
)

DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class Control:
    """One `<control action="..." digits="..." data="..."/>`."""

    action: str
    digits: str
    data: str = ""


@dataclass(frozen=True, slots=True)
class ControlGroup:
    name: str
    controls: tuple[Control, ...]

    def find(self, digits: str) -> Control | None:
        for control in self.controls:
            if control.digits == digits:
                return control
        return None


DEFAULT_CONTROLS = ControlGroup(
    "default",
    (
        Control("mute", "0"),
        Control("deaf mute", "*"),
        Control("energy up", "9"),
        Control("energy equ", "8"),
        Control("energy dn", "7"),
        Control("vol talk up", "3"),
        Control("vol talk zero", "2"),
        Control("vol talk dn", "1"),
        Control("vol listen up", "6"),
        Control("vol listen zero", "5"),
        Control("vol listen dn", "4"),
        Control("hangup", "#"),
    ),
)

NO_CONTROLS = ControlGroup("none", ())


def parse_control_groups(element: etree._Element | None) -> dict[str, ControlGroup]:
    """The groups under `<caller-controls>`; "default" and "none" always exist."""
    groups: dict[str, ControlGroup] = {"default": DEFAULT_CONTROLS, "none": NO_CONTROLS}
    if element is None:
        return groups
    for group in element.iterchildren("group"):
        name = (group.get("name") or "").strip()
        if not name or name == "none":
            continue
        controls: list[Control] = []
        for item in group.iterchildren("control"):
            action = (item.get("action") or "").strip().lower()
            digits = (item.get("digits") or "").strip()
            if action not in ACTIONS:
                log.warning("conference.conf: group %s: unknown control action %r (skipped)", name, action)
                continue
            if not digits or any(d not in DIGITS for d in digits):
                log.warning("conference.conf: group %s: %s has bad digits %r (skipped)", name, action, digits)
                continue
            controls.append(Control(action, digits, (item.get("data") or "").strip()))
        groups[name] = ControlGroup(name, tuple(controls))
    return groups


def pick_group(groups: Mapping[str, ControlGroup], name: str) -> ControlGroup:
    """The group called `name` ("" is "default"); a missing group falls back to "default"."""
    if not name:
        return groups.get("default", DEFAULT_CONTROLS)
    group = groups.get(name)
    if group is None:
        log.warning("conference: no caller-controls group %r; using default", name)
        return groups.get("default", DEFAULT_CONTROLS)
    return group


class DigitMatcher:
    """Turns a stream of digits into controls of one group (time is an input, in seconds)."""

    def __init__(self, controls: Iterable[Control], timeout: float = 0.5) -> None:
        self.controls = {c.digits: c for c in controls}
        self.timeout = timeout
        self.buffer = ""
        self._since = 0.0

    @property
    def pending(self) -> bool:
        return bool(self.buffer)

    def feed(self, digit: str, now: float) -> Control | None:
        """A digit arrived: the control it completes, if any."""
        self.buffer += digit
        self._since = now
        while self.buffer:
            longer = any(d != self.buffer and d.startswith(self.buffer) for d in self.controls)
            exact = self.controls.get(self.buffer)
            if exact is not None and not longer:
                self.buffer = ""
                return exact
            if exact is not None or longer:
                return None  # wait for more digits or the timeout
            # nothing starts like this: drop the oldest digit and try what is left
            self.buffer = self.buffer[1:] if len(self.buffer) > 1 else ""
        return None

    def expire(self, now: float) -> Control | None:
        """Called while digits wait: after the timeout, an exact match fires and the rest is dropped."""
        if not self.buffer or now - self._since < self.timeout:
            return None
        control = self.controls.get(self.buffer)
        self.buffer = ""
        return control
