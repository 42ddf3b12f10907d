"""The loaded configuration tree and its transactional holder (`reloadxml`).

`XmlConfig` is one complete, preprocessed tree: FreeSWITCH's sections
(`configuration`, `dialplan`, `directory`, ...) indexed for lookup.  It is
treated as immutable: consumers read it, never change it, and anything derived
from it (compiled dialplans, directory indexes) is cached on it through
`derived()`, so a new tree starts with an empty cache.

`ConfigHolder` owns the current tree.  `reload()` builds a complete new tree,
runs every registered validator on it and swaps only when all pass; otherwise the
old tree stays and the reply names the first error as `-ERR <file>:<line>: <reason>`
(FreeSWITCH keeps the old root too, but answers `+OK` and never validates: issue
#1893, #1935).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from lxml import etree

from ..errors import ConfigError
from .diff import diff_configs
from .location import ConfigWarning, where
from .preprocess import preprocess

T = TypeVar("T")
Validator = Callable[["XmlConfig"], "Iterable[ConfigError | ConfigWarning]"]


class XmlConfig:
    """One loaded tree with FreeSWITCH's section lookups. Do not mutate its elements."""

    __slots__ = (
        "conf_dir",
        "root",
        "global_vars",
        "files",
        "warnings",
        "_sections",
        "_configurations",
        "_contexts",
        "_derived",
    )

    def __init__(
        self,
        conf_dir: Path,
        root: etree._Element,
        global_vars: Mapping[str, str],
        files: tuple[Path, ...] = (),
        warnings: tuple[ConfigWarning, ...] = (),
    ) -> None:
        self.conf_dir = conf_dir
        self.root = root
        self.global_vars: Mapping[str, str] = MappingProxyType(dict(global_vars))
        self.files = files
        self.warnings = warnings
        self._sections: dict[str, etree._Element] = {}
        for section in root.iterchildren("section"):
            self._sections.setdefault(section.get("name", ""), section)
        self._configurations = _index_by_name(self._sections.get("configuration"), "configuration")
        self._contexts = _index_by_name(self._sections.get("dialplan"), "context")
        self._derived: dict[str, object] = {}

    @classmethod
    def load(cls, conf_dir: Path, base_vars: Mapping[str, str], entry: str = "freeswitch.xml") -> XmlConfig:
        """Preprocess and parse `conf_dir/entry`; raises ConfigError with file and line."""
        done = preprocess(conf_dir, base_vars, entry)
        return cls(conf_dir.resolve(), done.root, done.variables, done.files, done.warnings)

    # -- lookups --------------------------------------------------------------

    def section(self, name: str) -> etree._Element | None:
        """`<section name="...">`, e.g. "configuration", "dialplan", "directory"."""
        return self._sections.get(name)

    def configuration(self, name: str) -> etree._Element | None:
        """`<configuration name="sofia.conf">` (the first one with that name)."""
        return self._configurations.get(name)

    def configurations(self) -> Mapping[str, etree._Element]:
        return MappingProxyType(self._configurations)

    def dialplan_context(self, name: str) -> etree._Element | None:
        """`<context name="default">` in the dialplan section."""
        return self._contexts.get(name)

    def dialplan_contexts(self) -> Mapping[str, etree._Element]:
        return MappingProxyType(self._contexts)

    def directory_domains(self) -> list[etree._Element]:
        """Every `<domain>` of the directory section, in file order."""
        section = self._sections.get("directory")
        return [] if section is None else list(section.iterchildren("domain"))

    def where(self, element: etree._Element) -> tuple[str, int]:
        """(file relative to the conf directory, line) where `element` was written."""
        return where(element)

    def derived(self, key: str, factory: Callable[[XmlConfig], T]) -> T:
        """Compute something from this tree once (per tree) and cache it under `key`."""
        try:
            return self._derived[key]  # type: ignore[return-value]
        except KeyError:
            value = factory(self)
            self._derived[key] = value
            return value

    def to_xml(self) -> str:
        """The preprocessed document (FreeSWITCH writes it to log/freeswitch.xml.fsxml)."""
        return str(etree.tostring(self.root, encoding="unicode"))


def load(conf_dir: Path, base_vars: Mapping[str, str], entry: str = "freeswitch.xml") -> XmlConfig:
    """Load a configuration tree (see `XmlConfig.load`)."""
    return XmlConfig.load(conf_dir, base_vars, entry)


def _index_by_name(parent: etree._Element | None, tag: str) -> dict[str, etree._Element]:
    index: dict[str, etree._Element] = {}
    if parent is not None:
        for element in parent.iterchildren(tag):
            index.setdefault(element.get("name", ""), element)
    return index


def standard_validators() -> tuple[Validator, ...]:
    """The core's checks: typed params of every registered schema, dialplan, directory."""
    from ..directory import validate_directory  # the directory imports this package
    from .dialplan_model import validate_dialplan
    from .params import check_config

    return (check_config, validate_dialplan, validate_directory)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What `reloadxml` did: `reply` is the API answer (`+OK [Success]` / `-ERR file:line: reason`)."""

    ok: bool
    reply: str
    errors: tuple[ConfigError, ...] = ()
    warnings: tuple[ConfigWarning, ...] = ()
    diff_text: str = ""
    swapped: bool = False
    config: XmlConfig | None = field(default=None, repr=False)


class ConfigHolder:
    """Owns the current tree; `reload()` is all-or-nothing."""

    def __init__(
        self,
        conf_dir: Path,
        base_vars: Mapping[str, str],
        entry: str = "freeswitch.xml",
        validators: Iterable[Validator] | None = None,
    ) -> None:
        """`validators` default to `standard_validators()`; pass () for none."""
        self.conf_dir = conf_dir
        self.base_vars = dict(base_vars)
        self.entry = entry
        self._validators: list[Validator] = list(standard_validators() if validators is None else validators)
        self._current: XmlConfig | None = None

    @property
    def current(self) -> XmlConfig:
        """The tree in force; `load_initial()` or a successful `reload()` sets it."""
        if self._current is None:
            raise ConfigError("configuration not loaded yet")
        return self._current

    def add_validator(self, validator: Validator) -> None:
        """Register a check run on every candidate tree (dialplan regexes, module params...).

        A validator yields ConfigError (refuses the tree) or ConfigWarning (reported).
        """
        if validator in self._validators:
            raise ValueError("validator already registered")
        self._validators.append(validator)

    def remove_validator(self, validator: Validator) -> None:
        self._validators.remove(validator)

    def load_initial(self) -> ReloadResult:
        """First load at boot: like `reload()`, but there is no old tree to keep."""
        return self.reload()

    def check(self) -> ReloadResult:
        """Build and validate a candidate tree without swapping (`reloadxml --dry-run`)."""
        return self.reload(dry_run=True)

    def reload(self, dry_run: bool = False) -> ReloadResult:
        """Build a complete new tree; swap it in only if it loads and validates."""
        try:
            candidate = XmlConfig.load(self.conf_dir, self.base_vars, self.entry)
        except ConfigError as exc:
            return ReloadResult(False, f"-ERR {exc}", errors=(exc,))
        errors: list[ConfigError] = []
        warnings: list[ConfigWarning] = list(candidate.warnings)
        for validator in self._validators:
            try:
                problems = list(validator(candidate))
            except Exception as exc:  # noqa: BLE001 - a broken check must not swap in an unchecked tree
                name = getattr(validator, "__qualname__", repr(validator))
                problems = [ConfigError(f"validator {name} failed: {exc!r}")]
            for problem in problems:
                if isinstance(problem, ConfigError):
                    errors.append(problem)
                else:
                    warnings.append(problem)
        if errors:
            return ReloadResult(False, f"-ERR {errors[0]}", tuple(errors), tuple(warnings), config=candidate)
        diff_text = diff_configs(self._current, candidate).format() if self._current else ""
        if dry_run:
            return ReloadResult(True, "+OK [dry run]", (), tuple(warnings), diff_text, False, candidate)
        self._current = candidate
        return ReloadResult(True, "+OK [Success]", (), tuple(warnings), diff_text, True, candidate)
