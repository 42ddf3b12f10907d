"""The mod_event_socket declaration, and the running hub of each switch that loaded it."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from switchcore.module import Module

if TYPE_CHECKING:
    from .server import EventSocketServer

module = Module("mod_event_socket", "The event socket: ESL clients, switchcore-cli, outbound `socket`")

# One hub per switch (tests run several switches in one process); dropped with the switch.
running: weakref.WeakKeyDictionary[object, EventSocketServer] = weakref.WeakKeyDictionary()
