"""Built-in schemas (data only): switch.conf, event_socket.conf, sofia.conf, modules.conf.

Names, defaults and value sets follow FreeSWITCH's conf/vanilla files and the
code that reads them (switch_core.c, mod_event_socket.c, sofia.c).  The sofia
schemas describe the XML only; mod_sofia decides what each value does.
Registrar brute-force throttling (`auth-fail-*`) is this project's addition
(freeswitch-behaviour.md section 4 item 10).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from .location import ConfigWarning, error_at, warning_at, where
from .params import Binding, Bool, Float, Int, Ip, ListOf, Param, Port, Schema, Str, choice, parse_bool

_LOGLEVELS = ("console", "alert", "crit", "err", "warning", "notice", "info", "debug")
_LOGLEVEL = choice(*_LOGLEVELS, "0", "1", "2", "3", "4", "5", "6", "7")

SWITCH_CONF = Schema(
    "switch.conf settings",
    {
        "colorize-console": Param(Bool(), True, "colour console output"),
        "dialplan-timestamps": Param(Bool(), False, "full timestamps in dialplan logs"),
        "1ms-timer": Param(Bool(), False),
        "switchname": Param(Str(), None, "overrides the host name in DB rows"),
        "cpu-idle-smoothing-depth": Param(Int(1)),
        "max-db-handles": Param(Int(1, 5000), 50, "simultaneous DB handles"),
        "db-handle-timeout": Param(Int(1), 10, "seconds to wait for a DB handle"),
        "ares-dns-timeout": Param(Int(100, 3000), 1000),
        "min-idle-cpu": Param(Int(0, 100), 25, "refuse calls below this idle CPU %"),
        "event-heartbeat-interval": Param(Int(1), 20, "seconds between HEARTBEAT events"),
        "max-sessions": Param(Int(1), 1000, "simultaneous sessions"),
        "sessions-per-second": Param(Int(1), 30, "new sessions per second"),
        "loglevel": Param(_LOGLEVEL, "debug", "default log level"),
        "debug-level": Param(Int(0, 10), 0),
        "sql-buffer-len": Param(Str(allow_empty=False), "1m"),
        "max-sql-buffer-len": Param(Str(allow_empty=False), "2m"),
        "min-dtmf-duration": Param(Int(400, 192000), 400),
        "max-dtmf-duration": Param(Int(400, 192000), 192000),
        "default-dtmf-duration": Param(Int(400, 192000), 2000),
        "mailer-app": Param(Str(), "sendmail"),
        "mailer-app-args": Param(Str(), "-t"),
        "dump-cores": Param(Bool(), False),
        "verbose-channel-events": Param(Bool(), False),
        "enable-clock-nanosleep": Param(Bool(), False),
        "enable-monotonic-timing": Param(Bool(), False),
        "enable-softtimer-timerfd": Param(Bool(), False),
        "enable-cond-yield": Param(Bool(), False),
        "enable-timer-matrix": Param(Bool(), False),
        "threaded-system-exec": Param(Bool(), False),
        "tipping-point": Param(Int(0), 0),
        "timer-affinity": Param(Str(), "disabled"),
        "rtp-start-port": Param(Port(), 16384, "first RTP port"),
        "rtp-end-port": Param(Port(), 32768, "last RTP port"),
        "rtp-port-usage-robustness": Param(Bool(), False),
        "rtp-retain-crypto-keys": Param(Bool(), False),
        "rtp-enable-zrtp": Param(Bool(), False),
        "db-url": Param(Str(allow_empty=False), None, "SQLAlchemy URL of the store (default: SQLite file)"),
        "core-db-dsn": Param(Str(), None),
        "core-db-name": Param(Str(), None, "SQLite file of the core database"),
        "core-dbtype": Param(Str(), None),
        "odbc-skip-autocommit-flip": Param(Bool(), False),
        "auto-create-schemas": Param(Bool(), True),
        "auto-clear-sql": Param(Bool(), True),
        "enable-early-hangup": Param(Bool(), True),
        "multiple-registrations": Param(Bool(), False),
        "max-audio-channels": Param(Int(1, 8), 2),
        "session-thread-pool": Param(Bool(), False),
        "dev": Param(Bool(), False, "development mode (allows default_password=1234)"),
    },
    config="switch.conf",
    containers=("settings",),
)

EVENT_SOCKET_CONF = Schema(
    "event_socket.conf settings",
    {
        "nat-map": Param(Bool(), False),
        "listen-ip": Param(Ip(), "127.0.0.1", "address to listen on (:: for every address)"),
        "listen-port": Param(Port(), 8021),
        "password": Param(Str(allow_empty=False), "ClueCon"),
        "apply-inbound-acl": Param(ListOf(), (), "ACL names a client must match", multi=True),
        "stop-on-bind-error": Param(Bool(), False),
        "debug": Param(Int(0, 10), 0),
        "max-queue": Param(Int(1), 10000, "frames waiting for one client"),
        "max-command-length": Param(Int(64), 65536, "bytes of one command once authenticated"),
        "max-body-length": Param(Int(0), 1 << 20, "bytes of one command body"),
        "auth-failures-before-delay": Param(Int(0), 3),
        "auth-failures-before-ban": Param(Int(0), 10),
        "auth-ban-seconds": Param(Float(0), 60.0),
    },
    config="event_socket.conf",
    containers=("settings",),
)

SOFIA_GLOBAL = Schema(
    "sofia.conf global_settings",
    {
        "log-level": Param(Int(0, 9), 0),
        "debug-presence": Param(Int(0, 10), 0),
        "debug-sla": Param(Int(0, 10), 0),
        "log-auth-failures": Param(Bool(), False),
        "abort-on-empty-external-ip": Param(Bool(), False),
        "auto-restart": Param(Bool(), True),
        "capture-server": Param(Str(), None),
        "auto-restart-interval": Param(Int(0)),
    },
    config="sofia.conf",
    containers=("global_settings",),
)

_EXT_IP = Ip(special=("auto", "auto-nat"), prefixes=("stun:", "host:", "autonat:"), allow_empty=True)
_B = Bool()

SOFIA_PROFILE = Schema(
    "sofia profile settings",
    {
        # addresses and ports
        "sip-ip": Param(Ip(), None, "address to bind SIP to (no host names)"),
        "sip-port": Param(Port(), 5060),
        "rtp-ip": Param(Ip(), None, "address for RTP (no host names)"),
        "ext-sip-ip": Param(_EXT_IP, None, "public address for SIP: ip, auto, auto-nat, stun:host"),
        "ext-rtp-ip": Param(_EXT_IP, None, "public address for SDP: ip, auto, auto-nat, stun:host"),
        "ws-binding": Param(Binding(), None, "SIP over WebSocket, e.g. :5066"),
        "wss-binding": Param(Binding(), None, "SIP over secure WebSocket, e.g. :7443"),
        "bind-params": Param(Str()),
        "tls": Param(_B, False),
        "tls-only": Param(_B, False),
        "tls-sip-port": Param(Port(), 5061),
        "tls-bind-params": Param(Str(), "transport=tls"),
        "tls-cert-dir": Param(Str()),
        "tls-passphrase": Param(Str()),
        "tls-verify-date": Param(_B, True),
        "tls-verify-policy": Param(Str(), "none"),
        "tls-verify-depth": Param(Int(0), 2),
        "tls-verify-in-subjects": Param(Str()),
        "tls-version": Param(Str(), "tlsv1.2"),
        "tls-ciphers": Param(Str()),
        "tls-orq-connect-timeout": Param(Int(0)),
        # routing
        "context": Param(Str(allow_empty=False), "public", "dialplan context for inbound calls"),
        "dialplan": Param(Str(allow_empty=False), "XML"),
        "user-agent-string": Param(Str(), None, '"_undef_" removes the User-Agent header'),
        "hold-music": Param(Str(), None, "what the held party hears"),
        "record-path": Param(Str()),
        "record-template": Param(Str()),
        "manual-redirect": Param(_B, False),
        "disable-transfer": Param(_B, False),
        "disable-register": Param(_B, False),
        "enable-3pcc": Param(choice("true", "false", "proxy"), "false"),
        "inbound-use-callid-as-uuid": Param(_B, False),
        "outbound-use-uuid-as-callid": Param(_B, False),
        "parse-all-invite-headers": Param(_B, False),
        "pass-callee-id": Param(_B, True),
        "cid-in-1xx": Param(_B, True),
        "extended-info-parsing": Param(_B, False),
        "caller-id-type": Param(choice("rpid", "pid", "none"), "rpid"),
        "auto-invite-100": Param(_B, True),
        "shutdown-on-fail": Param(_B, False),
        "alias": Param(Str(), multi=True),
        # authentication and registration
        "auth-calls": Param(_B, True, "challenge INVITEs (407)"),
        "auth-all-packets": Param(_B, False),
        "auth-subscriptions": Param(_B, False),
        "accept-blind-reg": Param(_B, False),
        "accept-blind-auth": Param(_B, False),
        "nonce-ttl": Param(Int(1), 60, "seconds a digest nonce stays valid"),
        "challenge-realm": Param(Str(allow_empty=False), "auto_to", "auto_from, auto_to or a realm"),
        "force-register-domain": Param(Str()),
        "force-register-db-domain": Param(Str()),
        "force-subscription-domain": Param(Str()),
        "force-subscription-expires": Param(Int(0)),
        "inbound-reg-force-matching-username": Param(_B, False),
        "inbound-reg-in-new-thread": Param(_B, False),
        "multiple-registrations": Param(choice("true", "false", "contact"), "false"),
        "max-registrations-per-extension": Param(Int(0), 0, "0 means no limit"),
        "log-auth-failures": Param(_B, False),
        "auth-fail-max": Param(Int(0), 5, "failed digests from one address before it is refused (0: off)"),
        "auth-fail-window-sec": Param(Int(1), 60, "window the failures are counted in"),
        "auth-fail-ban-sec": Param(Int(0), 300, "how long a refused address stays refused"),
        "unregister-on-options-fail": Param(_B, False),
        "delete-subs-on-register": Param(_B, True),
        "send-message-query-on-register": Param(choice("true", "false", "first-only"), "true"),
        "send-presence-on-register": Param(choice("true", "false", "first-only"), "false"),
        "NDLB-broken-auth-hash": Param(_B, False),
        "NDLB-received-in-nat-reg-contact": Param(_B, False),
        "NDLB-force-rport": Param(
            choice("true", "false", "safe", "server-only", "client-only", "disabled"), "false"
        ),
        # ACLs and NAT
        "apply-nat-acl": Param(ListOf(), (), "ACLs that mark a contact as NATed", multi=True),
        "apply-inbound-acl": Param(ListOf(), (), "ACLs that let calls in without auth", multi=True),
        "apply-register-acl": Param(ListOf(), (), multi=True),
        "apply-proxy-acl": Param(ListOf(), (), multi=True),
        "apply-candidate-acl": Param(ListOf(), (), multi=True),
        "local-network-acl": Param(Str(), "localnet.auto"),
        "aggressive-nat-detection": Param(_B, False),
        "nat-options-ping": Param(choice("true", "false", "udp-only"), "false"),
        "all-reg-options-ping": Param(_B, False),
        "disable-rtp-auto-adjust": Param(_B, False),
        # media
        "dtmf-type": Param(choice("rfc2833", "info", "none"), "rfc2833"),
        "rfc2833-pt": Param(Int(96, 127), 101, "payload type of telephone-event"),
        "dtmf-duration": Param(Int(1, 192000), 2000),
        "liberal-dtmf": Param(_B, False),
        "pass-rfc2833": Param(_B, False),
        "rtp-digit-delay": Param(Int(0)),
        "codec-prefs": Param(ListOf(), None, "codec list for both directions"),
        "inbound-codec-prefs": Param(ListOf(), None),
        "outbound-codec-prefs": Param(ListOf(), None),
        "inbound-codec-negotiation": Param(choice("generous", "greedy", "scrooge"), "generous"),
        "inbound-late-negotiation": Param(_B, False),
        "inbound-bypass-media": Param(_B, False),
        "inbound-proxy-media": Param(_B, False),
        "inbound-zrtp-passthru": Param(_B, False),
        "disable-transcoding": Param(_B, False),
        "renegotiate-codec-on-hold": Param(_B, False),
        "media-option": Param(Str(), multi=True),
        "rtp-timer-name": Param(Str(), "soft"),
        "rtp-timeout-sec": Param(Int(0), 0, "hang up after this many seconds without RTP (0: never)"),
        "rtp-hold-timeout-sec": Param(Int(0), 0),
        "rtp-autoflush-during-bridge": Param(_B, True),
        "rtp-rewrite-timestamps": Param(_B, False),
        "rtp-autofix-timing": Param(_B, True),
        "rtcp-audio-interval-msec": Param(Str()),
        "rtcp-video-interval-msec": Param(Str()),
        "auto-jitterbuffer-msec": Param(Int(0)),
        "suppress-cng": Param(_B, False),
        "vad": Param(choice("in", "out", "both", "none"), "none"),
        "bitpacking": Param(choice("aal2", "rfc3551"), None),
        "auto-rtp-bugs": Param(Str()),
        # session timers and transport tuning
        "enable-timer": Param(_B, True),
        "session-timeout": Param(Int(0), 1800),
        "minimum-session-expires": Param(Int(90), 120),
        "enable-100rel": Param(_B, False),
        "enable-compact-headers": Param(_B, False),
        "enable-rfc-5626": Param(_B, False),
        "disable-srv": Param(_B, False),
        "disable-naptr": Param(_B, False),
        "disable-srv503": Param(_B, False),
        "timer-T1": Param(Int(1), 500),
        "timer-T1X64": Param(Int(1), 32000),
        "timer-T2": Param(Int(1), 4000),
        "timer-T4": Param(Int(1), 5000),
        "max-proceeding": Param(Int(0)),
        "max-recv-requests-per-second": Param(Int(0)),
        "sip-options-respond-503-on-busy": Param(_B, False),
        "sip-messages-respond-200-ok": Param(_B, False),
        "sip-subscribe-respond-200-ok": Param(_B, False),
        "sip-subscription-max-deviation": Param(Int(0)),
        # presence
        "manage-presence": Param(choice("true", "false", "passive"), "false"),
        "manage-shared-appearance": Param(_B, False),
        "presence-hosts": Param(ListOf(), ()),
        "presence-privacy": Param(_B, False),
        "presence-probe-on-register": Param(_B, False),
        "presence-proto-lookup": Param(_B, False),
        "forward-unsolicited-mwi-notify": Param(_B, False),
        "dbname": Param(Str()),
        "odbc-dsn": Param(Str()),
        "db-spin-up-wait-ms": Param(Int(0)),
        # diagnostics
        "debug": Param(Int(0, 9), 0),
        "sip-trace": Param(_B, False),
        "sip-capture": Param(_B, False),
        "watchdog-enabled": Param(_B, False),
        "watchdog-step-timeout": Param(Int(0), 30000),
        "watchdog-event-timeout": Param(Int(0), 30000),
    },
    config="sofia.conf",
    containers=("profiles/profile/settings",),
)

SOFIA_GATEWAY = Schema(
    "sofia gateway",
    {
        "username": Param(Str(allow_empty=False), None, "account user name"),
        "password": Param(Str(), None),
        "auth-username": Param(Str()),
        "realm": Param(Str(), None, "defaults to the gateway name"),
        "from-user": Param(Str()),
        "from-domain": Param(Str()),
        "extension": Param(Str(), None, "destination for inbound calls"),
        "extension-in-contact": Param(_B, False),
        "proxy": Param(Str()),
        "register-proxy": Param(Str()),
        "outbound-proxy": Param(Str()),
        "register": Param(_B, True),
        "register-transport": Param(choice("udp", "tcp", "tls", "ws", "wss"), "udp"),
        "expire-seconds": Param(Int(1), 3600),
        "retry-seconds": Param(Int(1), 30),
        "timeout-seconds": Param(Int(1), 60),
        "caller-id-in-from": Param(_B, False),
        "contact-params": Param(Str()),
        "contact-host": Param(Str()),
        "ping": Param(Int(0), 0, "seconds between OPTIONS pings (0: off)"),
        "ping-max": Param(Int(1), 1),
        "ping-min": Param(Int(1), 1),
        "context": Param(Str()),
        "dialplan": Param(Str()),
        "schema": Param(choice("sip", "sips"), "sip"),
        "distinct-to": Param(_B, False),
        "rfc-5626": Param(_B, False),
        "reg-id": Param(Str()),
        "cid-type": Param(choice("rpid", "pid", "none"), None),
    },
    config="sofia.conf",
    containers=("profiles/profile/gateways/gateway",),
)

BUILTIN_SCHEMAS: dict[str, Schema] = {
    "switch.conf": SWITCH_CONF,
    "event_socket.conf": EVENT_SOCKET_CONF,
    "sofia.conf": SOFIA_GLOBAL,
    "sofia.conf:profile": SOFIA_PROFILE,
    "sofia.conf:gateway": SOFIA_GATEWAY,
}


@dataclass(frozen=True, slots=True)
class ModuleLoad:
    """One `<load module="mod_x" critical="true" global="false" path="..."/>`."""

    module: str
    critical: bool = False
    global_symbols: bool = False
    path: str | None = None
    file: str = ""
    line: int = 0


_LOAD_ATTRIBUTES = ("module", "critical", "global", "path")


def read_modules(configuration: etree._Element) -> tuple[list[ModuleLoad], list[ConfigWarning]]:
    """The `<modules><load .../></modules>` list of modules.conf, in file order.

    Raises ConfigError (file:line) for a `<load>` without `module` or a bad boolean.
    """
    loads: list[ModuleLoad] = []
    warnings: list[ConfigWarning] = []
    seen: dict[str, int] = {}
    for element in configuration.iterfind("modules/load"):
        module = element.get("module")
        if not module:
            raise error_at(element, "<load> without a module attribute")
        for name in element.attrib:
            if name not in _LOAD_ATTRIBUTES and not name.startswith("{"):
                warnings.append(
                    warning_at(element, f'unknown attribute "{name}" on <load module="{module}">')
                )
        flags: dict[str, bool] = {}
        for attr in ("critical", "global"):
            raw = element.get(attr)
            try:
                flags[attr] = parse_bool(raw) if raw is not None else False
            except ValueError as exc:
                raise error_at(element, f'{attr} on <load module="{module}">: {exc}') from None
        if module in seen:
            warnings.append(
                warning_at(element, f'module "{module}" listed again (first at line {seen[module]})')
            )
            continue
        seen[module] = element.sourceline or 0
        file, line = where(element)
        loads.append(ModuleLoad(module, flags["critical"], flags["global"], element.get("path"), file, line))
    return loads, warnings
