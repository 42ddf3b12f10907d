"""mod_commands: FreeSWITCH's API command set."""

from . import call_apis, directory_apis, show, system
from .declaration import module

__all__ = ["call_apis", "directory_apis", "module", "show", "system"]
