"""Shared encoding: one encode per tick for every member who hears the same mix with the same codec.

Asterisk's bridge_softmix calls these "translation helpers".  In a room most
members are listeners: they are not mixed themselves (not talking), so each of
them hears exactly the room's common mix (every talker, plus what plays to the
room).  Members whose channels write the same codec with the same parameters
would each encode the same samples with identical encoders; instead the room
encodes the common mix once per codec and hands every listener of that codec
the same `Frame` with `encoded` set.  The endpoint's write path (mod_sofia's
`SipMedia.write`, mod_verto's `VertoMedia.write`) sends such a payload as it
is when the codec and rate match its own, without encoding.  Deaf members
share one encode of silence per codec the same way.

Who keeps its own encode (the `None` rows of `SharedEncoding.assign`):
talkers (they hear everyone but themselves), members with an output volume
other than 0 (they hear a scaled mix), members hearing a file of their own,
and members whose channel the room cannot encode for (no codec spec in the
registry, a packet time other than the 20 ms tick, a driver that does not say
what it writes).

Switching streams.  A member who starts talking leaves the shared stream for
its channel's own encoder, and comes back when it stops; its RTP numbering does
not change (the endpoint owns it), but the codec bitstream now comes from
another encoder.  An Opus decoder decodes any valid packet whichever encoder
made it (RFC 6716 3.1: each packet's TOC byte says its mode, bandwidth and frame
size); its predictors, primed by the other encoder's packets, settle within a
frame or two, so the far end hears at most a short glitch at the switch, as
with Asterisk's helpers (tests decode a stream that switched both ways and find
the tone on both sides); G.711 has no state at all.  The shared stream's own
delay (resampler, codec look-ahead) still holds the end of the last tick's mix,
so a member mixed last tick (told by its mix-board slot: rows move when someone
leaves) takes its own path one more tick before joining it, and a stream
unused last tick starts clean: nobody hears the tail of a mix with itself in
it.  Every tick still writes exactly one 20 ms frame to every member, whichever
encoder made it.  A shared encoder that fails is dropped and its codec taken
off the shared path (its members go back to their own encoders): one bad
encoder must not silence a room.  A shared encoder does not follow one leg's
RTCP loss reports (mod_opus's bitrate adaptation): it keeps the bitrate and FEC
the negotiated fmtp gave it, which every member of its group asked for alike.

The module is sans-I/O: values in (the tick's result, each member's write
codec), frames out.  `write_codec_of` is the only place that looks at a
channel driver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import numpy.typing as npt

from switchcore.media.codec import CodecSpec, Encoder
from switchcore.media.frame import Encoded, Frame, Samples
from switchcore.media.resample import Resampler

from .mixdown import TickResult

__all__ = ["IDLE_TICKS", "SharedEncoding", "SharedStats", "Stream", "WriteCodec", "write_codec_of"]

log = logging.getLogger("mod_conference")

IDLE_TICKS = 250  # a shared encoder nobody used for this many ticks (5 s) is let go

CodecFinder = Callable[[str, int, int], CodecSpec | None]


@dataclass(frozen=True, slots=True)
class WriteCodec:
    """What a channel encodes with: the codec and the fmtp its encoder is built from.

    Two channels with equal `WriteCodec`s build identical encoders, so one
    encode serves both.
    """

    name: str  # as in SDP, upper case ("OPUS", "PCMU")
    rate: int  # the codec's PCM rate
    channels: int = 1
    fmtp: tuple[tuple[str, str], ...] = ()
    # Every tick looks each member's codec up by value: the hash is worked out once.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.name, self.rate, self.channels, self.fmtp)))

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def of(cls, spec: CodecSpec, fmtp: Mapping[str, str]) -> WriteCodec:
        """The (interned) write codec of an encoder built from `spec` and `fmtp`."""
        return _intern(cls(spec.name, spec.rate, spec.channels, tuple(sorted(fmtp.items()))))


_INTERNED: dict[WriteCodec, WriteCodec] = {}
_INTERN_LIMIT = 1024


def _intern(codec: WriteCodec) -> WriteCodec:
    """One object per distinct codec, so that dictionary lookups in a tick stop at identity."""
    if len(_INTERNED) >= _INTERN_LIMIT:
        _INTERNED.clear()
    return _INTERNED.setdefault(codec, codec)


def write_codec_of(driver: object) -> WriteCodec | None:
    """What a channel driver writes with, when it sends a matching `Frame.encoded` as it is.

    A driver says so itself (`switchcore.driver.EncodedWriter`): `write_codec_params`
    is the `(CodecSpec, fmtp)` its encoder was built from, or None while it would
    encode whatever it is given.  A driver without it (loopback, files) keeps its
    own path; nothing here looks inside an endpoint's media.
    """
    declared = getattr(driver, "write_codec_params", None)
    if not isinstance(declared, tuple) or len(declared) != 2:
        return None
    spec, fmtp = declared
    if isinstance(spec, CodecSpec) and isinstance(fmtp, Mapping):
        return WriteCodec.of(spec, fmtp)
    return None


class Stream(Enum):
    """What a shared encoder carries."""

    MIX = "mix"  # the room's common mix, for listeners
    SILENCE = "silence"  # for deaf members


class _Shared:
    """One shared encoder: a room-rate stream in, one `Frame` with its payload out per tick."""

    __slots__ = ("codec", "encoder", "idle", "resampler")

    def __init__(self, codec: WriteCodec, encoder: Encoder, room_rate: int) -> None:
        self.codec = codec
        self.encoder = encoder
        self.resampler = Resampler(room_rate, codec.rate, 1) if codec.rate != room_rate else None
        self.idle = 0

    def frame(self, samples: Samples) -> Frame:
        if self.resampler is not None:  # streaming: one tick in, exactly one tick out
            samples = self.resampler.process(samples)
        pcm = samples if self.codec.channels == 1 else np.repeat(samples, self.codec.channels)
        payload = self.encoder.encode(pcm)
        return Frame(samples, self.codec.rate, encoded=Encoded(self.codec.name, self.codec.rate, payload))


@dataclass(slots=True)
class SharedStats:
    """Counters for `conference <room> list`-style diagnostics and the benchmarks."""

    encodes: int = 0  # shared encodes done
    frames: int = 0  # member frames handed out from them
    own: int = 0  # member frames left to the member's own encoder


_PENDING = Frame(np.zeros(0, dtype=np.int16), 1)  # "not encoded yet this tick" (no tick makes this frame)


class SharedEncoding:
    """A room's shared encoders, by (write codec, stream)."""

    def __init__(self, room_rate: int, room_samples: int, find_codec: CodecFinder) -> None:
        self.room_rate = room_rate
        self.room_samples = room_samples
        self.find_codec = find_codec
        self.stats = SharedStats()
        self._shared: dict[tuple[WriteCodec, Stream], _Shared] = {}
        self._unknown: set[WriteCodec] = set()
        self._silence: Samples = np.zeros(room_samples, dtype=np.int16)
        self._silence.setflags(write=False)
        # The previous tick's `listeners`, by row, or by slot when the room passes its members' slots:
        # rows move when a member leaves, so a row's last state may be another member's.
        self._was_listener: list[bool] = []
        self._was_by_slot: dict[int, bool] = {}

    @property
    def encoders(self) -> int:
        """How many shared encoders the room holds now."""
        return len(self._shared)

    def assign(
        self,
        result: TickResult,
        codecs: Sequence[WriteCodec | None],
        slots: npt.NDArray[np.intp] | None = None,
    ) -> list[Frame | None]:
        """One tick: a shared frame for each member row that can take one, None for the others.

        `codecs[i]` is the write codec of row i, or None when that member must
        keep its own path whatever it hears (a file of its own, no codec known).
        `slots[i]` (the mix board's slot of row i) says who row i is from one
        tick to the next; without it a row is taken to be the same member.
        """
        out: list[Frame | None] = [None] * len(codecs)
        if not codecs:
            self._sweep(set())
            return out
        mix: dict[WriteCodec, Frame | None] = {}
        quiet: dict[WriteCodec, Frame | None] = {}
        common, listeners, deaf = result.common, result.listeners.tolist(), result.deaf.tolist()
        if slots is None:
            was, self._was_listener = self._was_listener, listeners
        else:
            was = self._was_by_slot_then(slots, listeners)
        shared = 0
        for i, codec in enumerate(codecs):
            if codec is None:
                continue
            if listeners[i]:
                if i < len(was) and not was[i]:
                    # Mixed last tick: the shared stream's codec/resampler delay still holds the
                    # end of that tick's mix, with this member in it; one more tick on its own.
                    continue
                made, stream, samples = mix, Stream.MIX, common
            elif deaf[i]:
                made, stream, samples = quiet, Stream.SILENCE, self._silence
            else:
                continue
            frame = made.get(codec, _PENDING)
            if frame is _PENDING:
                frame = made[codec] = self._encode((codec, stream), samples)
            if frame is not None:
                out[i] = frame
                shared += 1
        self.stats.frames += shared
        self.stats.own += len(codecs) - shared
        if self._shared:
            self._sweep({(c, Stream.MIX) for c in mix} | {(c, Stream.SILENCE) for c in quiet})
        return out

    def _was_by_slot_then(self, slots: npt.NDArray[np.intp], listeners: list[bool]) -> list[bool]:
        """Each row's member's `listeners` of the previous tick (by slot), then remember this tick's.

        A slot not in the previous tick is a member that just joined: it was in no earlier
        mix, so it counts as a listener then.  (A slot that changed hands between two ticks
        passes its last owner's state on: at worst the newcomer waits a tick it need not.)
        """
        keys = slots.tolist()
        previous = self._was_by_slot
        was = [previous.get(slot, True) for slot in keys]
        self._was_by_slot = dict(zip(keys, listeners, strict=True))
        return was

    def _encode(self, key: tuple[WriteCodec, Stream], samples: Samples) -> Frame | None:
        shared = self._shared.get(key)
        if shared is not None and shared.idle and key[1] is Stream.MIX:
            # Unused last tick: its delay line holds an older mix (perhaps with one of this
            # tick's listeners in it), so it starts again clean.
            shared = None
        if shared is None:
            shared = self._open(key)
            if shared is None:
                return None
        try:
            frame = shared.frame(samples)
        except Exception:
            log.exception("shared %s encoder failed: its members encode for themselves", key[0].name)
            self._unknown.add(key[0])
            self._shared = {k: v for k, v in self._shared.items() if k[0] != key[0]}
            return None
        self.stats.encodes += 1
        return frame

    def _open(self, key: tuple[WriteCodec, Stream]) -> _Shared | None:
        codec = key[0]
        if codec in self._unknown:
            return None
        spec = self.find_codec(codec.name, codec.rate, codec.channels)
        try:
            encoder = spec.make_encoder(dict(codec.fmtp)) if spec is not None else None
        except Exception:
            log.exception("cannot open a shared %s encoder with %s", codec.name, dict(codec.fmtp))
            encoder = None
        if encoder is None:
            self._unknown.add(codec)  # asked once: the members keep their own encoders
            return None
        shared = self._shared[key] = _Shared(codec, encoder, self.room_rate)
        return shared

    def _sweep(self, used: set[tuple[WriteCodec, Stream]]) -> None:
        """Count idle ticks; an encoder nobody used for IDLE_TICKS is closed (a new one starts clean)."""
        if not self._shared:
            return
        gone = []
        for key, shared in self._shared.items():
            if key in used:
                shared.idle = 0
            else:
                shared.idle += 1
                if shared.idle >= IDLE_TICKS:
                    gone.append(key)
        for key in gone:
            del self._shared[key]

    def close(self) -> None:
        self._shared.clear()
