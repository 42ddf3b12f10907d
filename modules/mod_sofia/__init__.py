"""mod_sofia: the SIP endpoint (RFC 3261).

Importing registers the module's parts on its declaration (`declaration.module`):
the load / shutdown hooks (`lifecycle`) and the `sofia` / `sofia_contact` APIs
(`commands`), and the call layer with the `sofia/` endpoint (`wiring`).
"""

from . import commands, lifecycle, wiring
from .declaration import module

__all__ = ["commands", "lifecycle", "module", "wiring"]
