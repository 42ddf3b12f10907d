"""event_socket.conf.xml: where the inbound socket listens, its password, ACL and limits.

FreeSWITCH reads `listen-ip`, `listen-port`, `password` and `apply-inbound-acl`
(mod_event_socket.c config()).  The limits (`max-queue`, `max-command-length`,
`max-body-length`, `auth-*`) are ours: they bound what one client can make the
switch hold, and how fast one address may guess passwords.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields

from switchcore.errors import ConfigError

DEFAULT_PASSWORD = "ClueCon"
CONF_NAME = "event_socket.conf"


@dataclass(frozen=True, slots=True)
class EslSettings:
    """What the inbound event socket runs with; defaults are FreeSWITCH's, plus our limits."""

    listen_ip: str = "127.0.0.1"
    listen_port: int = 8021
    password: str = DEFAULT_PASSWORD
    inbound_acl: tuple[str, ...] = ("loopback.auto",)
    max_queue: int = 10_000  # frames (events and log lines) waiting for one client
    max_command: int = 65_536  # bytes of one command line and its headers, once authenticated
    max_body: int = 1 << 20  # bytes of one command body (sendevent, sendmsg)
    pre_auth_max_command: int = 1024  # bytes of a command block before `auth` succeeded
    auth_delay_after: int = 3  # failed auths from one address before replies are slowed
    auth_ban_after: int = 10  # failed auths from one address before it is refused
    auth_ban_seconds: float = 60.0


_PARAMS = {
    "listen-ip": "listen_ip",
    "listen-port": "listen_port",
    "password": "password",
    "max-queue": "max_queue",
    "max-command-length": "max_command",
    "max-body-length": "max_body",
    "auth-failures-before-delay": "auth_delay_after",
    "auth-failures-before-ban": "auth_ban_after",
    "auth-ban-seconds": "auth_ban_seconds",
}
_INTS = {f.name for f in fields(EslSettings) if f.type in ("int", int)}
_FLOATS = {"auth_ban_seconds"}


def settings_from_params(params: Mapping[str, str] | list[tuple[str, str]], file: str = "") -> EslSettings:
    """Build settings from `<param name= value=>` pairs; a bad number is a ConfigError naming the param."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    values: dict[str, object] = {}
    acls: list[str] = []
    for name, value in pairs:
        if name == "apply-inbound-acl":
            if value.strip():
                acls.append(value.strip())
            continue
        attr = _PARAMS.get(name)
        if attr is None:
            continue  # FreeSWITCH ignores unknown params (debug, nat-map, stop-on-bind-error ...)
        if attr in _INTS:
            values[attr] = _number(name, value, int, file)
        elif attr in _FLOATS:
            values[attr] = _number(name, value, float, file)
        else:
            values[attr] = value
    if acls:
        values["inbound_acl"] = tuple(acls)
    if not values.get("listen_ip"):
        values.pop("listen_ip", None)
    if not values.get("password"):
        values.pop("password", None)  # config(): an empty password falls back to ClueCon
    settings = EslSettings(**values)  # type: ignore[arg-type]
    if not 0 < settings.listen_port < 65536:
        raise ConfigError(f"listen-port {settings.listen_port} is not a TCP port", file)
    return settings


def _number(name: str, value: str, kind: type[int] | type[float], file: str) -> int | float:
    try:
        number = kind(value.strip())
    except ValueError:
        raise ConfigError(f"param {name}={value!r} is not a number", file) from None
    if number < 0:
        raise ConfigError(f"param {name}={value!r} must not be negative", file)
    return number


def settings_from_element(element: object | None) -> EslSettings:
    """Settings from the `<configuration name="event_socket.conf">` element (None: the defaults)."""
    if element is None:
        return EslSettings()
    file = str(getattr(element, "base", "") or "")
    params: list[tuple[str, str]] = []
    for param in element.iterfind("settings/param"):  # type: ignore[attr-defined]
        name, value = param.get("name"), param.get("value")
        if name and value is not None:
            params.append((name, value))
    return settings_from_params(params, file)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_settings(settings: EslSettings) -> None:
    """Refuse the default password on anything but loopback: anyone who can reach the port could log in."""
    if settings.password == DEFAULT_PASSWORD and not is_loopback(settings.listen_ip):
        raise ConfigError(
            f"refusing to listen on {settings.listen_ip}:{settings.listen_port} with the default password "
            f"{DEFAULT_PASSWORD}: set <param name=\"password\"> in event_socket.conf.xml, "
            "or listen on 127.0.0.1"
        )
