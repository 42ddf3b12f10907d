"""Slowing, then refusing, an address that keeps failing `login`: the core's FailureGuard.

A refused address's WebSocket upgrade gets 403 and a socket already open is closed.
"""

from __future__ import annotations

from switchcore.guard import FailureGuard, GuardVerdict

Verdict = GuardVerdict


class LoginGuard(FailureGuard):
    def failed(self, address: str, now: float) -> GuardVerdict:
        """Record a failed login from `address`."""
        return self.failure(address, now)

    def __len__(self) -> int:
        return len(self._records)
