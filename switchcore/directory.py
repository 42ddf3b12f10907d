"""The user directory: domains, groups and users from the XML `directory` section.

Layout (FreeSWITCH conf/vanilla/directory):

    <domain name="$${domain}">
      <params><param name="dial-string" value="..."/></params>
      <variables><variable name="user_context" value="default"/></variables>
      <groups><group name="default"><users>
        <user id="1000"><params>...</params><variables>...</variables></user>
      </users></group>
      <group name="sales"><users><user id="1000" type="pointer"/></users></group></groups>
    </domain>

A user is found as FreeSWITCH's `switch_xml_locate_user` finds it: by `id` or
`number-alias`, ignoring `type="pointer"` entries, first among `<user>` children
of the domain, then `<domain><users>`, then each group's `<users>`.  Its params
and variables are merged as `switch_xml_merge_user` does: the user's own win,
then the group holding its entry, then the domain (names compared without case).
`group_members` resolves pointers to the real users.

Extension: a domain may list other names it answers to,
`<domain name="example.com"><aliases><alias name="pbx.example.com"/></aliases>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from lxml import etree

from .errors import ConfigError, UsageError
from .xmlconf.location import ConfigWarning, where

if TYPE_CHECKING:
    from .xmlconf.tree import XmlConfig

USER_DATA_SYNTAX = "user_data <user>@<domain> [var|param|attr] <name>"
USER_EXISTS_SYNTAX = "user_exists <key> <user> <domain>"


def _frozen(values: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(values)


def _get_nocase(values: Mapping[str, str], name: str) -> str | None:
    if name in values:
        return values[name]
    lowered = name.lower()
    for key, value in values.items():
        if key.lower() == lowered:
            return value
    return None


@dataclass(frozen=True, slots=True)
class User:
    """One directory user with params and variables merged from its group and domain."""

    id: str
    domain: str
    params: Mapping[str, str]
    variables: Mapping[str, str]
    groups: tuple[str, ...] = ()
    group: str | None = None
    attributes: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    profile_variables: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    file: str = ""
    line: int = 0

    def param(self, name: str) -> str | None:
        """A merged param, name compared without case (`password`, `a1-hash`, `dial-string`)."""
        return _get_nocase(self.params, name)

    def variable(self, name: str) -> str | None:
        """A merged variable, name compared without case (`user_context`, `callgroup`)."""
        return _get_nocase(self.variables, name)

    @property
    def password(self) -> str | None:
        return self.param("password")

    @property
    def a1_hash(self) -> str | None:
        return self.param("a1-hash")

    @property
    def vm_password(self) -> str | None:
        return self.param("vm-password")

    @property
    def dial_string(self) -> str | None:
        return self.param("dial-string")

    @property
    def context(self) -> str:
        """The dialplan context for calls from this user (`user_context`, default "default")."""
        return self.variable("user_context") or "default"

    @property
    def number_alias(self) -> str | None:
        return self.attributes.get("number-alias")


@dataclass(frozen=True, slots=True)
class Domain:
    """A directory domain: its own params/variables and each group's member ids."""

    name: str
    params: Mapping[str, str]
    variables: Mapping[str, str]
    aliases: tuple[str, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class _Index:
    domains: list[Domain]
    by_name: dict[str, Domain]
    users: dict[str, list[User]]
    by_user: dict[str, dict[str, User]]
    problems: list[ConfigError | ConfigWarning]


class Directory:
    """Lookups over a loaded tree's directory section (built once per tree, then cached)."""

    __slots__ = ("_config", "_index")

    def __init__(self, config: XmlConfig) -> None:
        self._config = config
        self._index: _Index = config.derived("switchcore.directory", _build)

    @classmethod
    def of(cls, config: XmlConfig) -> Directory:
        return cls(config)

    def domains(self) -> list[Domain]:
        return list(self._index.domains)

    def domain(self, name: str) -> Domain | None:
        """The domain called `name` or listing it as an alias (without case)."""
        return self._index.by_name.get(name.lower())

    def users(self, domain: str) -> list[User]:
        found = self.domain(domain)
        return list(self._index.users.get(found.name.lower(), ())) if found else []

    def user(self, user: str, domain: str) -> User | None:
        """The user whose `id` or `number-alias` is `user` in `domain` (or one of its aliases)."""
        found = self.domain(domain)
        if found is None:
            return None
        return self._index.by_user[found.name.lower()].get(user.lower())

    def lookup(self, user_at_domain: str) -> User | None:
        """`user@domain` (a `sip:` prefix is ignored); without a domain the global `domain`."""
        text = user_at_domain.removeprefix("sip:").removeprefix("sips:")
        user, _, domain = text.partition("@")
        return self.user(user, domain or self._config.global_vars.get("domain", ""))

    def group_members(self, group: str, domain: str) -> list[User]:
        """The users of `group` in file order, pointers resolved to the real users."""
        found = self.domain(domain)
        if found is None:
            return []
        members = found.groups.get(group, ())
        by_user = self._index.by_user[found.name.lower()]
        return [by_user[m.lower()] for m in members if m.lower() in by_user]

    def user_exists(self, key: str, user: str, domain: str) -> bool:
        """FreeSWITCH's `user_exists <key> <user> <domain>`: key "id" also matches number-alias."""
        if key == "id":
            return self.user(user, domain) is not None
        return any(u.attributes.get(key) == user for u in self.users(domain))

    def user_data(self, args: str) -> str:
        """FreeSWITCH's `user_data <user>@<domain> [var|param|attr] <name>`; "" when absent."""
        parts = args.split()
        if len(parts) < 3:
            raise UsageError(USER_DATA_SYNTAX)
        who, kind, name = parts[0], parts[1], parts[2]
        found = self.lookup(who)
        if found is None:
            return ""
        if kind == "attr":
            return found.attributes.get(name, "")
        if kind == "param":
            return found.param(name) or ""
        if kind == "var":
            return found.variable(name) or ""
        return ""

    def problems(self) -> list[ConfigError | ConfigWarning]:
        """What building the directory found wrong (see `validate_directory`)."""
        return list(self._index.problems)


def validate_directory(config: XmlConfig) -> list[ConfigError | ConfigWarning]:
    """Errors (user or domain without a name) and warnings (dangling pointer, duplicate user)."""
    return Directory(config).problems()


# -- building ------------------------------------------------------------------


def _pairs(container: etree._Element | None, tag: str) -> dict[str, str]:
    values: dict[str, str] = {}
    if container is not None:
        for item in container.iterchildren(tag):
            name = item.get("name")
            if name:
                values[name] = item.get("value", "")
    return values


def _merge(*layers: Mapping[str, str]) -> dict[str, str]:
    """First layer wins; names compared without case (switch_xml.c `do_merge`)."""
    merged: dict[str, str] = {}
    seen: set[str] = set()
    for layer in layers:
        for name, value in layer.items():
            if name.lower() not in seen:
                seen.add(name.lower())
                merged[name] = value
    return merged


def _user_elements(domain: etree._Element) -> Iterable[tuple[etree._Element, etree._Element | None]]:
    """(user element, group holding it) in FreeSWITCH's search order."""
    for user in domain.iterchildren("user"):
        yield user, None
    for users in domain.iterchildren("users"):
        for user in users.iterchildren("user"):
            yield user, None
    for groups in domain.iterchildren("groups"):
        for group in groups.iterchildren("group"):
            for users in group.iterchildren("users"):
                for user in users.iterchildren("user"):
                    yield user, group


def _build(config: XmlConfig) -> _Index:
    index = _Index([], {}, {}, {}, [])
    for element in config.directory_domains():
        name = element.get("name", "")
        if not name:
            file, line = where(element)
            index.problems.append(ConfigError("<domain> without a name", file, line))
            continue
        _build_domain(index, element, name)
    return index


def _build_domain(index: _Index, element: etree._Element, name: str) -> None:
    problems = index.problems
    params = _pairs(element.find("params"), "param")
    variables = _pairs(element.find("variables"), "variable")
    profile_vars = _pairs(element.find("profile-variables"), "variable")
    aliases = tuple(a.get("name", "") for a in element.iterfind("aliases/alias") if a.get("name"))
    groups: dict[str, list[tuple[str, etree._Element]]] = {}
    user_groups: dict[str, list[str]] = {}
    owned: list[tuple[etree._Element, etree._Element | None]] = []
    for user_el, group_el in _user_elements(element):
        uid = user_el.get("id")
        if not uid:
            file, line = where(user_el)
            problems.append(ConfigError("<user> without an id", file, line))
            continue
        if group_el is not None:
            gname = group_el.get("name", "")
            groups.setdefault(gname, []).append((uid, user_el))
            user_groups.setdefault(uid.lower(), []).append(gname)
        if user_el.get("type") != "pointer":
            owned.append((user_el, group_el))
    users: list[User] = []
    by_user: dict[str, User] = {}
    for user_el, group_el in owned:
        uid = user_el.get("id", "")
        group_params = _pairs(group_el.find("params"), "param") if group_el is not None else {}
        group_vars = _pairs(group_el.find("variables"), "variable") if group_el is not None else {}
        file, line = where(user_el)
        user = User(
            id=uid,
            domain=name,
            params=_frozen(_merge(_pairs(user_el.find("params"), "param"), group_params, params)),
            variables=_frozen(_merge(_pairs(user_el.find("variables"), "variable"), group_vars, variables)),
            groups=tuple(dict.fromkeys(user_groups.get(uid.lower(), ()))),
            group=group_el.get("name") if group_el is not None else None,
            attributes=_frozen(dict(user_el.attrib)),
            profile_variables=_frozen(
                _merge(_pairs(user_el.find("profile-variables"), "variable"), profile_vars)
            ),
            file=file,
            line=line,
        )
        if uid.lower() in by_user:
            first = by_user[uid.lower()]
            problems.append(
                ConfigWarning(
                    f'user "{uid}" defined again in domain "{name}" (first at {first.file}:{first.line}); '
                    "the first one is used",
                    file,
                    line,
                )
            )
            continue
        users.append(user)
        by_user[uid.lower()] = user
    for user in users:
        alias = user.number_alias
        if alias and alias.lower() not in by_user:
            by_user[alias.lower()] = user
    for gname, members in groups.items():
        for member, member_el in members:
            if member.lower() not in by_user:
                file, line = where(member_el)
                problems.append(
                    ConfigWarning(
                        f'group "{gname}" in domain "{name}" lists unknown user "{member}"', file, line
                    )
                )
    file, line = where(element)
    domain = Domain(
        name=name,
        params=_frozen(params),
        variables=_frozen(variables),
        aliases=aliases,
        groups=MappingProxyType({g: tuple(uid for uid, _ in m) for g, m in groups.items()}),
        file=file,
        line=line,
    )
    if name.lower() in index.by_name:
        problems.append(ConfigWarning(f'domain "{name}" defined twice; the first one is used', file, line))
        return
    index.domains.append(domain)
    index.users[name.lower()] = users
    index.by_user[name.lower()] = by_user
    for key in (name, *aliases):
        index.by_name.setdefault(key.lower(), domain)
