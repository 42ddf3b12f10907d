"""Requests the stack answers itself (REGISTER, OPTIONS outside a dialog), kept as data.

RFC 3261 17.2.2's non-INVITE server transaction reduced to what it does for a
request answered with one final response: while the answer is being worked
out ("Trying") a retransmission is absorbed; once answered ("Completed") a
retransmission gets the same bytes again, until Timer J (64*T1) ends it.  On a
reliable transport nothing is kept after the answer (Timer J is zero).

A registrar answers thousands of REGISTERs a second, each held for 32 s; as
full `transaction.py` machines that is some 8 KB and an event-loop timer
apiece, here it is the key and the response bytes, expired in arrival order
from two queues, one per delay (time is an input).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .tu import Address

Key = tuple[str, ...]


@dataclass(slots=True)
class Answered:
    addr: Address
    transport: str
    response: bytes | None = None  # None while Trying
    deadline: float = 0.0


class AnsweredTable:
    """Light server transactions by `transaction.server_key`."""

    def __init__(self, hold: float = 32.0, trying_limit: float = 64.0) -> None:
        self.hold = hold  # Timer J on UDP
        self.trying_limit = trying_limit  # forget a request nobody answered
        self._entries: dict[Key, Answered] = {}
        # One queue per delay, so each is in deadline order as time only grows.
        self._trying: deque[tuple[float, Key]] = deque()
        self._completed: deque[tuple[float, Key]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Answered | None:
        return self._entries.get(key)

    def begin(self, key: Key, addr: Address, transport: str, now: float) -> Answered:
        entry = Answered(addr, transport, None, now + self.trying_limit)
        self._entries[key] = entry
        self._trying.append((entry.deadline, key))
        return entry

    def complete(self, key: Key, data: bytes, now: float) -> None:
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.transport != "udp":
            del self._entries[key]  # reliable: no retransmissions to absorb
            return
        entry.response = data
        entry.deadline = now + self.hold
        self._completed.append((entry.deadline, key))

    def expire(self, now: float) -> int:
        """Forget what is past its deadline; returns how many."""
        gone = 0
        for queue in (self._trying, self._completed):
            while queue and queue[0][0] <= now:
                deadline, key = queue.popleft()
                entry = self._entries.get(key)
                if entry is not None and entry.deadline == deadline:
                    del self._entries[key]
                    gone += 1
        return gone

    def clear(self) -> None:
        self._entries.clear()
        self._trying.clear()
        self._completed.clear()


__all__ = ["Answered", "AnsweredTable"]
