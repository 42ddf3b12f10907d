"""Directory lookups: user_exists and user_data."""

from __future__ import annotations

from switchcore.core import split_args
from switchcore.errors import UsageError
from switchcore.module import ApiContext

from .declaration import module


@module.api("user_exists", "Does a user exist in the directory", "<key> <user> <domain>")
async def user_exists(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if len(parts) != 3:
        raise UsageError("<key> <user> <domain>")
    key, user, domain = parts
    found = ctx.switch.directory.user(user, domain) if key == "id" else None
    return "true" if found is not None else "false"


@module.api("user_data", "Look up a user's param, variable or attribute", "<user>@<domain> [var|param|attr] <name>")
async def user_data(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if len(parts) != 3 or "@" not in parts[0] or parts[1] not in ("var", "param", "attr"):
        raise UsageError("<user>@<domain> [var|param|attr] <name>")
    user_id, _, domain = parts[0].partition("@")
    user = ctx.switch.directory.user(user_id, domain)
    if user is None:
        return ""
    kind, name = parts[1], parts[2]
    if kind == "var":
        return user.variables.get(name, "")
    if kind == "param":
        return user.params.get(name, "")
    return {"id": user.id}.get(name, "")
