"""A conference member: one channel in a room, its flags, levels and audio slots.

Audio path of a member, once per tick:

- its own task (the `conference` application on its channel) reads a frame
  from the channel, converts it to the room's rate (`push`) and leaves it in
  `inbox`;
- the room's mix task takes one frame from every inbox, mixes, and leaves each
  member's share in its `outbox`: a frame at the room's rate, or - for a
  listener whose channel writes a codec the room encodes once for everyone
  (shared_encode.py) - the shared frame at the codec's rate with its payload;
- the member's task takes that share (`next_output`), adds what plays to this
  member alone (prompts, `play <file> <id>`), and writes it to the channel,
  which converts it back to the channel's rate, or sends the shared payload
  as it is.

The boxes are short deques: a member that runs late loses old audio rather
than growing a delay, and one that runs early gets silence for a tick.
"""

from __future__ import annotations

import time
from collections import deque
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from switchcore.media.convert import FrameConverter
from switchcore.media.frame import Frame, FrameFlag, Samples
from switchcore.session import Session

from .mixdown import normalize_volume, volume_gain
from .playback import Player, PlayItem
from .shared_encode import WriteCodec, write_codec_of

if TYPE_CHECKING:
    from .room import Room

__all__ = ["Leave", "Member"]

BOX_FRAMES = 3
CODEC_RECHECK_TICKS = 50  # how often a member's write codec is read again (a re-INVITE may change it)
_CNG = int(FrameFlag.CNG)


class Leave(StrEnum):
    """Why a member's loop ended."""

    KICKED = "kicked"  # `kick`: the kicked sound plays, then the dialplan continues
    HANGUP = "hangup"  # the member pressed the hangup control: the dialplan continues
    TRANSFER = "transfer"  # `transfer` to another room
    ENDED = "ended"  # the room was destroyed


class Member:
    """One channel in one room."""

    def __init__(
        self, room: Room, session: Session, member_id: int, flags: frozenset[str], slot: int
    ) -> None:
        self.room = room
        self.session = session
        self.id = member_id
        self.flags = set(flags)
        self.slot = slot
        self.can_speak = "mute" not in flags
        self.can_hear = "deaf" not in flags
        self.moderator = "moderator" in flags
        self.ghost = "ghost" in flags
        self.endconf = "endconf" in flags or "mandatory_member_endconf" in flags
        self.energy_level = room.profile.energy_level
        self.volume_in = 0
        self.volume_out = 0
        self.score = 0
        self.shared_frames = 0  # ticks whose audio came from one of the room's shared encodes
        self.join_time = time.time()
        self.last_talking = 0.0
        self.inbox: deque[Samples] = deque(maxlen=BOX_FRAMES)
        self.outbox: deque[Frame] = deque(maxlen=BOX_FRAMES)
        self.player = Player(room.rate, room.samples, room.open_sound)
        self.leaving: Leave | None = None
        self.kicked_sound = ""
        self.transfer_to = ""
        self._rate = room.rate
        self._converter: FrameConverter | None = None
        self._converter_key = (0, 0)
        silence: Samples = np.zeros(room.samples, dtype=np.int16)
        silence.setflags(write=False)
        self._silence = Frame(silence, self._rate)
        self._codec: WriteCodec | None = None
        self._codec_media: object = None
        self._codec_age = 0
        self.sync_board()

    # ---- state shared with the mixer ------------------------------------------------------------

    @property
    def talking(self) -> bool:
        return bool(self.room.board.talking[self.slot])

    @property
    def uuid(self) -> str:
        return self.session.uuid

    def sync_board(self) -> None:
        """Push this member's flags and levels into the room's mix board."""
        self.volume_in = normalize_volume(self.volume_in)
        self.volume_out = normalize_volume(self.volume_out)
        self.room.board.configure(
            self.slot,
            can_speak=self.can_speak,
            can_hear=self.can_hear,
            energy_level=self.energy_level,
            gain_in=volume_gain(self.volume_in),
            gain_out=volume_gain(self.volume_out),
        )

    # ---- audio ------------------------------------------------------------------------------------

    def push(self, frame: Frame) -> None:
        """A frame read from the channel, for the next tick (CNG frames carry no audio)."""
        # Hot path (every member, every tick): plain int tests, no IntFlag arithmetic.
        if frame.flags and frame.flags & _CNG:
            return
        if frame.rate != self._rate or frame.channels != 1:
            key = (frame.rate, frame.channels)
            if self._converter is None or self._converter_key != key:
                self._converter = FrameConverter(frame.rate, frame.channels, self._rate, 1)
                self._converter_key = key
            frame = self._converter(frame)
        self.inbox.append(frame.samples)

    def take_input(self) -> Samples | None:
        """The mix task's side of `inbox`."""
        return self.inbox.popleft() if self.inbox else None

    def write_codec(self) -> WriteCodec | None:
        """The codec the room may share an encode of for this member this tick (None: its own path).

        Read from the channel when it joins, when its media changes and every
        CODEC_RECHECK_TICKS; a member hearing a file of its own keeps its own path.
        """
        player = self.player
        if player.queue or player.async_item is not None:
            return None
        driver = self.session.driver
        media = getattr(driver, "media", None)
        self._codec_age -= 1
        if media is not self._codec_media or self._codec_age <= 0:
            self._codec_media = media
            self._codec = write_codec_of(driver)
            self._codec_age = CODEC_RECHECK_TICKS
        return self._codec

    def next_output(self) -> Frame:
        """What to write to the channel now: the room's mix for this member plus its own files."""
        frame = self.outbox.popleft() if self.outbox else self._silence
        player = self.player
        # A shared frame (another rate, or a payload) is sent as it is; a file that started
        # after the tick was mixed joins on the next tick, which gives this member its own path.
        if (player.queue or player.async_item is not None) and frame.encoded is None:
            own = player.read()
            if own is not None:
                total = frame.samples.astype(np.int32) + own
                return Frame(np.clip(total, -32768, 32767).astype(np.int16), self._rate)
        return frame

    def play(self, spec: str, tag: str = "") -> PlayItem:
        """Play a file to this member only (mixed with what it hears); raises SourceError."""
        return self.player.play(spec, tag=tag)

    def finished_files(self) -> list[PlayItem]:
        return self.player.collect()

    def close(self) -> None:
        """Leaving the room: stop this member's files and let go of its audio."""
        self.player.close()
        self.inbox.clear()
        self.outbox.clear()

    def __repr__(self) -> str:
        return f"<Member {self.id} of {self.room.name} {self.session.uuid}>"
