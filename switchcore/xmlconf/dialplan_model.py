"""The XML dialplan compiled once per loaded tree: regexes, time specs and a hunt index.

`compile_dialplan(config)` turns every `<context>` into a tuple of `Extension`s
(conditions, actions, precompiled regexes, parsed time attributes) and collects
every problem as a located ConfigError, so a reload can refuse a tree with a bad
regex (`validate_dialplan`).  The result is cached on the tree.

The hunt index keeps hunting fast on large plans.  An extension whose first
condition is a plain `field`/`expression` test on a caller-profile field (no
`${}`, no time attributes, break on-false or always, no anti-actions) cannot do
anything when that test fails, so consecutive such extensions on the same field
are grouped into `Run`s: exact literals (`^1000$`, `^(1000)$`) go into a dict,
other regexes into one alternation per run whose first matching branch is the
first extension (in order) that can match.  Skipping the rest is exactly what
FreeSWITCH's sequential hunt would do with them.

Regexes are PCRE in FreeSWITCH; they are converted to Python's dialect:
`(?<name>` -> `(?P<name>`, `\\z` -> `\\Z`, the `/regex/flags` form (i, s) and the
Asterisk `_NXXZ.` form (switch_regex.c `switch_ast2regex`) are understood.
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lxml import etree

from ..errors import ConfigError
from .location import where
from .timecheck import TIME_ATTRIBUTES, TimeSpec, parse_time_spec

if TYPE_CHECKING:
    from .tree import XmlConfig

BREAKS = ("on-false", "on-true", "always", "never")
REGEX_MODES = ("all", "any", "xor")
CONDITION_ATTRIBUTES = frozenset(
    {"field", "expression", "break", "regex", "require-nested", *TIME_ATTRIBUTES}
)
REGEX_ATTRIBUTES = frozenset({"field", "expression", *TIME_ATTRIBUTES})
ACTION_ATTRIBUTES = frozenset({"application", "data", "inline", "loop"})
CONDITION_CHILDREN = ("action", "anti-action", "regex", "condition", "expression")
INLINE_APPS = frozenset({"set", "unset", "export", "multiset", "log", "eval"})
RUN_SIZE = 64

_TRUE = frozenset({"yes", "on", "true", "t", "enabled", "active", "allow"})
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")
_LITERAL = re.compile(r"\^(\()?((?:[^\\.^$*+?{}\[\]|()]|\\[^A-Za-z0-9])*)(\))?\$")
_CAPTURE_REF = re.compile(r"\$(?:\{\d+\}|\d)")
_BACKREF = re.compile(r"\\[1-9]|\(\?P=")


def switch_true(text: str | None) -> bool:
    """FreeSWITCH's `switch_true`: yes/on/true/t/enabled/active/allow or a non-zero number."""
    if not text:
        return False
    word = text.strip().lower()
    if word in _TRUE:
        return True
    try:
        return int(word) != 0
    except ValueError:
        return False


def ast2regex(pattern: str) -> str:
    """switch_ast2regex: N=[2-9], X=[0-9], Z=[1-9], '.'=.*, anchored."""
    table = {"N": "[2-9]", "X": "[0-9]", "Z": "[1-9]", ".": ".*"}
    return "^" + "".join(table.get(ch, ch) for ch in pattern) + "$"


def to_python_regex(expression: str) -> tuple[str, int]:
    """(Python source, flags) for a FreeSWITCH (PCRE) expression."""
    flags = 0
    if expression.startswith("_") and len(expression) > 1:
        expression = ast2regex(expression[1:])
    elif expression.startswith("/"):
        body, slash, options = expression[1:].rpartition("/")
        if not slash:
            raise re.error("missing ending '/' delimiter")
        expression = body
        if "i" in options:
            flags |= re.IGNORECASE
        if "s" in options:
            flags |= re.DOTALL
    expression = _NAMED_GROUP.sub("(?P<", expression)
    expression = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", expression)
    return expression, flags


@lru_cache(maxsize=16384)
def compile_expression(expression: str) -> re.Pattern[str]:
    source, flags = to_python_regex(expression)
    return re.compile(source, flags)


@dataclass(frozen=True, slots=True)
class Action:
    app: str
    data: str
    inline: bool = False
    loop: int = 1
    file: str = ""
    line: int = 0
    subst: bool = False  # `data` holds $n or ${n}


@dataclass(frozen=True, slots=True)
class Matcher:
    """A field/expression test (a `<condition>` or one `<regex>` child)."""

    field: str | None
    key: str | None  # lower-case caller-profile field name when `field` has no '$'
    expression: str
    pattern: re.Pattern[str] | None  # None: the expression has ${} (compiled per hunt) or is bad
    dynamic: bool  # the expression has ${}
    time: TimeSpec | None
    error: str = ""
    paren: bool = False  # FreeSWITCH substitutes captures only when the expression has '('


@dataclass(frozen=True, slots=True)
class Condition:
    matcher: Matcher
    brk: str = "on-false"
    mode: str | None = None
    regexes: tuple[Matcher, ...] = ()
    actions: tuple[Action, ...] = ()
    anti_actions: tuple[Action, ...] = ()
    nested: tuple[Condition, ...] = ()
    require_nested: bool = True
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class Gate:
    """The first condition's test when failing it means the extension does nothing.

    `literal`: the whole expression is an exact string (`^1000$`, `^(1000)$`);
    `prefix`: every match starts with this string (`^(10[01][0-9])$` -> "10");
    `anchored`: it can only match at the start of the value.
    """

    key: str
    pattern: re.Pattern[str]
    literal: str | None
    combinable: bool
    source: str
    prefix: str = ""
    anchored: bool = False


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    cont: bool
    conditions: tuple[Condition, ...]
    gate: Gate | None = None
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class Run:
    """Consecutive gated extensions on one field, indexed three ways.

    `table`: exact literal -> positions in `members`; `prefixes`: literal prefix ->
    positions (their regex still decides); `free`: positions of the rest, tried
    through `combined`, one alternation whose branch i is `free[i]`.
    """

    key: str
    members: list[int]
    table: dict[str, list[int]] = field(default_factory=dict)
    prefixes: dict[str, list[int]] = field(default_factory=dict)
    longest_prefix: int = 0
    free: list[int] = field(default_factory=list)
    combined: re.Pattern[str] | None = None


@dataclass(slots=True)
class Context:
    name: str
    extensions: tuple[Extension, ...]
    segments: list[int | Run] = field(default_factory=list)
    by_name: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class CompiledDialplan:
    contexts: dict[str, Context]
    errors: list[ConfigError]


def compile_dialplan(config: XmlConfig) -> CompiledDialplan:
    """The compiled dialplan of `config` (built once per tree, then cached)."""
    return config.derived("switchcore.dialplan_xml", _compile)


def validate_dialplan(config: XmlConfig) -> list[ConfigError]:
    """Every dialplan problem (bad regex, bad time value, typo'd attribute...) with file:line."""
    return list(compile_dialplan(config).errors)


# -- compiling --------------------------------------------------------------------


class _Compiler:
    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def error(self, element: etree._Element, reason: str) -> None:
        file, line = where(element)
        self.errors.append(ConfigError(reason, file, line))

    def check_attributes(self, element: etree._Element, allowed: frozenset[str]) -> None:
        for name in element.attrib:
            if name not in allowed and not name.startswith("{"):
                close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                self.error(element, f'unknown attribute "{name}" on <{element.tag}>{hint}')

    def check_children(self, element: etree._Element, allowed: Iterable[str]) -> None:
        known = tuple(allowed)
        for child in element.iterchildren(tag=etree.Element):
            if child.tag not in known:
                close = difflib.get_close_matches(str(child.tag), known, n=1, cutoff=0.6)
                hint = f" (did you mean <{close[0]}>?)" if close else ""
                self.error(child, f"unknown element <{child.tag}> in <{element.tag}>{hint}")

    def context(self, element: etree._Element) -> Context:
        self.check_children(element, ("extension",))
        extensions = tuple(self.extension(e) for e in element.iterchildren("extension"))
        context = Context(element.get("name", ""), extensions)
        for index, ext in enumerate(extensions):
            context.by_name.setdefault(ext.name, index)
        context.segments = build_segments(extensions)
        return context

    def extension(self, element: etree._Element) -> Extension:
        self.check_children(element, ("condition",))
        conditions = tuple(self.condition(c) for c in element.iterchildren("condition"))
        file, line = where(element)
        name = element.get("name") or "_anon_"
        return Extension(
            name, switch_true(element.get("continue")), conditions, _gate(conditions), file, line
        )

    def matcher(self, element: etree._Element) -> Matcher:
        fld = element.get("field")
        expr_el = element.find("expression")
        expression = (expr_el.text or "") if expr_el is not None else element.get("expression", "")
        try:
            time = parse_time_spec(element.attrib)
        except ValueError as exc:
            self.error(element, str(exc))
            time = None
        dynamic = "${" in expression
        pattern: re.Pattern[str] | None = None
        error = ""
        if fld is not None and not dynamic:
            try:
                pattern = compile_expression(expression)
            except re.error as exc:
                error = f"bad regular expression /{expression}/ for field {fld}: {exc}"
                self.error(element, error)
        key = fld.lower() if fld is not None and "$" not in fld else None
        return Matcher(fld, key, expression, pattern, dynamic, time, error, "(" in expression)

    def actions(self, element: etree._Element, tag: str) -> tuple[Action, ...]:
        out: list[Action] = []
        for item in element.iterchildren(tag):
            self.check_attributes(item, ACTION_ATTRIBUTES)
            app = item.get("application", "")
            if not app:
                self.error(item, f"<{tag}> without an application")
            text = item.text
            data = text if text and text.strip() else item.get("data", "")
            inline = switch_true(item.get("inline"))
            if inline and app and app not in INLINE_APPS:
                self.error(
                    item,
                    f'application "{app}" cannot run inline (inline="true" works with: '
                    f"{', '.join(sorted(INLINE_APPS))})",
                )
            loop = 1
            if item.get("loop") is not None:
                try:
                    loop = int(item.get("loop", "1"))
                except ValueError:
                    self.error(item, f'loop="{item.get("loop")}" is not a number')
            file, line = where(item)
            out.append(Action(app, data, inline, loop, file, line, _CAPTURE_REF.search(data) is not None))
        return tuple(out)

    def condition(self, element: etree._Element) -> Condition:
        self.check_attributes(element, CONDITION_ATTRIBUTES)
        self.check_children(element, CONDITION_CHILDREN)
        brk = (element.get("break") or "on-false").lower()
        if brk not in BREAKS:
            close = difflib.get_close_matches(brk, BREAKS, n=1, cutoff=0.5)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            self.error(element, f'break="{element.get("break")}" is not one of {", ".join(BREAKS)}{hint}')
            brk = "on-false"
        mode = element.get("regex")
        regexes: tuple[Matcher, ...] = ()
        if mode is not None:
            mode = mode.lower()
            if mode not in REGEX_MODES:
                self.error(element, f'regex="{element.get("regex")}" is not one of all, any, xor')
                mode = "any"
            for child in element.iterchildren("regex"):
                self.check_attributes(child, REGEX_ATTRIBUTES)
            regexes = tuple(self.matcher(child) for child in element.iterchildren("regex"))
        elif element.find("regex") is not None:
            self.error(element, '<regex> children need regex="all|any|xor" on their <condition>')
        file, line = where(element)
        return Condition(
            self.matcher(element),
            brk,
            mode,
            regexes,
            self.actions(element, "action"),
            self.actions(element, "anti-action"),
            tuple(self.condition(c) for c in element.iterchildren("condition")),
            switch_true(element.get("require-nested", "true")),
            file,
            line,
        )


def _compile(config: XmlConfig) -> CompiledDialplan:
    compiler = _Compiler()
    contexts = {name: compiler.context(element) for name, element in config.dialplan_contexts().items()}
    return CompiledDialplan(contexts, compiler.errors)


# -- the hunt index ---------------------------------------------------------------

_sre: Any = importlib.import_module("re._parser")
_sre_c: Any = importlib.import_module("re._constants")


def _literal(source: str, flags: int) -> str | None:
    if flags:
        return None
    match = _LITERAL.fullmatch(source)
    if match is None or bool(match.group(1)) != bool(match.group(3)):
        return None
    return re.sub(r"\\(.)", r"\1", match.group(2))


@lru_cache(maxsize=16384)
def _shape(source: str, flags: int) -> tuple[bool, str]:
    """(anchored at the start, literal prefix every match starts with)."""
    try:
        ops = list(_sre.parse(source, flags))
    except Exception:  # noqa: BLE001 - an internal parser; any surprise means "unknown shape"
        return False, ""
    starts = (_sre_c.AT_BEGINNING, _sre_c.AT_BEGINNING_STRING)
    if ops and ops[0][0] is _sre_c.BRANCH:
        branches = ops[0][1][1]
        anchored = all(b and b[0][0] is _sre_c.AT and b[0][1] in starts for b in branches)
        return anchored, ""
    if not ops or ops[0][0] is not _sre_c.AT or ops[0][1] not in starts:
        return False, ""
    prefix: list[str] = []
    if not flags & re.IGNORECASE:
        _collect_prefix(ops[1:], prefix)
    return True, "".join(prefix)


def _collect_prefix(ops: list[Any], out: list[str]) -> bool:
    """Append leading literal characters; False once something else is met."""
    for op, arg in ops:
        if op is _sre_c.LITERAL:
            out.append(chr(arg))
        elif op is _sre_c.SUBPATTERN and not arg[1] and not arg[2]:
            if not _collect_prefix(list(arg[3]), out):
                return False
        elif op is _sre_c.BRANCH:
            # The longest prefix every alternative shares.
            heads = []
            for branch in arg[1]:
                head: list[str] = []
                _collect_prefix(list(branch), head)
                heads.append("".join(head))
            out.append(os.path.commonprefix(heads))
            return False
        else:
            return False
    return True


def _gate(conditions: tuple[Condition, ...]) -> Gate | None:
    if not conditions:
        return None
    first = conditions[0]
    m = first.matcher
    if (
        first.mode is not None
        or first.anti_actions
        or first.brk not in ("on-false", "always")
        or m.key is None
        or m.pattern is None
        or m.time is not None
    ):
        return None
    source, flags = to_python_regex(m.expression)
    combinable = flags == 0 and not m.pattern.groupindex and not _BACKREF.search(source)
    # (?m) makes ^ match after any newline: neither anchored nor prefixed then.
    anchored, prefix = (False, "") if m.pattern.flags & re.MULTILINE else _shape(source, flags)
    return Gate(m.key, m.pattern, _literal(source, flags), combinable, source, prefix, anchored)


def _combine(gates: list[Gate]) -> re.Pattern[str] | None:
    # re.match on the alternation: an anchored branch needs no prefix; others must search.
    branches = (f"(?:{g.source})" if g.anchored else f"(?s:.*?)(?:{g.source})" for g in gates)
    try:
        return re.compile("|".join(f"(?P<_g{i}>{b})" for i, b in enumerate(branches)))
    except re.error:
        return None


def _indexable(gate: Gate | None) -> bool:
    return gate is not None and (gate.literal is not None or bool(gate.prefix) or gate.combinable)


def build_segments(extensions: tuple[Extension, ...]) -> list[int | Run]:
    """Group consecutive gated extensions on one field into Runs (at most RUN_SIZE free ones each)."""
    segments: list[int | Run] = []
    current: Run | None = None
    for index, ext in enumerate(extensions):
        gate = ext.gate
        if gate is None or not _indexable(gate):
            current = None
            segments.append(index)
            continue
        is_free = gate.literal is None and not gate.prefix
        if current is None or current.key != gate.key or (is_free and len(current.free) >= RUN_SIZE):
            current = Run(gate.key, [])
            segments.append(current)
        pos = len(current.members)
        current.members.append(index)
        if gate.literal is not None:
            current.table.setdefault(gate.literal, []).append(pos)
        elif gate.prefix:
            current.prefixes.setdefault(gate.prefix, []).append(pos)
            current.longest_prefix = max(current.longest_prefix, len(gate.prefix))
        else:
            current.free.append(pos)
    out: list[int | Run] = []
    for segment in segments:
        if isinstance(segment, Run):
            if len(segment.members) == 1:
                out.append(segment.members[0])
                continue
            if segment.free:
                segment.combined = _combine([_gate_of(extensions, segment, p) for p in segment.free])
                if segment.combined is None:
                    out.extend(segment.members)
                    continue
        out.append(segment)
    return out


def _gate_of(extensions: tuple[Extension, ...], run: Run, pos: int) -> Gate:
    gate = extensions[run.members[pos]].gate
    assert gate is not None
    return gate


def candidates(run: Run, value: str) -> list[int]:
    """Positions (in `run.members`) of literal and prefix gates that may match `value`, sorted."""
    found = list(run.table.get(value, ()))
    if value.endswith("\n"):  # Python's and PCRE's `$` also match before a final newline
        found += run.table.get(value[:-1], ())
    if run.prefixes:
        for size in range(1, min(len(value), run.longest_prefix) + 1):
            found += run.prefixes.get(value[:size], ())
    if len(found) > 1:
        found.sort()
    return found


def next_member(
    run: Run, extensions: tuple[Extension, ...], value: str, found: list[int], start: int
) -> int | None:
    """Position of the first member at or after `start` whose gate matches `value`."""
    best: int | None = None
    for pos in found:
        if pos >= start and _gate_of(extensions, run, pos).pattern.search(value):
            best = pos
            break
    free = run.free
    if not free or (best is not None and free[0] > best):
        return best
    if start <= free[0] and run.combined is not None:
        match = run.combined.match(value)
        if match is not None and match.lastgroup is not None:
            pos = free[int(match.lastgroup[2:])]
            return pos if best is None else min(pos, best)
        return best
    for pos in free:
        if pos < start:
            continue
        if best is not None and pos > best:
            break
        if _gate_of(extensions, run, pos).pattern.search(value):
            return pos
    return best
