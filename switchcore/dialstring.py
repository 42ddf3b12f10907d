"""Dial strings, as FreeSWITCH's originate parses them.

    {a=b,c=d}[x=1]sofia/internal/1000@dom,[x=2]user/1001@dom|loopback/9196

`{...}` at the start sets variables for every leg; `[...]` before a leg sets
its own; `,` rings legs at the same time (first answer wins); `|` tries the
next group when the previous one failed.  Values may be quoted with `'` or
escaped with `\\,` to hold a comma; `^^<c>` at the start of a `{}` block
chooses another separator (`{^^:a=b:c=d}`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SwitchError


class DialStringError(SwitchError):
    """A dial string that cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Leg:
    endpoint: str  # "sofia", "loopback", "user", "error" ...
    dest: str  # the rest after "<endpoint>/"
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{self.dest}"


@dataclass(frozen=True, slots=True)
class DialString:
    variables: dict[str, str]
    groups: tuple[tuple[Leg, ...], ...]  # tried in order; legs of a group ring together


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside [], {}, quotes and backslash escapes."""
    parts, depth, quote, cur, i = [], 0, "", [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
        elif ch == "'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    if depth != 0 or quote:
        raise DialStringError(f"unbalanced brackets or quotes in dial string {text!r}")
    parts.append("".join(cur))
    return parts


def parse_vars(block: str) -> dict[str, str]:
    """`a=b,c='x,y'` (or `^^:a=b:c=d`) -> {"a": "b", "c": "x,y"}."""
    sep = ","
    if block.startswith("^^") and len(block) > 2:
        sep, block = block[2], block[3:]
    result: dict[str, str] = {}
    for item in _split_top(block, sep) if block else []:
        if not item.strip():
            continue
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise DialStringError(f"bad variable {item!r} in dial string (want name=value)")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        result[name.strip()] = value.replace("\\,", ",")
    return result


def _take_block(text: str, open_ch: str, close_ch: str) -> tuple[str, str]:
    depth = 0
    for i, ch in enumerate(text):
        if ch == open_ch:
            depth += 1
        elif ch == close_ch:
            depth -= 1
            if depth == 0:
                return text[1:i], text[i + 1 :]
    raise DialStringError(f"unclosed {open_ch} in dial string")


def parse(text: str) -> DialString:
    text = text.strip()
    if not text:
        raise DialStringError("empty dial string")
    variables: dict[str, str] = {}
    if text.startswith("{"):
        block, text = _take_block(text, "{", "}")
        variables = parse_vars(block)
    groups: list[tuple[Leg, ...]] = []
    for group_text in _split_top(text, "|"):
        legs: list[Leg] = []
        for leg_text in _split_top(group_text, ","):
            leg_text = leg_text.strip()
            if not leg_text:
                continue
            leg_vars: dict[str, str] = {}
            while leg_text.startswith(("[", "{")):
                opener = leg_text[0]
                block, leg_text = _take_block(leg_text, opener, "]" if opener == "[" else "}")
                leg_vars.update(parse_vars(block))
                leg_text = leg_text.strip()
            endpoint, slash, dest = leg_text.partition("/")
            if not slash or not endpoint:
                raise DialStringError(f"bad leg {leg_text!r}: want <endpoint>/<destination>")
            legs.append(Leg(endpoint, dest, leg_vars))
        if legs:
            groups.append(tuple(legs))
    if not groups:
        raise DialStringError(f"no legs in dial string {text!r}")
    return DialString(variables, tuple(groups))
