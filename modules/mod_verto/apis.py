"""API commands: `verto status|xmlstatus|jsonstatus|help` and `verto_contact <user>@<domain>`.

`verto status` prints FreeSWITCH's table (mod_verto.c cmd_status): one row per
listener of each profile and one per connected socket, then the totals.
`verto_contact` is what the directory's dial-string expands: the logged-in
sockets of a user as `verto.rtc/u:<sessid>` legs, comma-separated, or
`error/user_not_registered`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

if TYPE_CHECKING:
    from .service import VertoService

USAGE = (
    "USAGE:\n"
    "--------------------------------------------------------------------------------\n"
    "verto [status|xmlstatus|jsonstatus]\n"
    "verto help\n"
    "--------------------------------------------------------------------------------\n"
)
LINE = "=" * 97


def _client_rows(service: VertoService) -> list[tuple[str, str, str, str, str]]:
    """(profile, name, address, state, transport) of every socket, logged in or not."""
    rows = []
    for client in sorted(service.sockets, key=lambda c: c.name):
        login = client.connection.login
        name = f"{login.user_id}@{login.domain}" if client.logged_in else ""
        state = "CONN_REG" if client.logged_in else "CONN_NO_REG"
        rows.append((client.profile.name, name, client.name, state, "WSS" if client.secure else "WS"))
    return rows


def status(service: VertoService) -> str:
    out = [f"{'Name':>25}\t{'   Type'}\t  {'Data':>40}\t{'State'}", LINE]
    for profile in service.profiles:
        for listen in profile.settings.listen:
            out.append(
                f"{profile.name:>25}\tprofile\t  {listen.url:>40}\t{'RUNNING' if profile.running else 'DOWN'}"
            )
    rows = _client_rows(service)
    for profile_name, name, address, state, transport in rows:
        out.append(f"{profile_name + '::' + name:>25}\tclient\t  {address:>40}\t{state} ({transport})")
    out.append(LINE)
    cp, cc = len(service.profiles), len(rows)
    out.append(f"{cp} profile{'' if cp == 1 else 's'} , {cc} client{'' if cc == 1 else 's'}")
    return "\n".join(out) + "\n"


def xml_status(service: VertoService) -> str:
    out = ['<?xml version="1.0" encoding="ISO-8859-1"?>', "<profiles>"]
    for profile in service.profiles:
        for listen in profile.settings.listen:
            state = "RUNNING" if profile.running else "DOWN"
            out.append(
                f"<profile>\n<name>{escape(profile.name)}</name>\n<type>profile</type>\n"
                f"<data>{escape(listen.url)}</data>\n<state>{state}</state>\n</profile>"
            )
    for profile_name, name, address, state, transport in _client_rows(service):
        out.append(
            f"<client>\n<profile>{escape(profile_name)}</profile>\n<name>{escape(name)}</name>\n"
            f"<type>client</type>\n<data>{escape(address)}</data>\n<state>{state} ({transport})</state>\n</client>"
        )
    out.append("</profiles>")
    return "\n".join(out) + "\n"


def json_status(service: VertoService) -> str:
    profiles = [
        {"name": p.name, "type": "profile", "data": listen.url, "state": "RUNNING" if p.running else "DOWN"}
        for p in service.profiles
        for listen in p.settings.listen
    ]
    clients = [
        {"profile": p, "name": n, "type": "client", "data": a, "state": f"{s} ({t})"}
        for p, n, a, s, t in _client_rows(service)
    ]
    return json.dumps({"profiles": profiles, "clients": clients}, indent=2) + "\n"


def verto_command(service: VertoService | None, args: str) -> str:
    command = args.split()[0].lower() if args.split() else ""
    if service is None:
        return "-ERR mod_verto is not running\n"
    if command == "status":
        return status(service)
    if command == "xmlstatus":
        return xml_status(service)
    if command == "jsonstatus":
        return json_status(service)
    if command in ("", "help"):
        return USAGE
    return f"Unknown Command [{command}]\n"


def contact(service: VertoService | None, args: str) -> str:
    """verto_contact <user>[@<domain>] (a missing domain is the switch's `domain`)."""
    uid = args.strip()
    if not uid or service is None:
        return "error/user_not_registered"
    if "@" not in uid:
        uid = f"{uid}@{service.switch.global_vars.get('domain', '')}"
    legs = [f"verto.rtc/u:{client.sessid}" for client in service.contacts(uid)]
    return ",".join(legs) if legs else "error/user_not_registered"
