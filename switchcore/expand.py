"""Channel-variable expansion, as FreeSWITCH's `switch_channel_expand_variables`.

Theory of operation: a template is parsed once (and cached) into literal parts,
variable references and inline API calls; evaluating it walks those parts.  The
rules follow switch_channel.c:

* `${name}` is the channel variable `name` (the caller's `get_var` falls back to
  the global variables, as FreeSWITCH's channel lookup does); unknown -> "".
* `${name:offset[:length]}` takes a substring (negative offset counts from the end),
  `${name[i]}` indexes an `ARRAY::a|:b` value.
* `${var_${x}}`: the name is expanded first, so references nest.
* `${api(args)}` and `${api args}` run the API `api` with expanded `args` and
  insert its output (`${user_data(1000@dom var callgroup)}`,
  `${sofia_contact(*/1000@dom)}`); a failing or missing API inserts "".
* `$${name}` at run time reads the global variables only.
* `\\$` is a literal `$`, `\\\\` a literal backslash; a `$` not followed by `{` is
  kept as it is.  Inserted values are not expanded again.

`expand_globals` is the preprocessor's `$${name}` substitution (switch_xml.c
`expand_vars`): unknown names become "", an unterminated reference is kept.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

GetVar = Callable[[str], "str | None"]
RunApi = Callable[[str, str], Awaitable[str]]

_MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class _Var:
    """`${name}` (or `$${name}` when `glob`); `name` may itself hold references."""

    name: Template
    glob: bool


@dataclass(frozen=True, slots=True)
class _Api:
    """`${api(args)}` / `${api args}`."""

    name: Template
    args: Template


_Part = str | _Var | _Api


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal strings, variable references and API calls."""

    parts: tuple[_Part, ...]
    has_api: bool

    @property
    def is_literal(self) -> bool:
        return all(isinstance(part, str) for part in self.parts)


def needs_expansion(text: str) -> bool:
    """True when `text` holds a reference or an escape (FreeSWITCH's var check)."""
    return "${" in text or "\\$" in text or "\\'" in text


@lru_cache(maxsize=8192)
def parse_template(text: str) -> Template:
    """Parse `text` once; the result is cached by text."""
    return _parse(text, 0)


def _parse(text: str, depth: int) -> Template:
    if depth > _MAX_DEPTH or not needs_expansion(text):
        return Template((text,) if text else (), False)
    parts: list[_Part] = []
    lit: list[str] = []
    has_api = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt == "$":
                lit.append("$")
                i += 2
                continue
            if nxt == "'":
                i += 2
                continue
            if nxt == "\\":
                lit.append("\\")
                i += 2
                continue
        if ch == "$":
            glob = text.startswith("$${", i)
            start = i + 3 if glob else i + 2
            if glob or text.startswith("${", i):
                body, i = _scan_braces(text, start)
                if lit:
                    parts.append("".join(lit))
                    lit = []
                ref = _parse_reference(body, glob, depth)
                has_api = has_api or isinstance(ref, _Api) or ref.name.has_api
                if isinstance(ref, _Api):
                    has_api = has_api or ref.args.has_api
                parts.append(ref)
                continue
        lit.append(ch)
        i += 1
    if lit:
        parts.append("".join(lit))
    return Template(tuple(parts), has_api)


def _scan_braces(text: str, start: int) -> tuple[str, int]:
    """Return the body up to the matching `}` and the index after it (FS brace counting)."""
    depth = 1
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if depth == 1 and ch == "}":
            return text[start:i], i + 1
        if ch == "{" and i != start:
            depth += 1
        elif ch == "}" and depth > 1:
            depth -= 1
        i += 1
    return text[start:], n


def _parse_reference(body: str, glob: bool, depth: int) -> _Var | _Api:
    # switch_channel.c: the first space or '(' in the raw name makes it an API call.
    for pos, ch in enumerate(body):
        if ch == " ":
            name, args = body[:pos].rstrip(" "), body[pos + 1 :]
            return _Api(_parse(name, depth + 1), _parse(args, depth + 1))
        if ch == "(":
            name = body[:pos].rstrip(" ")
            args = _paren_args(body, pos + 1)
            return _Api(_parse(name, depth + 1), _parse(args, depth + 1))
    return _Var(_parse(body, depth + 1), glob)


def _paren_args(body: str, start: int) -> str:
    depth = 1
    for i in range(start, len(body)):
        ch = body[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return body[start:i]
    return body[start:]


def _lookup(name: str, glob: bool, get_var: GetVar, get_global: GetVar | None) -> str:
    offset = length = 0
    if ":" in name:
        name, _, rest = name.partition(":")
        off_text, _, len_text = rest.partition(":")
        offset, length = _atoi(off_text), _atoi(len_text)
    index = -1
    bracket = name.find("[")
    if bracket >= 0 and "]" in name[bracket:]:
        index = _atoi(name[bracket + 1 :])
        name = name[:bracket]
    value: str | None
    if glob:
        value = (get_global or get_var)(name)
    else:
        value = get_var(name)
        if value is None and get_global is not None:
            value = get_global(name)
    if value is None:
        return ""
    if index >= 0:
        value = _array_item(value, index)
    if offset or length:
        value = _substring(value, offset, length)
    return value


def _array_item(value: str, index: int) -> str:
    if value.startswith("ARRAY::"):
        items = value[7:].split("|:")
        return items[index] if index < len(items) else ""
    return value if index == 0 else ""


def _substring(value: str, offset: int, length: int) -> str:
    if offset >= 0:
        value = "" if offset > len(value) else value[offset:]
    elif -offset <= len(value):
        value = value[len(value) + offset :]
    if 0 < length < len(value):
        value = value[:length]
    return value


def _atoi(text: str) -> int:
    """C `atoi`: optional sign and leading digits, 0 when there are none."""
    text = text.lstrip()
    end = 1 if text[:1] in ("-", "+") else 0
    while end < len(text) and text[end].isdigit():
        end += 1
    try:
        return int(text[:end])
    except ValueError:
        return 0


def _eval_sync(tpl: Template, get_var: GetVar, get_global: GetVar | None) -> str:
    out: list[str] = []
    for part in tpl.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, _Var):
            name = _eval_sync(part.name, get_var, get_global)
            out.append(_lookup(name, part.glob, get_var, get_global))
        # An _Api part has no synchronous meaning; it expands to "" here.
    return "".join(out)


async def _eval_async(
    tpl: Template, get_var: GetVar, run_api: RunApi | None, get_global: GetVar | None
) -> str:
    if not tpl.has_api:
        return _eval_sync(tpl, get_var, get_global)
    out: list[str] = []
    for part in tpl.parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, _Var):
            name = await _eval_async(part.name, get_var, run_api, get_global)
            out.append(_lookup(name, part.glob, get_var, get_global))
        elif run_api is not None:
            name = await _eval_async(part.name, get_var, run_api, get_global)
            args = await _eval_async(part.args, get_var, run_api, get_global)
            out.append(await run_api(name, args))
    return "".join(out)


def expand_sync(template: str, get_var: GetVar, get_global: GetVar | None = None) -> str:
    """Expand variables only; inline API calls expand to "" (use `expand` to run them)."""
    if "$" not in template and "\\" not in template:
        return template
    return _eval_sync(parse_template(template), get_var, get_global)


async def expand(
    template: str,
    get_var: GetVar,
    run_api: RunApi | None = None,
    get_global: GetVar | None = None,
) -> str:
    """Expand `template` as FreeSWITCH expands channel variables at execute time.

    `get_var(name)` returns a channel variable or None (it should fall back to the
    global variables); `run_api(name, args)` runs an API command and returns its
    output (without it, `${api(...)}` expands to "").  `get_global` serves
    `$${name}`; it defaults to `get_var`.
    """
    if "$" not in template and "\\" not in template:
        return template
    tpl = parse_template(template)
    if not tpl.has_api:
        return _eval_sync(tpl, get_var, get_global)
    return await _eval_async(tpl, get_var, run_api, get_global)


def expand_globals(
    text: str, variables: Mapping[str, str], missing: Callable[[str], None] | None = None
) -> str:
    """Substitute `$${name}` from `variables` (the preprocessor's `set` variables).

    Unknown names become "" (FreeSWITCH's behaviour) and are reported to `missing`;
    an unterminated `$${...` is kept as it is.
    """
    if "$${" not in text:
        return text
    out: list[str] = []
    pos = 0
    while True:
        start = text.find("$${", pos)
        if start < 0:
            break
        end = _matching_brace(text, start + 2)
        if end < 0:
            break
        out.append(text[pos:start])
        name = text[start + 3 : end]
        value = variables.get(name)
        if value is None:
            if missing is not None:
                missing(name)
            value = ""
        out.append(value)
        pos = end + 1
    out.append(text[pos:])
    return "".join(out)


def _matching_brace(text: str, open_pos: int) -> int:
    depth = 0
    for i in range(open_pos, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1
