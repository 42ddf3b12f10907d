"""The event socket's `auth` guard: the core's FailureGuard, answering with the delay alone."""

from __future__ import annotations

from switchcore.guard import FailureGuard


class AuthGuard(FailureGuard):
    def failed(self, address: str, now: float) -> float:
        """Record a wrong password; returns how long to wait before answering it."""
        return self.failure(address, now).delay
