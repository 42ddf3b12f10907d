"""Hand out loopback ports from a test's assigned ranges, skipping ones something else holds.

Each parallel work area owns port ranges; a ``PortAllocator`` walks its ranges round-robin (so a
port freed by one test is not handed straight to the next, which could still meet late packets or
TCP TIME_WAIT) and checks that UDP and TCP can both bind a candidate block before returning it.
"""

from __future__ import annotations

import socket
import threading

LOOPBACK = "127.0.0.1"


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


class _Range:
    def __init__(self, low: int, high: int) -> None:
        if not 0 < low <= high < 65536:
            raise ValueError(f"bad port range {low}-{high}")
        self.low = low
        self.high = high
        self.cursor = low

    def take(self, count: int, align: int) -> int:
        span = self.high - self.low + 1
        for _ in range(span):
            base = self.cursor
            if base % align:
                base += align - base % align
            if base + count - 1 > self.high:
                self.cursor = self.low
                continue
            self.cursor = base + count
            if self.cursor > self.high:
                self.cursor = self.low
            if all(_free(p) for p in range(base, base + count)):
                return base
        raise RuntimeError(f"no {count} free ports in {self.low}-{self.high}")


class PortAllocator:
    """``sip()``, ``rtp(n)``, ``ctrl()`` return the first port of a free contiguous block."""

    def __init__(self, sip: tuple[int, int], rtp: tuple[int, int], ctrl: tuple[int, int]) -> None:
        self._lock = threading.Lock()
        self._sip = _Range(*sip)
        self._rtp = _Range(*rtp)
        self._ctrl = _Range(*ctrl)

    def sip(self, count: int = 1) -> int:
        with self._lock:
            return self._sip.take(count, 1)

    def rtp(self, count: int = 20) -> int:
        """An even-based block (RTP on even ports, RTCP on the next odd one, RFC 3550 11)."""
        with self._lock:
            return self._rtp.take(count, 2)

    def ctrl(self, count: int = 1) -> int:
        with self._lock:
            return self._ctrl.take(count, 1)
