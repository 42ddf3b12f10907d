"""Slowing, then refusing, an address that keeps failing to log in (time is an input; no I/O).

Shared by every listener that checks a password (event socket, Verto, SIP
digest): after `delay_after` failures within `window` seconds, each further
failure is answered only after a delay that grows by `step` seconds per
failure (capped at `max_delay`); after `ban_after` failures the address is
refused for `ban_seconds`.  A success forgets the address.  At most
`max_tracked` addresses are remembered, the stalest dropped first, so a flood
of addresses cannot grow memory without bound.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last: float = 0.0
    banned_until: float = 0.0


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """What to do with one failure: wait `delay` seconds before answering; `banned` if now refused."""

    delay: float
    banned: bool


class FailureGuard:
    def __init__(
        self,
        delay_after: int = 3,
        ban_after: int = 10,
        ban_seconds: float = 60.0,
        window: float = 300.0,
        step: float = 0.5,
        max_delay: float = 5.0,
        max_tracked: int = 10_000,
    ) -> None:
        self.delay_after = delay_after
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.window = window
        self.step = step
        self.max_delay = max_delay
        self.max_tracked = max_tracked
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def refused_for(self, address: str, now: float) -> float:
        """Seconds this address is still refused (0 when it may try)."""
        record = self._records.get(address)
        if record is None:
            return 0.0
        return max(0.0, record.banned_until - now)

    def failure(self, address: str, now: float) -> GuardVerdict:
        """Record a failure from `address`."""
        record = self._records.pop(address, None) or _Record()
        if now - record.last > self.window and record.banned_until <= now:
            record.failures = 0
        record.failures += 1
        record.last = now
        extra = record.failures - self.delay_after
        delay = min(self.max_delay, extra * self.step) if extra > 0 else 0.0
        banned = bool(self.ban_after) and record.failures >= self.ban_after
        if banned:
            record.banned_until = now + self.ban_seconds
            record.failures = 0
        self._records[address] = record
        while len(self._records) > self.max_tracked:
            self._records.popitem(last=False)
        return GuardVerdict(delay, banned)

    def succeeded(self, address: str) -> None:
        self._records.pop(address, None)
