"""The `user/<user>@<domain>` endpoint: ring whatever the directory's `dial-string` says for that user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchcore.causes import HangupCause
from switchcore.errors import CallError
from switchcore.expand import expand
from switchcore.module import OutgoingRequest
from switchcore.session import Session

from .declaration import module

if TYPE_CHECKING:
    from switchcore.core import Switch

DEFAULT_DIAL_STRING = "${sofia_contact(*/${dialed_user}@${dialed_domain})},${verto_contact(${dialed_user}@${dialed_domain})}"


class UserEndpoint:
    name = "user"

    def __init__(self) -> None:
        self.switch: Switch | None = None

    async def outgoing(self, request: OutgoingRequest) -> Session:
        # Never reached: originate asks expand_dialstring first.
        raise CallError(HangupCause.INVALID_URL, "user/ legs are expanded, not created")

    async def expand_dialstring(self, dest: str, variables: dict[str, str], originator: Session | None) -> str:
        switch = self.switch
        assert switch is not None
        user_id, _, domain = dest.partition("@")
        domain = domain or switch.global_vars.get("domain", "")
        user = switch.directory.user(user_id, domain)
        if user is None:
            raise CallError(HangupCause.SUBSCRIBER_ABSENT, f"no user {user_id}@{domain}")
        template = user.params.get("dial-string") or DEFAULT_DIAL_STRING
        scope = dict(switch.global_vars)
        scope.update(variables)
        scope.update({"dialed_user": user.id, "dialed_domain": domain, "dialed_extension": user.id})

        async def run_api(command: str, args: str) -> str:
            reply = await switch.api(f"{command} {args}", originator)
            return "" if reply.startswith("-ERR") else reply.strip()

        dialstring = await expand(template, scope.get, run_api)
        legs = [p for p in _top_level_legs(dialstring) if p.strip()]
        if not legs:
            raise CallError(HangupCause.USER_NOT_REGISTERED, f"{user_id}@{domain} has no registered device")
        prefix = ""
        if dialstring.startswith("{"):
            prefix = dialstring[: dialstring.index("}") + 1]
        legs = [leg[len(prefix):] if leg.startswith(prefix) and prefix else leg for leg in legs]
        # Legs that name an error are kept only when nothing else can ring.
        live = [leg for leg in legs if not leg.startswith("error/")]
        chosen = live or legs[:1]
        return prefix + ",".join(chosen)


def _top_level_legs(text: str) -> list[str]:
    depth, start, out = 0, 0, []
    for i, ch in enumerate(text):
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


endpoint = UserEndpoint()
module.add_endpoint(endpoint)


@module.loaded
async def _load(switch: Switch) -> None:
    endpoint.switch = switch
