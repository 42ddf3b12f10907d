"""Call control: originate, uuid_kill, uuid_getvar/setvar, uuid_transfer, uuid_bridge, uuid_broadcast, hupall."""

from __future__ import annotations

import asyncio
import logging
import re

from switchcore import ivr
from switchcore.bridge import bridge
from switchcore.causes import HangupCause
from switchcore.core import split_args
from switchcore.errors import UsageError
from switchcore.media.recorder import PlayOverTap
from switchcore.media.sources import SourceError
from switchcore.media.wavfile import WavError
from switchcore.module import ApiContext
from switchcore.originate import originate
from switchcore.session import Route, RunApps, Session

from .declaration import module

log = logging.getLogger("mod_commands")

ORIGINATE_SYNTAX = "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]"
_APP = re.compile(r"^&([\w.-]+)(?:\((.*)\))?$", re.S)


def _session(ctx: ApiContext, uuid: str) -> Session | None:
    return ctx.switch.sessions.get(uuid)


@module.api("originate", "Originate a call", ORIGINATE_SYNTAX)
async def originate_api(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) < 2:
        raise UsageError(ORIGINATE_SYNTAX)
    url, target = parts[0], parts[1]
    dialplan = parts[2] if len(parts) > 2 else "XML"
    context = parts[3] if len(parts) > 3 else "default"
    variables: dict[str, str] = {}
    if len(parts) > 4:
        variables["origination_caller_id_name"] = parts[4]
    if len(parts) > 5:
        variables["origination_caller_id_number"] = parts[5]
    timeout = 60.0
    if len(parts) > 6:
        try:
            timeout = float(parts[6])
        except ValueError:
            raise UsageError(ORIGINATE_SYNTAX) from None
    app = _APP.match(target)
    if target.startswith("&") and app is None:
        raise UsageError(ORIGINATE_SYNTAX)
    result = await originate(ctx.switch, url, timeout=timeout, variables=variables)
    if result.session is None:
        return f"-ERR {result.cause.name}\n"
    leg = result.session
    if app is not None:
        leg.instruct(RunApps(((app.group(1), app.group(2) or ""),)))
    else:
        leg.instruct(Route(target, dialplan, context))
    return f"+OK {leg.uuid}\n"


@module.api("uuid_kill", "Hang up a channel", "<uuid> [cause]")
async def uuid_kill(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if not parts:
        raise UsageError("<uuid> [cause]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    session.hangup(HangupCause.parse(parts[1]) if len(parts) > 1 else HangupCause.MANAGER_REQUEST)
    return "+OK\n"


@module.api("hupall", "Hang up every channel", "[cause] [<var> <value>]")
async def hupall(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    cause = HangupCause.parse(parts[0]) if parts else HangupCause.MANAGER_REQUEST
    sessions = list(ctx.switch.sessions.values())
    if len(parts) >= 3:
        sessions = [s for s in sessions if s.get_var(parts[1]) == parts[2]]
    for s in sessions:
        s.hangup(cause)
    return "+OK\n"


@module.api("uuid_getvar", "Get a channel variable", "<uuid> <var>")
async def uuid_getvar(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) != 2:
        raise UsageError("<uuid> <var>")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    value = session.get_var(parts[1])
    return value if value is not None else "_undef_"


@module.api("uuid_setvar", "Set a channel variable", "<uuid> <var> [value]")
async def uuid_setvar(ctx: ApiContext, args: str) -> str:
    parts = args.split(maxsplit=2)
    if len(parts) < 2:
        raise UsageError("<uuid> <var> [value]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    session.set_var(parts[1], parts[2] if len(parts) > 2 else None)
    return "+OK\n"


@module.api("uuid_exists", "Does the channel exist", "<uuid>")
async def uuid_exists(ctx: ApiContext, args: str) -> str:
    return "true" if _session(ctx, args.strip()) is not None else "false"


@module.api("uuid_transfer", "Transfer a channel", "<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]")
async def uuid_transfer(ctx: ApiContext, args: str) -> str:
    parts = split_args(args)
    if len(parts) < 2:
        raise UsageError("<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    which = "a"
    rest = parts[1:]
    if rest[0] in ("-bleg", "-both"):
        which, rest = rest[0][1:], rest[1:]
    if not rest:
        raise UsageError("<uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]")
    dest = rest[0]
    dialplan = rest[1] if len(rest) > 1 else "XML"
    context = rest[2] if len(rest) > 2 else session.profile.context
    targets = []
    if which in ("a", "both"):
        targets.append(session)
    if which in ("bleg", "both") and session.partner is not None:
        targets.append(session.partner)
    for target in targets:
        target.transfer(dest, dialplan, context)
    return "+OK\n"


@module.api("uuid_bridge", "Bridge two parked or waiting channels", "<uuid> <other_uuid>")
async def uuid_bridge(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) != 2:
        raise UsageError("<uuid> <other_uuid>")
    a, b = _session(ctx, parts[0]), _session(ctx, parts[1])
    if a is None or b is None:
        return "-ERR No such channel!\n"
    a.instruct(RunApps((("uuid_bridge_partner", b.uuid),)), interrupt=True)
    return f"+OK {b.uuid}\n"


@module.application("uuid_bridge_partner", "Internal: bridge to the channel named by uuid_bridge", "<uuid>")
async def uuid_bridge_partner(session: Session, arg: str) -> None:
    other = session.switch.sessions.get(arg.strip())
    if other is None or other.hungup:
        return
    other.detach_for_bridge()
    try:
        await bridge(session, other)
    finally:
        if not other.hungup and session.hungup:
            other.hangup(session.cause)


@module.api("uuid_broadcast", "Execute an application on a channel", "<uuid> <path> [aleg|bleg|both]")
async def uuid_broadcast(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) < 2:
        raise UsageError("<uuid> <path> [aleg|bleg|both]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    path = parts[1]
    app, _, arg = path.partition("::")
    if not arg:
        app, arg = "playback", path
    if app == "playback" and session.partner is not None:
        # A bridged call keeps its bridge: the file replaces what this leg hears while it plays.
        try:
            source = ivr.open_for(session, arg)
        except SourceError as exc:
            return f"-ERR {exc}\n"
        session.fire("PLAYBACK_START", **{"Playback-File-Path": arg})
        session.add_tap(PlayOverTap(source, arg), read=False, write=True)
        return "+OK Message sent\n"
    session.instruct(RunApps(((app, arg),)), interrupt=True)
    await asyncio.sleep(0)
    return "+OK Message sent\n"


@module.api("uuid_send_dtmf", "Send DTMF digits to a channel", "<uuid> <digits>")
async def uuid_send_dtmf(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) != 2:
        raise UsageError("<uuid> <digits>")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    digits = parts[1].split("@")[0]
    await session.send_dtmf(digits)
    return "+OK Success\n"


@module.api("uuid_record", "Record a channel (both directions)", "<uuid> [start|stop] <path> [<limit s>]")
async def uuid_record(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if len(parts) < 3 or parts[1] not in ("start", "stop"):
        raise UsageError("<uuid> [start|stop] <path> [<limit s>]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    if parts[1] == "stop":
        stopped = ivr.stop_record_session(session, parts[2])
        return "+OK Success\n" if stopped else f"-ERR not recording {parts[2]}\n"
    limit = float(parts[3]) if len(parts) > 3 and parts[3].replace(".", "", 1).isdigit() else 0.0
    try:
        ivr.start_record_session(session, parts[2], limit)
    except (OSError, ValueError, WavError) as exc:
        return f"-ERR cannot record {parts[2]}: {exc}\n"
    return "+OK Success\n"


@module.api("uuid_dump", "Show a channel's data, with live media figures", "<uuid> [json]")
async def uuid_dump(ctx: ApiContext, args: str) -> str:
    parts = args.split()
    if not parts:
        raise UsageError("<uuid> [json]")
    session = _session(ctx, parts[0])
    if session is None:
        return "-ERR No such channel!\n"
    headers = dict(session.event_headers())
    quality = getattr(session.driver, "quality", None)
    if callable(quality):
        # FreeSWITCH's rtp_audio_* figures, read live from the leg's media (PLC/FEC for Opus too).
        q = quality()
        for name, value in (
            ("rtp_audio_in_packet_count", q.packets_in),
            ("rtp_audio_out_packet_count", q.packets_out),
            ("rtp_audio_in_skip_packet_count", q.packets_lost),
            ("rtp_audio_in_jitter_ms", q.jitter_ms),
            ("rtp_audio_in_plc_frames", q.plc_frames),
            ("rtp_audio_in_fec_frames", q.fec_frames),
        ):
            if value is not None:
                headers[f"variable_{name}"] = str(value)
    if len(parts) > 1 and parts[1] == "json":
        import json

        return json.dumps(headers, indent=1) + "\n"
    return "".join(f"{name}: {value}\n" for name, value in headers.items())
