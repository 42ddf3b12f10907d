"""A human-readable diff between two loaded trees (what a reload would change).

Compared objects: global (`set`) variables, `<configuration>`s (down to the
element that changed, e.g. `profiles/profile[internal]/settings/param[sip-port]`),
dialplan contexts and their extensions (by name, and their order, since the hunt
runs in order), directory domains and users (merged params and variables).
Values whose path mentions a password or secret are not printed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from .. import directory as _directory  # a module reference: directory imports xmlconf too
from .location import XML_BASE

if TYPE_CHECKING:
    from ..directory import User
    from .tree import XmlConfig

_SENSITIVE = ("pass", "secret", "a1-hash", "token", "key")
_MAX_DETAILS = 12


@dataclass(frozen=True, slots=True)
class DiffEntry:
    """One change: `op` is "+" (added), "-" (removed) or "~" (changed)."""

    op: str
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.op} {self.kind} {self.name}"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    entries: tuple[DiffEntry, ...]

    def __bool__(self) -> bool:
        return bool(self.entries)

    def of_kind(self, kind: str) -> list[DiffEntry]:
        return [e for e in self.entries if e.kind == kind]

    def format(self) -> str:
        return "\n".join(str(e) for e in self.entries) if self.entries else "no changes"


def diff_configs(old: XmlConfig | None, new: XmlConfig) -> ConfigDiff:
    """What changes when `new` replaces `old` (everything is "added" when `old` is None)."""
    entries: list[DiffEntry] = []
    old_vars: Mapping[str, str] = old.global_vars if old else {}
    entries += _diff_values("variable", old_vars, new.global_vars)
    entries += _diff_configurations(old, new)
    entries += _diff_dialplan(old, new)
    entries += _diff_directory(old, new)
    return ConfigDiff(tuple(entries))


def _sensitive(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _SENSITIVE)


def _show(name: str, value: str) -> str:
    return "(hidden)" if _sensitive(name) else f'"{value}"'


def _diff_values(
    kind: str, old: Mapping[str, str], new: Mapping[str, str], prefix: str = ""
) -> list[DiffEntry]:
    out: list[DiffEntry] = []
    for name in new:
        if name not in old:
            out.append(DiffEntry("+", kind, prefix + name, _show(name, new[name])))
        elif old[name] != new[name]:
            out.append(
                DiffEntry("~", kind, prefix + name, f"{_show(name, old[name])} -> {_show(name, new[name])}")
            )
    out += [DiffEntry("-", kind, prefix + name) for name in old if name not in new]
    return out


# -- configurations -----------------------------------------------------------


def _describe(element: etree._Element) -> str:
    attrs = [f'{k}="{v}"' for k, v in element.attrib.items() if k not in ("name", "id", XML_BASE)]
    text = (element.text or "").strip()
    if text:
        attrs.append(f'text="{text}"')
    return " ".join(attrs)


def flatten(element: etree._Element) -> dict[str, str]:
    """Every descendant as `path -> attributes`, path segments `tag[name]` (`#n` for repeats)."""
    out: dict[str, str] = {}

    def walk(node: etree._Element, path: str) -> None:
        counts: dict[str, int] = {}
        for child in node.iterchildren(tag=etree.Element):
            key = child.get("name") or child.get("id")
            segment = f"{child.tag}[{key}]" if key else str(child.tag)
            counts[segment] = counts.get(segment, 0) + 1
            if counts[segment] > 1:
                segment = f"{segment}#{counts[segment]}"
            child_path = f"{path}/{segment}" if path else segment
            out[child_path] = _describe(child)
            walk(child, child_path)

    walk(element, "")
    return out


def _diff_configurations(old: XmlConfig | None, new: XmlConfig) -> list[DiffEntry]:
    before = old.configurations() if old else {}
    after = new.configurations()
    out: list[DiffEntry] = []
    for name, element in after.items():
        if name not in before:
            out.append(DiffEntry("+", "configuration", name))
            continue
        details = _element_changes(before[name], element)
        if details:
            shown = details[:_MAX_DETAILS]
            if len(details) > _MAX_DETAILS:
                shown.append(f"... and {len(details) - _MAX_DETAILS} more")
            out.append(DiffEntry("~", "configuration", name, "; ".join(shown)))
    out += [DiffEntry("-", "configuration", name) for name in before if name not in after]
    return out


def _element_changes(old: etree._Element, new: etree._Element) -> list[str]:
    a, b = flatten(old), flatten(new)
    changes: list[str] = []
    for path, value in b.items():
        if path not in a:
            changes.append(f"+{path}" + ("" if _sensitive(path) or not value else f" {value}"))
        elif a[path] != value:
            changes.append(f"{path}: (hidden)" if _sensitive(path) else f"{path}: {a[path]} -> {value}")
    changes += [f"-{path}" for path in a if path not in b]
    return changes


# -- dialplan -------------------------------------------------------------------


def _canonical(element: etree._Element) -> tuple[object, ...]:
    attrs = tuple(sorted((k, v) for k, v in element.attrib.items() if k != XML_BASE))
    children = tuple(_canonical(c) for c in element.iterchildren(tag=etree.Element))
    return (element.tag, attrs, (element.text or "").strip(), children)


def _named(elements: Iterable[etree._Element]) -> dict[str, etree._Element]:
    named: dict[str, etree._Element] = {}
    for element in elements:
        base = element.get("name") or "_anon_"
        key, n = base, 1
        while key in named:
            n += 1
            key = f"{base}#{n}"
        named[key] = element
    return named


def _diff_dialplan(old: XmlConfig | None, new: XmlConfig) -> list[DiffEntry]:
    before = old.dialplan_contexts() if old else {}
    after = new.dialplan_contexts()
    out: list[DiffEntry] = []
    for ctx_name, ctx in after.items():
        if ctx_name not in before:
            out.append(DiffEntry("+", "context", ctx_name))
            continue
        old_exts = _named(before[ctx_name].iterchildren("extension"))
        new_exts = _named(ctx.iterchildren("extension"))
        for name, ext in new_exts.items():
            if name not in old_exts:
                out.append(DiffEntry("+", "extension", f"{ctx_name}/{name}"))
            elif _canonical(old_exts[name]) != _canonical(ext):
                out.append(DiffEntry("~", "extension", f"{ctx_name}/{name}"))
        out += [DiffEntry("-", "extension", f"{ctx_name}/{n}") for n in old_exts if n not in new_exts]
        kept_old = [n for n in old_exts if n in new_exts]
        kept_new = [n for n in new_exts if n in old_exts]
        if kept_old != kept_new:
            out.append(DiffEntry("~", "context", ctx_name, "extension order changed"))
    out += [DiffEntry("-", "context", name) for name in before if name not in after]
    return out


# -- directory ------------------------------------------------------------------


def _user_view(user: User) -> dict[str, str]:
    view = {f"param {k}": v for k, v in user.params.items()}
    view.update({f"variable {k}": v for k, v in user.variables.items()})
    view.update({f"attribute {k}": v for k, v in user.attributes.items() if k != XML_BASE})
    view["groups"] = ",".join(user.groups)
    return view


def _diff_directory(old: XmlConfig | None, new: XmlConfig) -> list[DiffEntry]:
    new_dir = _directory.Directory(new)
    old_dir = _directory.Directory(old) if old else None
    old_domains = {d.name: d for d in old_dir.domains()} if old_dir else {}
    out: list[DiffEntry] = []
    for domain in new_dir.domains():
        previous = old_domains.get(domain.name)
        if previous is None:
            out.append(DiffEntry("+", "domain", domain.name))
        else:
            details = [str(e) for e in _diff_values("param", previous.params, domain.params)]
            details += [str(e) for e in _diff_values("variable", previous.variables, domain.variables)]
            if previous.aliases != domain.aliases:
                details.append(f"aliases {','.join(previous.aliases)} -> {','.join(domain.aliases)}")
            if details:
                out.append(DiffEntry("~", "domain", domain.name, "; ".join(details)))
        old_users = {u.id: u for u in old_dir.users(domain.name)} if old_dir and previous else {}
        new_users = {u.id: u for u in new_dir.users(domain.name)}
        for uid, user in new_users.items():
            if uid not in old_users:
                out.append(DiffEntry("+", "user", f"{uid}@{domain.name}"))
                continue
            changes = _diff_values("", _user_view(old_users[uid]), _user_view(user))
            if changes:
                detail = "; ".join(f"{c.op}{c.name}" + (f" {c.detail}" if c.detail else "") for c in changes)
                out.append(DiffEntry("~", "user", f"{uid}@{domain.name}", detail))
        out += [DiffEntry("-", "user", f"{uid}@{domain.name}") for uid in old_users if uid not in new_users]
    new_names = {d.name for d in new_dir.domains()}
    out += [DiffEntry("-", "domain", name) for name in old_domains if name not in new_names]
    return out
