"""Member and conference flags, and the `conference` application's argument.

The application's data is FreeSWITCH's (mod_conference.c, conference_function):

    <name>[@<profile>][+<pin>][+flags{<flag>|<flag>...}]
    bridge:<name>:<dialstring>

`+flags{...}` is cut out first, then the PIN after the first `+`, then the
profile after the last `@`; a missing profile is "default".  Flags are
separated by `|` (FreeSWITCH also accepts `,` in `member-flags`); unknown
flags are reported back so the caller can log them, never raised: a typo in a
dialplan must not keep a caller out of the room.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONFERENCE_FLAGS",
    "MEMBER_FLAGS",
    "JoinSpec",
    "parse_flags",
    "parse_join",
]

# conference_utils_set_mflags: the member flags FreeSWITCH knows (audio-relevant ones act here).
MEMBER_FLAGS = frozenset(
    {
        "mute",
        "deaf",
        "moderator",
        "endconf",
        "mandatory_member_endconf",
        "mintwo",
        "nomoh",
        "dist-dtmf",
        "skip-dtmf",
        "ghost",
        "join-only",
        "mute-detect",
        "talk-data-events",
        "vmute",
        "join-vid-floor",
        "second-screen",
        "positional",
        "no-positional",
        "flip-video",
        "no-minimize-encoding",
    }
)

# conference_utils_set_cflags.
CONFERENCE_FLAGS = frozenset(
    {
        "wait-mod",
        "audio-always",
        "restart-auto-record",
        "json-events",
        "livearray-sync",
        "livearray-json-status",
        "json-status",
        "rfc-4579",
        "auto-3d-position",
        "minimize-video-encoding",
        "video-floor-only",
        "video-bridge-first-two",
        "video-required-for-canvas",
        "video-mute-exit-canvas",
        "manage-inbound-video-bitrate",
        "personal-canvas",
        "transcode-video",
        "enforce-security",
    }
)


def parse_flags(text: str, known: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    """`"mute|deaf"` -> ({"mute", "deaf"}, unknown names in the order written)."""
    found: set[str] = set()
    unknown: list[str] = []
    for raw in text.replace(",", "|").split("|"):
        name = raw.strip().lower()
        if not name:
            continue
        if name in known:
            found.add(name)
        else:
            unknown.append(name)
    return frozenset(found), tuple(unknown)


@dataclass(frozen=True, slots=True)
class JoinSpec:
    """What the dialplan asked for: the room, its profile, a PIN and member flags."""

    name: str
    profile: str = "default"
    pin: str = ""
    flags: frozenset[str] = frozenset()
    unknown_flags: tuple[str, ...] = ()
    bridge_to: str = ""  # `bridge:<name>:<dialstring>`

    @property
    def target(self) -> str:
        """`name@profile`, as `conference <name> transfer` and `dial` write it."""
        return f"{self.name}@{self.profile}"


_FLAGS_PREFIX = "+flags{"


def parse_join(arg: str) -> JoinSpec:
    """Parse the `conference` application's data; raises ValueError when no room is named."""
    data = arg.strip()
    bridge_to = ""
    if data.startswith("bridge:"):
        _, _, rest = data.partition(":")
        data, _, bridge_to = rest.partition(":")
        if not bridge_to:
            raise ValueError("bridge:<name>:<dialstring> needs a dial string")
    flags: frozenset[str] = frozenset()
    unknown: tuple[str, ...] = ()
    start = data.find(_FLAGS_PREFIX)
    if start >= 0:
        end = data.find("}", start)
        body = data[start + len(_FLAGS_PREFIX) : end if end >= 0 else len(data)]
        flags, unknown = parse_flags(body, MEMBER_FLAGS)
        data = data[:start] + (data[end + 1 :] if end >= 0 else "")
    name, _, pin = data.partition("+")
    name, at, profile = name.rpartition("@") if "@" in name else (name, "", "")
    name = name.strip()
    if not name:
        raise ValueError("the conference application needs a conference name")
    return JoinSpec(
        name=name,
        profile=profile.strip() if at and profile.strip() else "default",
        pin=pin.strip(),
        flags=flags,
        unknown_flags=unknown,
        bridge_to=bridge_to.strip(),
    )
