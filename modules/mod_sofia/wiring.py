"""Joins the call layer to each running profile, and offers the `sofia/...` endpoint.

When a profile starts, its transaction user becomes a `SofiaCallHandler`
(with the switch's RTP port range from switch.conf `rtp-start-port` /
`rtp-end-port`); when it stops, its calls are hung up.

Transfers add two internal applications and a dialplan: a far leg of an
attended transfer runs `sofia_attended_bridge <uuid>`, and a leg whose INVITE
carried Replaces is routed by the `sofia_replaces` dialplan straight to
`sofia_replace <uuid>` (FreeSWITCH routes it through its inline dialplan).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.media.rtp_session import PortAllocator

from .calls import REPLACES_DIALPLAN
from .declaration import module
from .endpoint import endpoint
from .handler import SofiaCallHandler
from .lifecycle import on_profile_start, on_profile_stop
from .profile import SofiaProfile
from .replacing import BRIDGE_APP, REPLACE_APP, attended_bridge_app, replace_app

if TYPE_CHECKING:
    from switchcore.core import Switch
    from switchcore.session import Session


class ReplacesDialplan:
    """`sofia_replaces:<uuid>`: the leg of an INVITE with Replaces takes over the leg `<uuid>`."""

    name = REPLACES_DIALPLAN

    async def hunt(self, session: Session, arg: str) -> list[tuple[str, str]] | None:
        return [(REPLACE_APP, arg)] if arg else None


module.add_endpoint(endpoint)
module.add_dialplan(ReplacesDialplan())
module.application(BRIDGE_APP, "Internal: a far leg of an attended transfer meets the other", "<uuid>")(
    attended_bridge_app
)
module.application(REPLACE_APP, "Internal: take the place of the leg an INVITE replaces", "<uuid>")(
    replace_app
)

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


@on_profile_stop
def detach(switch: Switch, profile: SofiaProfile) -> None:
    handler = endpoint.handlers.pop(profile.name, None)
    if handler is None:
        return
    for call in list(handler.calls.values()):
        if call.session is not None:
            call.session.hangup(
                HangupCause.SYSTEM_SHUTDOWN if switch.stopping.is_set() else HangupCause.NORMAL_CLEARING
            )
