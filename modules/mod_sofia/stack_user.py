"""What a profile's SIP stack serves, and the stand-in before a call layer is attached.

`StackUser` is the profile as the stack sees it: the registrar's REGISTER
handling, fresh challenges for stateless 401 / 407 rejections, and the call
layer's handler.  `NullCallHandler` answers for a call layer that is not
there (yet): nothing can be called, nothing in a dialog exists.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable
from typing import Protocol

from switchcore.errors import InvalidTransition

from .incoming import ServerRequest
from .message import Request, Response
from .transaction import NoTransaction
from .tu import CallHandler, Incoming

log = logging.getLogger("mod_sofia.stack")


class StackUser(Protocol):
    """What a stack serves: the profile (registrar, auth and the call layer's handler)."""

    @property
    def handler(self) -> CallHandler: ...

    def on_register(self, incoming: ServerRequest) -> Awaitable[None] | None:
        """Handle a REGISTER; may answer at once (None) or return work to run."""
        ...

    def challenge_headers(self, request: Request, status: int) -> list[tuple[str, str]]:
        """Fresh WWW-Authenticate / Proxy-Authenticate values for a 401 / 407."""
        ...


class NullCallHandler:
    """The call layer's stand-in before one is attached: nothing can be called.

    Out-of-dialog INVITE and MESSAGE get 480 (nobody to take them), other
    session methods 501, in-dialog requests 481 (no such dialog), a CANCEL'd
    INVITE 487.
    """

    supported = "path"  # no call layer: no session timers, no Replaces (RFC 3327 Path is the registrar's)

    async def on_request(self, incoming: Incoming) -> None:
        request = incoming.request
        if request.method == "ACK":
            return
        if request.to_tag is not None:
            await incoming.respond(481, "Call/Transaction Does Not Exist")
        elif request.method in ("INVITE", "MESSAGE"):
            await incoming.respond(480, "Temporarily Unavailable")
        else:
            await incoming.respond(501, "Not Implemented")

    async def on_cancel(self, invite: Incoming) -> None:
        with contextlib.suppress(InvalidTransition, NoTransaction):
            await invite.respond(487, "Request Terminated")

    def on_stray_2xx(self, response: Response) -> None:
        log.debug("stray 2xx with no call layer: %r", response)


__all__ = ["NullCallHandler", "StackUser"]
