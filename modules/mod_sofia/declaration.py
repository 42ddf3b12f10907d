"""The mod_sofia declaration object every file of this module registers on."""

from switchcore.module import Module

module = Module("mod_sofia", "SIP endpoint: registrar and B2BUA for SIP phones (RFC 3261)")
