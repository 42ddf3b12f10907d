"""mod_conference: audio conference rooms, as FreeSWITCH's mod_conference.

Rooms (room.py) are created from conference.conf.xml profiles (profile.py) by
the `conference` application (app.py) and driven by the `conference` API
(api.py); each room mixes on the switch's media clock (mixdown.py), plays
prompts and files (playback.py), records (recording.py), fires
`conference::maintenance` events (events.py) and publishes its members for
browsers (liveview.py).
"""

from . import api, app
from .declaration import module
from .manager import ConferenceManager, manager_for
from .member import Leave, Member
from .mixdown import MixBoard, TickResult
from .room import Room

__all__ = [
    "ConferenceManager",
    "Leave",
    "Member",
    "MixBoard",
    "Room",
    "TickResult",
    "api",
    "app",
    "manager_for",
    "module",
]
