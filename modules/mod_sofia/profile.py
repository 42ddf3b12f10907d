"""A sofia profile: its settings from XML, and the running pieces built from them.

FreeSWITCH's layout (sofia.conf.xml + sip_profiles/*.xml):

    <profile name="internal">
      <aliases><alias name="default"/></aliases>
      <gateways><gateway name="provider">...</gateway></gateways>
      <settings><param name="sip-port" value="5060"/> ...</settings>
    </profile>

`ProfileSettings.from_element` reads the `<settings>` params with the core's
typed schema (`switchcore.xmlconf.schemas.SOFIA_PROFILE`) extended by the few
params this module adds (`PROFILE_SCHEMA`), so a bad value is a ConfigError
naming file and line and an unknown name a warning.  `SofiaProfile` owns one
profile's SIP stack, authenticator, registrar and gateways, and is what the
call layer talks to:

    profile.stack                       # tu.Stack: request(), send_stateless(), via(), contact_uri()
    profile.handler = my_call_handler   # tu.CallHandler for everything but REGISTER / OPTIONS
    await profile.contacts("1000", "127.0.0.1")   # registered contacts (RegistrationRecord)
    await profile.authenticate(request, source, "proxy")  # AuthOutcome for INVITE & co.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from lxml import etree

from switchcore import __version__
from switchcore.errors import ConfigError
from switchcore.events import Event
from switchcore.xmlconf import Int, ListOf, Param, Schema, read_params
from switchcore.xmlconf.location import ConfigWarning, error_at
from switchcore.xmlconf.schemas import SOFIA_PROFILE

from .auth import Authenticator, AuthOutcome, AuthThrottle, DirectoryLike
from .digest import Algorithm
from .gateway import Gateway, GatewaySettings, read_gateways
from .incoming import ServerRequest
from .message import Request
from .registrar import DomainDirectory, Registrar, RegistrarSettings
from .stack import NullCallHandler, SipStack
from .transaction import TimerConfig
from .tu import CallHandler, Source

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from switchcore.store import RegistrationRecord, Store

log = logging.getLogger("mod_sofia.profile")

# Params this module reads beyond the core's sofia profile schema.  auth-fail-max and
# auth-fail-ban-sec are the names the shipped internal.xml uses for the schema's
# auth-fail-threshold / auth-fail-block-sec; rfc8760-auth-algorithms is FreeSWITCH's.
EXTRA_PARAMS: dict[str, Param] = {
    "auth-fail-max": Param(Int(0), None, "failed digests from one address before it is refused (0: never)"),
    "auth-fail-ban-sec": Param(Int(0), None, "how long a refused address stays refused"),
    "rfc8760-auth-algorithms": Param(ListOf(), ("md5",), "digest algorithms offered: sha-256, md5"),
    "registration-min-expires": Param(Int(1), 60, "shorter non-zero REGISTER intervals get 423"),
    "registration-max-expires": Param(Int(1), 7200, "longer REGISTER intervals are shortened"),
    "registration-default-expires": Param(Int(1), 3600, "interval when a REGISTER names none"),
    "registration-sweep-sec": Param(Int(1), 5, "how often expired registrations are removed"),
    "max-message-size": Param(Int(1024, 65535), 65535, "larger messages get 513"),
}
PROFILE_SCHEMA = Schema(
    SOFIA_PROFILE.title,
    {**SOFIA_PROFILE.params, **EXTRA_PARAMS},
    config=SOFIA_PROFILE.config,
    containers=SOFIA_PROFILE.containers,
    patterns=SOFIA_PROFILE.patterns,
)

_ALGORITHMS = {"md5": Algorithm.MD5, "sha-256": Algorithm.SHA256, "sha256": Algorithm.SHA256}


def _str(values: Mapping[str, object], name: str, default: str | None = None) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) and value else default


def _int(values: Mapping[str, object], name: str, default: int) -> int:
    value = values.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bool(values: Mapping[str, object], name: str, default: bool = False) -> bool:
    value = values.get(name)
    return value if isinstance(value, bool) else default


def _list(values: Mapping[str, object], name: str) -> tuple[str, ...]:
    value = values.get(name)
    return tuple(str(v) for v in value) if isinstance(value, tuple) else ()


@dataclass(frozen=True, slots=True)
class ProfileSettings:
    """One profile's settings, typed, with defaults applied."""

    name: str
    sip_ip: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_ip: str = "127.0.0.1"
    ext_sip_ip: str | None = None
    ext_rtp_ip: str | None = None
    context: str = "public"
    dialplan: str = "XML"
    auth_calls: bool = True
    dtmf_type: str = "rfc2833"
    rfc2833_pt: int = 101
    codec_prefs: tuple[str, ...] = ("PCMU", "PCMA")
    inbound_codec_prefs: tuple[str, ...] = ("PCMU", "PCMA")
    outbound_codec_prefs: tuple[str, ...] = ("PCMU", "PCMA")
    nonce_ttl: int = 60
    apply_nat_acl: tuple[str, ...] = ()
    aggressive_nat_detection: bool = False
    hold_music: str | None = None
    rtp_timeout_sec: int = 0
    rtp_hold_timeout_sec: int = 0
    challenge_realm: str = "auto_to"
    force_register_domain: str | None = None
    force_register_db_domain: str | None = None
    multiple_registrations: str = "false"
    max_registrations_per_extension: int = 0
    auth_fail_max: int = 5
    auth_fail_window_sec: int = 60
    auth_fail_ban_sec: int = 300
    auth_algorithms: tuple[str, ...] = ("md5",)
    log_auth_failures: bool = True
    registration_min_expires: int = 60
    registration_max_expires: int = 7200
    registration_default_expires: int = 3600
    registration_sweep_sec: int = 5
    max_message_size: int = 65535
    user_agent: str | None = f"switchcore-mod_sofia/{__version__}"
    sip_trace: bool = False
    disable_register: bool = False
    timers: TimerConfig = field(default_factory=TimerConfig)
    aliases: tuple[str, ...] = ()
    gateways: tuple[GatewaySettings, ...] = ()
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @staticmethod
    def from_element(element: etree._Element) -> tuple[ProfileSettings, list[ConfigWarning | ConfigError]]:
        """Read a `<profile>`; raises ConfigError (file:line) for a bad value or a missing name."""
        name = element.get("name", "")
        if not name:
            raise error_at(element, "<profile> without a name")
        settings_el = element.find("settings")
        if settings_el is None:
            settings_el = etree.SubElement(etree.Element("profile"), "settings")
        values, warnings = read_params(settings_el, PROFILE_SCHEMA)
        problems: list[ConfigWarning | ConfigError] = list(warnings)
        gateways, gateway_problems = read_gateways(element)
        problems += gateway_problems
        both = _list(values, "codec-prefs") or ("PCMU", "PCMA")
        user_agent = _str(values, "user-agent-string", f"switchcore-mod_sofia/{__version__}")
        if user_agent == "_undef_":
            user_agent = None
        algorithms = tuple(a.lower() for a in _list(values, "rfc8760-auth-algorithms")) or ("md5",)
        unknown = [a for a in algorithms if a not in _ALGORITHMS]
        if unknown:
            raise error_at(
                settings_el, f'profile "{name}": unknown digest algorithm "{unknown[0]}" (sha-256, md5)'
            )
        sip_ip = _str(values, "sip-ip", "127.0.0.1") or "127.0.0.1"
        fail_max = values.get("auth-fail-max")
        fail_ban = values.get("auth-fail-ban-sec")
        settings = ProfileSettings(
            name=name,
            sip_ip=sip_ip,
            sip_port=_int(values, "sip-port", 5060),
            rtp_ip=_str(values, "rtp-ip", sip_ip) or sip_ip,
            ext_sip_ip=_str(values, "ext-sip-ip"),
            ext_rtp_ip=_str(values, "ext-rtp-ip"),
            context=_str(values, "context", "public") or "public",
            dialplan=_str(values, "dialplan", "XML") or "XML",
            auth_calls=_bool(values, "auth-calls", True),
            dtmf_type=_str(values, "dtmf-type", "rfc2833") or "rfc2833",
            rfc2833_pt=_int(values, "rfc2833-pt", 101),
            codec_prefs=both,
            inbound_codec_prefs=_list(values, "inbound-codec-prefs") or both,
            outbound_codec_prefs=_list(values, "outbound-codec-prefs") or both,
            nonce_ttl=_int(values, "nonce-ttl", 60),
            apply_nat_acl=_list(values, "apply-nat-acl"),
            aggressive_nat_detection=_bool(values, "aggressive-nat-detection"),
            hold_music=_str(values, "hold-music"),
            rtp_timeout_sec=_int(values, "rtp-timeout-sec", 0),
            rtp_hold_timeout_sec=_int(values, "rtp-hold-timeout-sec", 0),
            challenge_realm=_str(values, "challenge-realm", "auto_to") or "auto_to",
            force_register_domain=_str(values, "force-register-domain"),
            force_register_db_domain=_str(values, "force-register-db-domain"),
            multiple_registrations=_str(values, "multiple-registrations", "false") or "false",
            max_registrations_per_extension=_int(values, "max-registrations-per-extension", 0),
            auth_fail_max=fail_max if isinstance(fail_max, int) else _int(values, "auth-fail-threshold", 5),
            auth_fail_window_sec=_int(values, "auth-fail-window-sec", 60),
            auth_fail_ban_sec=fail_ban
            if isinstance(fail_ban, int)
            else _int(values, "auth-fail-block-sec", 300),
            auth_algorithms=algorithms,
            log_auth_failures=True,
            registration_min_expires=_int(values, "registration-min-expires", 60),
            registration_max_expires=_int(values, "registration-max-expires", 7200),
            registration_default_expires=_int(values, "registration-default-expires", 3600),
            registration_sweep_sec=_int(values, "registration-sweep-sec", 5),
            max_message_size=_int(values, "max-message-size", 65535),
            user_agent=user_agent,
            sip_trace=_bool(values, "sip-trace"),
            disable_register=_bool(values, "disable-register"),
            timers=TimerConfig(
                t1=_int(values, "timer-T1", 500) / 1000.0,
                t2=_int(values, "timer-T2", 4000) / 1000.0,
                t4=_int(values, "timer-T4", 5000) / 1000.0,
            ),
            aliases=tuple(a.get("name", "") for a in element.iterfind("aliases/alias") if a.get("name")),
            gateways=tuple(gateways),
            params=MappingProxyType(dict(values)),
            raw=MappingProxyType(_raw_params(settings_el, values)),
        )
        return settings, problems

    @property
    def digest_algorithms(self) -> tuple[Algorithm, ...]:
        return tuple(dict.fromkeys(_ALGORITHMS[a] for a in self.auth_algorithms))


def _render(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _raw_params(settings: etree._Element, values: Mapping[str, object]) -> dict[str, str]:
    """Every param as text: the XML's own values, and the schema's defaults for the others."""
    raw: dict[str, str] = {}
    for name, value in values.items():
        text = _render(value)
        if text is not None:
            raw[name] = text
    for item in settings.iterchildren("param"):
        name, value = item.get("name"), item.get("value")
        if name and value is not None:
            raw[name] = value
    return raw


def read_profiles(
    configuration: etree._Element | None,
) -> tuple[list[ProfileSettings], list[ConfigWarning | ConfigError]]:
    """Every `<profiles><profile>` of sofia.conf; a profile with a bad value is left out and reported."""
    found: list[ProfileSettings] = []
    problems: list[ConfigWarning | ConfigError] = []
    if configuration is None:
        return found, problems
    names: set[str] = set()
    for element in configuration.iterfind("profiles/profile"):
        try:
            settings, warnings = ProfileSettings.from_element(element)
        except ConfigError as exc:
            problems.append(exc)
            continue
        problems += warnings
        if settings.name in names:
            problems.append(
                error_at(element, f'sofia profile "{settings.name}" defined twice; the first one is used')
            )
            continue
        names.add(settings.name)
        found.append(settings)
    return found, problems


def _wanted_of(fire: Callable[[Event], None] | None) -> Callable[[str, str], bool] | None:
    """The `wanted` of the event bus whose `fire` a profile was given, so registrations
    build no events while nobody listens (None when `fire` is not a bus's)."""
    wanted = getattr(getattr(fire, "__self__", None), "wanted", None)
    return wanted if callable(wanted) else None


class SofiaProfile:
    """One profile at run time: the `StackUser` of its stack, and the call layer's way in."""

    def __init__(
        self,
        settings: ProfileSettings,
        *,
        directory: Callable[[], DirectoryLike | None] = lambda: None,
        store: Callable[[], Store | None] = lambda: None,
        fire: Callable[[Event], None] | None = None,
        node: str = "",
        handler: CallHandler | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.handler: CallHandler = handler or NullCallHandler()
        self.fire = fire
        self._directory = directory
        self.auth = Authenticator(
            settings.name,
            directory,
            challenge_realm=settings.challenge_realm,
            force_domain=settings.force_register_domain,
            nonce_ttl=settings.nonce_ttl,
            algorithms=settings.digest_algorithms,
            throttle=AuthThrottle(
                settings.auth_fail_max, settings.auth_fail_window_sec, settings.auth_fail_ban_sec
            ),
            fire=fire,
            log_failures=settings.log_auth_failures,
        )
        self.registrar = Registrar(
            settings.name,
            self.auth,
            RegistrarSettings(
                force_register_domain=settings.force_register_domain,
                force_register_db_domain=settings.force_register_db_domain,
                multiple_registrations=settings.multiple_registrations,
                max_per_extension=settings.max_registrations_per_extension,
                min_expires=settings.registration_min_expires,
                max_expires=settings.registration_max_expires,
                default_expires=settings.registration_default_expires,
                sweep_interval=float(settings.registration_sweep_sec),
            ),
            store=store,
            directory=self._domains,
            fire=fire,
            node=node,
            wanted=_wanted_of(fire),
        )
        self.stack: SipStack | None = None
        self.gateways: dict[str, Gateway] = {
            g.name: Gateway(g, settings.name, lambda: self.stack, fire=fire, user_agent=settings.user_agent)
            for g in settings.gateways
        }
        self.started_at = 0.0
        self.inuse = 0  # calls in progress, kept by the call layer
        self.calls_in = 0
        self.failed_calls_in = 0
        self.calls_out = 0
        self.failed_calls_out = 0

    def __repr__(self) -> str:
        return f"<SofiaProfile {self.name} {self.state}>"

    def _domains(self) -> DomainDirectory | None:
        directory = self._directory()
        return directory if directory is not None and hasattr(directory, "domain") else None  # type: ignore[return-value]

    # ---- life cycle -------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.stack is not None and self.stack.running

    @property
    def state(self) -> str:
        return "RUNNING" if self.running else "DOWN"

    async def start(self) -> None:
        """Bind the transports, restore registrations, start the gateways."""
        if self.running:
            return
        s = self.settings
        stack = SipStack(
            s.name,
            (s.sip_ip, s.sip_port),
            self,
            timers=s.timers,
            user_agent=s.user_agent,
            max_size=s.max_message_size,
        )
        await stack.start()
        stack.trace = s.sip_trace
        self.stack = stack
        await self.registrar.start()
        for gateway in self.gateways.values():
            gateway.start()
        self.started_at = time.time()
        log.info("sofia profile '%s' started on %s", s.name, ", ".join(self.listeners()))

    async def stop(self) -> None:
        """Un-REGISTER the gateways, store pending registrations, close the transports."""
        for gateway in self.gateways.values():
            await gateway.stop()
        await self.registrar.stop()
        if self.stack is not None:
            await self.stack.stop()
        log.info("sofia profile '%s' stopped", self.name)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def rescan(self, settings: ProfileSettings) -> tuple[list[str], list[str]]:
        """Start gateways that are new in `settings`, stop the ones gone: (added, removed)."""
        added: list[str] = []
        removed: list[str] = []
        wanted = {g.name: g for g in settings.gateways}
        for name in [n for n in self.gateways if n not in wanted]:
            await self.gateways.pop(name).stop()
            removed.append(name)
        for name, gateway_settings in wanted.items():
            if name not in self.gateways:
                gateway = Gateway(
                    gateway_settings,
                    self.name,
                    lambda: self.stack,
                    fire=self.fire,
                    user_agent=settings.user_agent,
                )
                self.gateways[name] = gateway
                if self.running:
                    gateway.start()
                added.append(name)
        return added, removed

    def listeners(self) -> list[str]:
        """`sip udp 127.0.0.1:5060`-style descriptions of what this profile listens on."""
        if self.stack is None:
            return []
        host, port = self.stack.local
        return [f"sip {t} {host}:{port}" for t in ("udp", "tcp") if t in self.stack.transport_names]

    @property
    def url(self) -> str:
        if self.stack is not None:
            return self.stack.url
        return f"sip:mod_sofia@{self.settings.sip_ip}:{self.settings.sip_port}"

    # ---- StackUser ----------------------------------------------------------------------------------

    def on_register(self, incoming: ServerRequest) -> Awaitable[None] | None:
        if self.settings.disable_register:
            incoming.reply(403, "Forbidden")
            return None
        return self.registrar.on_register(incoming)

    def challenge_headers(self, request: Request, status: int) -> list[tuple[str, str]]:
        return self.auth.challenge_headers(self.realm_for(request), "proxy" if status == 407 else "www")

    # ---- for the call layer -------------------------------------------------------------------------

    def realm_for(self, request: Request) -> str:
        """The digest realm for a request (challenge-realm: auto_from, auto_to or a name)."""
        return self.registrar.realm_for(request)

    async def authenticate(self, request: Request, source: Source, kind: str = "proxy") -> AuthOutcome:
        """Digest-check a request that acts for a user (INVITE with auth-calls, REFER, INFO, MESSAGE ...)."""
        realm = self.realm_for(request)
        return await self.auth.check(
            request, source, realm, kind, domain=self.settings.force_register_domain or realm
        )

    async def contacts(self, user: str, domain: str) -> list[RegistrationRecord]:
        """The contacts `user@domain` has registered on this profile (none: empty list)."""
        return await self.registrar.contacts(user, domain)

    def gateway(self, name: str) -> Gateway | None:
        return self.gateways.get(name)

    @property
    def params(self) -> Mapping[str, str]:
        """Every profile param as text (`"auth-calls": "true"`), defaults included."""
        return self.settings.raw

    @property
    def context(self) -> str:
        return self.settings.context


__all__ = ["EXTRA_PARAMS", "PROFILE_SCHEMA", "ProfileSettings", "SofiaProfile", "read_profiles"]
