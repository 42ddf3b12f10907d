"""`tone_stream://` and `silence_stream://`: FreeSWITCH's generated sounds.

The tone language is the one libteletone's `teletone_run` reads, as used by
mod_tone_stream.  A spec is a list of instructions separated by `;`:

- `%(on_ms,off_ms,freq1[,freq2,...])`: play the frequencies mixed for
  `on_ms`, then `off_ms` of silence.  Several may follow each other.
- a DTMF key (`0-9 * # A-D`), alone or as `1(on_ms,off_ms)`: that key's two
  frequencies for the default duration and wait (`d=`, `w=`).
- settings that apply to what follows: `v=<dB>` volume (-63..0, default -7),
  `d=<ms>` and `w=<ms>` default duration and wait for keys, `l=<n>` plays the
  next tone n times (-1: forever), `L=<n>` plays the whole script n times
  (the first `L=` only), `>=<ms>` / `<=<ms>` fade down / up one step per
  `ms`, `+=<dB>` the step size.  `c=` and `r=` are accepted and ignored: the
  caller chooses the rate and channels.
- `;loops=<n>` (mod_tone_stream): play everything n times, -1 forever.

Levels follow libteletone: a tone at `v` dB has peak amplitude
32767 * sqrt(2) * 10 ** ((v - 6.16) / 20) (10185 at the default -7 dB), and
the frequencies of one tone are averaged, not summed, so a tone never clips.
Each tone starts at phase zero, and its phase runs on across frame
boundaries.  Where libteletone is silent about an error (an unknown setting,
a bad number, a missing parenthesis) this parser raises `ToneSpecError`.
Deviations: a frequency of 0 plays silence for the tone's length (libteletone
skips the tone), and DTMF keys use the standard 852 Hz row where libteletone
has 859 Hz.

`silence_stream://<ms>[,<divisor>]` is `ms` of silence (0 or less: forever);
a divisor adds white noise of peak 32767 / divisor, like
`switch_generate_sln_silence`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from ..errors import SwitchError
from .dtmf import DTMF_FREQUENCIES
from .frame import Frame, Samples

__all__ = [
    "SilenceGenerator",
    "SilenceSpec",
    "Tone",
    "ToneGenerator",
    "ToneScript",
    "ToneSpecError",
    "parse_silence_stream",
    "parse_tone_stream",
    "tone_source",
]

TONE_SCHEME = "tone_stream://"
SILENCE_SCHEME = "silence_stream://"
VOLUME_MIN_DB = -63.0
VOLUME_MAX_DB = 0.0
DEFAULT_VOLUME_DB = -7.0
DEFAULT_DURATION_MS = 250.0  # libteletone's 2000 samples at 8 kHz
DEFAULT_WAIT_MS = 62.5  # libteletone's 500 samples at 8 kHz
MAX_FREQUENCIES = 18  # TELETONE_MAX_TONES
MAX_TONES = 10_000  # after expanding L=

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)$")
_INTEGER = re.compile(r"[+-]?\d+$")


class ToneSpecError(SwitchError):
    """A `tone_stream://` or `silence_stream://` spec that cannot be played."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        self.reason = reason
        super().__init__(f"{reason} in {spec!r}")


@dataclass(frozen=True, slots=True)
class Tone:
    """One tone: `on_ms` of the frequencies averaged, then `off_ms` of silence."""

    on_ms: float
    off_ms: float
    freqs: tuple[float, ...]
    volume_db: float = DEFAULT_VOLUME_DB
    repeat: int = 1  # plays in a row; -1 forever
    fade_step_ms: float = 0.0  # 0: constant volume
    fade_db: float = 0.0  # dB per step, negative to fade down

    def amplitude(self, volume_db: float | None = None) -> float:
        """libteletone's per-frequency peak for a volume in dB."""
        db = self.volume_db if volume_db is None else volume_db
        return float(32767.0 * 1.414214 * 10.0 ** ((db - 6.16) / 20.0))


@dataclass(frozen=True, slots=True)
class ToneScript:
    """A parsed tone spec: tones in order, and how often the whole plays."""

    tones: tuple[Tone, ...]
    loops: int = 1  # -1: forever

    @property
    def pass_ms(self) -> float | None:
        """Length of one pass in ms (None when a tone repeats forever)."""
        if any(t.repeat < 0 for t in self.tones):
            return None
        return sum((t.on_ms + t.off_ms) * t.repeat for t in self.tones)

    @property
    def duration_ms(self) -> float | None:
        """Total length in ms, or None when it never ends."""
        one = self.pass_ms
        if one is None:
            return None
        if self.loops < 0:
            return None if one > 0 else 0.0
        return one * self.loops


@dataclass(slots=True)
class _State:
    """libteletone's session settings while a script is run."""

    volume_db: float = DEFAULT_VOLUME_DB
    duration_ms: float = DEFAULT_DURATION_MS
    wait_ms: float = DEFAULT_WAIT_MS
    loops: int = 0
    fade_step_ms: float = 0.0
    fade_direction: int = 0
    fade_db: float = 1.0


def _number(spec: str, text: str, what: str, integer: bool = False) -> float:
    text = text.strip()
    if not (_INTEGER if integer else _NUMBER).match(text):
        raise ToneSpecError(spec, f"{what} {text!r} is not {'an integer' if integer else 'a number'}")
    return float(text)


def _split_loops(spec: str, body: str) -> tuple[str, int]:
    match = re.search(r";\s*loops=([^;]*)", body, re.IGNORECASE)
    if match is None:
        return body, 1
    loops = int(_number(spec, match.group(1), "loops", integer=True))
    if loops == 0:
        loops = 1  # libteletone's buffer loop: 0 and 1 both play once
    return body[: match.start()], loops


def _tone_items(spec: str, text: str) -> Iterator[tuple[str, list[float] | None]]:
    """Split `%(..)%(..)1 2(100,50)` into (key, numbers or None)."""
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if i + 1 < len(text) and text[i + 1] == "(":
            close = text.find(")", i + 2)
            if close < 0:
                raise ToneSpecError(spec, f"missing ')' after {text[i:]!r}")
            fields = text[i + 2 : close].split(",")
            yield char, [_number(spec, f, "tone field") for f in fields]
            i = close + 1
        else:
            yield char, None
            i += 1


def _tone(spec: str, key: str, numbers: list[float] | None, state: _State) -> Tone:
    fade = state.fade_direction * state.fade_db if state.fade_direction else 0.0
    if key == "%":
        if numbers is None:
            raise ToneSpecError(spec, "'%' must be followed by (on,off,freq...)")
        if len(numbers) < 3:
            raise ToneSpecError(
                spec, f"%({','.join(f'{n:g}' for n in numbers)}) needs on, off and a frequency"
            )
        if len(numbers) > 2 + MAX_FREQUENCIES:
            raise ToneSpecError(spec, f"more than {MAX_FREQUENCIES} frequencies in one tone")
        on, off, *freqs = numbers
    elif key.upper() in DTMF_FREQUENCIES:
        if numbers is not None and len(numbers) != 2:
            raise ToneSpecError(spec, f"{key}(...) takes on and off durations only")
        on, off = numbers if numbers is not None else (state.duration_ms, state.wait_ms)
        freqs = list(DTMF_FREQUENCIES[key.upper()])
    else:
        raise ToneSpecError(spec, f"unknown tone {key!r}")
    if on < 0 or off < 0:
        raise ToneSpecError(spec, f"negative duration {on:g},{off:g}")
    if any(f < 0 for f in freqs):
        raise ToneSpecError(spec, "negative frequency")
    return Tone(on, off, tuple(freqs), state.volume_db, 1, state.fade_step_ms, fade)


def _setting(spec: str, name: str, value: str, state: _State, script_loops: list[int]) -> None:
    if name == "v":
        volume = _number(spec, value, "volume")
        if not VOLUME_MIN_DB <= volume <= VOLUME_MAX_DB:
            raise ToneSpecError(spec, f"volume {volume:g} dB is outside {VOLUME_MIN_DB:g}..{VOLUME_MAX_DB:g}")
        state.volume_db = volume
    elif name == "d":
        state.duration_ms = max(_number(spec, value, "duration"), 0.0)
    elif name == "w":
        state.wait_ms = max(_number(spec, value, "wait"), 0.0)
    elif name == "l":
        state.loops = int(_number(spec, value, "l=", integer=True))
    elif name == "L":
        count = int(_number(spec, value, "L=", integer=True))
        if not script_loops and count > 0:
            script_loops.append(count)
    elif name in "><":
        state.fade_step_ms = max(_number(spec, value, "fade step"), 0.0)
        state.fade_direction = -1 if name == ">" else 1
    elif name == "+":
        state.fade_db = _number(spec, value, "fade step size")
    elif name in "cr":
        _number(spec, value, f"{name}=", integer=True)
    else:
        raise ToneSpecError(spec, f"unknown setting '{name}='")


def parse_tone_stream(spec: str) -> ToneScript:
    """Parse a `tone_stream://` URL (the scheme is optional)."""
    body = spec[len(TONE_SCHEME) :] if spec.lower().startswith(TONE_SCHEME) else spec
    body, loops = _split_loops(spec, body)
    instructions = [part.strip() for part in body.split(";")]
    if not any(instructions):
        raise ToneSpecError(spec, "no tones")
    state = _State()
    script_loops: list[int] = []
    tones: list[Tone] = []
    passes = 1
    done = 0
    while done < passes:
        for instruction in instructions:
            if not instruction:
                continue
            if len(instruction) >= 2 and instruction[1] == "=":
                _setting(spec, instruction[0], instruction[2:], state, script_loops)
                if done == 0 and script_loops:
                    passes = script_loops[0]
                continue
            for key, numbers in _tone_items(spec, instruction):
                tone = _tone(spec, key, numbers, state)
                repeat = state.loops if state.loops != 0 else 1
                if state.loops > 0:
                    state.loops = 0  # libteletone counts l= down to 0 on this tone
                tones.append(replace(tone, repeat=repeat))
                if len(tones) > MAX_TONES:
                    raise ToneSpecError(spec, f"more than {MAX_TONES} tones after expanding loops")
        done += 1
        if done == 1 and len(tones) * passes > MAX_TONES:
            raise ToneSpecError(spec, f"more than {MAX_TONES} tones after expanding loops")
    if not tones:
        raise ToneSpecError(spec, "no tones")
    return ToneScript(tuple(tones), loops)


class ToneGenerator:
    """Plays a `ToneScript` as frames of `ptime_ms` at `rate` Hz (mono).

    `read()` returns the next frame's samples, or None once the script has
    ended; the last frame is padded with silence.
    """

    def __init__(self, script: ToneScript, rate: int, ptime_ms: int = 20) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.script = script
        self.rate = rate
        self.ptime_ms = ptime_ms
        self.frame_samples = rate * ptime_ms // 1000
        self._lengths = [
            (self._samples(t.on_ms), self._samples(t.on_ms) + self._samples(t.off_ms)) for t in script.tones
        ]
        self._plays_left = script.loops
        self._index = 0  # tone in the script
        self._repeat_done = 0  # plays of the current tone so far
        self._position = 0  # sample within the current tone
        self._timestamp = 0
        self._ended = all(total == 0 for _, total in self._lengths)

    def _samples(self, ms: float) -> int:
        return int(round(ms * self.rate / 1000.0))

    @property
    def ended(self) -> bool:
        return self._ended

    def _render(self, tone: Tone, start: int, count: int, on_samples: int) -> Samples:
        out = np.zeros(count, dtype=np.float64)
        sounding = min(max(on_samples - start, 0), count)
        freqs = [f for f in tone.freqs if f > 0]
        if sounding and freqs:
            n = np.arange(start, start + sounding, dtype=np.float64)
            wave = np.zeros(sounding)
            for f in freqs:
                wave += np.sin(2.0 * np.pi * f * n / self.rate)
            wave /= len(tone.freqs)
            out[:sounding] = wave * self._gain(tone, n)
        result: Samples = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
        return result

    def _gain(self, tone: Tone, n: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | float:
        if not tone.fade_step_ms or not tone.fade_db:
            return tone.amplitude()
        step = max(self._samples(tone.fade_step_ms), 1)
        # libteletone changes the volume after every `step` samples while it stays in range
        if tone.fade_db < 0:
            max_steps = np.floor((tone.volume_db - VOLUME_MIN_DB) / -tone.fade_db)
        else:
            max_steps = np.floor((VOLUME_MAX_DB - tone.volume_db) / tone.fade_db)
        steps = np.minimum(np.floor((n + 1) / step), max_steps)
        gain: npt.NDArray[np.float64] = tone.amplitude(0.0) * 10.0 ** (
            (tone.volume_db + steps * tone.fade_db) / 20.0
        )
        return gain

    def _advance(self) -> None:
        """Move past the current tone play; may end the script."""
        self._position = 0
        tone = self.script.tones[self._index]
        self._repeat_done += 1
        forever = tone.repeat < 0 and self._lengths[self._index][1] > 0  # a silent forever-tone is skipped
        if forever or self._repeat_done < tone.repeat:
            return
        self._repeat_done = 0
        self._index += 1
        if self._index < len(self.script.tones):
            return
        self._index = 0
        if self._plays_left > 0:
            self._plays_left -= 1
        if self._plays_left == 0:
            self._ended = True

    def read(self) -> Samples | None:
        """The next frame's samples, or None after the end."""
        if self._ended:
            return None
        parts: list[Samples] = []
        filled = 0
        while filled < self.frame_samples and not self._ended:
            tone = self.script.tones[self._index]
            on_samples, total = self._lengths[self._index]
            take = min(total - self._position, self.frame_samples - filled)
            if take > 0:
                parts.append(self._render(tone, self._position, take, on_samples))
                self._position += take
                filled += take
            if self._position >= total:
                self._advance()
        if filled < self.frame_samples:
            parts.append(np.zeros(self.frame_samples - filled, dtype=np.int16))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def read_frame(self) -> Frame | None:
        samples = self.read()
        if samples is None:
            return None
        frame = Frame(samples, self.rate, 1, self._timestamp)
        self._timestamp += self.frame_samples
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read_frame()) is not None:
            yield frame


@dataclass(frozen=True, slots=True)
class SilenceSpec:
    """A parsed `silence_stream://`: duration (None: forever) and noise divisor (0: none)."""

    ms: int | None
    divisor: int = 0


def parse_silence_stream(spec: str) -> SilenceSpec:
    """Parse `silence_stream://<ms>[,<divisor>]` (the scheme is optional)."""
    body = spec[len(SILENCE_SCHEME) :] if spec.lower().startswith(SILENCE_SCHEME) else spec
    fields = [f.strip() for f in body.split(",")]
    if len(fields) > 2 or not fields[0]:
        raise ToneSpecError(spec, "expected <ms>[,<noise divisor>]")
    ms = int(_number(spec, fields[0], "duration", integer=True))
    divisor = int(_number(spec, fields[1], "noise divisor", integer=True)) if len(fields) == 2 else 0
    return SilenceSpec(ms if ms > 0 else None, max(divisor, 0))


class SilenceGenerator:
    """Silence (or quiet white noise) as frames, for a while or forever."""

    def __init__(self, spec: SilenceSpec, rate: int, ptime_ms: int = 20, seed: int | None = None) -> None:
        self.spec = spec
        self.rate = rate
        self.ptime_ms = ptime_ms
        self.frame_samples = rate * ptime_ms // 1000
        self._left = None if spec.ms is None else spec.ms * rate // 1000
        self._rng = np.random.default_rng(seed)
        self._timestamp = 0

    @property
    def ended(self) -> bool:
        return self._left is not None and self._left <= 0

    def read(self) -> Samples | None:
        if self.ended:
            return None
        count = self.frame_samples
        sounding = count if self._left is None else min(count, self._left)
        if self._left is not None:
            self._left -= sounding
        out = np.zeros(count, dtype=np.int16)
        if self.spec.divisor:
            noise = self._rng.integers(-32768, 32768, sounding) // self.spec.divisor
            out[:sounding] = noise.astype(np.int16)
        return out

    def read_frame(self) -> Frame | None:
        samples = self.read()
        if samples is None:
            return None
        frame = Frame(samples, self.rate, 1, self._timestamp)
        self._timestamp += self.frame_samples
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read_frame()) is not None:
            yield frame


def tone_source(url: str, rate: int, ptime_ms: int = 20) -> ToneGenerator | SilenceGenerator:
    """A generator for a `tone_stream://` or `silence_stream://` URL."""
    lowered = url.lower()
    if lowered.startswith(TONE_SCHEME):
        return ToneGenerator(parse_tone_stream(url), rate, ptime_ms)
    if lowered.startswith(SILENCE_SCHEME):
        return SilenceGenerator(parse_silence_stream(url), rate, ptime_ms)
    raise ToneSpecError(url, "not a tone_stream:// or silence_stream:// URL")
