"""Where audio to play comes from: sound files, tone and silence streams, file lists, shared streams.

`open_source(spec, rate, ...)` turns what a dialplan writes after `playback`
into a frame source at the channel's rate:

- a relative path is looked up under `sound_prefix`, first in the directory of
  the channel's rate (`conference/16000/conf-alone.wav`), then 48000, 32000,
  16000, 8000 (FreeSWITCH's mod_sndfile order), then as written;
- `scheme://rest` goes to the file format a module registered for `scheme`
  (mod_tone_stream: `tone_stream`, `silence_stream`; mod_local_stream:
  `local_stream`);
- `file_string://a.wav!b.wav` plays several in turn.

A missing, unreadable or corrupt file raises `SourceError` with the reason;
a WAV at another rate or in stereo is converted, never refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ..errors import SwitchError
from .frame import Frame
from .wavfile import WavError, WavReader

RATE_DIRS = (48000, 32000, 16000, 8000)


class SourceError(SwitchError):
    """A playback source that cannot be opened: the reason says why (missing, corrupt, bad spec)."""


class FrameSource(Protocol):
    rate: int

    def read_frame(self) -> Frame | None:
        """The next frame, or None at the end."""
        ...

    def close(self) -> None: ...


# A module's opener for `scheme://rest`: (rest, rate) -> source.
Opener = Callable[[str, int], FrameSource]


def resolve_sound(path: str, rate: int, sound_prefix: str = "") -> str:
    """The file a sound name stands for, with FreeSWITCH's `<rate>/` directory fallback."""
    candidate = path if os.path.isabs(path) or not sound_prefix else os.path.join(sound_prefix, path)
    folder, name = os.path.split(candidate)
    for r in (rate, *[r for r in RATE_DIRS if r != rate]):
        with_rate = os.path.join(folder, str(r), name)
        if os.path.isfile(with_rate):
            return with_rate
    return candidate


class ChainSource:
    """`file_string://a!b!c`: each source in turn; a part that fails to open is skipped."""

    def __init__(self, parts: list[str], rate: int, open_part: Callable[[str], FrameSource]) -> None:
        self.rate = rate
        self._parts = list(parts)
        self._open = open_part
        self._current: FrameSource | None = None
        self.errors: list[str] = []

    def read_frame(self) -> Frame | None:
        while True:
            if self._current is None:
                if not self._parts:
                    return None
                part = self._parts.pop(0)
                try:
                    self._current = self._open(part)
                except SourceError as exc:
                    self.errors.append(str(exc))
                    continue
            frame = self._current.read_frame()
            if frame is not None:
                return frame
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None


def open_wav(path: str, rate: int) -> FrameSource:
    if not os.path.exists(path):
        raise SourceError(f"file not found: {path}")
    try:
        reader: Any = WavReader(path, rate=rate, channels=1)
    except (WavError, OSError, ValueError) as exc:
        raise SourceError(f"cannot play {path}: {exc}") from exc
    return reader  # type: ignore[no-any-return]


def open_source(
    spec: str,
    rate: int,
    sound_prefix: str = "",
    schemes: Mapping[str, Opener] | None = None,
) -> FrameSource:
    spec = spec.strip()
    if not spec:
        raise SourceError("nothing to play")
    schemes = schemes or {}
    scheme, sep, rest = spec.partition("://")
    if sep:
        if scheme == "file_string":
            parts = [p for p in rest.split("!") if p]
            return ChainSource(parts, rate, lambda part: open_source(part, rate, sound_prefix, schemes))
        opener = schemes.get(scheme)
        if opener is None:
            raise SourceError(f"no file format for {scheme}:// (is its module loaded?)")
        try:
            return opener(rest, rate)
        except SourceError:
            raise
        except SwitchError as exc:
            raise SourceError(f"bad {scheme}:// spec {rest!r}: {exc}") from exc
        except (ValueError, OSError) as exc:
            raise SourceError(f"cannot open {spec}: {exc}") from exc
    return open_wav(resolve_sound(spec, rate, sound_prefix), rate)


def sound_prefix_of(get_var: Callable[[str], str | None], default: Path | str = "") -> str:
    return get_var("sound_prefix") or str(default)
