"""The `sofia/...` endpoint: outbound SIP legs for dial strings.

sofia/<profile>/<user>@<host>[:port]        a URI without the scheme
sofia/<profile>/sip:<uri>                   any SIP URI (as sofia_contact returns them)
sofia/<profile>/<user>%<domain>             a user registered in <domain>: their contacts ring at once
sofia/gateway/<gateway>/<number>            through a configured gateway

Gateways are looked up in the running profiles when a call is dialled, so one
added by `sofia profile <p> rescan` (or removed by `killgw`) counts at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from switchcore.causes import HangupCause
from switchcore.errors import CallError
from switchcore.media.rtp_session import NoFreePort
from switchcore.module import OutgoingRequest
from switchcore.session import Session

from .calls import SipCall, target_of
from .uri import NameAddr

if TYPE_CHECKING:
    from switchcore.core import Switch

    from .handler import SofiaCallHandler

log = logging.getLogger("mod_sofia.endpoint")


class SofiaEndpoint:
    name = "sofia"

    def __init__(self) -> None:
        self.switch: Switch | None = None
        self.handlers: dict[str, SofiaCallHandler] = {}

    def gateway(self, name: str) -> Any | None:
        """The gateway called `name` in any running profile, as the profiles hold them now."""
        for handler in self.handlers.values():
            gateways = getattr(handler.profile, "gateways", None) or {}
            gateway = gateways.get(name)
            if gateway is not None:
                return gateway
        return None

    async def outgoing(self, request: OutgoingRequest) -> Session:
        profile_name, _, rest = request.dest.partition("/")
        if profile_name == "gateway":
            return await self._via_gateway(rest, request)
        handler = self.handlers.get(profile_name)
        if handler is None:
            raise CallError(HangupCause.INVALID_PROFILE, f"no running sofia profile {profile_name!r}")
        if not rest:
            raise CallError(HangupCause.INVALID_URL, "no destination after the profile")
        if "%" in rest and not rest.startswith("sip"):
            user, _, domain = rest.partition("%")
            contacts = await handler.profile.contacts(user, domain)
            if not contacts:
                raise CallError(HangupCause.USER_NOT_REGISTERED, f"{user}@{domain} is not registered")
            rest = contact_uri(contacts[0].contact)
        target = target_of(rest)
        call = SipCall(handler, "outbound")
        await _bind(call)
        return call.outbound(target, dict(request.variables), request.originator)

    async def _via_gateway(self, rest: str, request: OutgoingRequest) -> Session:
        name, _, number = rest.partition("/")
        gateway = self.gateway(name)
        if gateway is None:
            raise CallError(HangupCause.INVALID_GATEWAY, f"no gateway named {name!r}")
        if not getattr(gateway, "usable", True):
            raise CallError(HangupCause.GATEWAY_DOWN, f"gateway {name} is down")
        handler = self.handlers.get(gateway.profile_name)
        if handler is None:
            raise CallError(
                HangupCause.INVALID_PROFILE, f"gateway {name}: profile {gateway.profile_name} is not running"
            )
        target = target_of(gateway.target_for(number))
        variables = dict(request.variables)
        variables.setdefault("sip_gateway_name", name)
        call = SipCall(handler, "outbound")
        call.gateway = gateway  # type: ignore[attr-defined]
        await _bind(call)
        return call.outbound(target, variables, request.originator)


def contact_uri(contact: str) -> str:
    """The URI of a registered Contact value (RFC 3261 20.10), without display name or header params.

    `"Bob" <sip:1001@10.0.0.5;transport=tcp>;expires=300` -> `sip:1001@10.0.0.5;transport=tcp`.
    """
    try:
        return str(NameAddr.parse(contact.strip()).uri)
    except Exception as exc:
        raise CallError(HangupCause.INVALID_URL, f"unusable registered contact {contact!r}") from exc


async def _bind(call: SipCall) -> None:
    try:
        await call.bind_media()
    except NoFreePort as exc:
        raise CallError(HangupCause.NORMAL_TEMPORARY_FAILURE, str(exc)) from exc


endpoint = SofiaEndpoint()
