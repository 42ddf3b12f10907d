"""mod_loopback: `loopback/<destination>[/<context>[/<dialplan>]]`, two channels joined back to back.

The leg handed to the originator ("loopback/9196-a", outbound) is joined to a
leg routed through the dialplan ("loopback/9196-b", inbound): frames written to
one are read from the other, answering one answers the other, hanging up one
hangs up the other with the same cause.  Routing and applications are testable
this way without any network endpoint.
"""

from .endpoint import LoopbackEndpoint, module

__all__ = ["LoopbackEndpoint", "module"]
