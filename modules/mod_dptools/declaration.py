"""The mod_dptools declaration object every file of this module registers on."""

from switchcore.module import Module

module = Module("mod_dptools", "Dialplan tools: the applications a dialplan runs")
