"""Conference profiles from conference.conf.xml (`<profiles><profile name="default">`).

A profile is read when a room is created (as FreeSWITCH does: a running room
keeps the settings it started with, `reloadxml` affects the next room).  The
params are FreeSWITCH's names; a bad value is logged and the default kept, an
unknown param is logged once per load, so a typo never stops a call.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from lxml import etree

from .controls import ControlGroup, parse_control_groups
from .flags import CONFERENCE_FLAGS, MEMBER_FLAGS, parse_flags

__all__ = ["RATES", "SOUND_PARAMS", "ConferenceConfig", "Profile", "parse_config", "parse_profile"]

log = logging.getLogger("mod_conference")

RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000)
DEFAULT_COMFORT_NOISE = 1400  # conference_new: comfort-noise "true" means level 1400

SOUND_PARAMS = (
    "enter-sound",
    "exit-sound",
    "alone-sound",
    "moh-sound",
    "muted-sound",
    "unmuted-sound",
    "mute-detect-sound",
    "kicked-sound",
    "locked-sound",
    "is-locked-sound",
    "is-unlocked-sound",
    "pin-sound",
    "bad-pin-sound",
    "max-members-sound",
    "deaf-sound",
    "undeaf-sound",
    "perpetual-sound",
    "join-only-sound",
)

_STRING_PARAMS = {
    "caller-controls": "caller_controls",
    "moderator-controls": "moderator_controls",
    "pin": "pin",
    "moderator-pin": "moderator_pin",
    "sound-prefix": "sound_prefix",
    "auto-record": "auto_record",
    "caller-id-name": "caller_id_name",
    "caller-id-number": "caller_id_number",
    "domain": "domain",
    "tts-engine": "tts_engine",
    "tts-voice": "tts_voice",
}
_INT_PARAMS = {
    "interval": ("interval", 10, 120),
    "energy-level": ("energy_level", 0, 32767),
    "pin-retries": ("pin_retries", 1, 100),
    "max-members": ("max_members", 0, 1_000_000),
    "endconf-grace-time": ("endconf_grace_time", 0, 86_400),
    "channels": ("channels", 1, 2),
    "min-required-recording-participants": ("min_recording_participants", 1, 1_000_000),
}
_IGNORED_PARAMS = frozenset(
    {
        "timer-name",
        "video-mode",
        "video-layout-name",
        "video-canvas-size",
        "video-fps",
        "video-codec-bandwidth",
        "verbose-events",
        "ivr-dtmf-timeout",
        "ivr-input-timeout",
        "auto-gain-level",
        "announce-count",
        "outcall-templ",
        "cdr-log-dir",
        "cdr-event-mode",
        "conference-flags-extra",
        "terminate-on-silence",
        "broadcast-chat-messages",
        "member-flags-extra",
        "max-member-sound",  # FreeSWITCH's old spelling
    }
)


@dataclass(frozen=True, slots=True)
class Profile:
    """One `<profile>`: the settings a room starts with."""

    name: str = "default"
    rate: int = 8000
    interval: int = 20
    channels: int = 1
    energy_level: int = 100
    comfort_noise: int = 0  # the noise level divisor; 0 = off
    member_flags: frozenset[str] = frozenset()
    conference_flags: frozenset[str] = frozenset()
    caller_controls: str = "default"
    moderator_controls: str = ""
    pin: str = ""
    moderator_pin: str = ""
    pin_retries: int = 3
    max_members: int = 0
    sound_prefix: str = ""
    auto_record: str = ""
    min_recording_participants: int = 1
    endconf_grace_time: int = 0
    suppress_events: frozenset[str] = frozenset()
    caller_id_name: str = ""
    caller_id_number: str = ""
    domain: str = ""
    tts_engine: str = ""
    tts_voice: str = ""
    sounds: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def sound(self, param: str) -> str:
        """The value of a sound param ("enter-sound" ...), "" when unset."""
        return self.sounds.get(param, "")


def _bool(value: str) -> bool | None:
    low = value.strip().lower()
    if low in ("true", "yes", "on", "1", "enabled", "active", "allow"):
        return True
    if low in ("false", "no", "off", "0", "disabled", "inactive", "deny"):
        return False
    return None


def parse_profile(element: etree._Element, name: str | None = None) -> Profile:
    """A `<profile>` element -> Profile (bad values are logged and left at their defaults)."""
    pname = name or element.get("name") or "default"
    values: dict[str, object] = {"name": pname}
    sounds: dict[str, str] = {}
    for param in element.iterchildren("param"):
        key = (param.get("name") or "").strip().lower()
        value = param.get("value")
        if not key or value is None:
            continue
        value = value.strip()
        if key in SOUND_PARAMS:
            sounds[key] = value
        elif key in _STRING_PARAMS:
            values[_STRING_PARAMS[key]] = value
        elif key in _INT_PARAMS:
            attr, low, high = _INT_PARAMS[key]
            try:
                number = int(value)
            except ValueError:
                number = low - 1
            if low <= number <= high:
                values[attr] = number
            else:
                log.warning(
                    "conference profile %s: %s=%r is not in %d..%d; ignored", pname, key, value, low, high
                )
        elif key == "rate":
            try:
                rate = int(value)
            except ValueError:
                rate = 0
            if rate in RATES:
                values["rate"] = rate
            elif value.lower() == "auto":
                values["rate"] = 48000
            else:
                log.warning(
                    "conference profile %s: rate=%r is not one of %s; using 8000", pname, value, RATES
                )
        elif key == "comfort-noise":
            flag = _bool(value)
            if flag is not None:
                values["comfort_noise"] = DEFAULT_COMFORT_NOISE if flag else 0
            elif value.isdigit():
                values["comfort_noise"] = int(value)
            else:
                log.warning("conference profile %s: comfort-noise=%r is not a boolean or level", pname, value)
        elif key in ("member-flags", "conference-flags"):
            known = MEMBER_FLAGS if key == "member-flags" else CONFERENCE_FLAGS
            flags, unknown = parse_flags(value, known)
            for bad in unknown:
                log.warning("conference profile %s: unknown %s %r", pname, key, bad)
            values["member_flags" if key == "member-flags" else "conference_flags"] = flags
        elif key == "suppress-events":
            values["suppress_events"] = frozenset(v.strip() for v in value.split(",") if v.strip())
        elif key not in _IGNORED_PARAMS:
            log.warning("conference profile %s: unknown param %r", pname, key)
    values["sounds"] = MappingProxyType(sounds)
    return Profile(**values)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class ConferenceConfig:
    """Everything conference.conf.xml holds: profiles and caller-control groups."""

    profiles: Mapping[str, Profile]
    control_groups: Mapping[str, ControlGroup]

    def profile(self, name: str) -> Profile:
        """The named profile; an unknown name gets the built-in defaults (and a warning), as FreeSWITCH."""
        found = self.profiles.get(name)
        if found is not None:
            return found
        log.warning("conference: no profile named %r; using built-in defaults", name)
        return replace(Profile(), name=name)


def parse_config(element: etree._Element | None) -> ConferenceConfig:
    """The `<configuration name="conference.conf">` element (None: no file, only defaults)."""
    profiles: dict[str, Profile] = {}
    groups = parse_control_groups(None)
    if element is not None:
        for section in element.iterchildren("profiles"):
            for item in section.iterchildren("profile"):
                name = (item.get("name") or "").strip()
                if name:
                    profiles[name] = parse_profile(item, name)
        for section in element.iterchildren("caller-controls"):
            groups = parse_control_groups(section)
    return ConferenceConfig(MappingProxyType(profiles), MappingProxyType(groups))
