"""`show channels|calls|modules|api|application|codec|endpoint|registrations` in FreeSWITCH's CSV form."""

from __future__ import annotations

import time
from collections.abc import Iterable

from switchcore.core import split_args
from switchcore.errors import UsageError
from switchcore.events import HOSTNAME
from switchcore.module import ApiContext
from switchcore.session import Session

from .declaration import module

CHANNEL_COLUMNS = ["uuid", "direction", "created", "created_epoch", "name", "state", "cid_name", "cid_num", "ip_addr", "dest", "application", "application_data", "dialplan", "context", "read_codec", "read_rate", "read_bit_rate", "write_codec", "write_rate", "write_bit_rate", "secure", "hostname", "presence_id", "presence_data", "accountcode", "callstate", "callee_name", "callee_num", "callee_direction", "call_uuid", "sent_callee_name", "sent_callee_num", "initial_cid_name", "initial_cid_num", "initial_ip_addr", "initial_dest", "initial_dialplan", "initial_context"]


def _csv(values: Iterable[str]) -> str:
    return ",".join(v.replace(",", " ").replace("\n", " ") for v in values)


def channel_row(s: Session) -> list[str]:
    p = s.profile
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created))
    partner = s.partner
    return [
        s.uuid, s.direction, created, str(int(s.created)), s.name, s.state.value,
        p.caller_id_name, p.caller_id_number, p.network_addr, p.destination_number,
        s.current_app, s.current_app_data, p.dialplan, p.context,
        s.driver.read_codec, str(s.driver.rate), "", s.driver.write_codec, str(s.driver.rate), "",
        "", HOSTNAME, s.get_var("presence_id") or "", "", s.get_var("accountcode") or "",
        s.call_state.value, p.callee_id_name, p.callee_id_number, "",
        partner.uuid if partner is not None else "", "", "",
        p.caller_id_name, p.caller_id_number, p.network_addr, p.destination_number, p.dialplan, p.context,
    ]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_csv(header)] + [_csv(r) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


@module.api("show", "Show switch objects", "channels [count|like <text>]|calls|modules|api|application|codec|endpoint|dialplan")
async def show(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if not parts:
        raise UsageError("channels [count|like <text>]|calls|modules|api|application|codec|endpoint|dialplan")
    what, rest = parts[0], parts[1:]
    reg = ctx.switch.registry
    sessions = sorted(ctx.switch.sessions.values(), key=lambda s: s.created)
    if what == "channels":
        if rest[:1] == ["count"]:
            return f"\n{len(sessions)} total.\n"
        if rest[:1] == ["like"] and len(rest) > 1:
            needle = rest[1]
            sessions = [s for s in sessions if any(needle in v for v in channel_row(s))]
        return table(CHANNEL_COLUMNS, [channel_row(s) for s in sessions])
    if what == "calls":
        header = CHANNEL_COLUMNS + ["b_" + c for c in CHANNEL_COLUMNS]
        rows, seen = [], set()
        for s in sessions:
            if s.uuid in seen:
                continue
            seen.add(s.uuid)
            partner = s.partner
            if partner is not None:
                seen.add(partner.uuid)
                rows.append(channel_row(s) + channel_row(partner))
            else:
                rows.append(channel_row(s) + [""] * len(CHANNEL_COLUMNS))
        return table(header, rows)
    if what == "modules":
        rows = []
        for name, mod in reg.modules.items():
            rows += [["application", a, name, name] for a in mod.applications]
            rows += [["api", a, name, name] for a in mod.apis]
            rows += [["endpoint", e, name, name] for e in mod.endpoints]
            rows += [["codec", c.key, name, name] for c in mod.codecs]
            rows += [["dialplan", d, name, name] for d in mod.dialplans]
            rows += [["file", f, name, name] for f in mod.file_formats]
        return table(["type", "name", "ikey", "filename"], rows)
    if what == "api":
        return table(
            ["name", "description", "syntax", "ikey"],
            [[a.name, a.description, a.syntax, a.module] for a in sorted(reg.apis.values(), key=lambda a: a.name)],
        )
    if what in ("application", "applications"):
        return table(
            ["name", "description", "syntax", "ikey"],
            [[a.name, a.description, a.syntax, a.module] for a in sorted(reg.applications.values(), key=lambda a: a.name)],
        )
    if what in ("codec", "codecs"):
        return table(
            ["type", "name", "ikey"],
            [["codec", f"{c.name} {c.rate}Hz {c.channels}ch", c.description or c.name] for c in reg.codecs],
        )
    if what in ("endpoint", "endpoints"):
        return table(["type", "name", "ikey"], [["endpoint", n, reg.endpoint_owner.get(n, "")] for n in sorted(reg.endpoints)])
    if what == "dialplan":
        return table(["type", "name", "ikey"], [["dialplan", n, n] for n in sorted(reg.dialplans)])
    raise UsageError("channels [count|like <text>]|calls|modules|api|application|codec|endpoint|dialplan")
