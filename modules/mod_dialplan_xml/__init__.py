"""mod_dialplan_xml: the XML dialplan (`XML`), and `dialplan test` to run a hunt without a call.

The hunt engine itself is the core's `switchcore.dialplan_xml` (sans-I/O);
this module adapts a live session to it and offers the API.
"""

from __future__ import annotations

from datetime import datetime

from switchcore.core import split_args
from switchcore.dialplan_xml import HuntResult, format_trace, hunt
from switchcore.errors import UsageError
from switchcore.module import ApiContext, Module
from switchcore.profile import CallerProfile
from switchcore.session import Session

module = Module("mod_dialplan_xml", "The XML dialplan")

TEST_SYNTAX = "test <context> <destination> [var=value ...]"


class XmlDialplan:
    name = "XML"

    async def hunt(self, session: Session, arg: str) -> list[tuple[str, str]] | None:
        switch = session.switch
        assert switch.config is not None

        async def run_api(command: str, args: str) -> str:
            return (await switch.api(f"{command} {args}", session)).rstrip("\n")

        result: HuntResult = await hunt(
            switch.config.current,
            session.profile.context,
            session.profile.fields(),
            session.get_var,
            session.set_var,
            run_api,
            datetime.now(),
        )
        session.variables["dialplan_trace_extensions"] = ",".join(result.matched_extensions)
        if not result.actions:
            return None
        return list(result.actions)


module.add_dialplan(XmlDialplan())


@module.api("dialplan", "Run a dialplan hunt without a call and show every condition", TEST_SYNTAX)
async def dialplan_api(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 3 or parts[0] != "test":
        raise UsageError(TEST_SYNTAX)
    context, destination = parts[1], parts[2]
    variables: dict[str, str] = {}
    profile = CallerProfile(destination_number=destination, context=context, caller_id_number="0000000000")
    for item in parts[3:]:
        name, eq, value = item.partition("=")
        if not eq:
            raise UsageError(TEST_SYNTAX)
        if hasattr(profile, name):
            setattr(profile, name, value)
        else:
            variables[name] = value
    switch = ctx.switch
    assert switch.config is not None

    def get_var(name: str) -> str | None:
        return variables.get(name, switch.global_vars.get(name))

    def set_var(name: str, value: str | None) -> None:
        if value is None:
            variables.pop(name, None)
        else:
            variables[name] = value

    async def run_api(command: str, api_args: str) -> str:
        return (await switch.api(f"{command} {api_args}")).rstrip("\n")

    result = await hunt(switch.config.current, context, profile.fields(), get_var, set_var, run_api, datetime.now())
    return format_trace(result)
