"""RTP relay: one direction of a same-codec bridge, packet by packet, and the watch over many relays.

Theory of operation.  While two bridged streams use the same codec and packet
time and nothing listens in, a packet from the source's far end only needs a
new sequence number, timestamp, SSRC and payload type to go out on the sink's
stream (RFC 3550 7.2: a translator that does not change the payload).  An
`RtpRelay` takes over the source session's socket (`RtpSession.divert`) and
does exactly that in one small closure, the per-packet path of a switch at
capacity:

- only plain audio (version 2, no padding, extension or CSRCs, the negotiated
  payload type, no marker) from the latched far end takes the short way;
  everything else (telephone-events, comfort noise, RTCP multiplexed on the
  port, a stranger, the packet that latches, a talkspurt's marker) goes through
  the source's own `datagram_received`, which hands its audio back here
  (`RtpSession.pass_through`), so it is relayed all the same;
- the receive statistics are RFC 3550's (A.1 sequence, A.3 loss, A.8 jitter):
  the relay counts the in-order case itself and hands it to the session's
  `ReceiverStats` whenever the session reads or reports them
  (`RtpSession.sync`); anything unusual (a jump, a new SSRC) is synced first
  and goes through `ReceiverStats.update`.  The session also sees the relay's
  last arrival and octets (`divert`'s tally), so RTCP reports, the media
  timeout, `uuid_dump` and the CDR's figures stay right;
- the sink's `RtpSender` is lent to the relay (`RtpSession.lend_sender`) and
  goes on from where it was: the first packet and a new source SSRC anchor
  the offsets with the marker bit set (RFC 3550 5.1); a packet the sink sent
  meanwhile (an RFC 4733 event, `send_dtmf`, which syncs first) re-anchors
  them without it, so sequence numbers stay unique; the sender's sequence,
  timestamp and counters are written back on every sync, so its RTCP sender
  reports and later frames continue the same numbering; a reordered packet
  keeps its place but never moves the sender back.

Measured with bench/bench_sip.py's endpoint (200 calls, 20,000 packets/s):
a bare uvloop relay costs ~17 us of CPU per packet here, almost all of it the
kernel's send and receive; this relay ~22 us; the Python in `receive` is about
2 us of it (the rest is the uvloop and kernel work any relay pays, and cache
misses on hundreds of streams' state).

`stop()` gives the socket back.  Stop a relay before closing either session.

`RelayWatch` looks after every relay of a loop with one timer: each relay's
owner registers a `check` (is the relay still right: no tap, no hold, same
partner?), and the watch calls each once every `interval` (a slice of them at
a time) and wakes the owner whose check says no.  Hundreds of relays then
cost one timer, not one timer, event and task switch each, and never one
long callback.
"""

from __future__ import annotations

import asyncio
import struct
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from .rtp import MAX_DROPOUT, MAX_MISORDER
from .rtp_session import Address, RtpSession

__all__ = ["RelayWatch", "RtpRelay"]

_SEQ_TS_SSRC = struct.Struct("!HII")
_HEADER = struct.Struct("!BBHII")
_MAX_DROPOUT, _MAX_MISORDER = MAX_DROPOUT, MAX_MISORDER

# Indexes into a relay's state list (see RtpRelay._build).
(
    _EXPECT,  # the latched far end of the source: only its packets take the short way
    _REMOTE,  # where the sink sends, or None: not now
    _LAST,  # loop.time() of the last packet taken the short way (the media timeout's)
    _OCTETS,  # payload octets taken the short way (the session's octets_received)
    _SSRC,  # RFC 3550 A.1 state, as ReceiverStats.in_order_state gives it ...
    _MAX_SEQ,
    _CYCLES,
    _JITTER,
    _LAST_ARRIVAL,
    _LAST_TS,
    _RECEIVED,  # ... and the packets counted since the last sync
    _ANCHOR_SSRC,  # the source SSRC the offsets below were anchored on
    _SEQ_OFF,
    _TS_OFF,
    _NEXT_SEQ,  # the sink sender's sequence and timestamp after our last packet
    _NEXT_TS,
    _SENT,  # packets and octets sent since the last sync
    _SENT_OCTETS,
    _MARK,  # the next packet relayed starts a new source (marker bit)
    _CHECK,  # look at the sink's sender before the next packet (it may have sent meanwhile)
) = range(20)
_SIZE = 20


class RtpRelay:
    """Relays what `source` receives onto `sink`'s stream until `stop()`; see the module docstring.

    `sending` says whether the sink may send at all (not while its far end
    holds with sendonly/inactive, RFC 3264 8.4); `refresh` changes it.
    """

    def __init__(self, source: RtpSession, sink: RtpSession, *, sending: bool = True) -> None:
        self.source, self.sink = source, sink
        self.stopped = False
        self._sending = sending
        self._build()
        self.refresh()
        source.pass_through(self._taken)
        sink.lend_sender(self._sync)
        if source.can_divert:
            source.divert(self._receive, self._tally, self._sync)

    def _build(self) -> None:
        """The per-packet closures; their mutable state is one list, `state`, indexed by the names below.

        A relay at capacity touches hundreds of streams' state once every
        20 ms each, so what a packet reads and writes is kept in one place:
        constants are default arguments (fast locals), counts stay in `state`
        until `sync` writes them to the session's `ReceiverStats` and the
        sink's `RtpSender` (which the sessions ask for before any use of them).
        """
        source, sink = self.source, self.sink
        slow = source.datagram_received
        audio_pt = source.config.recv_payload_type
        if audio_pt is None:
            audio_pt = source.config.payload_type
        stats, sender = source.stats_in, sink.sender
        now = asyncio.get_running_loop().time
        send = sink.raw_sendto()
        state: list[Any] = [None] * _SIZE
        state[_EXPECT] = state[_REMOTE] = None
        state[_LAST] = now()
        state[_OCTETS] = state[_RECEIVED] = state[_SENT] = state[_SENT_OCTETS] = 0
        state[_SEQ_OFF] = state[_TS_OFF] = 0
        state[_NEXT_SEQ] = state[_NEXT_TS] = -1
        state[_MARK] = state[_CHECK] = True  # the first packet relayed marks the discontinuity
        state[_ANCHOR_SSRC] = -1

        def load_stats() -> None:
            (
                state[_SSRC],
                state[_MAX_SEQ],
                state[_CYCLES],
                state[_JITTER],
                state[_LAST_ARRIVAL],
                state[_LAST_TS],
            ) = stats.in_order_state()
            if state[_ANCHOR_SSRC] == -1:
                state[_ANCHOR_SSRC] = state[_SSRC]

        def sync() -> None:
            if state[_RECEIVED]:
                stats.add_in_order(
                    state[_RECEIVED],
                    state[_MAX_SEQ],
                    state[_CYCLES],
                    state[_JITTER],
                    state[_LAST_ARRIVAL],
                    state[_LAST_TS],
                )
                state[_RECEIVED] = 0
            if state[_SENT]:
                sender.sequence, sender.timestamp = state[_NEXT_SEQ], state[_NEXT_TS]
                sender.packets_sent += state[_SENT]
                sender.octets_sent += state[_SENT_OCTETS]
                state[_SENT] = state[_SENT_OCTETS] = 0
            state[_CHECK] = True  # someone may use the sender now: look at it before the next packet

        def receive(
            data: bytes,
            addr: Address,
            state: list[Any] = state,
            audio_pt: int = audio_pt,
            out_pt: int = sink.config.payload_type,
            out_ssrc: int = sender.ssrc,
            samples: int = sink.config.samples_per_packet,
            rate: int = stats.clock_rate,
            now: Callable[[], float] = now,
            unpack: Callable[[bytes, int], tuple[Any, ...]] = _SEQ_TS_SSRC.unpack_from,
            pack: Callable[..., bytes] = _HEADER.pack,
            send: Callable[[bytes, Address], None] = send,
        ) -> None:
            if len(data) <= 12 or data[1] != audio_pt or data[0] != 0x80 or addr != state[_EXPECT]:
                the_usual_way(data, addr)  # see the module docstring
                return
            seq, ts, ssrc = unpack(data, 2)
            if ssrc != state[_SSRC]:
                the_usual_way(data, addr)  # a new source: RFC 3550 A.1 starts over (8.2)
                return
            # RFC 3550 A.1 in order (or a duplicate / reordered packet, counted but not a new maximum).
            max_seq = state[_MAX_SEQ]
            udelta = (seq - max_seq) & 0xFFFF
            if udelta < _MAX_DROPOUT:
                if seq < max_seq:
                    state[_CYCLES] += 0x10000
                state[_MAX_SEQ] = seq
            elif udelta <= 0x10000 - _MAX_MISORDER:
                the_usual_way(data, addr)  # a jump: A.1's bad-sequence rules
                return
            arrival = now()
            last = state[_LAST_ARRIVAL]
            if last is not None:  # RFC 3550 A.8 interarrival jitter
                d = (arrival - last) * rate - (
                    ((ts - state[_LAST_TS] + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                )
                jitter = state[_JITTER]
                state[_JITTER] = jitter + ((d if d >= 0 else -d) - jitter) / 16
            state[_LAST_ARRIVAL] = state[_LAST] = arrival
            state[_LAST_TS] = ts
            state[_RECEIVED] += 1
            size = len(data) - 12
            state[_OCTETS] += size
            remote = state[_REMOTE]
            if remote is None:
                return
            marker = 0
            if state[_CHECK]:
                state[_CHECK] = False
                if state[_MARK] or sender.sequence != state[_NEXT_SEQ] or sender.timestamp != state[_NEXT_TS]:
                    marker = 0x80 if state[_MARK] else 0
                    state[_MARK] = False
                    state[_NEXT_SEQ], state[_NEXT_TS] = sender.sequence, sender.timestamp
                    state[_SEQ_OFF] = (sender.sequence - seq) & 0xFFFF
                    state[_TS_OFF] = (sender.timestamp - ts) & 0xFFFFFFFF
            out_seq = (seq + state[_SEQ_OFF]) & 0xFFFF
            out_ts = (ts + state[_TS_OFF]) & 0xFFFFFFFF
            send(pack(0x80, marker | out_pt, out_seq, out_ts, out_ssrc) + data[12:], remote)
            if (out_seq - state[_NEXT_SEQ]) & 0xFFFF < 0x8000:  # in order: the sender moves on
                state[_NEXT_SEQ] = (out_seq + 1) & 0xFFFF
                state[_NEXT_TS] = (out_ts + samples) & 0xFFFFFFFF
            state[_SENT] += 1
            state[_SENT_OCTETS] += size

        def the_usual_way(data: bytes, addr: Address) -> None:
            """The source session's own path, with everything counted so far handed to it first."""
            sync()
            slow(data, addr)  # its audio comes back through `taken`
            load_stats()
            state[_EXPECT] = source.remote_address if source.latched or not source.config.latch else None

        def taken(data: bytes) -> None:
            """Audio the source session took its usual way (and counted): relay it, header and all."""
            remote = state[_REMOTE]
            if remote is None:
                return
            seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
            if ssrc != state[_ANCHOR_SSRC]:  # a new source (RFC 3550 5.1: a discontinuity)
                state[_ANCHOR_SSRC] = ssrc
                state[_MARK] = state[_CHECK] = True
            marker = data[1] & 0x80
            if state[_CHECK]:
                state[_CHECK] = False
                if state[_MARK] or sender.sequence != state[_NEXT_SEQ] or sender.timestamp != state[_NEXT_TS]:
                    marker |= 0x80 if state[_MARK] else 0
                    state[_MARK] = False
                    state[_NEXT_SEQ], state[_NEXT_TS] = sender.sequence, sender.timestamp
                    state[_SEQ_OFF] = (sender.sequence - seq) & 0xFFFF
                    state[_TS_OFF] = (sender.timestamp - ts) & 0xFFFFFFFF
            out_seq = (seq + state[_SEQ_OFF]) & 0xFFFF
            out_ts = (ts + state[_TS_OFF]) & 0xFFFFFFFF
            out = _HEADER.pack(data[0], marker | sink.config.payload_type, out_seq, out_ts, sender.ssrc)
            sink.raw_sendto()(out + data[12:], remote)
            if (out_seq - state[_NEXT_SEQ]) & 0xFFFF < 0x8000:
                state[_NEXT_SEQ] = (out_seq + 1) & 0xFFFF
                state[_NEXT_TS] = (out_ts + sink.config.samples_per_packet) & 0xFFFFFFFF
            state[_SENT] += 1
            state[_SENT_OCTETS] += len(data) - 12

        def tally() -> tuple[float, int]:
            return state[_LAST], state[_OCTETS]

        load_stats()
        self._state = state
        self._receive, self._taken, self._tally, self._sync = receive, taken, tally, sync

    def refresh(self, sending: bool | None = None) -> None:
        """Look again at both ends: the source's far end (a re-INVITE re-arms latching) and where the sink sends."""
        if sending is not None:
            self._sending = sending
        source, sink, state = self.source, self.sink, self._state
        state[_EXPECT] = source.remote_address if source.latched or not source.config.latch else None
        live = self._sending and not sink.closed and not self.stopped
        state[_REMOTE] = sink.remote_address if live else None

    @property
    def last_packet(self) -> float:
        """`loop.time()` of the last packet relayed the short way (or of the start)."""
        return float(self._state[_LAST])

    def stop(self) -> None:
        """Give the source's socket back to its session; nothing more is relayed."""
        if self.stopped:
            return
        self.stopped = True
        self._state[_REMOTE] = None
        source = self.source
        if source.can_divert:
            source.divert(None)
        self._sync()
        source.pass_through(None)
        self.sink.lend_sender(None)


class RelayWatch:
    """One timer over every relay of a loop; see the module docstring.

    `watch(check)` returns a future that is done when `check()` first returns
    False (or raises), or when the owner resolves it itself (an event that
    cannot wait for the next look); cancelling it unregisters.  Each check runs
    once per `interval`, but the checks are spread over `slices` steps of the
    interval, so hundreds of them never hold the loop up at once (a media tick
    is 20 ms).
    """

    _per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RelayWatch] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.25, slices: int = 10) -> None:
        self._loop = loop
        self.interval = interval
        self.slices = max(1, slices)
        self._checks: dict[asyncio.Future[None], Callable[[], bool]] = {}
        self._order: deque[asyncio.Future[None]] = deque()  # round robin; forgotten ones drop out
        self._timer: asyncio.TimerHandle | None = None
        self.sweeps = 0  # steps run

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop | None = None) -> RelayWatch:
        """The watch shared by everything on `loop` (the running loop by default)."""
        loop = loop or asyncio.get_running_loop()
        watch = cls._per_loop.get(loop)
        if watch is None:
            watch = cls._per_loop[loop] = cls(loop)
        return watch

    def __len__(self) -> int:
        return len(self._checks)

    def watch(self, check: Callable[[], bool]) -> asyncio.Future[None]:
        future: asyncio.Future[None] = self._loop.create_future()
        self._checks[future] = check
        self._order.append(future)
        future.add_done_callback(self._forget)
        if self._timer is None:
            self._timer = self._loop.call_later(self.interval / self.slices, self._step)
        return future

    def _forget(self, future: asyncio.Future[None]) -> None:
        self._checks.pop(future, None)

    def _step(self) -> None:
        self._timer = None
        self.sweeps += 1
        order, checks = self._order, self._checks
        for _ in range(min(len(order), -(-len(order) // self.slices))):
            future = order.popleft()
            check = checks.get(future)
            if check is None or future.done():
                continue
            try:
                keep = check()
            except Exception as exc:  # a broken check ends its relay, not the watch
                future.set_exception(exc)
                continue
            if keep:
                order.append(future)
            else:
                future.set_result(None)
        if checks:
            self._timer = self._loop.call_later(self.interval / self.slices, self._step)
        else:
            order.clear()
