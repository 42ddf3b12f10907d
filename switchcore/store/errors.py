"""Errors of the store: one root under `SwitchError`, leaves named for the failure."""

from __future__ import annotations

from ..errors import SwitchError


class StoreError(SwitchError):
    """Root of the store's errors; database driver errors arrive wrapped in it."""


class StoreNotOpen(StoreError):
    """A store method was called before `open()` or after `close()`."""

    def __init__(self) -> None:
        super().__init__("store is not open")


class SchemaTooNew(StoreError):
    """The database carries a schema revision this switch does not know (a newer switch wrote it)."""

    def __init__(self, revision: str, head: str) -> None:
        self.revision = revision
        self.head = head
        super().__init__(
            f"database schema revision {revision} is unknown to this switch (its head is {head})"
        )


class NaiveTimestamp(StoreError, ValueError):
    """A timestamp without a timezone was given; the store keeps UTC and will not guess."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name}: timestamp has no timezone (use an aware datetime, e.g. UTC)")
