"""The mod_commands declaration object every file of this module registers on."""

from switchcore.module import Module

module = Module("mod_commands", "The API commands: status, show, originate, uuid_*, reloadxml ...")
