"""The X-PRE-PROCESS preprocessor: includes, `set` variables and `$${name}`.

Theory of operation (FreeSWITCH switch_xml.c `preprocess`, made XML-aware):

1. Each file is parsed on its own with lxml, wrapped in a synthetic root so an
   included file may hold several top-level elements; its `<?xml?>` declaration
   is blanked out without shifting line numbers.  Syntax errors therefore carry
   the real file and line.
2. The tree is walked in document order.  Every attribute, text and tail has
   `$${name}` substituted with the variables known *at that point*, exactly as
   FreeSWITCH substitutes line by line while reading: a `set` only affects what
   follows it.
3. `<X-PRE-PROCESS cmd="set" data="name=value"/>` defines a variable;
   `cmd="include" data="glob"` parses the matching files (sorted, relative to the
   including file's directory), drops their `<include>` wrapper and splices the
   content in place, processing it before the directive's next sibling.  Every
   spliced element gets `xml:base` = its file, so `location.where` finds it.
   The comment form `<!--#set name=value-->` / `<!--#include "glob"-->` works too.
4. Comments and processing instructions are removed from the result.

Deliberate differences from FreeSWITCH, all in the direction of telling the user:
a missing non-glob include, an unknown command, a malformed `set` and an include
loop are errors (FreeSWITCH logs and carries on); `exec`, `exec-set`, `stun-set`
and `env-set` are refused because loading configuration must not run programs or
reach the network; a directive inside an XML comment does not run (FreeSWITCH's
line-based reader runs it).
"""

from __future__ import annotations

import copy
import glob
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ..errors import ConfigError
from ..expand import expand_globals
from .location import XML_BASE, ConfigWarning, display_path, file_uri

MAX_INCLUDE_DEPTH = 100
_WRAPPER = "__fragment__"
_XML_DECL = re.compile(r"\A\ufeff?\s*<\?xml[^>]*\?>")
_REFUSED = {
    "exec": "it would run a program at load time",
    "exec-set": "it would run a program at load time",
    "stun-set": "it would reach the network at load time",
    "env-set": "the environment is not part of the configuration",
}


@dataclass(frozen=True, slots=True)
class Preprocessed:
    """The spliced `<document>` root, the final variables and what was read."""

    root: etree._Element
    variables: Mapping[str, str]
    files: tuple[Path, ...]
    warnings: tuple[ConfigWarning, ...]


def base_variables(
    conf_dir: Path,
    *,
    base_dir: Path | None = None,
    sounds_dir: Path | None = None,
    data_dir: Path | None = None,
    hostname: str | None = None,
    local_ip_v4: str = "127.0.0.1",
) -> dict[str, str]:
    """The core variables `$${}` can use before any `set` (FreeSWITCH's SWITCH_GLOBAL_dirs).

    Directories default to FreeSWITCH's layout under `base_dir` (the parent of
    `conf_dir`): `sounds`, `data`, `recordings`, `log`, `db`, `scripts`.
    """
    base = base_dir if base_dir is not None else conf_dir.parent
    sounds = sounds_dir if sounds_dir is not None else base / "sounds"
    data = data_dir if data_dir is not None else base / "data"
    return {
        "base_dir": str(base),
        "conf_dir": str(conf_dir),
        "sounds_dir": str(sounds),
        "data_dir": str(data),
        "recordings_dir": str(base / "recordings"),
        "log_dir": str(base / "log"),
        "db_dir": str(base / "db"),
        "script_dir": str(base / "scripts"),
        "temp_dir": "/tmp",
        "local_ip_v4": local_ip_v4,
        "hostname": hostname if hostname is not None else socket.gethostname(),
    }


def preprocess(conf_dir: Path, base_vars: Mapping[str, str], entry: str = "freeswitch.xml") -> Preprocessed:
    """Read `conf_dir/entry` and everything it includes into one tree.

    `base_vars` are the core variables (`conf_dir`, `sounds_dir`, `base_dir`,
    `data_dir`, `local_ip_v4`, `hostname`...); `set` directives add to them.
    Raises ConfigError located at the original file and line.
    """
    return _Preprocessor(conf_dir.resolve(), dict(base_vars)).run(entry)


class _Preprocessor:
    def __init__(self, conf_dir: Path, variables: dict[str, str]) -> None:
        self.conf_dir = conf_dir
        self.variables = variables
        self.files: list[Path] = []
        self.warnings: list[ConfigWarning] = []
        self.stack: list[Path] = []
        self.parser = etree.XMLParser(
            resolve_entities=False, no_network=True, huge_tree=True, remove_pis=True
        )

    # -- driver ---------------------------------------------------------------

    def run(self, entry: str) -> Preprocessed:
        path = (self.conf_dir / entry).resolve()
        if not path.is_file():
            raise ConfigError(f"cannot open {entry}: no such file", str(path))
        self.stack.append(path)
        wrapper = self._parse_file(path, None, None)
        for node in list(wrapper):
            self._process(node, path, 1)
        self.stack.pop()
        elements = [node for node in wrapper if isinstance(node.tag, str)]
        if len(elements) != 1 or elements[0].tag != "document":
            line = (
                elements[1].sourceline if len(elements) > 1 else (elements[0].sourceline if elements else 1)
            )
            raise ConfigError(
                f'{entry} must hold exactly one <document type="freeswitch/xml"> element',
                self._show(path),
                line or 1,
            )
        root = copy.deepcopy(elements[0])
        return Preprocessed(root, dict(self.variables), tuple(self.files), tuple(self.warnings))

    # -- parsing --------------------------------------------------------------

    def _parse_file(self, path: Path, by_file: Path | None, by_line: int | None) -> etree._Element:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {self._show(path)}: {exc.strerror}",
                self._show(by_file) if by_file else self._show(path),
                by_line or 0,
            ) from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ConfigError("file is not valid UTF-8", self._show(path), line) from exc
        decl = _XML_DECL.match(text)
        if decl:
            text = "\n" * decl.group(0).count("\n") + text[decl.end() :]
        wrapped = f"<{_WRAPPER}>{text}</{_WRAPPER}>".encode()
        try:
            wrapper = etree.fromstring(wrapped, self.parser, base_url=file_uri(path))
        except etree.XMLSyntaxError as exc:
            reason = (exc.msg or "malformed XML").replace(f"tag {_WRAPPER} line 1", "file")
            reason = reason.replace(_WRAPPER, "file")
            raise ConfigError(f"XML syntax error: {reason}", self._show(path), exc.lineno or 0) from exc
        self.files.append(path)
        return wrapper

    # -- tree walk ------------------------------------------------------------

    def _process(self, node: etree._Element, file: Path, depth: int) -> None:
        if node.tail and "$${" in node.tail:
            node.tail = self._subst(node.tail, file, node.sourceline)
        if isinstance(node, etree._Comment):
            text = node.text or ""
            if text.startswith("#"):
                self._comment_command(node, text[1:], file, depth)
            _drop(node)
            return
        if not isinstance(node.tag, str):
            _drop(node)
            return
        tag = node.tag.lower()
        if tag == "x-no-pre-process":
            _drop(node)
            return
        for name, value in node.attrib.items():
            if "$${" in value:
                node.set(name, self._subst(value, file, node.sourceline))
        if tag == "x-pre-process":
            cmd = node.get("cmd")
            if cmd is None:
                raise ConfigError(
                    "X-PRE-PROCESS without a cmd attribute", self._show(file), node.sourceline or 0
                )
            self._command(node, cmd, node.get("data", ""), file, depth)
            _drop(node)
            return
        if node.text and "$${" in node.text:
            node.text = self._subst(node.text, file, node.sourceline)
        for child in list(node):
            self._process(child, file, depth)

    def _subst(self, text: str, file: Path, line: int | None) -> str:
        def missing(name: str) -> None:
            self.warnings.append(
                ConfigWarning(f'undefined variable $${{{name}}} expands to ""', self._show(file), line or 0)
            )

        return expand_globals(text, self.variables, missing)

    def _comment_command(self, node: etree._Element, text: str, file: Path, depth: int) -> None:
        text = self._subst(text.strip(), file, node.sourceline)
        cmd, _, arg = text.partition(" ")
        quoted = re.search(r'"([^"]*)"', arg)
        if quoted:
            arg = quoted.group(1)
        self._command(node, cmd, arg.strip(), file, depth)

    def _command(self, node: etree._Element, cmd: str, data: str, file: Path, depth: int) -> None:
        line = node.sourceline or 0
        name = cmd.lower()
        if name == "set":
            self._set(data, file, line)
        elif name == "include":
            self._include(node, data, file, line, depth)
        elif name == "comment":
            return
        elif name in _REFUSED:
            raise ConfigError(
                f'preprocessor command "{cmd}" is not supported ({_REFUSED[name]}); use cmd="set"',
                self._show(file),
                line,
            )
        else:
            raise ConfigError(
                f'unknown preprocessor command "{cmd}" (known: set, include)', self._show(file), line
            )

    def _set(self, data: str, file: Path, line: int) -> None:
        # switch_xml.c: split at the first '=', trim spaces around it.
        name, eq, value = data.partition("=")
        name = name.rstrip(" ")
        if not eq or not name.strip():
            raise ConfigError(f'set needs data="name=value", got "{data}"', self._show(file), line)
        self.variables[name.strip()] = value.lstrip(" ")

    def _include(self, node: etree._Element, pattern: str, file: Path, line: int, depth: int) -> None:
        if not pattern:
            raise ConfigError("include needs a data attribute naming the file(s)", self._show(file), line)
        if depth > MAX_INCLUDE_DEPTH:
            raise ConfigError(f"includes nested deeper than {MAX_INCLUDE_DEPTH}", self._show(file), line)
        parent = node.getparent()
        if parent is None:
            raise ConfigError("include outside any element", self._show(file), line)
        index = parent.index(node)
        for path in self._resolve(pattern, file, line):
            if path in self.stack:
                chain = " -> ".join(self._show(p) for p in [*self.stack, path])
                raise ConfigError(f"include loop: {chain}", self._show(file), line)
            wrapper = self._parse_file(path, file, line)
            spliced = list(_top_level(wrapper))
            uri = file_uri(path)
            for new in spliced:
                if isinstance(new.tag, str):
                    new.set(XML_BASE, uri)
                parent.insert(index, new)
                index += 1
            self.stack.append(path)
            for new in spliced:
                self._process(new, path, depth + 1)
            self.stack.pop()

    def _resolve(self, pattern: str, file: Path, line: int) -> list[Path]:
        target = Path(pattern)
        if not target.is_absolute():
            target = file.parent / target
        if glob.has_magic(str(target)):
            # An empty glob is fine (FreeSWITCH's vanilla tree relies on it).
            return [Path(p).resolve() for p in sorted(glob.glob(str(target))) if Path(p).is_file()]
        if not target.is_file():
            raise ConfigError(f'include "{pattern}": no such file', self._show(file), line)
        return [target.resolve()]

    def _show(self, path: Path | None) -> str:
        return display_path(path, self.conf_dir) if path is not None else ""


def _top_level(wrapper: etree._Element) -> Iterator[etree._Element]:
    """The nodes an included file contributes: its `<include>` wrapper is dropped."""
    for node in list(wrapper):
        if isinstance(node.tag, str) and node.tag == "include":
            yield from list(node)
        else:
            yield node


def _drop(node: etree._Element) -> None:
    """Remove `node`, keeping its tail text in place."""
    parent = node.getparent()
    if parent is None:
        return
    if node.tail:
        prev = node.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)
