"""Loading and shutting down mod_sofia: read sofia.conf, run every profile, stop them.

On load the module reads `sofia.conf` (`<profiles><profile>` from
sip_profiles/*.xml), builds a `SofiaProfile` for each and starts it.  A
profile whose address is not loopback is refused while any directory user
still has the default password 1234 (the refusal names the users and says how
to fix it; `<param name="dev" value="true"/>` in switch.conf only warns).  A
profile that cannot bind is reported and left DOWN; the others still run.

The running profiles of a switch are its `SofiaRuntime`, found with
`runtime_of(switch)`.  The call layer joins in through hooks that run as each
profile starts and stops (registered at import, no switch needed):

    from .lifecycle import on_profile_start, on_profile_stop

    @on_profile_start
    def attach(switch, profile):          # runs after the profile is listening
        profile.handler = SofiaCallHandler(switch, profile, ports)
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from switchcore.errors import ConfigError
from switchcore.xmlconf import parse_bool, register_schema
from switchcore.xmlconf.schemas import SOFIA_PROFILE

from .declaration import module
from .gateway import Gateway
from .profile import PROFILE_SCHEMA, ProfileSettings, SofiaProfile, read_profiles

if TYPE_CHECKING:
    from switchcore.core import Switch
    from switchcore.directory import Directory

log = logging.getLogger("mod_sofia")

DEFAULT_PASSWORD = "1234"
CONF_NAME = "sofia.conf"

ProfileHook = Callable[["Switch", SofiaProfile], Any]
_start_hooks: list[ProfileHook] = []
_stop_hooks: list[ProfileHook] = []


def on_profile_start(hook: ProfileHook) -> ProfileHook:
    """Run `hook(switch, profile)` after every profile starts (the call layer attaches here)."""
    if hook not in _start_hooks:
        _start_hooks.append(hook)
    return hook


def on_profile_stop(hook: ProfileHook) -> ProfileHook:
    """Run `hook(switch, profile)` before every profile stops."""
    if hook not in _stop_hooks:
        _stop_hooks.append(hook)
    return hook


async def _run_hooks(hooks: list[ProfileHook], switch: Switch, profile: SofiaProfile) -> None:
    for hook in list(hooks):
        try:
            result = hook(switch, profile)
            if hasattr(result, "__await__"):
                await result
        except Exception:
            log.exception("sofia profile '%s': hook %r failed", profile.name, hook)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def default_password_users(directory: Directory) -> list[str]:
    """`user@domain` of every directory user whose password is still 1234 (or whose a1-hash is)."""
    weak: list[str] = []
    for domain in directory.domains():
        for user in directory.users(domain.name):
            a1 = user.a1_hash
            hashed = hashlib.md5(
                f"{user.id}:{domain.name}:{DEFAULT_PASSWORD}".encode(), usedforsecurity=False
            )
            if user.password == DEFAULT_PASSWORD or (a1 is not None and a1.lower() == hashed.hexdigest()):
                weak.append(f"{user.id}@{domain.name}")
    return weak


def refusal(settings: ProfileSettings, directory: Directory | None) -> str | None:
    """Why `settings` must not listen, or None: non-loopback address plus default passwords."""
    if is_loopback(settings.sip_ip) or directory is None:
        return None
    weak = default_password_users(directory)
    if not weak:
        return None
    shown = ", ".join(weak[:10]) + (f" and {len(weak) - 10} more" if len(weak) > 10 else "")
    return (
        f"refusing to listen on {settings.sip_ip}:{settings.sip_port} (sofia profile {settings.name}): "
        f"{len(weak)} directory user{'s' if len(weak) != 1 else ''} still "
        f"{'have' if len(weak) != 1 else 'has'} the default password {DEFAULT_PASSWORD} ({shown}). "
        'Give each user its own <param name="password"> in the directory (or change default_password '
        "in vars.xml), or keep sip-ip on 127.0.0.1"
    )


class SofiaRuntime:
    """The sofia profiles of one switch."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.profiles: dict[str, SofiaProfile] = {}
        self.refused: dict[str, str] = {}
        self.siptrace = False

    # ---- configuration ----------------------------------------------------------------------------

    def read_settings(self) -> list[ProfileSettings]:
        config = self.switch.config
        element = config.current.configuration(CONF_NAME) if config is not None else None
        if element is None:
            log.warning("sofia.conf is missing from the configuration; no SIP profiles")
            return []
        found, problems = read_profiles(element)
        for problem in problems:
            if isinstance(problem, ConfigError):
                log.error("%s", problem)
            else:
                log.warning("%s", problem)
        return found

    def settings_of(self, name: str) -> ProfileSettings | None:
        return next((s for s in self.read_settings() if s.name == name), None)

    def _directory(self) -> Directory | None:
        try:
            return self.switch.directory
        except Exception:
            return None

    def _dev_mode(self) -> bool:
        try:
            return parse_bool(self.switch.settings.get("dev", "false"))
        except ValueError:
            return False

    def make_profile(self, settings: ProfileSettings) -> SofiaProfile:
        switch = self.switch
        return SofiaProfile(
            settings,
            directory=self._directory,
            store=lambda: switch.store,
            fire=switch.events.fire,
            node=switch.node,
        )

    # ---- running ----------------------------------------------------------------------------------

    async def start(self) -> None:
        for settings in self.read_settings():
            await self.start_profile(settings)

    async def start_profile(self, settings: ProfileSettings) -> SofiaProfile | None:
        """Build and start one profile; None (and logged) when it is refused or cannot bind."""
        existing = self.profiles.get(settings.name)
        if existing is not None and existing.running:
            return None
        reason = refusal(settings, self._directory())
        if reason is not None:
            if self._dev_mode():
                log.warning("%s (allowed: switch.conf dev=true)", reason)
            else:
                log.error("%s", reason)
                self.refused[settings.name] = reason
                self.profiles[settings.name] = self.make_profile(settings)
                return None
        self.refused.pop(settings.name, None)
        profile = self.make_profile(settings)
        self.profiles[settings.name] = profile
        try:
            await profile.start()
        except OSError as exc:
            log.error(
                "sofia profile '%s': cannot listen on %s:%d: %s",
                settings.name,
                settings.sip_ip,
                settings.sip_port,
                exc,
            )
            return None
        if self.siptrace and profile.stack is not None:
            profile.stack.trace = True
        module.listeners.extend(profile.listeners())
        await _run_hooks(_start_hooks, self.switch, profile)
        return profile

    async def stop_profile(self, profile: SofiaProfile) -> None:
        if not profile.running:
            return
        await _run_hooks(_stop_hooks, self.switch, profile)
        for listener in profile.listeners():
            if listener in module.listeners:
                module.listeners.remove(listener)
        await profile.stop()

    async def stop(self) -> None:
        for profile in list(self.profiles.values()):
            try:
                await self.stop_profile(profile)
            except Exception:
                log.exception("sofia profile '%s' did not stop cleanly", profile.name)

    # ---- lookups ------------------------------------------------------------------------------------

    def find(self, name: str) -> SofiaProfile | None:
        """A profile by name or alias."""
        found = self.profiles.get(name)
        if found is not None:
            return found
        for profile in self.profiles.values():
            if name in profile.settings.aliases:
                return profile
        return None

    def gateway(self, name: str) -> Gateway | None:
        """A gateway by name (`provider`) or as `profile::gateway`."""
        profile_name, sep, gateway_name = name.partition("::")
        if sep:
            profile = self.find(profile_name)
            return profile.gateway(gateway_name) if profile is not None else None
        for profile in self.profiles.values():
            found = profile.gateway(name)
            if found is not None:
                return found
        return None

    def gateway_for_user(self, ruri_user: str | None) -> Gateway | None:
        """The gateway an inbound INVITE was addressed to (Request-URI user `gw+<name>`)."""
        if ruri_user and ruri_user.startswith("gw+"):
            return self.gateway(ruri_user[3:])
        return None

    def set_siptrace(self, on: bool) -> None:
        self.siptrace = on
        for profile in self.profiles.values():
            if profile.stack is not None:
                profile.stack.trace = on


running: weakref.WeakKeyDictionary[Any, SofiaRuntime] = weakref.WeakKeyDictionary()


def runtime_of(switch: Any) -> SofiaRuntime | None:
    """The running mod_sofia of `switch`, if it is loaded."""
    return running.get(switch)


@module.loaded
async def _load(switch: Switch) -> None:
    register_schema("sofia.conf:profile", PROFILE_SCHEMA, replace=True)
    runtime = SofiaRuntime(switch)
    running[switch] = runtime
    await runtime.start()


@module.shutdown
async def _shutdown(switch: Switch) -> None:
    runtime = running.pop(switch, None)
    if runtime is not None:
        await runtime.stop()
    if not running:
        register_schema("sofia.conf:profile", SOFIA_PROFILE, replace=True)


__all__ = [
    "DEFAULT_PASSWORD",
    "SofiaRuntime",
    "default_password_users",
    "on_profile_start",
    "on_profile_stop",
    "refusal",
    "runtime_of",
    "running",
]
