"""One conference tick as a pure computation over all members at once.

FreeSWITCH splits a tick between each member's input thread (gain, energy
score, talk detection, the energy gate) and the conference thread (the mix
minus each member's own audio).  `MixBoard.tick` does both for every member
in a handful of numpy operations over one (members x samples) array, which is
what lets one core mix hundreds of members:

1. stack every member's frame (silence where none arrived) as int32;
2. apply each speaker's input volume (switch_change_sln_volume's chart);
3. score each frame (mean absolute amplitude, as switchcore.media.mixer.energy);
4. talk detection with FreeSWITCH's constants (conference_loop.c): a frame
   over the member's energy level by 400 or more, or 5 such frames, starts
   talking; 40 frames under it (or with no audio) stop it.  Start and stop
   events are therefore at most one pair every 0.9 s per member;
5. the members heard are those who may speak and are talking (or whose energy
   level is 0, or the room has `audio-always`) - and only when the room has
   more than one member or is recording, as in FreeSWITCH;
6. everyone hears the total minus their own samples (the rule of
   switchcore.media.mixer.mix, which the tests check this against), clipped to
   16 bits, then scaled by their output volume; deaf members hear silence;
   when nobody is heard and nothing plays, everyone hears comfort noise;
7. it says which rows heard exactly the room's common mix (`listeners`: not
   mixed themselves, not deaf, unity output volume) and which are deaf, so that
   the room can encode the common mix once for all listeners who share a codec
   (shared_encode.py) instead of once per member.

State between ticks (talking flags and hang-over counters, levels and gains)
lives in arrays indexed by a member's *slot*; slots are allocated when a member
joins and reused after it leaves.  The board does no I/O and keeps no clock:
it is driven one tick at a time by the room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from switchcore.media.frame import Samples

__all__ = [
    "DIFF_LEVEL",
    "HANGOVER",
    "HANGUNDER",
    "MAX_VOLUME",
    "MixBoard",
    "TickResult",
    "comfort_noise",
    "normalize_volume",
    "volume_gain",
]

IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Int64Array = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

# conference_loop.c conference_loop_input
HANGOVER = 40  # frames under the gate before talking stops
HANGUNDER = 5  # frames over the gate before talking starts
DIFF_LEVEL = 400  # a frame this far over the gate starts talking at once
SMALL_ROOM = 32  # up to this many members, talk detection runs per member in Python

# switch_utils.c switch_change_sln_volume / switch_normalize_volume
MAX_VOLUME = 4
_POSITIVE = (1.3, 2.3, 3.3, 4.3)
_NEGATIVE = (0.80, 0.60, 0.40, 0.20)


def normalize_volume(level: int) -> int:
    return max(-MAX_VOLUME, min(MAX_VOLUME, level))


def volume_gain(level: int) -> float:
    """The factor FreeSWITCH applies for a volume level (-4..4; 0 is unity)."""
    level = normalize_volume(level)
    if level == 0:
        return 1.0
    return _POSITIVE[level - 1] if level > 0 else _NEGATIVE[-level - 1]


def comfort_noise(rate: int, divisor: int, frames: int = 25, samples: int = 0, seed: int = 1) -> Samples:
    """`frames` rows of soft noise (switch_generate_sln_silence: full-scale noise / divisor)."""
    length = samples or rate // 50
    rng = np.random.default_rng(seed)
    noise = rng.integers(-32768, 32768, size=(frames, length), dtype=np.int32) // max(divisor, 1)
    out: Samples = noise.astype(np.int16)
    out.setflags(write=False)
    return out


def _grown(old: Any, capacity: int, dtype: Any, fill: object) -> Any:
    """A slot array of `capacity` entries keeping `old`'s values (new slots get `fill`)."""
    new = np.full(capacity, fill, dtype=dtype)
    if old is not None:
        new[: len(old)] = old
    return new


def _clip16(wide: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Clip to the int16 range in place (two ufuncs: np.clip's wrapper costs more than the work)."""
    np.minimum(wide, 32767, out=wide)
    np.maximum(wide, -32768, out=wide)
    return wide


def _fit(samples: Samples, length: int) -> Samples:
    x = np.asarray(samples, dtype=np.int16).reshape(-1)
    if len(x) >= length:
        return x[:length]
    return np.concatenate((x, np.zeros(length - len(x), dtype=np.int16)))


@dataclass(frozen=True, slots=True)
class TickResult:
    """What one tick produced; arrays are read-only."""

    outputs: npt.NDArray[np.int16]  # (members, samples): what each member hears
    mix: Samples | None  # what a listener outside the room hears (None: nobody heard, nothing played)
    scores: npt.NDArray[np.int64]  # energy score of each member's frame (0 when none or muted)
    started: tuple[int, ...]  # rows that started talking this tick
    stopped: tuple[int, ...]  # rows that stopped talking this tick
    heard: int  # how many members were mixed
    common: Samples  # what every listener hears (the clipped total, comfort noise, or silence)
    listeners: BoolArray  # rows whose output is exactly `common`
    deaf: BoolArray  # rows that hear silence (deaf members)


class MixBoard:
    """Per-room mixer state, one slot per member."""

    def __init__(
        self, rate: int, interval_ms: int = 20, comfort_noise_level: int = 0, capacity: int = 8
    ) -> None:
        self.rate = rate
        self.samples = rate * interval_ms // 1000
        self._noise = (
            comfort_noise(rate, comfort_noise_level, samples=self.samples) if comfort_noise_level else None
        )
        self._noise_index = 0
        self._zero: Samples = np.zeros(self.samples, dtype=np.int16)
        self._zero.setflags(write=False)
        self._free: list[int] = []
        self._size = 0
        self._gains_in: set[int] = set()
        self._gains_out: set[int] = set()
        self._allocate_arrays(capacity)

    def _allocate_arrays(self, capacity: int) -> None:
        self.energy_level: Int64Array = _grown(getattr(self, "energy_level", None), capacity, np.int64, 0)
        self.gain_in: FloatArray = _grown(getattr(self, "gain_in", None), capacity, np.float64, 1.0)
        self.gain_out: FloatArray = _grown(getattr(self, "gain_out", None), capacity, np.float64, 1.0)
        self.can_speak: BoolArray = _grown(getattr(self, "can_speak", None), capacity, np.bool_, True)
        self.can_hear: BoolArray = _grown(getattr(self, "can_hear", None), capacity, np.bool_, True)
        self.talking: BoolArray = _grown(getattr(self, "talking", None), capacity, np.bool_, False)
        self.hangover: Int64Array = _grown(getattr(self, "hangover", None), capacity, np.int64, 0)
        self.hangunder: Int64Array = _grown(getattr(self, "hangunder", None), capacity, np.int64, 0)
        self.capacity = capacity

    # ---- slots ------------------------------------------------------------------------------------

    def allocate(self, energy_level: int = 0) -> int:
        """A fresh slot for a joining member (talking off, unity gains, may speak and hear)."""
        if self._free:
            slot = self._free.pop()
        else:
            if self._size == self.capacity:
                self._allocate_arrays(self.capacity * 2)
            slot = self._size
            self._size += 1
        self.energy_level[slot] = energy_level
        self.can_speak[slot] = self.can_hear[slot] = True
        self.talking[slot] = False
        self.hangover[slot] = self.hangunder[slot] = 0
        self.configure(slot, gain_in=1.0, gain_out=1.0)
        return slot

    def release(self, slot: int) -> None:
        self.talking[slot] = False
        self.configure(slot, gain_in=1.0, gain_out=1.0)
        self._free.append(slot)

    def configure(
        self,
        slot: int,
        *,
        can_speak: bool | None = None,
        can_hear: bool | None = None,
        energy_level: int | None = None,
        gain_in: float | None = None,
        gain_out: float | None = None,
    ) -> None:
        """Change a member's settings (gains are factors; see `volume_gain`)."""
        if can_speak is not None:
            self.can_speak[slot] = can_speak
            if not can_speak:
                self.stop_talking(slot)
        if can_hear is not None:
            self.can_hear[slot] = can_hear
        if energy_level is not None:
            self.energy_level[slot] = energy_level
        # Gains are rare: the tick skips scaling entirely while no slot has one.
        if gain_in is not None:
            self.gain_in[slot] = gain_in
            (self._gains_in.discard if gain_in == 1.0 else self._gains_in.add)(slot)
        if gain_out is not None:
            self.gain_out[slot] = gain_out
            (self._gains_out.discard if gain_out == 1.0 else self._gains_out.add)(slot)

    def stop_talking(self, slot: int) -> bool:
        """Clear talking without an event (a member was muted); True if it was talking."""
        was = bool(self.talking[slot])
        self.talking[slot] = False
        self.hangover[slot] = self.hangunder[slot] = 0
        return was

    # ---- one tick ---------------------------------------------------------------------------------

    def tick(
        self,
        slots: IntArray,
        frames: Sequence[Samples | None],
        *,
        background: Samples | None = None,
        mix_members: bool = True,
        audio_always: bool = False,
    ) -> TickResult:
        """Mix one tick.  `frames[i]` is the frame of the member in `slots[i]` (None: nothing arrived).

        `mix_members` False means nobody is mixed (a lone member, or a room
        waiting for its moderator); `background` is what plays to the room.
        """
        n, length = len(slots), self.samples
        if n == 0:
            empty = np.zeros((0, length), dtype=np.int16)
            empty.setflags(write=False)
            none = np.zeros(0, np.bool_)
            return TickResult(
                empty,
                self._background_only(background),
                np.zeros(0, np.int64),
                (),
                (),
                0,
                self._zero,
                none,
                none,
            )
        present_list = [f is not None for f in frames]
        present = np.array(present_list, dtype=np.bool_)
        speak = self.can_speak[slots]
        eligible = present & speak
        level = self.energy_level[slots]
        stack: npt.NDArray[np.int16] | None = None
        if any(present_list):
            zero = self._zero
            rows = [zero if f is None else (f if len(f) == length else _fit(f, length)) for f in frames]
            stack = np.stack(rows)
            if self._gains_in:
                self._scale16(stack, self.gain_in[slots], eligible)
            # |x| of int16 wraps only for -32768, whose uint16 view is 32768 again: exact magnitudes.
            scores = np.abs(stack).view(np.uint16).sum(axis=1, dtype=np.int64) // length
            scores[~eligible] = 0
        else:
            scores = np.zeros(n, dtype=np.int64)
        detect = self._detect_rows if n <= SMALL_ROOM else self._detect
        started, stopped, talking = detect(slots, present, eligible, scores, level)

        if stack is None or not mix_members:
            heard = np.zeros(n, np.bool_)
        else:
            heard = eligible & (talking | (level <= 0) | audio_always)
        count = int(np.count_nonzero(heard))
        hear = self.can_hear[slots]
        listeners = hear & ~heard if count else hear.copy()
        if self._gains_out:
            listeners &= self.gain_out[slots] == 1.0
        deaf = ~hear
        if count == 0 and background is None:
            quiet, common = self._quiet(slots, hear)
            return TickResult(quiet, None, scores, started, stopped, 0, common, listeners, deaf)
        # Only the mixed rows are summed; everyone not mixed hears the clipped total as it is,
        # and each mixed member the total minus its own samples (the rule of mixer.mix).
        everyone = count == n
        which = np.flatnonzero(heard) if count and not everyone else None
        if count and stack is not None:
            own = (stack if which is None else stack[which]).astype(np.int32)
            total = own.sum(axis=0, dtype=np.int32)
        else:
            own = np.zeros((0, length), np.int32)
            total = np.zeros(length, np.int32)
        if background is not None:
            total += _fit(background, length)
        mixed = _clip16(total.copy()).astype(np.int16)
        mixed.setflags(write=False)
        if everyone:
            out = _clip16(np.subtract(total, own, out=own)).astype(np.int16)
        else:
            out = np.empty((n, length), dtype=np.int16)
            out[:] = mixed
            if which is not None:
                out[which] = _clip16(np.subtract(total, own, out=own))
        if self._gains_out:
            self._scale16(out, self.gain_out[slots], np.ones(n, np.bool_))
        if not hear.all():
            out[~hear] = 0
        outputs: npt.NDArray[np.int16] = out
        outputs.setflags(write=False)
        return TickResult(outputs, mixed, scores, started, stopped, count, mixed, listeners, deaf)

    @staticmethod
    def _scale16(stack: npt.NDArray[np.int16], gains: FloatArray, rows: BoolArray) -> None:
        """Multiply the rows whose gain is not 1 (switch_change_sln_volume: truncate, then clip)."""
        which = np.flatnonzero(rows & (gains != 1.0))
        if len(which):
            scaled = (stack[which] * gains[which, np.newaxis]).astype(np.int32)
            stack[which] = _clip16(scaled)

    def _detect(
        self,
        slots: IntArray,
        present: BoolArray,
        eligible: BoolArray,
        scores: Int64Array,
        level: Int64Array,
    ) -> tuple[tuple[int, ...], tuple[int, ...], BoolArray]:
        """FreeSWITCH's talk detection for every member at once; returns (started, stopped, talking)."""
        talking = self.talking[slots]
        over = self.hangover[slots]
        under = self.hangunder[slots]
        gate = eligible & (scores > level)
        big = gate & (scores - level >= DIFF_LEVEL)
        counting = gate & ~big
        under = np.where(counting, under + 1, under)
        fire = big | (counting & (under >= HANGUNDER))
        over = np.where(gate, np.maximum(over - 1, 0), over)
        # no frame (CNG) or a frame under the gate: the hang-over runs while talking
        below = ~present | (eligible & ~gate)
        under = np.where(below, np.maximum(under - 1, 0), under)
        over = np.where(below & talking, over + 1, over)
        stop = below & talking & (over >= HANGOVER)
        start = fire & ~talking
        reset = fire | stop
        over = np.where(reset, 0, over)
        under = np.where(reset, 0, under)
        talking = (talking | fire) & ~stop
        self.talking[slots] = talking
        self.hangover[slots] = over
        self.hangunder[slots] = under
        started = tuple(np.flatnonzero(start).tolist()) if start.any() else ()
        stopped = tuple(np.flatnonzero(stop).tolist()) if stop.any() else ()
        return started, stopped, talking

    def _detect_rows(
        self,
        slots: IntArray,
        present: BoolArray,
        eligible: BoolArray,
        scores: Int64Array,
        level: Int64Array,
    ) -> tuple[tuple[int, ...], tuple[int, ...], BoolArray]:
        """The same rules one member at a time: cheaper than two dozen array operations in small rooms."""
        talking, over, under = (
            self.talking[slots].tolist(),
            self.hangover[slots].tolist(),
            self.hangunder[slots].tolist(),
        )
        started: list[int] = []
        stopped: list[int] = []
        rows = zip(present.tolist(), eligible.tolist(), scores.tolist(), level.tolist(), strict=True)
        for i, (has_frame, may_speak, score, gate_level) in enumerate(rows):
            t, o, u = talking[i], over[i], under[i]
            if may_speak and score > gate_level:
                if o:
                    o -= 1
                if score - gate_level >= DIFF_LEVEL or u + 1 >= HANGUNDER:
                    o = u = 0
                    if not t:
                        t = True
                        started.append(i)
                else:
                    u += 1
            elif not has_frame or may_speak:
                if u:
                    u -= 1
                if t:
                    o += 1
                    if o >= HANGOVER:
                        o = u = 0
                        t = False
                        stopped.append(i)
            talking[i], over[i], under[i] = t, o, u
        result = np.array(talking, dtype=np.bool_)
        self.talking[slots] = result
        self.hangover[slots] = over
        self.hangunder[slots] = under
        return tuple(started), tuple(stopped), result

    def _quiet(self, slots: IntArray, hear: BoolArray) -> tuple[npt.NDArray[np.int16], Samples]:
        """Nobody is heard: comfort noise for those who hear (when configured), silence otherwise.

        Returns every row and the one row all who hear share.
        """
        n = len(slots)
        if self._noise is None:
            return np.broadcast_to(self._zero, (n, self.samples)), self._zero
        noise = self._noise[self._noise_index]
        self._noise_index = (self._noise_index + 1) % len(self._noise)
        if hear.all():
            return np.broadcast_to(noise, (n, self.samples)), noise
        quiet: npt.NDArray[np.int16] = np.where(hear[:, np.newaxis], noise[np.newaxis, :], 0).astype(np.int16)
        quiet.setflags(write=False)
        return quiet, noise

    def _background_only(self, background: Samples | None) -> Samples | None:
        if background is None:
            return None
        mix = _fit(background, self.samples).copy()
        mix.setflags(write=False)
        return mix
