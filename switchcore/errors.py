"""The switch's error tree: one root, leaves named for the failure.

Errors that end a call carry the Q.850 cause the channel should hang up with;
configuration errors carry the file and line they were found at.
"""

from __future__ import annotations

from .causes import HangupCause


class SwitchError(Exception):
    """Root of every error the core raises on purpose."""


class ConfigError(SwitchError):
    """A configuration problem, located in the original file (after includes)."""

    def __init__(self, reason: str, file: str = "", line: int = 0) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(self.where() + reason)

    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}: "
        if self.file:
            return f"{self.file}: "
        return ""


class ModuleError(SwitchError):
    """A module failed to load, validate or unload."""


class InvalidTransition(SwitchError):
    """A state machine was asked for a transition its table does not hold."""


class CallError(SwitchError):
    """Something that ends a call attempt with a Q.850 cause."""

    def __init__(self, cause: HangupCause, reason: str = "") -> None:
        self.cause = cause
        super().__init__(reason or cause.name)


class UsageError(SwitchError):
    """An API command was called with the wrong arguments; answered `-USAGE: <syntax>`."""

    def __init__(self, syntax: str) -> None:
        self.syntax = syntax
        super().__init__(syntax)


class Hangup(SwitchError):
    """Raised inside an application when its channel has hung up; it unwinds the app."""
