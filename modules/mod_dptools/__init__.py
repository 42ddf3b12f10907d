"""mod_dptools: answer, hangup, set/export, playback, echo, park, transfer, bridge, read ... and `user/`."""

from . import bridge_app, call_control, media_apps, user_endpoint, variable_apps
from .declaration import module

__all__ = ["bridge_app", "call_control", "media_apps", "module", "user_endpoint", "variable_apps"]
