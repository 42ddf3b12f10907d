"""Typed `<param name="..." value="..."/>` settings with line-precise messages.

A `Schema` maps param names to a `Param` (type, default, doc).  `read_params`
reads the `<param>` children of one element (`<settings>`, `<gateway>`...):
values are parsed to Python types and defaults filled in; an unknown name is a
warning with a "did you mean" suggestion; a bad value is a ConfigError naming the
file and line.  FreeSWITCH silently ignores both (freeswitch-behaviour.md X5,
section 4 item 1).

Schemas live in a registry keyed by name ("switch.conf", "sofia.conf:profile").
The core's own are built in (see `schemas.py`); a module registers its own at load
with `register_schema` and removes it at unload.  `check_config(config)` runs every
registered schema over a loaded tree, which makes it a `ConfigHolder` validator.
"""

from __future__ import annotations

import difflib
import fnmatch
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from lxml import etree

from ..errors import ConfigError
from .location import ConfigWarning, error_at, warning_at

if TYPE_CHECKING:
    from .tree import XmlConfig

_TRUE = frozenset({"yes", "on", "true", "t", "enabled", "active", "allow"})
_FALSE = frozenset({"no", "off", "false", "f", "disabled", "inactive", "disallow"})


class ParamType(Protocol):
    """Parses one raw value; raises ValueError with a short reason."""

    @property
    def describe(self) -> str: ...

    def parse(self, raw: str) -> object: ...


def parse_bool(raw: str) -> bool:
    """FreeSWITCH's `switch_true`/`switch_false` words, or a number (non-zero is true)."""
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    try:
        return int(word) != 0
    except ValueError:
        raise ValueError(f'"{raw}" is not a boolean (true/false, yes/no, on/off)') from None


@dataclass(frozen=True, slots=True)
class Str:
    allow_empty: bool = True

    @property
    def describe(self) -> str:
        return "text"

    def parse(self, raw: str) -> object:
        if not raw and not self.allow_empty:
            raise ValueError("must not be empty")
        return raw


@dataclass(frozen=True, slots=True)
class Bool:
    @property
    def describe(self) -> str:
        return "true/false"

    def parse(self, raw: str) -> object:
        return parse_bool(raw)


@dataclass(frozen=True, slots=True)
class Int:
    min: int | None = None
    max: int | None = None

    @property
    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"an integer {self.min}..{self.max}"
        if self.min is not None:
            return f"an integer >= {self.min}"
        return "an integer"

    def parse(self, raw: str) -> object:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f'"{raw}" is not {self.describe}') from None
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(f"{value} is out of range ({self.describe})")
        return value


@dataclass(frozen=True, slots=True)
class Float:
    min: float | None = None
    max: float | None = None

    @property
    def describe(self) -> str:
        return "a number"

    def parse(self, raw: str) -> object:
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f'"{raw}" is not a number') from None
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError(f"{value} is out of range {self.min}..{self.max}")
        return value


def Port(allow_zero: bool = False) -> Int:  # noqa: N802 - reads as a type in schemas
    """A TCP/UDP port number (0 allowed only where it means "disabled")."""
    return Int(0 if allow_zero else 1, 65535)


@dataclass(frozen=True, slots=True)
class Enum:
    """One of `choices` (compared without case); `true`/`false` choices also accept yes/no/on/off."""

    choices: tuple[str, ...]

    @property
    def describe(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, raw: str) -> object:
        word = raw.strip().lower()
        for choice in self.choices:
            if choice.lower() == word:
                return choice
        if "true" in self.choices and "false" in self.choices:
            try:
                return "true" if parse_bool(raw) else "false"
            except ValueError:
                pass
        raise ValueError(f'"{raw}" is not {self.describe}')


def choice(*choices: str) -> Enum:
    return Enum(tuple(choices))


@dataclass(frozen=True, slots=True)
class Ip:
    """An IPv4/IPv6 address (no host names), or one of `special` words, or a `prefixes` form."""

    special: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    allow_empty: bool = False

    @property
    def describe(self) -> str:
        extra = [*self.special, *(p + "..." for p in self.prefixes)]
        return "an IP address" + (f" or {', '.join(extra)}" if extra else "")

    def parse(self, raw: str) -> object:
        value = raw.strip()
        if not value and self.allow_empty:
            return value
        if value.lower() in (s.lower() for s in self.special):
            return value
        if any(value.startswith(p) for p in self.prefixes):
            return value
        try:
            return str(ipaddress.ip_address(value.strip("[]")))
        except ValueError:
            raise ValueError(f'"{raw}" is not {self.describe}') from None


@dataclass(frozen=True, slots=True)
class Binding:
    """`[ip]:port` as in `ws-binding=":5066"`; returns (ip or "", port)."""

    @property
    def describe(self) -> str:
        return "[ip]:port"

    def parse(self, raw: str) -> object:
        host, sep, port = raw.strip().rpartition(":")
        if not sep:
            raise ValueError(f'"{raw}" is not [ip]:port')
        port_value = Port().parse(port)
        if host:
            Ip().parse(host)
        return (host.strip("[]"), port_value)


@dataclass(frozen=True, slots=True)
class ListOf:
    """A `sep`-separated list (empty items dropped), each item parsed by `item`."""

    item: ParamType = field(default_factory=Str)
    sep: str = ","

    @property
    def describe(self) -> str:
        return f"a '{self.sep}'-separated list of {self.item.describe}"

    def parse(self, raw: str) -> object:
        return tuple(self.item.parse(part.strip()) for part in raw.split(self.sep) if part.strip())


@dataclass(frozen=True, slots=True)
class Param:
    """One known param: its type, default (None: unset), a line of doc; `multi` params repeat."""

    type: ParamType
    default: object = None
    doc: str = ""
    required: bool = False
    multi: bool = False


@dataclass(frozen=True, slots=True)
class Schema:
    """The params one kind of element takes.

    `config` and `containers` say where `check_config` finds such elements: the
    `<configuration name=config>` and xpaths below it ("settings",
    "profiles/profile/settings").  `patterns` are fnmatch names (`sip-h-*`).
    """

    title: str
    params: Mapping[str, Param]
    config: str = ""
    containers: tuple[str, ...] = ()
    patterns: tuple[tuple[str, Param], ...] = ()
    item_tag: str = "param"

    def lookup(self, name: str) -> Param | None:
        found = self.params.get(name)
        if found is not None:
            return found
        for pattern, param in self.patterns:
            if fnmatch.fnmatchcase(name, pattern):
                return param
        return None

    def defaults(self) -> dict[str, object]:
        return {name: p.default for name, p in self.params.items()}


def check_params(
    element: etree._Element, schema: Schema
) -> tuple[dict[str, object], list[ConfigWarning], list[ConfigError]]:
    """Like `read_params`, but collects every error instead of raising the first."""
    values = schema.defaults()
    warnings: list[ConfigWarning] = []
    errors: list[ConfigError] = []
    seen: dict[str, int] = {}
    for item in element.iterchildren(schema.item_tag):
        name = item.get("name")
        if not name:
            warnings.append(warning_at(item, f"<{schema.item_tag}> without a name is ignored"))
            continue
        param = schema.lookup(name)
        if param is None:
            warnings.append(warning_at(item, _unknown(name, schema)))
            continue
        raw = item.get("value")
        if raw is None:
            errors.append(error_at(item, f'param "{name}" in {schema.title} has no value attribute'))
            continue
        try:
            value = param.type.parse(raw)
        except ValueError as exc:
            errors.append(error_at(item, f'param "{name}" in {schema.title}: {exc}'))
            continue
        if param.multi:
            # Repeated params accumulate; a list-typed one is flattened.
            previous = values.get(name) if name in seen else ()
            added = value if isinstance(value, tuple) else (value,)
            values[name] = (*previous, *added) if isinstance(previous, tuple) else added
        else:
            if name in seen:
                warnings.append(
                    warning_at(item, f'param "{name}" set again (first at line {seen[name]}); this one wins')
                )
            values[name] = value
        seen.setdefault(name, item.sourceline or 0)
    for name, param in schema.params.items():
        if param.required and name not in seen:
            errors.append(error_at(element, f'{schema.title} needs param "{name}" ({param.type.describe})'))
    return values, warnings, errors


def read_params(element: etree._Element, schema: Schema) -> tuple[dict[str, object], list[ConfigWarning]]:
    """Parse the `<param>` children of `element` with `schema`.

    Returns (values, warnings): values hold every schema param (defaults for the
    missing ones, a tuple for `multi` params).  Raises ConfigError (file:line) on
    the first bad value.
    """
    values, warnings, errors = check_params(element, schema)
    if errors:
        raise errors[0]
    return values, warnings


def _unknown(name: str, schema: Schema) -> str:
    message = f'unknown param "{name}" in {schema.title}'
    candidates = list(schema.params)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.replace("_", "-").lower(), candidates, n=1, cutoff=0.6)
    return f'{message} (did you mean "{close[0]}"?)' if close else message


# -- registry ---------------------------------------------------------------------

_registry: dict[str, Schema] | None = None


def _schemas() -> dict[str, Schema]:
    global _registry
    if _registry is None:
        from .schemas import BUILTIN_SCHEMAS  # data only; imported on first use

        _registry = dict(BUILTIN_SCHEMAS)
    return _registry


def register_schema(name: str, schema: Schema, *, replace: bool = False) -> None:
    """Register `schema` under `name` (e.g. "verto.conf:profile"); a duplicate is refused."""
    schemas = _schemas()
    if name in schemas and not replace:
        raise ValueError(f'a schema named "{name}" is already registered')
    schemas[name] = schema


def unregister_schema(name: str) -> None:
    _schemas().pop(name, None)


def get_schema(name: str) -> Schema | None:
    return _schemas().get(name)


def registered_schemas() -> Mapping[str, Schema]:
    return MappingProxyType(_schemas())


def check_config(config: XmlConfig) -> list[ConfigError | ConfigWarning]:
    """Run every registered schema over `config` (usable as a ConfigHolder validator)."""
    problems: list[ConfigError | ConfigWarning] = []
    for schema in list(_schemas().values()):
        configuration = config.configuration(schema.config) if schema.config else None
        if configuration is None:
            continue
        for path in schema.containers:
            for element in configuration.iterfind(path):
                _, warnings, errors = check_params(element, schema)
                problems.extend(errors)
                problems.extend(warnings)
    return problems
