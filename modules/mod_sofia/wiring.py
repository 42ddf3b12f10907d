"""Joins the call layer to each running profile, and offers the `sofia/...` endpoint.

When a profile starts, its transaction user becomes a `SofiaCallHandler`
(with the switch's RTP port range from switch.conf `rtp-start-port` /
`rtp-end-port`); when it stops, its calls are hung up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.rtp_session import PortAllocator

from .declaration import module
from .endpoint import endpoint
from .handler import SofiaCallHandler
from .lifecycle import on_profile_start, on_profile_stop
from .profile import SofiaProfile

if TYPE_CHECKING:
    from switchcore.core import Switch

module.add_endpoint(endpoint)

_ports: dict[int, PortAllocator] = {}


def _allocator(switch: Switch) -> PortAllocator:
    key = id(switch)
    if key not in _ports:
        start = int(switch.settings.get("rtp-start-port") or 16384)
        end = int(switch.settings.get("rtp-end-port") or 32768)
        _ports[key] = PortAllocator(start, end)
    return _ports[key]


@on_profile_start
def attach(switch: Switch, profile: SofiaProfile) -> None:
    handler = SofiaCallHandler(switch, profile, _allocator(switch))
    profile.handler = handler
    endpoint.switch = switch
    endpoint.handlers[profile.name] = handler
    endpoint.gateways.update(profile.gateways)


@on_profile_stop
def detach(switch: Switch, profile: SofiaProfile) -> None:
    handler = endpoint.handlers.pop(profile.name, None)
    for name in [n for n, gw in endpoint.gateways.items() if gw.profile_name == profile.name]:
        del endpoint.gateways[name]
    if handler is None:
        return
    for call in list(handler.calls.values()):
        if call.session is not None:
            call.session.hangup(HangupCause.SYSTEM_SHUTDOWN if switch.stopping.is_set() else HangupCause.NORMAL_CLEARING)
