"""verto.conf.xml: `<settings>` and each `<profile>`, read through typed schemas.

FreeSWITCH's names and defaults (mod_verto.c parse_config): `debug`,
`detach-timeout-sec` (120), `enable-presence`, `enable-fs-events` in
`<settings>`; per profile `bind-local` (repeatable, `secure="true"` for wss),
`force-register-domain`, `secure-combined`/`secure-chain`, `userauth`,
`blind-reg`, `root-password`, `context`, `dialplan`, `rtp-ip`, `ext-rtp-ip`,
`local-network`, `inbound-codec-string`, `outbound-codec-string`,
`apply-candidate-acl`, `timer-name`, `mcast-ip`/`mcast-port`, `chop-domain`,
`enable-text`.  The limits are ours: `max-frame-size`, `max-json-depth`,
`max-batch-size`, `ws-ping-sec`, `login-timeout-sec`, `max-queue` and the
failed-login throttle `auth-failures-before-delay`/`-ban`, `auth-ban-seconds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lxml import etree

from switchcore.errors import ConfigError
from switchcore.xmlconf.location import ConfigWarning, error_at
from switchcore.xmlconf.params import (
    Binding,
    Bool,
    Float,
    Int,
    ListOf,
    Param,
    Port,
    Schema,
    Str,
    parse_bool,
    read_params,
)

CONF_NAME = "verto.conf"
SUPPORTED_CODECS = ("OPUS", "PCMU", "PCMA")

SETTINGS_SCHEMA = Schema(
    "verto.conf settings",
    {
        "debug": Param(Int(0, 10), 0, "log every JSON-RPC message"),
        "detach-timeout-sec": Param(Int(0), 120, "keep calls of a dropped socket this long"),
        "enable-presence": Param(Bool(), True),
        "enable-fs-events": Param(Bool(), False, "allow subscribing to FSevent channels"),
        "kslog": Param(Bool(), False),
    },
    config=CONF_NAME,
    containers=("settings",),
)

PROFILE_SCHEMA = Schema(
    "verto.conf profile",
    {
        "bind-local": Param(
            Str(allow_empty=False), (), 'ip:port to listen on (secure="true" for wss)', multi=True
        ),
        "force-register-domain": Param(Str(), ""),
        "secure-combined": Param(Str(), "", "PEM with certificate and key for wss"),
        "secure-chain": Param(Str(), ""),
        "userauth": Param(Str(), "true", "true, or @domain to check every login against that domain"),
        "blind-reg": Param(Bool(), False, "let anyone log in (no password check)"),
        "root-password": Param(Str(), ""),
        "context": Param(Str(), "default"),
        "dialplan": Param(Str(), "XML"),
        "rtp-ip": Param(Str(), "127.0.0.1", "address of ICE host candidates"),
        "ext-rtp-ip": Param(Str(), "", "address announced instead of rtp-ip (1:1 NAT)"),
        "local-network": Param(Str(), ""),
        "inbound-codec-string": Param(ListOf(Str()), ("OPUS", "PCMU", "PCMA")),
        "outbound-codec-string": Param(ListOf(Str()), ("OPUS", "PCMU", "PCMA")),
        "apply-candidate-acl": Param(Str(), (), multi=True),
        "timer-name": Param(Str(), "soft"),
        "mcast-ip": Param(Str(), ""),
        "mcast-port": Param(Port(), 1337),
        "chop-domain": Param(Bool(), False),
        "enable-text": Param(Bool(), False),
        "debug": Param(Int(0, 10), 0),
        "hold-music": Param(Str(), ""),
        "max-frame-size": Param(Int(1024), 1 << 20, "largest WebSocket message accepted (bytes)"),
        "max-json-depth": Param(Int(2, 512), 32, "deepest JSON nesting accepted"),
        "max-batch-size": Param(Int(1, 10_000), 32, "most messages in one JSON-RPC batch"),
        "max-queue": Param(Int(16), 1000, "messages waiting for one slow browser before it is dropped"),
        "ws-ping-sec": Param(
            Float(0), 20.0, "WebSocket ping interval; no pong in half of it drops the socket"
        ),
        "login-timeout-sec": Param(Float(0), 30.0, "close sockets that have not logged in by then"),
        "auth-failures-before-delay": Param(Int(0), 3),
        "auth-failures-before-ban": Param(Int(0), 10),
        "auth-ban-seconds": Param(Float(0), 60.0),
    },
    config=CONF_NAME,
    containers=("profiles/profile",),
)


@dataclass(frozen=True, slots=True)
class Listen:
    """One `bind-local`: where to listen, and whether it is wss."""

    host: str
    port: int
    secure: bool = False

    @property
    def url(self) -> str:
        return f"{'wss' if self.secure else 'ws'}:{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    name: str
    listen: tuple[Listen, ...]
    force_register_domain: str = ""
    secure_combined: str = ""
    secure_chain: str = ""
    userauth: str = "true"
    blind_reg: bool = False
    root_password: str = ""
    context: str = "default"
    dialplan: str = "XML"
    rtp_ip: str = "127.0.0.1"
    ext_rtp_ip: str = ""
    inbound_codecs: tuple[str, ...] = ("OPUS", "PCMU", "PCMA")
    outbound_codecs: tuple[str, ...] = ("OPUS", "PCMU", "PCMA")
    hold_music: str = ""
    debug: int = 0
    max_frame_size: int = 1 << 20
    max_json_depth: int = 32
    max_batch_size: int = 32
    max_queue: int = 1000
    ws_ping_sec: float = 20.0
    login_timeout_sec: float = 30.0
    auth_delay_after: int = 3
    auth_ban_after: int = 10
    auth_ban_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class VertoSettings:
    debug: int = 0
    detach_timeout: float = 120.0
    enable_presence: bool = True
    enable_fs_events: bool = False
    profiles: tuple[ProfileSettings, ...] = ()


def _codecs(values: tuple[str, ...], item: etree._Element | None, name: str) -> tuple[str, ...]:
    """FreeSWITCH codec strings are case-free (`opus,vp8`); video codecs are skipped, audio ones checked."""
    out: list[str] = []
    for raw in values:
        codec = raw.split("@")[0].upper()
        if codec in ("VP8", "VP9", "H264", "H263", "AV1"):
            continue
        if codec not in SUPPORTED_CODECS:
            where = item if item is not None else None
            reason = f'{name}: codec "{raw}" is not one of {", ".join(SUPPORTED_CODECS)}'
            raise error_at(where, reason) if where is not None else ConfigError(reason)
        if codec not in out:
            out.append(codec)
    if not out:
        raise ConfigError(f"{name} names no audio codec")
    return tuple(out)


def _listen(profile: etree._Element) -> tuple[Listen, ...]:
    found: list[Listen] = []
    for param in profile.iterfind("param"):
        if param.get("name") != "bind-local":
            continue
        try:
            parsed = Binding().parse(param.get("value", ""))
            assert isinstance(parsed, tuple)
            host, port = parsed
            secure = parse_bool(param.get("secure", "false"))
        except ValueError as exc:
            raise error_at(param, f'param "bind-local" in verto.conf profile: {exc}') from None
        found.append(Listen(str(host) or "0.0.0.0", int(port), secure))
    return tuple(found)


def _param_element(profile: etree._Element, name: str) -> etree._Element | None:
    for param in profile.iterfind("param"):
        if param.get("name") == name:
            return param
    return None


def profile_settings(profile: etree._Element) -> tuple[ProfileSettings, list[ConfigWarning]]:
    values, warnings = read_params(profile, PROFILE_SCHEMA)
    v: Mapping[str, object] = values
    name = profile.get("name") or "default"
    settings = ProfileSettings(
        name=name,
        listen=_listen(profile),
        force_register_domain=str(v["force-register-domain"]),
        secure_combined=str(v["secure-combined"]),
        secure_chain=str(v["secure-chain"]),
        userauth=str(v["userauth"]),
        blind_reg=bool(v["blind-reg"]),
        root_password=str(v["root-password"]),
        context=str(v["context"]) or "default",
        dialplan=str(v["dialplan"]) or "XML",
        rtp_ip=str(v["rtp-ip"]) or "127.0.0.1",
        ext_rtp_ip=str(v["ext-rtp-ip"]),
        inbound_codecs=_codecs(
            v["inbound-codec-string"],  # type: ignore[arg-type]
            _param_element(profile, "inbound-codec-string"),
            "inbound-codec-string",
        ),
        outbound_codecs=_codecs(
            v["outbound-codec-string"],  # type: ignore[arg-type]
            _param_element(profile, "outbound-codec-string"),
            "outbound-codec-string",
        ),
        hold_music=str(v["hold-music"]),
        debug=int(v["debug"]),  # type: ignore[call-overload]
        max_frame_size=int(v["max-frame-size"]),  # type: ignore[call-overload]
        max_json_depth=int(v["max-json-depth"]),  # type: ignore[call-overload]
        max_batch_size=int(v["max-batch-size"]),  # type: ignore[call-overload]
        max_queue=int(v["max-queue"]),  # type: ignore[call-overload]
        ws_ping_sec=float(v["ws-ping-sec"]),  # type: ignore[arg-type]
        login_timeout_sec=float(v["login-timeout-sec"]),  # type: ignore[arg-type]
        auth_delay_after=int(v["auth-failures-before-delay"]),  # type: ignore[call-overload]
        auth_ban_after=int(v["auth-failures-before-ban"]),  # type: ignore[call-overload]
        auth_ban_seconds=float(v["auth-ban-seconds"]),  # type: ignore[arg-type]
    )
    if not settings.listen:
        raise error_at(profile, f'verto profile "{name}" has no bind-local')
    return settings, warnings


def load_settings(configuration: etree._Element | None) -> tuple[VertoSettings, list[ConfigWarning]]:
    """Settings from `<configuration name="verto.conf">`; a missing configuration gives no profiles."""
    if configuration is None:
        return VertoSettings(), []
    warnings: list[ConfigWarning] = []
    top = configuration.find("settings")
    values: dict[str, object] = SETTINGS_SCHEMA.defaults()
    if top is not None:
        values, found = read_params(top, SETTINGS_SCHEMA)
        warnings.extend(found)
    profiles: list[ProfileSettings] = []
    for element in configuration.iterfind("profiles/profile"):
        profile, found = profile_settings(element)
        warnings.extend(found)
        profiles.append(profile)
    settings = VertoSettings(
        debug=int(values["debug"]),  # type: ignore[call-overload]
        detach_timeout=float(values["detach-timeout-sec"]),  # type: ignore[arg-type]
        enable_presence=bool(values["enable-presence"]),
        enable_fs_events=bool(values["enable-fs-events"]),
        profiles=tuple(profiles),
    )
    return settings, warnings
