"""Channel variables: set, export, unset, multiset; and the logging apps that show them."""

from __future__ import annotations

import logging

from switchcore.session import Session

from .declaration import module

log = logging.getLogger("mod_dptools")


def _name_value(arg: str) -> tuple[str, str | None]:
    name, eq, value = arg.partition("=")
    return name.strip(), (value if eq else None)


@module.application("set", "Set a channel variable", "<varname>=<value>")
async def set_(session: Session, arg: str) -> None:
    name, value = _name_value(arg)
    if not name:
        log.error("[%s] set: no variable name in %r", session.uuid, arg)
        return
    session.set_var(name, value)


@module.application("export", "Set a variable on this leg and on the legs it bridges to", "[nolocal:]<varname>=<value>")
async def export(session: Session, arg: str) -> None:
    local = True
    if arg.startswith("nolocal:"):
        local, arg = False, arg[len("nolocal:") :]
    name, value = _name_value(arg)
    if not name:
        log.error("[%s] export: no variable name in %r", session.uuid, arg)
        return
    if local:
        session.set_var(name, value)
    else:
        session.set_var(f"nolocal:{name}", value)
    names = [n for n in (session.get_var("export_vars") or "").split(",") if n]
    if name not in names:
        names.append(name)
    session.set_var("export_vars", ",".join(names))


@module.application("unset", "Unset a channel variable", "<varname>")
async def unset(session: Session, arg: str) -> None:
    session.set_var(arg.strip(), None)


@module.application("multiset", "Set many channel variables", "[^^<delim>]<var>=<val> <var2>=<val2>")
async def multiset(session: Session, arg: str) -> None:
    delim = " "
    if arg.startswith("^^") and len(arg) > 2:
        delim, arg = arg[2], arg[3:]
    for item in arg.split(delim):
        name, value = _name_value(item)
        if name:
            session.set_var(name, value)


LEVELS = {"debug": 10, "info": 20, "notice": 25, "warning": 30, "err": 40, "error": 40, "crit": 50, "alert": 50, "console": 50}


@module.application("log", "Write a line to the log", "<level> <message>")
async def log_(session: Session, arg: str) -> None:
    level, _, message = arg.partition(" ")
    if level.lower() not in LEVELS:
        level, message = "debug", arg
    logging.getLogger("mod_dptools.log").log(LEVELS[level.lower()], "[%s] %s", session.uuid, message)


@module.application("info", "Log every channel variable", "[<level>]")
async def info(session: Session, arg: str) -> None:
    lines = [f"{k}: {v}" for k, v in session.event_headers().items()]
    logging.getLogger("mod_dptools.info").log(
        LEVELS.get(arg.strip().lower(), 20), "[%s] CHANNEL_DATA:\n%s", session.uuid, "\n".join(lines)
    )
