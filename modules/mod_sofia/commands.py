"""The `sofia` and `sofia_contact` APIs, in FreeSWITCH's words (mod_sofia.c).

sofia status
sofia status profile <name> [reg [<user>|<user@domain>|<contact part>]]
sofia status gateway <name>
sofia profile <name> start|stop|restart|rescan [reloadxml]
sofia profile <name> register|unregister <gateway>|all
sofia profile <name> killgw <gateway>
sofia profile <name> flush_inbound_reg [<user@domain>]
sofia profile <name> siptrace on|off
sofia global siptrace on|off
sofia_contact [<profile>|*/]<user>@<domain>
"""

from __future__ import annotations

import time
from datetime import datetime

from switchcore.module import ApiContext
from switchcore.xmlconf import parse_bool

from .declaration import module
from .lifecycle import SofiaRuntime, runtime_of
from .profile import SofiaProfile
from .registrar import Binding

LINE = "=" * 97
USAGE = (
    "USAGE:\n"
    "--------------------------------------------------------------------------------\n"
    "sofia help\n"
    "sofia profile <profile_name> [[start|stop|restart|rescan] [reloadxml]|"
    "flush_inbound_reg [<user@domain>]|[register|unregister] [<gateway name>|all]|"
    "killgw <gateway name>|siptrace [on|off]]\n"
    "sofia status profile <name> [reg [<user>|<user@domain>]]\n"
    "sofia status gateway <name>\n"
    "sofia global siptrace [on|off]\n"
    "--------------------------------------------------------------------------------\n"
)
NOT_LOADED = "-ERR mod_sofia is not running\n"


def _row(name: str, kind: str, data: str, state: str) -> str:
    return f"{name:>25}\t{kind}\t  {data:>40}\t{state}\n"


def status_table(runtime: SofiaRuntime) -> str:
    """`sofia status`: profiles, their aliases and gateways."""
    out = [_row("Name", "   Type", "Data", "State"), LINE + "\n"]
    profiles = aliases = 0
    for profile in runtime.profiles.values():
        for alias in profile.settings.aliases:
            aliases += 1
            out.append(_row(alias, "  alias", profile.name, "ALIASED"))
        profiles += 1
        state = f"RUNNING ({profile.inuse})" if profile.running else "DOWN"
        if profile.name in runtime.refused:
            state = "DOWN (refused: default passwords)"
        out.append(_row(profile.name, "profile", profile.url, state))
        for gateway in profile.gateways.values():
            out.append(
                _row(
                    f"{profile.name}::{gateway.name}",
                    "gateway",
                    gateway.register_to,
                    gateway.state.value + gateway.retry_note(),
                )
            )
    out.append(LINE + "\n")
    out.append(
        f"{profiles} profile{'' if profiles == 1 else 's'} {aliases} alias{'' if aliases == 1 else 'es'}\n"
    )
    return "".join(out)


def profile_status(profile: SofiaProfile) -> str:
    """`sofia status profile <name>` (mod_sofia.c cmd_status)."""
    s = profile.settings
    host, port = profile.stack.local if profile.stack is not None else (s.sip_ip, s.sip_port)
    rows = [
        ("Name", profile.name),
        ("Domain Name", "N/A"),
        ("Auto-NAT", "false"),
        ("DBName", "switchcore"),
        ("Pres Hosts", s.force_register_domain or host),
        ("Dialplan", s.dialplan),
        ("Context", s.context),
        ("Challenge Realm", s.challenge_realm),
        ("RTP-IP", s.rtp_ip),
        *([("Ext-RTP-IP", s.ext_rtp_ip)] if s.ext_rtp_ip else []),
        ("SIP-IP", s.sip_ip),
        *([("Ext-SIP-IP", s.ext_sip_ip)] if s.ext_sip_ip else []),
        ("URL", profile.url),
        ("BIND-URL", f"{profile.url};maddr={host}"),
        ("HOLD-MUSIC", s.hold_music or "N/A"),
        ("OUTBOUND-PROXY", "N/A"),
        ("CODECS IN", ",".join(s.inbound_codec_prefs)),
        ("CODECS OUT", ",".join(s.outbound_codec_prefs)),
        ("TEL-EVENT", str(s.rfc2833_pt)),
        ("DTMF-MODE", s.dtmf_type),
        ("CNG", "13"),
        ("SESSION-TO", "0"),
        ("MAX-DIALOG", "0"),
        ("NOMEDIA", "false"),
        ("LATE-NEG", "false"),
        ("PROXY-MEDIA", "false"),
        ("ZRTP-PASSTHRU", "false"),
        ("AGGRESSIVENAT", "true" if s.aggressive_nat_detection else "false"),
        ("CALLS-IN", str(profile.calls_in)),
        ("FAILED-CALLS-IN", str(profile.failed_calls_in)),
        ("CALLS-OUT", str(profile.calls_out)),
        ("FAILED-CALLS-OUT", str(profile.failed_calls_out)),
        ("REGISTRATIONS", str(profile.registrar.count())),
    ]
    del port
    body = "".join(f"{name:<17}\t{value}\n" for name, value in rows)
    return f"{LINE}\n{body}{LINE}\n"


def _matches(binding: Binding, wanted: str) -> bool:
    record = binding.record
    if "@" in wanted:
        user, _, domain = wanted.partition("@")
        return record.user.lower() == user.lower() and record.realm.lower() == domain.lower()
    return record.user.lower() == wanted.lower() or wanted in record.contact


def registrations_text(profile: SofiaProfile, wanted: str | None = None) -> str:
    """`sofia status profile <name> reg [filter]`: one block per registered contact."""
    now = time.time()
    bindings = [b for b in profile.registrar.bindings() if wanted is None or _matches(b, wanted)]
    out = ["Registrations:\n", LINE + "\n"]
    for binding in bindings:
        record = binding.record
        expires = record.expires_at.timestamp()
        out.append(
            f"Call-ID:    \t{record.call_id}\n"
            f"User:       \t{record.user}@{record.realm}\n"
            f"Contact:    \t{record.contact}\n"
            f"Agent:      \t{record.user_agent}\n"
            f"Status:     \t{binding.status}(unknown) EXP({datetime.fromtimestamp(expires):%Y-%m-%d %H:%M:%S}) "
            f"EXPSECS({max(0, int(expires - now))})\n"
            f"Ping-Status:\tReachable\n"
            f"Ping-Time:\t0.00\n"
            f"Host:       \t{record.node or '-'}\n"
            f"IP:         \t{record.network_ip}\n"
            f"Port:       \t{record.network_port}\n"
            f"Auth-User:  \t{binding.auth_user}\n"
            f"Auth-Realm: \t{binding.auth_realm}\n"
            f"MWI-Account:\t{record.user}@{record.realm}\n\n"
        )
    out.append(f"Total items returned: {len(bindings)}\n")
    out.append(LINE + "\n")
    return "".join(out)


async def _status(runtime: SofiaRuntime, argv: list[str]) -> str:
    if not argv:
        return status_table(runtime)
    if len(argv) == 1:
        return "Invalid Syntax!\n"
    what, name = argv[0].lower(), argv[1]
    if what == "gateway":
        gateway = runtime.gateway(name)
        return gateway.status_text() if gateway is not None else "Invalid Gateway!\n"
    if what == "profile":
        profile = runtime.find(name)
        if profile is None:
            return "Invalid Profile!\n"
        if len(argv) > 2 and argv[2].lower() in ("reg", "user"):
            return registrations_text(profile, argv[3] if len(argv) > 3 else None)
        return profile_status(profile)
    return "Invalid Syntax!\n"


async def _profile(runtime: SofiaRuntime, ctx: ApiContext, argv: list[str]) -> str:
    if len(argv) < 2:
        return "Invalid Args!\n"
    name, command = argv[0], argv[1].lower()
    rest = argv[2:]
    if rest and rest[-1].lower() == "reloadxml" and command in ("start", "stop", "restart", "rescan"):
        reply = await ctx.switch.reload_config()
        prefix = f"Reload XML [{'Success' if reply.startswith('+OK') else reply.strip()}]\n"
    else:
        prefix = ""
    if command == "start":
        existing = runtime.find(name)
        if existing is not None and existing.running:
            return prefix + f"Failure starting {name}\n"
        settings = runtime.settings_of(name)
        if settings is None:
            return prefix + f"Failure starting {name}\n"
        started = await runtime.start_profile(settings)
        return prefix + (
            f"{name} started successfully\n" if started is not None else f"Failure starting {name}\n"
        )
    profile = runtime.find(name)
    if profile is None:
        return f"Invalid Profile [{name}]"
    if command == "stop":
        await runtime.stop_profile(profile)
        return prefix + f"stopping: {profile.name}"
    if command == "restart":
        await runtime.stop_profile(profile)
        settings = runtime.settings_of(profile.name) or profile.settings
        await runtime.start_profile(settings)
        return prefix + f"restarting: {profile.name}"
    if command == "rescan":
        settings = runtime.settings_of(profile.name)
        if settings is None:
            return prefix + f"-ERR cannot find config for profile {profile.name}\n"
        await profile.rescan(settings)
        return prefix + "+OK scan complete\n"
    if command in ("register", "unregister"):
        if not rest:
            return "No gateway name provided!\n"
        targets = list(profile.gateways.values()) if rest[0] == "all" else [profile.gateways.get(rest[0])]
        if any(g is None for g in targets):
            return "Invalid gateway!\n"
        for gateway in targets:
            assert gateway is not None
            if command == "register":
                gateway.register_now()
            else:
                gateway.unregister_now()
        return "+OK\n"
    if command == "killgw":
        if not rest:
            return "-ERR missing gw name\n"
        gateway = profile.gateways.pop(rest[0], None)
        if gateway is None:
            return "-ERR no such gateway.\n"
        await gateway.stop()
        return "+OK gateway marked for deletion.\n"
    if command == "flush_inbound_reg":
        user, domain = None, None
        if rest:
            user, _, domain_text = rest[0].partition("@")
            domain = domain_text or None
        profile.registrar.flush_user(user, domain)
        await profile.registrar.flush()
        return (
            "+OK flushing all registrations\n"
            if not rest
            else "+OK flushing all registrations matching specified call_id\n"
        )
    if command == "siptrace":
        if not rest:
            return "Usage: sofia profile <name> siptrace <on/off>\n"
        on = _truth(rest[0])
        if profile.stack is not None:
            profile.stack.trace = on
        return f"{'Enabled' if on else 'Disabled'} sip debugging on {profile.name}"
    return "-ERR Unknown command!\n"


def _truth(word: str) -> bool:
    try:
        return parse_bool(word)
    except ValueError:
        return False


@module.api("sofia", "Sofia Controls", "<cmd> <args>")
async def sofia_api(ctx: ApiContext, args: str) -> str:
    runtime = runtime_of(ctx.switch)
    if runtime is None:
        return NOT_LOADED
    argv = args.split()
    if not argv or argv[0].lower() == "help":
        return USAGE
    command = argv[0].lower()
    if command == "status":
        return await _status(runtime, argv[1:])
    if command == "profile":
        return await _profile(runtime, ctx, argv[1:])
    if command == "global":
        if len(argv) >= 2 and argv[1].lower() == "siptrace":
            if len(argv) < 3:
                return f"+OK Global siptrace is {'on' if runtime.siptrace else 'off'}\n"
            on = _truth(argv[2])
            runtime.set_siptrace(on)
            return f"+OK Global siptrace {'on' if on else 'off'}\n"
        return "-ERR Unknown command!\n"
    return f"Unknown Command [{argv[0]}]\n"


@module.api("sofia_contact", "Sofia Contacts", "[profile/]<user>@<domain>")
async def sofia_contact_api(ctx: ApiContext, args: str) -> str:
    """The dial strings of a user's registered contacts, comma separated (FreeSWITCH's sofia_contact)."""
    runtime = runtime_of(ctx.switch)
    text = args.strip()
    if not text:
        return ""
    if runtime is None:
        return "error/facility_not_subscribed"
    profile_name, sep, who = text.partition("/")
    if not sep:
        profile_name, who = "", text
    user, _, domain = who.partition("@")
    if not user:
        return "error/user_not_registered"
    if profile_name in ("", "*"):
        candidates = [p for p in runtime.profiles.values() if p.running]
        if profile_name == "" and domain:
            named = runtime.find(domain)
            candidates = [named] if named is not None and named.running else candidates
    else:
        found = runtime.find(profile_name)
        if found is None:
            return "error/facility_not_subscribed"
        candidates = [found]
    exclude = ctx.session.get_var("sip_exclude_contact") if ctx.session is not None else None
    targets: list[str] = []
    for profile in candidates:
        for record in await profile.contacts(user, domain or ctx.switch.global_vars.get("domain", "")):
            inner = record.contact[record.contact.find("<") + 1 : record.contact.rfind(">")] or record.contact
            if exclude and exclude in inner:
                continue
            scheme, _, rest = inner.partition(":")
            targets.append(f"sofia/{profile.name}/sip:{rest if scheme in ('sip', 'sips') else inner}")
    return ",".join(targets) if targets else "error/user_not_registered"


__all__ = ["profile_status", "registrations_text", "sofia_api", "sofia_contact_api", "status_table"]
