"""The XML dialplan hunt (FreeSWITCH mod_dialplan_xml), sans-I/O.

Theory of operation.  `hunt()` takes the loaded tree, a context name, the caller
profile fields and accessors for channel variables; it returns the application
list the channel will run in CS_EXECUTE and a trace of every decision.  It does
no I/O: variables come through `get_var`/`set_var`, inline `${api()}` calls
through `run_api`, and the clock is the `now` argument.

Semantics (mod_dialplan_xml.c `parse_exten` / `dialplan_hunt`):

* The context's extensions are tried in order; an unknown context falls back to
  `global`.  With the channel variable `auto_hunt=true` the hunt starts at the
  extension named like the destination number.
* Within an extension, conditions are evaluated in order.  A condition passes
  when its `field` (a caller-profile field, or `${var}` expanded) matches its
  PCRE `expression`, when its time attributes match, or always when it has
  neither.  `regex="all|any|xor"` combines `<regex field= expression=/>` children.
* A passing condition appends its `<action>`s, with `$1..$n` (and `${n}`)
  replaced by the captures when the expression has a '(' ; a failing one its
  `<anti-action>`s (no substitution).  Actions are appended as they are met, so an
  earlier condition's actions stay even if a later condition fails.
* `break`: on-false (default) stops the extension's conditions after a failing
  condition, on-true after a passing one, always after any, never continues.
* Nested `<condition>`s run after their parent passes; if they fail the parent
  extension fails unless the parent has `require-nested="false"`.
* An extension that passes (or ran anti-actions) stops the hunt unless it has
  `continue="true"`.
* `inline="true"` runs a variable application (set, unset, export, multiset,
  log, eval) during the hunt, so later conditions see the new value.
* `loop="n"` repeats an action n times.

Deliberate difference: time attributes and a field on the same condition (or
`<regex>`) must both match; FreeSWITCH lets either one through.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from .errors import ConfigError
from .expand import expand
from .xmlconf.dialplan_model import (
    Action,
    Condition,
    Extension,
    Matcher,
    Run,
    candidates,
    compile_dialplan,
    compile_expression,
    next_member,
    switch_true,
    validate_dialplan,
)
from .xmlconf.timecheck import effective_time
from .xmlconf.tree import XmlConfig

__all__ = [
    "CALLER_PROFILE_FIELDS",
    "ActionTrace",
    "ConditionTrace",
    "ExtensionTrace",
    "HuntResult",
    "MatchTrace",
    "dialplan_test",
    "format_trace",
    "hunt",
    "validate_dialplan",
]

GetVar = Callable[[str], "str | None"]
SetVar = Callable[[str, "str | None"], None]
RunApi = Callable[[str, str], Awaitable[str]]

CALLER_PROFILE_FIELDS = (
    "destination_number",
    "caller_id_name",
    "caller_id_number",
    "orig_caller_id_name",
    "orig_caller_id_number",
    "callee_id_name",
    "callee_id_number",
    "ani",
    "aniii",
    "rdnis",
    "network_addr",
    "uuid",
    "source",
    "context",
    "dialplan",
    "username",
    "chan_name",
    "transfer_source",
)

_SUBST = re.compile(r"\$(?:\{(\d+)\}|(\d+))")


# Trace records are NamedTuples: immutable like the dataclasses elsewhere, and
# several times cheaper to build, which matters at tens of thousands of hunts/s.


class MatchTrace(NamedTuple):
    """One field test: `field(value) =~ /expression/`."""

    field: str | None
    value: str
    expression: str
    passed: bool
    captures: tuple[str, ...] = ()
    time: tuple[str, ...] = ()
    error: str = ""


class ActionTrace(NamedTuple):
    app: str
    data: str
    anti: bool = False
    inline: bool = False
    note: str = ""


class ConditionTrace(NamedTuple):
    depth: int
    kind: str  # "regex", "regex-set", "time" or "absolute"
    passed: bool
    brk: str
    match: MatchTrace | None
    mode: str | None = None
    regexes: tuple[MatchTrace, ...] = ()
    actions: tuple[ActionTrace, ...] = ()
    file: str = ""
    line: int = 0


class ExtensionTrace(NamedTuple):
    name: str
    cont: bool
    matched: bool
    conditions: tuple[ConditionTrace, ...]
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class HuntResult:
    """The application list and how it was found.

    `actions` is the app list [(app, data)] for CS_EXECUTE (data keeps `${}` for
    execute-time expansion); `extension` names the extension that added the first
    action; `skipped` counts extensions the index ruled out without evaluating them.
    """

    context: str
    destination: str
    actions: tuple[tuple[str, str], ...]
    extension: str | None
    matched_extensions: tuple[str, ...]
    inline_sets: tuple[tuple[str, str | None], ...]
    trace: tuple[ExtensionTrace, ...]
    skipped: int = 0
    context_found: bool = True


@lru_cache(maxsize=1024)
def _compile_dynamic(expression: str) -> re.Pattern[str]:
    return compile_expression(expression)


def substitute(data: str, match: re.Match[str]) -> str:
    """switch_perform_substitution: `$n` / `${n}` become capture n ("" when unset)."""
    if "$" not in data:
        return data

    def group(m: re.Match[str]) -> str:
        index = int(m.group(1) or m.group(2))
        try:
            return match.group(index) or ""
        except IndexError:
            return ""

    return _SUBST.sub(group, data)


class _Hunt:
    """The mutable state of one hunt."""

    def __init__(
        self,
        fields: Mapping[str, str],
        get_var: GetVar,
        set_var: SetVar | None,
        run_api: RunApi | None,
        now: datetime,
    ) -> None:
        self.fields = {k.lower(): v for k, v in fields.items()}
        self.get_var = get_var
        self.set_var = set_var
        self.run_api = run_api
        self.now = now
        self.overlay: dict[str, str | None] = {}
        self.actions: list[tuple[str, str]] = []
        self.extension: str | None = None
        self.matched: list[str] = []
        self.inline_sets: list[tuple[str, str | None]] = []
        self.trace: list[ExtensionTrace] = []
        self.skipped = 0

    def var(self, name: str) -> str | None:
        """Inline sets first, then the channel, then the caller profile (as switch_channel.c)."""
        if name in self.overlay:
            return self.overlay[name]
        value = self.get_var(name)
        if value is None:
            value = self.fields.get(name.lower())
        return value

    async def expand(self, text: str) -> str:
        if "$" not in text and "\\" not in text:
            return text
        return await expand(text, self.var, self.run_api)

    # -- tests ----------------------------------------------------------------

    def _time(self, matcher: Matcher) -> tuple[bool | None, tuple[str, ...]]:
        if matcher.time is None:
            return None, ()
        ok, notes = matcher.time.check(effective_time(self.now, self.var))
        return ok, tuple(notes)

    async def _field(
        self, matcher: Matcher, time_ok: bool | None, notes: tuple[str, ...]
    ) -> tuple[re.Match[str] | None, bool, MatchTrace]:
        """(match, expression has '(', trace) for a matcher with a field."""
        fld = matcher.field or ""
        value = self.fields.get(matcher.key, "") if matcher.key is not None else await self.expand(fld)
        pattern, expression, error = matcher.pattern, matcher.expression, matcher.error
        if matcher.dynamic:
            expression = await self.expand(matcher.expression)
            try:
                pattern = _compile_dynamic(expression)
            except re.error as exc:
                pattern, error = None, f"bad regular expression /{expression}/: {exc}"
        match = pattern.search(value) if pattern is not None else None
        passed = match is not None and time_ok is not False
        captures = (match.group(0), *match.groups("")) if match is not None else ()
        trace = MatchTrace(fld, value, expression, passed, captures, notes, error)
        return (match if passed else None), "(" in expression, trace

    async def _regex_set(self, cond: Condition) -> tuple[bool, re.Match[str] | None, tuple[MatchTrace, ...]]:
        every, xor = cond.mode == "all", cond.mode == "xor"
        passes = fails = 0
        captured: re.Match[str] | None = None
        traces: list[MatchTrace] = []
        for matcher in cond.regexes:
            time_ok, notes = self._time(matcher)
            if matcher.field is not None:
                match, paren, trace = await self._field(matcher, time_ok, notes)
                ok = trace.passed
                if match is not None and paren:
                    captured = match
            else:
                ok = time_ok is not False
                trace = MatchTrace(None, "", "", ok, (), notes)
            traces.append(trace)
            if ok:
                passes += 1
                if not every and not xor:
                    break
            else:
                fails += 1
                if every and not xor:
                    break
        passed = passes == 1 if xor else (fails == 0 if every else passes > 0)
        return passed, captured, tuple(traces)

    # -- conditions and actions -----------------------------------------------

    async def conditions(
        self,
        conditions: tuple[Condition, ...],
        ext: Extension,
        depth: int,
        require_nested: bool,
        out: list[ConditionTrace],
    ) -> bool:
        proceed = False
        for cond in conditions:
            time_ok, notes = self._time(cond.matcher) if cond.matcher.time is not None else (None, ())
            match: re.Match[str] | None = None
            paren = False
            regexes: tuple[MatchTrace, ...] = ()
            mtrace: MatchTrace | None = None
            matcher = cond.matcher
            if cond.mode is not None:
                passed, match, regexes = await self._regex_set(cond)
                passed = passed and time_ok is not False
                paren, kind = match is not None, "regex-set"
                if notes:
                    mtrace = MatchTrace(None, "", "", time_ok is not False, (), notes)
            elif matcher.key is not None and matcher.pattern is not None:
                # A caller-profile field against a precompiled regex: nothing to await.
                value = self.fields.get(matcher.key, "")
                found = matcher.pattern.search(value)
                passed, kind, paren = found is not None and time_ok is not False, "regex", matcher.paren
                captures = (found.group(0), *found.groups("")) if found is not None else ()
                mtrace = MatchTrace(matcher.field, value, matcher.expression, passed, captures, notes)
                match = found if passed else None
            elif matcher.field is not None:
                match, paren, mtrace = await self._field(matcher, time_ok, notes)
                passed, kind = mtrace.passed, "regex"
            elif time_ok is not None:
                passed, kind = time_ok, "time"
                mtrace = MatchTrace(None, "", "", time_ok, (), notes)
            else:
                passed, kind = True, "absolute"
            proceed = passed
            done: list[ActionTrace] = []
            if passed:
                for action in cond.actions:
                    data = substitute(action.data, match) if action.subst and paren and match else action.data
                    if action.inline:
                        await self.add_inline(action, data, ext, False, done)
                    else:
                        self.add(action, data, ext, False, done)
            else:
                for action in cond.anti_actions:
                    if action.inline:
                        await self.add_inline(action, action.data, ext, True, done)
                    else:
                        self.add(action, action.data, ext, True, done)
                    proceed = True
            out.append(
                ConditionTrace(
                    depth,
                    kind,
                    passed,
                    cond.brk,
                    mtrace,
                    cond.mode,
                    regexes,
                    tuple(done),
                    cond.file,
                    cond.line,
                )
            )
            brk = cond.brk
            if (passed and brk == "on-true") or (not passed and brk == "on-false") or brk == "always":
                break
            if proceed and cond.nested:
                proceed = await self.conditions(cond.nested, ext, depth + 1, cond.require_nested, out)
                if not proceed:
                    if brk == "never":
                        continue
                    break
        if depth > 0 and not require_nested:
            proceed = True
        return proceed

    def add(self, action: Action, data: str, ext: Extension, anti: bool, out: list[ActionTrace]) -> None:
        if self.extension is None:
            self.extension = ext.name
        for _ in range(action.loop):
            self.actions.append((action.app, data))
            out.append(ActionTrace(action.app, data, anti))

    async def add_inline(
        self, action: Action, data: str, ext: Extension, anti: bool, out: list[ActionTrace]
    ) -> None:
        if self.extension is None:
            self.extension = ext.name
        for _ in range(action.loop):
            note = await self.inline(action, data)
            out.append(ActionTrace(action.app, data, anti, True, note))

    def assign(self, name: str, value: str | None) -> None:
        self.overlay[name] = value
        self.inline_sets.append((name, value))
        if self.set_var is not None:
            self.set_var(name, value)

    async def inline(self, action: Action, data: str) -> str:
        """Run a variable application now (FreeSWITCH's SAF_ROUTING_EXEC apps)."""
        app = action.app
        text = await self.expand(data)
        if app in ("set", "unset"):
            name, value = _split_set(text) if app == "set" else (text.strip(), None)
            self.assign(name, value)
            return f"{name}={value}" if value is not None else f"unset {name}"
        if app == "multiset":
            items = text[3:].split(text[2]) if text.startswith("^^") and len(text) > 2 else text.split(" ")
            pairs = [_split_set(item) for item in items if item]
            for name, value in pairs:
                self.assign(name, value)
            return " ".join(f"{n}={v}" for n, v in pairs)
        if app == "export":
            name, value = _split_set(text)
            local = not name.startswith("nolocal:")
            name = name.removeprefix("nolocal:")
            self.assign(name if local else f"nolocal:{name}", value)
            exports = self.var("export_vars")
            self.assign("export_vars", f"{exports},{name}" if exports else name)
            return f"export {name}={value}"
        if app == "log":
            return f"log {text}"
        if app == "eval":
            return ""
        raise ConfigError(f'application "{app}" cannot run inline', action.file, action.line)

    async def extension_hunt(self, ext: Extension) -> bool:
        """Evaluate one extension; True when the hunt stops here."""
        out: list[ConditionTrace] = []
        proceed = await self.conditions(ext.conditions, ext, 0, True, out)
        self.trace.append(ExtensionTrace(ext.name, ext.cont, proceed, tuple(out), ext.file, ext.line))
        if proceed:
            self.matched.append(ext.name)
        return proceed and not ext.cont


def _split_set(text: str) -> tuple[str, str | None]:
    """base_set: `name=value` (or `name,value`); an empty value unsets."""
    name, sep, value = text.partition("=")
    if not sep:
        name, sep, value = text.partition(",")
    return name, (value if sep and value else None)


async def _walk_indexed(state: _Hunt, extensions: tuple[Extension, ...], segments: list[int | Run]) -> None:
    fields = state.fields
    for segment in segments:
        if isinstance(segment, int):
            ext = extensions[segment]
            gate = ext.gate
            if gate is not None and gate.pattern.search(fields.get(gate.key, "")) is None:
                state.skipped += 1
                continue
            if await state.extension_hunt(ext):
                return
            continue
        value = fields.get(segment.key, "")
        found = candidates(segment, value)
        evaluated = 0
        pos = next_member(segment, extensions, value, found, 0)
        while pos is not None:
            evaluated += 1
            if await state.extension_hunt(extensions[segment.members[pos]]):
                state.skipped += pos + 1 - evaluated
                return
            pos = next_member(segment, extensions, value, found, pos + 1)
        state.skipped += len(segment.members) - evaluated


async def hunt(
    config: XmlConfig,
    context: str,
    fields: Mapping[str, str],
    get_var: GetVar,
    set_var: SetVar | None,
    run_api: RunApi | None,
    now: datetime,
    *,
    full_trace: bool = False,
) -> HuntResult:
    """Hunt `context` for the caller described by `fields` (caller-profile fields).

    `get_var(name)` reads a channel variable (falling back to globals), `set_var`
    receives inline `set`s, `run_api(name, args)` serves `${api(args)}`, and `now`
    is the time the time conditions see.  With `full_trace` every extension is
    evaluated and traced instead of letting the index skip the ones that cannot
    match.
    """
    compiled = compile_dialplan(config)
    ctx = compiled.contexts.get(context) or compiled.contexts.get("global")
    state = _Hunt(fields, get_var, set_var, run_api, now)
    destination = state.fields.get("destination_number", "")
    if ctx is not None:
        start = 0
        if switch_true(state.var("auto_hunt")):
            start = ctx.by_name.get(destination, 0)
        if full_trace or start:
            for ext in ctx.extensions[start:]:
                if await state.extension_hunt(ext):
                    break
        else:
            await _walk_indexed(state, ctx.extensions, ctx.segments)
    return HuntResult(
        ctx.name if ctx is not None else context,
        destination,
        tuple(state.actions),
        state.extension,
        tuple(state.matched),
        tuple(state.inline_sets),
        tuple(state.trace),
        state.skipped,
        ctx is not None,
    )


# -- presentation ---------------------------------------------------------------


def _match_line(m: MatchTrace, prefix: str) -> list[str]:
    lines = [f"{prefix}{note}" for note in m.time]
    if m.field is not None:
        verdict = "PASS" if m.passed else "FAIL"
        line = f"{prefix}Regex ({verdict}) {m.field}({m.value}) =~ /{m.expression}/"
        if m.captures and m.passed:
            line += " captures: " + ", ".join(f"${i}={c}" for i, c in enumerate(m.captures))
        lines.append(line)
    if m.error:
        lines.append(f"{prefix}ERROR {m.error}")
    return lines


def format_trace(result: HuntResult) -> str:
    """The `dialplan test` report: each condition PASS/FAIL, captures, inline sets, app list."""
    lines = [f"Dialplan: context {result.context}, destination {result.destination}"]
    if not result.context_found:
        lines.append(f"Context {result.context} not found")
    for ext in result.trace:
        state = "MATCH" if ext.matched else "no match"
        lines.append(f"[{ext.name}] continue={str(ext.cont).lower()} {state} ({ext.file}:{ext.line})")
        for cond in ext.conditions:
            pad = "  " * (cond.depth + 1)
            verdict = "PASS" if cond.passed else "FAIL"
            if cond.kind == "absolute":
                lines.append(f"{pad}Absolute condition (PASS) break={cond.brk}")
            elif cond.kind == "regex-set":
                lines.append(f"{pad}Regex set regex={cond.mode} ({verdict}) break={cond.brk}")
                for m in cond.regexes:
                    lines += _match_line(m, pad + "  ")
            elif cond.kind == "time":
                lines.append(f"{pad}Date/Time match ({verdict}) break={cond.brk}")
            if cond.match is not None:
                lines += _match_line(cond.match, pad + ("  " if cond.kind != "regex" else ""))
                if cond.kind == "regex":
                    lines[-1] += f" break={cond.brk}"
            for act in cond.actions:
                label = "ANTI-Action" if act.anti else "Action"
                tail = f" INLINE -> {act.note}" if act.inline else ""
                lines.append(f"{pad}  {label} {act.app}({act.data}){tail}")
    if result.skipped:
        lines.append(f"({result.skipped} extensions ruled out by the index without evaluation)")
    if result.actions:
        lines.append(f"Result: extension {result.extension}, {len(result.actions)} applications")
        lines += [f"  {i}. {app} {data}".rstrip() for i, (app, data) in enumerate(result.actions, 1)]
    else:
        lines.append("Result: no route (NO_ROUTE_DESTINATION)")
    return "\n".join(lines)


async def dialplan_test(
    config: XmlConfig,
    args: str,
    now: datetime,
    run_api: RunApi | None = None,
) -> str:
    """`dialplan test <context> <destination> [name=value ...]`: hunt without a call.

    Names that are caller-profile fields set the profile; others are channel
    variables (global variables are visible as in a call).
    """
    parts = args.split()
    if len(parts) < 2:
        return "-USAGE: dialplan test <context> <destination> [name=value ...]"
    context, destination = parts[0], parts[1]
    fields = {
        "destination_number": destination,
        "caller_id_name": "Dialplan Test",
        "caller_id_number": "0000000000",
        "ani": "0000000000",
        "network_addr": "127.0.0.1",
        "context": context,
        "dialplan": "XML",
        "source": "dialplan_test",
        "chan_name": f"test/{destination}",
        "uuid": "00000000-0000-0000-0000-000000000000",
    }
    variables: dict[str, str | None] = {}
    for item in parts[2:]:
        name, _, value = item.partition("=")
        if name.lower() in CALLER_PROFILE_FIELDS:
            fields[name.lower()] = value
        else:
            variables[name] = value

    def get_var(name: str) -> str | None:
        if name in variables:
            return variables[name]
        return config.global_vars.get(name)

    def set_var(name: str, value: str | None) -> None:
        variables[name] = value

    result = await hunt(config, context, fields, get_var, set_var, run_api, now, full_trace=True)
    return format_trace(result)
