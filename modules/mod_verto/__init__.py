"""mod_verto: the WebRTC endpoint (Verto, JSON-RPC 2.0 over WebSocket) and the browser phone.

Browsers log in over a WebSocket on the profile's `bind-local` (verto.conf.xml),
place and take calls whose media terminates here (aiortc: ICE, DTLS-SRTP,
Opus/G.711), and are reached with `verto.rtc/...` dial strings or
`${verto_contact(user@domain)}` (so `user/1000@dom` rings SIP phones and
browsers at once).  The same port serves the browser phone at `/`.

Files: `protocol.py` (frames, login, permissions, connection state; no I/O),
`client.py` (one socket), `service.py` (profiles, logins, method table),
`call.py` (one call leg, its phases, detach/re-attach), `calls.py` (the call
registry and the browser's call methods), `media.py` (peer connection and
channel driver), `ice.py` (aiortc/aioice adaptations), `events.py` (event
channels, CUSTOM events), `endpoint.py`, `apis.py`, `settings.py`,
`guard.py`, `server.py`, `schemas/` (JSON Schema of every message), `web/`
(the page).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from switchcore.module import ApiContext, Module
from switchcore.xmlconf.params import register_schema, unregister_schema

from . import apis
from .endpoint import ENDPOINT_NAME, VertoEndpoint
from .protocol import METHODS, Code
from .settings import CONF_NAME, PROFILE_SCHEMA, SETTINGS_SCHEMA, VertoSettings, load_settings

if TYPE_CHECKING:
    from switchcore.core import Switch

    from .service import VertoService

log = logging.getLogger("mod_verto")

module = Module("mod_verto", "Verto endpoint: WebRTC browsers over JSON-RPC 2.0 / WebSocket")

endpoint = VertoEndpoint()
module.add_endpoint(endpoint)


@module.api("verto", "Verto status", "[status|xmlstatus|jsonstatus|help]")
async def verto_api(ctx: ApiContext, args: str) -> str:
    return apis.verto_command(endpoint.service, args)


@module.api("verto_contact", "The dial string of a user's logged-in browsers", "<user>@<domain>")
async def verto_contact_api(ctx: ApiContext, args: str) -> str:
    return apis.contact(endpoint.service, args)


@module.loaded
async def _load(switch: Switch) -> None:
    from .service import VertoService

    assert switch.config is not None
    settings, warnings = load_settings(switch.config.current.configuration(CONF_NAME))
    for warning in warnings:
        log.warning("%s", warning)
    register_schema("verto.conf", SETTINGS_SCHEMA, replace=True)
    register_schema("verto.conf:profile", PROFILE_SCHEMA, replace=True)
    service = VertoService(switch, settings)
    try:
        listeners = await service.start()
    except Exception:
        await service.stop()
        raise
    endpoint.service = service
    module.listeners[:] = listeners


@module.shutdown
async def _shutdown(switch: Switch) -> None:
    service, endpoint.service = endpoint.service, None
    if service is not None:
        await service.stop()
    module.listeners.clear()
    unregister_schema("verto.conf")
    unregister_schema("verto.conf:profile")


def running_service() -> VertoService | None:
    """The running service (tests and benchmarks look inside it)."""
    return endpoint.service


__all__ = [
    "ENDPOINT_NAME",
    "METHODS",
    "Code",
    "VertoEndpoint",
    "VertoSettings",
    "endpoint",
    "module",
    "running_service",
]
