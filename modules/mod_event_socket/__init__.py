"""mod_event_socket: FreeSWITCH's event socket, inbound (ESL clients, switchcore-cli) and outbound (`socket`).

On load it reads event_socket.conf (listen-ip, listen-port, password,
apply-inbound-acl), refuses the default password on anything but loopback,
opens the TCP listener and joins the event bus and the log.  The wire format
is `switchcore.eslwire`; one connection's protocol state is `listener`; the
asyncio side is `server`; the `socket` application is `outbound`.
"""

from __future__ import annotations

import logging
from typing import Any

from . import outbound
from .acl import Acl, lists_from_element
from .declaration import module, running
from .server import EventSocketServer
from .settings import CONF_NAME, EslSettings, check_settings, settings_from_element

log = logging.getLogger("mod_event_socket")


def _configuration(switch: Any, name: str) -> Any:
    config = getattr(switch, "config", None)
    current = getattr(config, "current", None)
    if current is None:
        return None
    return current.configuration(name)


def _listener_name(hub: EventSocketServer) -> str:
    return f"esl tcp {hub.settings.listen_ip}:{hub.address[1]}"


@module.loaded
async def _load(switch: Any) -> None:
    settings = settings_from_element(_configuration(switch, CONF_NAME))
    check_settings(settings)
    acl = Acl(settings.inbound_acl, lists_from_element(_configuration(switch, "acl.conf")))
    hub = EventSocketServer(switch, settings, acl)
    await hub.start()
    running[switch] = hub
    module.listeners.append(_listener_name(hub))


@module.shutdown
async def _shutdown(switch: Any) -> None:
    hub = running.pop(switch, None)
    if hub is None:
        return
    name = _listener_name(hub)
    if name in module.listeners:
        module.listeners.remove(name)
    await hub.stop()


__all__ = ["EslSettings", "EventSocketServer", "module", "outbound", "settings_from_element"]
