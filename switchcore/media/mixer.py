"""The conference mix, as a pure function of one tick's audio.

FreeSWITCH's conference loop (mod_conference, `conference_thread_run`) does,
per interval: add every speaking member's frame into a 32-bit buffer (with
the file being played to the room, if any), then give each hearing member
that sum minus its own samples (and minus members it must not hear),
clipped to 16 bits; deaf members get silence.  `mix` does exactly that for
one tick, vectorised: the speakers' frames are stacked into a 2-D int32
array, the sum is taken once, and every speaker's output is `total - own`
in one subtraction over the whole stack.

Rules:
- a member whose input is None (nothing arrived, or below the energy gate,
  as the caller decides) or who is muted is not heard, but still hears;
- a deaf member gets silence, whatever it says;
- everyone hears `background` (a prompt or music played to the room);
- `nohear[a]` lists members that `a` must not hear (FreeSWITCH's
  `conference relate a b nohear`).

Outputs are read-only arrays, and listeners who hear the same thing share
one array: a consumer that wants to change samples must copy them first.
Inputs of the wrong length are cut or padded with silence rather than
refused: a conference must not stop mixing for one bad frame.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Set
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from .frame import Samples

__all__ = ["energies", "energy", "mix"]

K = TypeVar("K", bound=Hashable)

Wide = npt.NDArray[np.int32]


def _fit(samples: Samples, length: int) -> Samples:
    if len(samples) == length:
        return samples
    if len(samples) > length:
        return samples[:length]
    return np.concatenate((samples, np.zeros(length - len(samples), dtype=samples.dtype)))


def _clip(wide: Wide) -> Samples:
    np.clip(wide, -32768, 32767, out=wide)
    out: Samples = wide.astype(np.int16)
    out.setflags(write=False)
    return out


def _frame_length(inputs: Mapping[K, Samples | None], frame_samples: int | None) -> int:
    if frame_samples is not None:
        return frame_samples
    for samples in inputs.values():
        if samples is not None:
            return len(samples)
    raise ValueError("mix needs frame_samples when no member has input")


def mix(
    inputs: Mapping[K, Samples | None],
    deaf: Set[K] = frozenset(),
    muted: Set[K] = frozenset(),
    *,
    frame_samples: int | None = None,
    background: Samples | None = None,
    nohear: Mapping[K, Set[K]] | None = None,
) -> dict[K, Samples]:
    """Each member's output for this tick: everyone it hears, summed and clipped.

    `inputs` holds every member, speaking or not; `frame_samples` is the frame
    length (taken from the first input when omitted).
    """
    length = _frame_length(inputs, frame_samples)
    relations = nohear or {}
    speakers: list[K] = []
    frames: list[Samples] = []
    for member, samples in inputs.items():
        if samples is not None and member not in muted:
            speakers.append(member)
            frames.append(samples)
    row = {m: i for i, m in enumerate(speakers)}
    if any(len(f) != length for f in frames):
        frames = [_fit(np.asarray(f, dtype=np.int16).reshape(-1), length) for f in frames]
    stack: Wide = (
        np.concatenate(frames).reshape(len(frames), length).astype(np.int32)
        if frames
        else np.zeros((0, length), dtype=np.int32)
    )
    total: Wide = stack.sum(axis=0, dtype=np.int32)
    if background is not None:
        total += _fit(np.asarray(background, dtype=np.int16).reshape(-1), length)

    outputs: dict[K, Samples] = {}
    # members with nohear relations: minus themselves and the speakers they must not hear
    special = [m for m in relations if m in inputs and m not in deaf and relations[m]]
    for member in special:
        wide = total.copy()
        for other in ({member} | set(relations[member])) & row.keys():
            wide -= stack[row[other]]
        outputs[member] = _clip(wide)

    # speakers who hear: total minus own, for all of them in one subtraction
    hearing = [m for m in speakers if m not in deaf and m not in outputs]
    if hearing:
        if len(hearing) == len(speakers):
            minus_own = np.subtract(total, stack, out=stack)  # the stack is not needed any more
        else:
            index = np.fromiter((row[m] for m in hearing), dtype=np.intp, count=len(hearing))
            minus_own = total[np.newaxis, :] - stack[index]
        outputs.update(zip(hearing, _clip(minus_own), strict=True))

    # the deaf hear nothing; everyone else (silent or muted) hears the whole room
    silence: Samples | None = None
    everyone: Samples | None = None
    for member in inputs:
        if member in outputs:
            continue
        if member in deaf:
            if silence is None:
                silence = np.zeros(length, dtype=np.int16)
                silence.setflags(write=False)
            outputs[member] = silence
        else:
            if everyone is None:
                everyone = _clip(total.copy())
            outputs[member] = everyone
    return outputs


def energy(samples: Samples) -> int:
    """Mean absolute amplitude: the talk-detection score compared with `energy-level`."""
    x = np.asarray(samples, dtype=np.int16)
    return int(np.abs(x.astype(np.int32)).sum(dtype=np.int64) // len(x)) if len(x) else 0


def energies(inputs: Mapping[K, Samples | None]) -> dict[K, int]:
    """`energy` of every input (0 for None), computed over one stacked array when lengths agree."""
    members: list[K] = []
    arrays: list[Samples] = []
    for member, samples in inputs.items():
        if samples is not None and len(samples):
            members.append(member)
            arrays.append(samples)
    result: dict[K, int] = dict.fromkeys(inputs, 0)
    if not arrays:
        return result
    length = len(arrays[0])
    if all(len(a) == length for a in arrays):
        stack = np.concatenate(arrays).reshape(len(arrays), length).astype(np.int32)
        sums = np.abs(stack, out=stack).sum(axis=1, dtype=np.int64) // length
        result.update(zip(members, sums.tolist(), strict=True))
    else:
        result.update((m, energy(a)) for m, a in zip(members, arrays, strict=True))
    return result
