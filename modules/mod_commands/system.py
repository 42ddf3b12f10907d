"""Status, version, help, variables, modules and configuration reload."""

from __future__ import annotations

import asyncio
import time

from switchcore import __version__
from switchcore.core import split_args
from switchcore.errors import ModuleError, UsageError
from switchcore.events import Event
from switchcore.module import ApiContext

from .declaration import module


def _uptime(seconds: float) -> str:
    whole = int(seconds)
    micros = int((seconds - whole) * 1_000_000)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"UP 0 years, {days} days, {hours} hours, {minutes} minutes, {secs} seconds, "
        f"{micros // 1000} milliseconds, {micros % 1000} microseconds"
    )


@module.api("status", "Show the switch status", "")
async def status(ctx: ApiContext, args: str) -> str:
    sw = ctx.switch
    count = len(sw.sessions)
    max_sessions = sw.settings.get("max-sessions", "1000")
    sps = sw.settings.get("sessions-per-second", "30")
    return (
        f"{_uptime(time.time() - sw.started)}\n"
        f"switchcore (Version {__version__}) is ready\n"
        f"{sw.sessions_since_start} session(s) since startup\n"
        f"{count} session(s) - peak {max(count, sw.peak_sessions)}, last 5min {count}\n"
        f"0 session(s) per Sec out of max {sps}, peak 0, last 5min 0\n"
        f"{max_sessions} session(s) max\n"
        "min idle cpu 0.00/100.00\n"
    )


@module.api("version", "Show the version", "[short]")
async def version(ctx: ApiContext, args: str) -> str:
    if args.strip() == "short":
        return f"{__version__}\n"
    return f"switchcore Version {__version__} (Python switch in the spirit of FreeSWITCH)\n"


@module.api("help", "Show the API commands", "")
async def help_(ctx: ApiContext, args: str) -> str:
    rows = ["name,description,syntax,ikey"]
    for name in sorted(ctx.switch.registry.apis):
        api = ctx.switch.registry.apis[name]
        rows.append(f"{name},{api.description},{api.syntax},{api.module}")
    return "\n".join(rows) + f"\n\n{len(rows) - 1} total.\n"


@module.api("global_getvar", "Get a global variable", "<var>")
async def global_getvar(ctx: ApiContext, args: str) -> str:
    name = args.strip()
    if not name:
        return "".join(f"{k}={v}\n" for k, v in sorted(ctx.switch.global_vars.items()))
    return ctx.switch.global_vars.get(name, "")


@module.api("global_setvar", "Set a global variable", "<var>=<value>")
async def global_setvar(ctx: ApiContext, args: str) -> str:
    name, eq, value = args.partition("=")
    if not eq or not name.strip():
        raise UsageError("<var>=<value>")
    ctx.switch.global_vars[name.strip()] = value.strip()
    return "+OK\n"


@module.api("eval", "Expand variables in a string", "[uuid:<uuid> ]<expression>")
async def eval_(ctx: ApiContext, args: str) -> str:
    session = ctx.session
    if args.startswith("uuid:"):
        uuid, _, args = args[5:].partition(" ")
        session = ctx.switch.sessions.get(uuid)
        if session is None:
            return "-ERR No such channel!\n"
    return await ctx.switch.expand(args, session)


@module.api("reloadxml", "Reload the XML configuration (all or nothing)", "")
async def reloadxml(ctx: ApiContext, args: str) -> str:
    return await ctx.switch.reload_config()


@module.api("load", "Load a module", "<mod_name>")
async def load(ctx: ApiContext, args: str) -> str:
    name = args.strip()
    if not name:
        raise UsageError("<mod_name>")
    try:
        await ctx.switch.loader.load(name)
    except ModuleError as exc:
        return f"-ERR [{exc}]\n"
    return "+OK\n"


@module.api("unload", "Unload a module", "[-f] <mod_name>")
async def unload(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    force = "-f" in parts
    names = [p for p in parts if p != "-f"]
    if len(names) != 1:
        raise UsageError("[-f] <mod_name>")
    if names[0] == module.name:
        return "-ERR [mod_commands cannot unload itself]\n"
    try:
        await ctx.switch.loader.unload(names[0], force)
    except ModuleError as exc:
        return f"-ERR [{exc}]\n"
    return "+OK\n"


@module.api("reload", "Reload a module", "[-f] <mod_name>")
async def reload(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    force = "-f" in parts
    names = [p for p in parts if p != "-f"]
    if len(names) != 1:
        raise UsageError("[-f] <mod_name>")
    try:
        await ctx.switch.loader.reload(names[0], force)
    except ModuleError as exc:
        return f"-ERR [{exc}]\n"
    return "+OK module reloaded\n"


@module.api("shutdown", "Stop the switch (calls are hung up with SYSTEM_SHUTDOWN)", "")
async def shutdown(ctx: ApiContext, args: str) -> str:
    request = getattr(ctx.switch, "on_shutdown_request", None)
    if request is not None:
        asyncio.get_running_loop().call_soon(request)
    else:
        asyncio.get_running_loop().create_task(ctx.switch.stop())
    return "+OK\n"


@module.api("fsctl", "Switch control: loglevel, shutdown, hupall", "loglevel <level>|shutdown|send_sighup")
async def fsctl(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if not parts:
        raise UsageError("loglevel <level>|shutdown|send_sighup")
    if parts[0] == "shutdown":
        return await shutdown(ctx, "")
    if parts[0] == "send_sighup":
        return await reloadxml(ctx, "")
    if parts[0] == "loglevel" and len(parts) == 2:
        import logging

        from switchcore.logs import LEVEL_BY_NAME

        level = LEVEL_BY_NAME.get(parts[1].lower())
        if level is None:
            return f"-ERR unknown log level {parts[1]}\n"
        logging.getLogger().setLevel(level)
        return f"+OK log level: {parts[1].upper()} [{level}]\n"
    raise UsageError("loglevel <level>|shutdown|send_sighup")


@module.api("event", "Fire a CUSTOM event (for tests and tools)", "<subclass> [header=value ...]")
async def fire_event(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if not parts:
        raise UsageError("<subclass> [header=value ...]")
    event = Event.create("CUSTOM", parts[0])
    for item in parts[1:]:
        name, _, value = item.partition("=")
        event.add(name, value)
    ctx.switch.events.fire(event)
    return "+OK\n"
