"""A small jitter buffer for packetised audio, driven by the caller's clock.

Theory of operation.  Packets go in with `push(packet, arrival)` as they come
off the network, in any order; once per packet time (20 ms) the reader calls
`pop()`, which returns the next packet in sequence order, or None when there is
nothing to play (the decoder then conceals, or plays comfort noise).

- Ordering is by RTP sequence number, extended past the 16-bit wrap relative
  to the next packet to play (RFC 3550 A.1 modular arithmetic).
- Playout starts once `target` packets are buffered (priming), and primes
  again after the buffer runs dry, so a pause in the stream (silence
  suppression, hold) is not counted as loss.
- A missing packet with later ones waiting is lost: `pop()` returns None and
  moves on.  A packet that turns up after its turn is late and dropped, as is a
  duplicate.  `peek()` shows the packet after a loss, for Opus in-band FEC.
- A new SSRC, or a sequence jump of `max_dropout` or more either way, is a new
  stream: the buffer is flushed and primes again (resync).  A timestamp jump
  with consecutive sequence numbers (DTX, a relayed source switch) does not
  disturb ordering; it re-anchors the expected timestamp and is counted.
- Too much buffered (a burst after a stall) drops the oldest packets down to
  the target depth so latency stays bounded.
- Adaptive-ish: with `max_depth > depth` an underrun raises the target by one
  packet, and `shrink_after` pops in a row with more than the target buffered
  lower it again, never below `depth`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .rtp import RtpPacket, seq_diff, ts_diff

_EXT_START = 1 << 16  # first extended sequence number, so earlier packets stay positive


@dataclass(frozen=True, slots=True)
class JitterStats:
    pushed: int = 0
    played: int = 0
    lost: int = 0  # pops that found a gap (the decoder concealed)
    late: int = 0
    duplicates: int = 0
    overflow: int = 0  # dropped to bound latency
    underruns: int = 0
    resyncs: int = 0  # new SSRC or sequence jump: flushed
    timestamp_jumps: int = 0
    depth: int = 0  # packets buffered now
    target: int = 0
    jitter_ms: float = 0.0  # RFC 3550 A.8 interarrival jitter


class JitterBuffer:
    """Reorders and paces RTP packets; see the module docstring."""

    def __init__(
        self,
        depth: int = 2,
        max_depth: int | None = None,
        samples_per_packet: int = 160,
        clock_rate: int = 8000,
        max_dropout: int = 100,
        slack: int = 4,
        shrink_after: int = 250,
    ) -> None:
        if not 1 <= depth <= (max_depth or depth):
            raise ValueError(f"jitter buffer depth must be at least 1 and at most max_depth, got {depth}")
        self.depth = depth
        self.max_depth = max_depth or depth
        self.samples_per_packet = samples_per_packet
        self.clock_rate = clock_rate
        self.max_dropout = max_dropout
        self.slack = slack
        self.shrink_after = shrink_after
        self.target = depth
        self._buffer: dict[int, RtpPacket] = {}
        self._next: int | None = None  # extended sequence number of the next packet to play
        self._floor: int | None = None  # packets before this one have had their turn
        self._last_arrival: float | None = None
        self._last_timestamp = 0
        self._jitter = 0.0
        self._ssrc: int | None = None
        self._primed = False
        self._anchor: tuple[int, int] | None = None  # (extended seq, timestamp) for jump detection
        self._steady = 0
        self._counts = dict.fromkeys(
            (
                "pushed",
                "played",
                "lost",
                "late",
                "duplicates",
                "overflow",
                "underruns",
                "resyncs",
                "timestamp_jumps",
            ),
            0,
        )

    # --- input -------------------------------------------------------------

    def push(self, packet: RtpPacket, arrival: float = 0.0) -> bool:
        """Buffer one packet; False when it was dropped (late or duplicate)."""
        self._counts["pushed"] += 1
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._counts["resyncs"] += 1
            self._restart(packet)
        assert self._next is not None
        offset = seq_diff(packet.sequence, self._next & 0xFFFF)
        if offset >= self.max_dropout or offset <= -self.max_dropout:
            self._counts["resyncs"] += 1
            self._restart(packet)
            offset = 0
        ext = self._next + offset
        if self._floor is not None and ext < self._floor:
            self._counts["late"] += 1  # its turn has passed (played, or given up as lost)
            return False
        if offset < 0:
            self._next = ext  # still priming: an earlier packet simply starts the stream sooner
        if ext in self._buffer:
            self._counts["duplicates"] += 1
            return False
        self._check_timestamp(ext, packet.timestamp)
        self._update_jitter(packet.timestamp, arrival)
        self._buffer[ext] = packet
        self._bound_latency(ext)
        return True

    def _restart(self, packet: RtpPacket) -> None:
        self._buffer.clear()
        self._ssrc = packet.ssrc
        self._next = _EXT_START + packet.sequence
        self._floor = None
        self._primed = False
        self._anchor = None
        self._last_arrival = None
        self.target = self.depth

    def _update_jitter(self, timestamp: int, arrival: float) -> None:
        """RFC 3550 A.8 interarrival jitter, in samples of the RTP clock."""
        if self._last_arrival is not None:
            elapsed = ((timestamp - self._last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
            d = (arrival - self._last_arrival) * self.clock_rate - elapsed
            self._jitter += (abs(d) - self._jitter) / 16
        self._last_arrival, self._last_timestamp = arrival, timestamp

    def _check_timestamp(self, ext: int, timestamp: int) -> None:
        if self._anchor is not None:
            anchor_ext, anchor_ts = self._anchor
            expected = (anchor_ts + (ext - anchor_ext) * self.samples_per_packet) & 0xFFFFFFFF
            if abs(ts_diff(timestamp, expected)) > self.samples_per_packet * self.max_dropout:
                self._counts["timestamp_jumps"] += 1
            else:
                return
        self._anchor = (ext, timestamp)

    def _bound_latency(self, newest: int) -> None:
        assert self._next is not None
        if newest - self._next + 1 <= self.target + self.slack:
            return
        keep_from = newest - self.target + 1
        for ext in [e for e in self._buffer if e < keep_from]:
            del self._buffer[ext]
            self._counts["overflow"] += 1
        self._next = self._floor = keep_from

    # --- output ------------------------------------------------------------

    def pop(self) -> RtpPacket | None:
        """The packet for this tick, or None (priming, underrun or loss: conceal)."""
        if self._next is None:
            return None
        if not self._primed:
            if len(self._buffer) < self.target:
                return None
            self._primed = True
            if self._next not in self._buffer:
                self._next = min(self._buffer)
        packet = self._buffer.pop(self._next, None)
        if packet is not None:
            self._next += 1
            self._floor = self._next
            self._counts["played"] += 1
            self._adapt_down()
            return packet
        if not self._buffer:
            # Ran dry: the packet may only be late, so do not skip it; prime again.
            self._primed = False
            self._counts["underruns"] += 1
            self._steady = 0
            self.target = min(self.target + 1, self.max_depth)
            return None
        self._next += 1
        self._floor = self._next
        self._counts["lost"] += 1
        return None

    def _adapt_down(self) -> None:
        if self.target <= self.depth:
            return
        self._steady = self._steady + 1 if len(self._buffer) >= self.target else 0
        if self._steady >= self.shrink_after:
            self._steady = 0
            self.target -= 1
            assert self._next is not None
            if self._buffer.pop(self._next, None) is not None:  # drop one packet to shorten the delay
                self._counts["overflow"] += 1
            self._next += 1
            self._floor = self._next

    def peek(self) -> RtpPacket | None:
        """The packet the next `pop()` would return, if it is here (Opus FEC after a loss)."""
        return self._buffer.get(self._next) if self._next is not None else None

    # --- state -------------------------------------------------------------

    @property
    def primed(self) -> bool:
        return self._primed

    def __len__(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        """Forget everything buffered (e.g. on re-INVITE to another stream)."""
        self._buffer.clear()
        self._next = self._floor = None
        self._ssrc = None
        self._primed = False
        self._anchor = None
        self._last_arrival = None
        self._jitter = 0.0
        self.target = self.depth

    @property
    def stats(self) -> JitterStats:
        return JitterStats(
            **self._counts,
            depth=len(self._buffer),
            target=self.target,
            jitter_ms=1000.0 * self._jitter / self.clock_rate,
        )
