"""The `verto.rtc` endpoint: calls to browsers.

    verto.rtc/u:<sessid>            the one socket logged in with that sessid (what verto_contact returns)
    verto.rtc/<user>@<domain>       every socket the user is logged in on; the first to answer wins

A user with no logged-in socket is USER_NOT_REGISTERED, so `user/1000@dom`
(whose dial string lists `${verto_contact(...)}`) rings only what is there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.errors import CallError
from switchcore.module import OutgoingRequest
from switchcore.session import Session

if TYPE_CHECKING:
    from .service import VertoService

ENDPOINT_NAME = "verto.rtc"


class VertoEndpoint:
    name = ENDPOINT_NAME

    def __init__(self) -> None:
        self.service: VertoService | None = None

    async def outgoing(self, request: OutgoingRequest) -> Session:
        service = self.service
        if service is None:
            raise CallError(HangupCause.CHAN_NOT_IMPLEMENTED, "mod_verto is not running")
        dest = request.dest.strip()
        if dest.startswith("u:"):
            client = service.client(dest[2:])
            targets = [client] if client is not None and client.logged_in else []
        else:
            uid = dest if "@" in dest else f"{dest}@{service.switch.global_vars.get('domain', '')}"
            targets = service.contacts(uid)
        if not targets:
            raise CallError(HangupCause.USER_NOT_REGISTERED, f"{dest} is not logged in")
        return await service.calls.call_out(targets, dest, dict(request.variables), request.originator)
