"""Where an element of the loaded tree came from, and configuration warnings.

The preprocessor splices included files into one tree.  Every spliced element
carries an `xml:base` attribute holding its file's URI (the mechanism XInclude
uses for the same purpose), and lxml keeps each element's `sourceline` from the
file it was parsed from; together they give the original file and line of any
element without a side table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

from lxml import etree

from ..errors import ConfigError

XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


def file_uri(path: Path) -> str:
    return path.resolve().as_uri()


def uri_path(uri: str) -> Path | None:
    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path))


def display_path(path: Path, conf_dir: Path | None) -> str:
    """`path` relative to the configuration directory when it lies inside it."""
    if conf_dir is not None:
        try:
            return str(path.relative_to(conf_dir))
        except ValueError:
            pass
    return str(path)


def where(element: etree._Element) -> tuple[str, int]:
    """(file, line) where `element` was written, file relative to the conf directory."""
    return (_shown_file(element.base or "", element.getroottree().docinfo.URL or ""), element.sourceline or 0)


@lru_cache(maxsize=4096)
def _shown_file(base_uri: str, root_uri: str) -> str:
    source = uri_path(base_uri)
    if source is None:
        return ""
    root_file = uri_path(root_uri)
    return display_path(source, root_file.parent if root_file is not None else None)


def plain_attributes(element: etree._Element) -> dict[str, str]:
    """The element's attributes without the `xml:base` the preprocessor adds to spliced elements."""
    return {k: v for k, v in element.attrib.items() if k != XML_BASE}


def where_text(element: etree._Element) -> str:
    file, line = where(element)
    return f"{file}:{line}" if file else f"line {line}"


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A configuration problem that does not stop loading (unknown param, undefined $${var})."""

    reason: str
    file: str = ""
    line: int = 0

    def __str__(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: {self.reason}"
        if self.file:
            return f"{self.file}: {self.reason}"
        return self.reason


def warning_at(element: etree._Element, reason: str) -> ConfigWarning:
    file, line = where(element)
    return ConfigWarning(reason, file, line)


def error_at(element: etree._Element, reason: str) -> ConfigError:
    file, line = where(element)
    return ConfigError(reason, file, line)
