"""The rooms of one switch, and the state mod_conference keeps per switch.

The module object is shared by every switch that loads it (tests boot many),
so nothing lives in module globals: each switch gets a `ConferenceManager`
when mod_conference loads, found again with `manager_for(switch)`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import weakref
from collections.abc import Awaitable, Iterator
from typing import TYPE_CHECKING

from switchcore.expand import expand

from .profile import ConferenceConfig, Profile, parse_config
from .room import Room

if TYPE_CHECKING:
    from switchcore.core import Switch
    from switchcore.session import Session

__all__ = ["ConferenceManager", "manager_for"]

log = logging.getLogger("mod_conference")

_managers: weakref.WeakKeyDictionary[Switch, ConferenceManager] = weakref.WeakKeyDictionary()


def manager_for(switch: Switch) -> ConferenceManager:
    """The switch's conference manager (made on first use, normally at module load)."""
    manager = _managers.get(switch)
    if manager is None:
        manager = _managers[switch] = ConferenceManager(switch)
    return manager


class ConferenceManager:
    """Rooms by name, member ids, and background work (bgdial) of one switch."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.rooms: dict[str, Room] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def next_member_id(self) -> int:
        return next(self._ids)

    def config(self) -> ConferenceConfig:
        """conference.conf as the configuration in force says (read when a room is created)."""
        holder = self.switch.config
        element = holder.current.configuration("conference.conf") if holder is not None else None
        return parse_config(element)

    def find(self, name: str) -> Room | None:
        return self.rooms.get(name)

    def __iter__(self) -> Iterator[Room]:
        return iter(list(self.rooms.values()))

    def create(
        self, name: str, profile_name: str = "default", pin: str = "", profile: Profile | None = None
    ) -> Room:
        """A new room with the named profile, started on the media clock."""
        existing = self.rooms.get(name)
        if existing is not None:
            return existing
        config = self.config()
        room = Room(self, name, profile or config.profile(profile_name), config.control_groups, pin)
        self.rooms[name] = room
        room.start()
        log.info("conference %s created (profile %s, %d Hz)", name, room.profile.name, room.rate)
        return room

    def forget(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]

    def spawn(self, work: Awaitable[None], name: str) -> None:
        """Run `work` in the background, cancelled if the module shuts down."""

        async def runner() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("conference: %s failed", name)

        task = asyncio.get_running_loop().create_task(runner(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutdown(self) -> None:
        """Module unload: every room ends (members hung up), background work is cancelled."""
        for room in list(self.rooms.values()):
            room.destroy(hangup=True)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        _managers.pop(self.switch, None)

    async def expand(self, template: str, session: Session | None) -> str:
        """`${var}` / `${api(args)}` expansion for auto-record paths; `${strftime(fmt)}` works without mod_commands."""
        if "$" not in template:
            return template
        get = session.get_var if session is not None else self.switch.global_vars.get

        async def run_api(command: str, args: str) -> str:
            if command == "strftime":
                return time.strftime(args or "%Y-%m-%d %H:%M:%S")
            return (await self.switch.api(f"{command} {args}", session)).rstrip("\n")

        return await expand(template, get, run_api)
