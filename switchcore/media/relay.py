"""RTP relay: one direction of a same-codec bridge, packet by packet, and the watch over many relays.

Theory of operation.  While two bridged streams use the same codec and packet
time and nothing listens in, a packet from the source's far end needs at most
a new sequence number, timestamp, SSRC and payload type to go out on the
sink's stream (RFC 3550 7.2: a translator that does not change the payload),
and none at all when both streams use one payload type: the sink's stream then
takes the source's SSRC and numbering, as a pass-through translator (or
FreeSWITCH's proxy media) does.  An `RtpRelay` takes over the source session's
socket (`RtpSession.divert`) and does exactly that in one small method, the
per-packet path of a switch at capacity:

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
- the sink's `RtpSender` is lent to the relay (`RtpSession.lend_sender`).  The
  first packet and a new source SSRC are a discontinuity, sent with the marker
  bit (RFC 3550 5.1): with one payload type on both streams, and a source SSRC
  that is neither the sink's own already nor its far end's (which would see
  its own SSRC come back, RFC 3550 8.2), the sender takes that SSRC and the
  source's numbering, and packets go out untouched; otherwise the offsets are
  anchored so the sink's own numbering goes on.  A packet the sink sent
  meanwhile (an RFC 4733 event, `send_dtmf`, which syncs first) moves the
  offsets on (the header is rewritten from then on), so sequence numbers stay
  unique; the sender's sequence, timestamp and counters are written back on
  every sync, so its RTCP sender reports and later frames continue the same
  numbering; a reordered packet keeps its place but never moves the sender back.

Measured with bench/bench_sip.py's endpoint (250 calls, 25,000 packets/s):
a bare uvloop relay costs ~17 us of CPU per packet here, almost all of it the
kernel's send and receive and uvloop's own work, which any relay pays; this
relay alone ~22 us (1.2-1.35x the bare one in the same run, where rewriting
every header cost 1.6-1.7x).  The Python in `_receive` is about 6,300
machine instructions per packet passed through untouched (valgrind, 250
relays), less than half what a rewrite of each header and counter took; what
is left is A.1/A.8's statistics and the cache misses of hundreds of streams.

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
import sys
import weakref
from collections import deque
from collections.abc import Callable

from .rtp import MAX_DROPOUT, MAX_MISORDER
from .rtp_session import Address, RtpSession

__all__ = ["RelayWatch", "RtpRelay"]

_unpack = struct.Struct("!HII").unpack_from  # sequence, timestamp, SSRC at offset 2
_pack = struct.Struct("!BBHII").pack
_MAX_DROPOUT, _MAX_MISORDER = MAX_DROPOUT, MAX_MISORDER


class RtpRelay:
    """Relays what `source` receives onto `sink`'s stream until `stop()`; see the module docstring.

    `sending` says whether the sink may send at all (not while its far end
    holds with sendonly/inactive, RFC 3264 8.4); `refresh` changes it.

    A relay at capacity touches hundreds of streams' state once every 20 ms
    each, so all a packet reads and writes is in this one slotted object, and
    `_receive` is a plain method of it: no closure cells or default arguments
    to touch (and count references of) on every call.  The counts are kept as
    few as the short way allows: `_count` packets since the last sync, all of
    `_usual` octets but for `_extra`; the packets not sent (the sink may not
    send) are counted apart, on their own rare path.  `_sync` turns them into
    the session's `ReceiverStats` and the sink's `RtpSender` figures (which the
    sessions ask for before any use of them).
    """

    __slots__ = (
        "_anchor_ssrc",  # the source SSRC the offsets were anchored on
        "_audio_pt",  # the payload type of the source's audio
        "_check",  # look at the sink's sender before the next packet (it may have sent meanwhile)
        "_count",  # packets taken the short way since the last sync ...
        "_cycles",
        "_expect_host",  # the latched far end of the source: only its packets take the short way
        "_expect_port",
        "_extra",  # ... and their payload octets beyond `_usual` - 12 each
        "_jitter",
        "_last_arrival",
        "_last_ts",
        "_loop",
        "_mark",  # the next packet relayed starts a new source (marker bit)
        "_max_seq",
        "_octets",  # payload octets taken the short way before the last sync (for `_tally`)
        "_out_pt",  # the sink's payload type
        "_passable",  # one payload type on both streams: packets could go out as they are
        "_passing",  # packets go out untouched: the sink's stream carries the source's header
        "_rate",  # the source's RTP clock rate (a float: the jitter is one)
        "_remote",  # where the sink sends, or None: not now
        "_samples",  # timestamp units of one packet on the sink's stream
        "_send",  # the sink socket's own sendto
        "_sending",
        "_sender",  # the sink's RtpSender, lent to us
        "_sent_seq",  # the sink sender's sequence and timestamp of the last packet sent in order
        "_sent_ts",
        "_seq_off",
        "_slow",  # the source session's own datagram_received
        "_ssrc",  # RFC 3550 A.1 state, as ReceiverStats.in_order_state gives it
        "_started",
        "_stats",  # the source session's ReceiverStats
        "_taken_octets",
        "_taken_packets",  # packets (and octets) relayed from the usual way since the last sync
        "_ts_off",
        "_unsent",  # packets (and octets) of `_count` not sent
        "_unsent_octets",
        "_usual",  # the datagram size of a G.711 packet (a byte a sample); others count in `_extra`
        "sink",
        "source",
        "stopped",
    )

    def __init__(self, source: RtpSession, sink: RtpSession, *, sending: bool = True) -> None:
        self.source, self.sink = source, sink
        self.stopped = False
        self._sending = sending
        audio_pt = source.config.recv_payload_type
        self._audio_pt = source.config.payload_type if audio_pt is None else audio_pt
        self._out_pt = sink.config.payload_type
        self._passable = self._out_pt == self._audio_pt
        self._stats, self._sender = source.stats_in, sink.sender
        self._rate = float(source.stats_in.clock_rate)
        self._samples = sink.config.samples_per_packet
        self._usual = 12 + self._samples
        self._loop = asyncio.get_running_loop()
        self._slow = source.datagram_received
        self._send = sink.raw_sendto()
        self._started = self._loop.time()
        self._expect_host, self._expect_port = "", -1
        self._remote: Address | None = None
        self._count = self._extra = self._octets = 0
        self._taken_packets = self._taken_octets = self._unsent = self._unsent_octets = 0
        self._anchor_ssrc = -1
        self._seq_off = self._ts_off = 0
        self._sent_seq = self._sent_ts = -2  # nothing sent yet: never the sender's next
        self._mark = self._check = True  # the first packet relayed marks the discontinuity
        self._passing = False
        self._ssrc, self._max_seq, self._cycles, self._last_ts = -1, 0, 0, 0
        self._jitter = 0.0
        self._last_arrival: float | None = None
        self._load_stats()
        self.refresh()
        source.pass_through(self._taken)
        sink.lend_sender(self._sync)
        if source.can_divert:
            source.divert(self._receive, self._tally, self._sync)

    # ---- the short way: every packet of a relayed call ------------------------------------

    def _receive(self, data: bytes, addr: Address) -> None:
        size = len(data)
        if (
            size <= 12
            or data[1] != self._audio_pt
            or data[0] != 0x80
            or addr[1] != self._expect_port
            or addr[0] != self._expect_host
        ):
            self._usual_way(data, addr)  # see the module docstring
            return
        seq, ts, ssrc = _unpack(data, 2)
        if ssrc != self._ssrc:
            self._usual_way(data, addr)  # a new source: RFC 3550 A.1 starts over (8.2)
            return
        # RFC 3550 A.1 in order (or a duplicate / reordered packet, counted but not a new maximum).
        max_seq = self._max_seq
        udelta = (seq - max_seq) & 0xFFFF
        if udelta < _MAX_DROPOUT:
            if seq < max_seq:
                self._cycles += 0x10000
            self._max_seq = seq
        elif udelta <= 0x10000 - _MAX_MISORDER:
            self._usual_way(data, addr)  # a jump: A.1's bad-sequence rules
            return
        arrival = self._loop.time()
        last = self._last_arrival
        if last is not None:  # RFC 3550 A.8 interarrival jitter
            d = (arrival - last) * self._rate - (ts - self._last_ts)
            if d < 0.0:
                d = -d
            if d >= 2147483648.0:  # the timestamps wrapped: they differ modulo 2^32
                d = abs(d - 4294967296.0)
            jitter = self._jitter
            self._jitter = jitter + (d - jitter) * 0.0625  # J += (|D| - J) / 16
        self._last_arrival = arrival
        self._last_ts = ts
        self._count += 1
        if size != self._usual:
            self._extra += size - self._usual
        remote = self._remote
        if remote is None:
            self._unsent += 1
            self._unsent_octets += size - 12
            return
        # (`_send` is a slot holding a bound method: read it as an attribute, or every call
        # looks it up unspecialised as a method.)
        send = self._send
        if self._passing:  # the source's own header goes on (see `_anchor`)
            send(data, remote)
            # In order: the sender moves on (a reordered packet never moves it back).
            if udelta < _MAX_DROPOUT:
                self._sent_seq = seq
                self._sent_ts = ts
            return
        marker = self._anchor(seq, ts, ssrc) if self._check else 0
        if self._passing and not marker:
            send(data, remote)
            if udelta < _MAX_DROPOUT:
                self._sent_seq = seq
                self._sent_ts = ts
            return
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        send(_pack(0x80, marker | self._out_pt, out_seq, out_ts, self._sender.ssrc) + data[12:], remote)
        if udelta < _MAX_DROPOUT:
            self._sent_seq = out_seq
            self._sent_ts = out_ts

    # ---- the rest: rare -----------------------------------------------------------------

    def _load_stats(self) -> None:
        (self._ssrc, self._max_seq, self._cycles, self._jitter, self._last_arrival, self._last_ts) = (
            self._stats.in_order_state()
        )
        if self._anchor_ssrc == -1:
            self._anchor_ssrc = self._ssrc

    def _sync(self) -> None:
        """Hand what the short way counted to the session's statistics and the sink's sender."""
        received = self._count
        if received:
            octets = received * (self._usual - 12) + self._extra
            self._octets += octets
            self._stats.add_in_order(
                received, self._max_seq, self._cycles, self._jitter, self._last_arrival, self._last_ts
            )
            sent = received - self._unsent + self._taken_packets
            sent_octets = octets - self._unsent_octets + self._taken_octets
            self._count = self._extra = self._unsent = self._unsent_octets = 0
        else:
            sent, sent_octets = self._taken_packets, self._taken_octets
        if sent:
            sender = self._sender
            sender.sequence = (self._sent_seq + 1) & 0xFFFF
            sender.timestamp = (self._sent_ts + self._samples) & 0xFFFFFFFF
            sender.packets_sent += sent
            sender.octets_sent += sent_octets
        self._taken_packets = self._taken_octets = 0
        self._check = True  # someone may use the sender now: look at it before the next packet
        self._passing = False

    def _anchor(self, seq: int, ts: int, ssrc: int) -> int:
        """Look at the sink's sender before relaying `seq`/`ts`: the marker bit to set on it.

        The first packet and a new source are a discontinuity (RFC 3550 5.1),
        so they are marked; when both streams use one payload type and the
        source's SSRC is new to the sink's far end and not its own, the
        sink's stream takes the source's SSRC and numbering from then on
        and packets go out untouched (what a pass-through translator does,
        RFC 3550 7.2).  A packet the sink sent meanwhile (an RFC 4733 event)
        moves the offsets on instead, so sequence numbers stay unique.
        """
        sender = self._sender
        self._check = False
        marker = 0
        if self._mark:
            self._mark = False
            marker = 0x80
            if self._passable and ssrc != sender.ssrc and ssrc != self.sink.stats_in.ssrc:
                sender.ssrc = ssrc
                self._seq_off = self._ts_off = 0
            else:
                self._seq_off = (sender.sequence - seq) & 0xFFFF
                self._ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
        elif (
            sender.sequence != (self._sent_seq + 1) & 0xFFFF
            or sender.timestamp != (self._sent_ts + self._samples) & 0xFFFFFFFF
        ):
            self._seq_off = (sender.sequence - seq) & 0xFFFF
            self._ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
        else:
            self._passing = self._passable and not (self._seq_off or self._ts_off) and sender.ssrc == ssrc
            return 0
        self._sent_seq = (seq + self._seq_off) & 0xFFFF
        self._sent_ts = (ts + self._ts_off) & 0xFFFFFFFF
        self._passing = self._passable and not (self._seq_off or self._ts_off) and sender.ssrc == ssrc
        return marker

    def _usual_way(self, data: bytes, addr: Address) -> None:
        """The source session's own path, with everything counted so far handed to it first."""
        self._sync()
        self._slow(data, addr)  # its audio comes back through `_taken`
        self._load_stats()
        self._look_at_the_source()

    def _taken(self, data: bytes) -> None:
        """Audio the source session took its usual way (and counted): relay it, header and all."""
        remote = self._remote
        if remote is None:
            return
        seq, ts, ssrc = _unpack(data, 2)
        if ssrc != self._anchor_ssrc:  # a new source (RFC 3550 5.1: a discontinuity)
            self._anchor_ssrc = ssrc
            self._mark = self._check = True
        marker = data[1] & 0x80
        if self._check:
            marker |= self._anchor(seq, ts, ssrc)
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        self._send(
            _pack(data[0], marker | self._out_pt, out_seq, out_ts, self._sender.ssrc) + data[12:], remote
        )
        if (out_seq - self._sent_seq - 1) & 0xFFFF < 0x8000:
            self._sent_seq, self._sent_ts = out_seq, out_ts
        self._taken_packets += 1
        self._taken_octets += len(data) - 12

    def _tally(self) -> tuple[float, int]:
        """When the short way last had a packet, and the payload octets it took (`RtpSession.divert`)."""
        last = self._last_arrival
        octets = self._octets + self._count * (self._usual - 12) + self._extra
        return (self._started if last is None else last), octets

    # ---- the owner's -------------------------------------------------------------------

    def refresh(self, sending: bool | None = None) -> None:
        """Look again at both ends: the source's far end (a re-INVITE re-arms latching) and where the sink sends."""
        if sending is not None:
            self._sending = sending
        sink = self.sink
        self._look_at_the_source()
        live = self._sending and not sink.closed and not self.stopped
        self._remote = sink.remote_address if live else None

    def _look_at_the_source(self) -> None:
        """Expect packets from the source's latched far end (any address while it latches anew)."""
        source = self.source
        expect = source.remote_address if source.latched or not source.config.latch else None
        if expect is None:
            self._expect_host, self._expect_port = "", -1
        else:  # compared with each packet's: one interned host string for all relays
            self._expect_host, self._expect_port = sys.intern(expect[0]), expect[1]

    @property
    def last_packet(self) -> float:
        """`loop.time()` of the last packet relayed the short way (or of the start)."""
        return self._tally()[0]

    def stop(self) -> None:
        """Give the source's socket back to its session; nothing more is relayed."""
        if self.stopped:
            return
        self.stopped = True
        self._remote = None
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
