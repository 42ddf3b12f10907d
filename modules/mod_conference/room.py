"""A conference room: its members, flags, files, recordings and mix task.

Theory of operation.  A room is created by its first caller with the profile
the dialplan names, and destroyed when its last member leaves (or an `endconf`
member leaves, or a `mintwo` room falls below two).  One task per room waits
on the switch's shared media clock and runs `tick()` every 20 ms:

1. take one frame from every member's inbox (see member.py);
2. read what plays to the room (prompts, `play`, music on hold);
3. mix it all (mixdown.MixBoard: gain, energy, talk detection, mix-minus,
   comfort noise), encode the common mix once per codec for the listeners who
   can share it (shared_encode.py) and put each member's share in its outbox;
4. write the outside listener's mix to every recording;
5. fire the events the tick caused (start-talking, stop-talking,
   floor-change, play-file-done) and update the live array.

Everything a tick touches is plain data owned by the event loop, so joins,
leaves and API commands - which run between ticks - need no locks.  Members
join and leave by replacing `members` with a new list, so a tick that is
iterating never sees the list change under it.  A tick that raises is logged
and the room goes on mixing: one bad frame or file must not silence a room
(signalwire/freeswitch #2676).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from typing import TYPE_CHECKING

import numpy as np

from switchcore.causes import HangupCause
from switchcore.media.clock import ClockStopped
from switchcore.media.frame import Frame
from switchcore.media.sources import FrameSource, SourceError, open_source

from .controls import ControlGroup, pick_group
from .events import fire_member, fire_room
from .liveview import LiveArray
from .member import Leave, Member
from .mixdown import MixBoard, TickResult
from .playback import Player, PlayItem
from .profile import Profile
from .recording import RecordError, RoomRecorder
from .shared_encode import SharedEncoding

if TYPE_CHECKING:
    from collections.abc import Mapping

    from switchcore.core import Switch

    from .manager import ConferenceManager

__all__ = ["Room"]

log = logging.getLogger("mod_conference")

RECORD_OPEN_ERROR = "File could not be opened for recording"


class Room:
    """One conference."""

    def __init__(
        self,
        manager: ConferenceManager,
        name: str,
        profile: Profile,
        control_groups: Mapping[str, ControlGroup],
        pin: str = "",
    ) -> None:
        self.manager = manager
        self.switch: Switch = manager.switch
        self.name = name
        self.profile = profile
        self.control_groups = control_groups
        self.uuid = str(uuidlib.uuid4())
        self.domain = profile.domain or self.switch.global_vars.get("domain", "") or "localhost"
        self.rate = profile.rate
        interval = int(self.switch.clock.interval_ms)
        if profile.interval != interval:
            log.warning(
                "conference %s: interval %d ms runs at the media clock's %d ms",
                name,
                profile.interval,
                interval,
            )
        self.interval = interval
        self.samples = self.rate * interval // 1000
        self.sound_prefix = (
            profile.sound_prefix
            or self.switch.global_vars.get("sound_prefix", "")
            or str(self.switch.sounds_dir / "en/us/callie")
        )
        self.board = MixBoard(self.rate, interval, profile.comfort_noise)
        self.shared = SharedEncoding(self.rate, self.samples, self.switch.registry.find_codec)
        self.members: list[Member] = []
        self._slots = np.zeros(0, dtype=np.intp)
        self.flags = set(profile.conference_flags)
        self.locked = False
        self.pin = pin or profile.pin
        self.moderator_pin = profile.moderator_pin
        self.max_members = profile.max_members
        self.caller_id_name = profile.caller_id_name
        self.caller_id_number = profile.caller_id_number
        self.enter_sound_on = True
        self.exit_sound_on = True
        self.answered = False
        self.min_members = 1
        self.enforce_min = False
        self.endconf_count = 0
        self.endconf_since: float | None = None
        self.floor_holder: Member | None = None
        self.player = Player(self.rate, self.samples, self.open_sound)
        self.recorders: dict[str, RoomRecorder] = {}
        self.auto_recorded = False
        self.created = time.time()
        self.destroyed = False
        self.live = LiveArray(self)
        self.ticks = 0
        self.tick_errors = 0
        self.last_result: TickResult | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- properties ------------------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Members, not counting ghosts (FreeSWITCH's conference->count)."""
        return sum(1 for m in self.members if not m.ghost)

    @property
    def ghosts(self) -> int:
        return sum(1 for m in self.members if m.ghost)

    @property
    def waiting_for_moderator(self) -> bool:
        return "wait-mod" in self.flags

    def member(self, member_id: int) -> Member | None:
        for m in self.members:
            if m.id == member_id:
                return m
        return None

    def controls_for(self, member: Member) -> ControlGroup:
        profile = self.profile
        name = profile.moderator_controls if member.moderator and profile.moderator_controls else ""
        return pick_group(self.control_groups, name or profile.caller_controls)

    def open_sound(self, spec: str) -> FrameSource:
        """Open a prompt, file or stream at the room's rate (relative names under the sound prefix)."""
        return open_source(spec, self.rate, self.sound_prefix, self.switch.registry.file_formats)

    # ---- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        fire_room(self, "conference-create")
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"conference {self.name}")

    async def _run(self) -> None:
        clock = self.switch.clock
        try:
            while not self.destroyed:
                await clock.tick()
                if self.destroyed:
                    break
                try:
                    self.tick()
                except Exception:
                    self.tick_errors += 1
                    if self.tick_errors <= 3 or self.tick_errors % 500 == 0:
                        log.exception("conference %s: tick failed (%d so far)", self.name, self.tick_errors)
        except ClockStopped:
            pass
        finally:
            if not self.destroyed:
                self.destroy()

    def destroy(self, hangup: bool = False) -> None:
        """End the room: files and recordings close, members leave (hung up when `hangup`)."""
        if self.destroyed:
            return
        self.destroyed = True
        self.manager.forget(self)
        self.player.close()
        self._file_events()
        self.stop_recording("all")
        for member in list(self.members):
            member.leaving = member.leaving or Leave.ENDED
            if hangup and member.session.var_true("hangup_after_conference", default=True):
                member.session.hangup(HangupCause.NORMAL_CLEARING)
        self.live.clear()
        self.shared.close()
        fire_room(self, "conference-destroy")
        task = self._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        log.info("conference %s destroyed", self.name)

    # ---- members joining and leaving ---------------------------------------------------------------

    def _reindex(self, members: list[Member]) -> None:
        self.members = members
        self._slots = np.fromiter((m.slot for m in members), dtype=np.intp, count=len(members))

    def add(self, member: Member) -> None:
        """A member joins (after PIN, lock and size checks)."""
        self._reindex([*self.members, member])
        session = member.session
        session.set_var("conference_name", self.name)
        session.set_var("conference_member_id", str(member.id))
        session.set_var("conference_uuid", self.uuid)
        if session.direction == "inbound" or session.answered:
            self.answered = True
        if "mintwo" in member.flags:
            self.min_members = 2
        if member.endconf:
            self.endconf_count += 1
            self.endconf_since = None
        if member.moderator and self.waiting_for_moderator:
            self.flags.discard("wait-mod")
            self.player.stop("async", tag="moh")
        if self.count >= self.min_members:
            self.enforce_min = True
        fire_member(member, "add-member")
        if self.floor_holder is None and not member.ghost:
            self.set_floor(member)
        self.live.add(member)
        if member.ghost:
            return
        if self.count > 1:
            self.player.stop("async", tag="moh")
            if self.enter_sound_on:
                self._play_quietly(
                    session.get_var("conference_enter_sound") or self.profile.sound("enter-sound")
                )
        elif self.profile.sound("alone-sound") and not self.waiting_for_moderator:
            self.player.stop("async")
            self._play_quietly(self.profile.sound("alone-sound"), tag="alone")

    def remove(self, member: Member) -> None:
        """A member leaves (its loop ended, it hung up, was kicked or the room ended)."""
        if member not in self.members:
            return
        self._reindex([m for m in self.members if m is not member])
        self.board.release(member.slot)
        # How much of what this member heard came from a shared encode (shared_encode.py), for the CDR.
        member.session.set_var("conference_shared_frames", str(member.shared_frames))
        member.close()
        if self.floor_holder is member:
            self.set_floor(next((m for m in self.members if not m.ghost), None))
        fire_member(member, "del-member")
        self.live.remove(member)
        if member.endconf:
            self.endconf_count -= 1
            if self.endconf_count <= 0:
                self.endconf_since = time.monotonic()
        if self.destroyed:
            return
        remaining = self.count + self.ghosts
        if remaining == 0 or (self.enforce_min and self.count < self.min_members):
            self.destroy(hangup=True)
            return
        if self.exit_sound_on and not member.ghost:
            self._play_quietly(self.profile.sound("exit-sound"))
        if self.count == 1 and self.profile.sound("alone-sound") and not self.waiting_for_moderator:
            self.player.stop("async")
            self._play_quietly(self.profile.sound("alone-sound"), tag="alone")

    def set_floor(self, member: Member | None) -> None:
        old = self.floor_holder
        if old is member:
            return
        self.floor_holder = member
        extra = {"Old-ID": str(old.id) if old is not None else "none"}
        if member is not None:
            fire_member(member, "floor-change", **extra, **{"New-ID": str(member.id)})
            self.live.modify(member)
        else:
            fire_room(self, "floor-change", **extra, **{"New-ID": "none"})
        if old is not None and old in self.members:
            self.live.modify(old)

    # ---- the tick -----------------------------------------------------------------------------------

    def tick(self) -> None:
        """One interval of the room (see the module docstring)."""
        self.ticks += 1
        members, slots = self.members, self._slots
        frames = [m.take_input() for m in members]
        self._manage_music()
        background = self.player.read() if self.player.busy else None
        mix_members = (self.count > 1 or bool(self.recorders)) and not self.waiting_for_moderator
        result = self.board.tick(
            slots,
            frames,
            background=background,
            mix_members=mix_members,
            audio_always="audio-always" in self.flags,
        )
        self.last_result = result
        shared = self.shared.assign(result, [m.write_codec() for m in members], slots)
        rate = self.rate
        for member, share, frame, score in zip(
            members, result.outputs, shared, result.scores.tolist(), strict=True
        ):
            if frame is None:
                member.outbox.append(Frame(share, rate))
            else:
                member.outbox.append(frame)
                member.shared_frames += 1
            member.score = score
        if self.recorders:
            self._record(result)
        if result.started or result.stopped:
            self._talk_events(members, result)
        if self.player.finished:
            self._file_events()
        since = self.endconf_since
        if (
            since is not None
            and self.endconf_count <= 0
            and time.monotonic() - since >= self.profile.endconf_grace_time
        ):
            log.info("conference %s: endconf member gone, ending", self.name)
            self.destroy(hangup=True)

    def _talk_events(self, members: list[Member], result: TickResult) -> None:
        now = time.time()
        for row in result.started:
            member = members[row]
            member.last_talking = now
            fire_member(member, "start-talking")
            holder = self.floor_holder
            if holder is None or (holder is not member and not holder.talking):
                self.set_floor(member)
            self.live.modify(member)
        for row in result.stopped:
            member = members[row]
            member.last_talking = now
            fire_member(member, "stop-talking")
            self.live.modify(member)

    def _manage_music(self) -> None:
        """Music on hold while a member is alone (and nothing else plays) or the room waits for a moderator."""
        moh = self.profile.sound("moh-sound")
        if not moh:
            return
        alone = self.count == 1 and not any("nomoh" in m.flags for m in self.members)
        wanted = alone or (self.waiting_for_moderator and self.count > 0)
        if wanted and not self.player.busy:
            self._play_quietly(moh, is_async=True, loop=True, tag="moh")
        elif not wanted and self.player.playing("moh"):
            self.player.stop("async", tag="moh")

    def _play_quietly(self, spec: str, *, is_async: bool = False, loop: bool = False, tag: str = "") -> None:
        """A prompt the room plays by itself: a missing file is logged, not fatal."""
        if not spec:
            return
        try:
            self.player.play(spec, is_async=is_async, loop=loop, tag=tag)
        except SourceError as exc:
            log.warning("conference %s: cannot play %s: %s", self.name, spec, exc)

    def play(self, spec: str, is_async: bool = False) -> PlayItem:
        """`conference <room> play <file> [async]`; raises SourceError."""
        item = self.player.play(spec, is_async=is_async)
        fire_room(self, "play-file", File=spec, Async="true" if is_async else "false")
        return item

    def _file_events(self) -> None:
        for item in self.player.collect():
            if item.tag in ("moh",):
                continue
            extra = {"File": item.spec, "Async": "true" if item.is_async else "false"}
            if item.error:
                extra["Error"] = item.error
            fire_room(self, "play-file-done", **extra)

    # ---- recording ------------------------------------------------------------------------------------

    def start_recording(self, path: str, auto: bool = False) -> RoomRecorder | None:
        """Record the room to `path`; a file that cannot be opened is reported once and not retried."""
        existing = self.recorders.get(path)
        if existing is not None:
            return existing
        try:
            recorder = RoomRecorder.open(path, self.rate, auto)
        except RecordError as exc:
            log.error("conference %s: %s", self.name, exc)
            fire_room(self, "start-recording", Path=path, Error=RECORD_OPEN_ERROR)
            return None
        self.recorders[path] = recorder
        for member in self.members:
            member.session.set_var("conference_recording", path)
        fire_room(self, "start-recording", Path=path)
        return recorder

    def stop_recording(self, path: str = "all", error: str = "") -> int:
        """Stop one recording (or "all"); returns how many stopped."""
        paths = list(self.recorders) if path == "all" else [path] if path in self.recorders else []
        for name in paths:
            recorder = self.recorders.pop(name)
            samples = recorder.close()
            extra = {
                "Path": name,
                "Other-Recordings": "true" if self.recorders else "false",
                "Samples-Out": str(samples),
                "Milliseconds-Elapsed": str(samples * 1000 // self.rate),
            }
            if error:
                extra["Error"] = error
            fire_room(self, "stop-recording", **extra)
        return len(paths)

    def pause_recording(self, path: str, pause: bool) -> int:
        paths = list(self.recorders) if path == "all" else [path] if path in self.recorders else []
        for name in paths:
            self.recorders[name].paused = pause
            fire_room(
                self,
                "pause-recording" if pause else "resume-recording",
                Path=name,
                **{"Other-Recordings": "true" if len(self.recorders) > 1 else "false"},
            )
        return len(paths)

    def _record(self, result: TickResult) -> None:
        for path, recorder in list(self.recorders.items()):
            try:
                recorder.write(result.mix, self.samples)
            except RecordError as exc:
                log.error("conference %s: %s", self.name, exc)
                self.stop_recording(path, error=str(exc))  # reported once, never reopened

    def __repr__(self) -> str:
        return f"<Room {self.name} {self.count} members {self.rate} Hz>"
