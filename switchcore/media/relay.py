"""RTP relay: one direction of a same-codec bridge, packet by packet, and the watch over many relays.

Theory of operation.  While two bridged streams use the same codec and packet
time and nothing listens in, a packet from the source's far end needs at most
a new sequence number, timestamp, SSRC and payload type to go out on the
sink's stream (RFC 3550 7.2: a translator that does not change the payload),
and none at all when both streams use one payload type: the sink's stream then
takes the source's SSRC and numbering, as a pass-through translator (or
FreeSWITCH's proxy media) does.  An `RtpRelay` takes over the source session's
socket (`RtpSession.divert`) and does exactly that in one small closure, the
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

Measured with bench/bench_sip.py's endpoint (200 calls, 20,000 packets/s):
a bare uvloop relay costs ~17 us of CPU per packet here, almost all of it the
kernel's send and receive and uvloop's own work, which any relay pays.  The
Python in `receive` is about 6,800 machine instructions per packet passed
through untouched (valgrind, 250 relays), half what it took when every header
was rewritten and every count kept as it came.

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

from .rtp import MAX_DROPOUT, MAX_MISORDER, RtpSender
from .rtp_session import Address, RtpSession

__all__ = ["RelayWatch", "RtpRelay"]

_SEQ_TS_SSRC = struct.Struct("!HII")
_HEADER = struct.Struct("!BBHII")
_MAX_DROPOUT, _MAX_MISORDER = MAX_DROPOUT, MAX_MISORDER


class _State:
    """What one relay's packets read and write, in slots (one small object a packet touches).

    The counts are kept as few as the short way allows: `count` packets since
    the last sync, all of `usual` octets but for `extra`; the packets that were
    not sent (the sink may not send) are counted apart, on their own rare path.
    `sync` turns them into the session's `ReceiverStats` and the sink's
    `RtpSender` figures.
    """

    __slots__ = (
        "anchor_ssrc",  # the source SSRC the offsets were anchored on
        "check",  # look at the sink's sender before the next packet (it may have sent meanwhile)
        "count",  # packets taken the short way since the last sync ...
        "cycles",
        "expect",  # the latched far end of the source: only its packets take the short way
        "extra",  # ... and their payload octets beyond `usual` each
        "jitter",
        "last_arrival",
        "last_ts",
        "mark",  # the next packet relayed starts a new source (marker bit)
        "max_seq",
        "octets",  # payload octets taken the short way before the last sync (for `tally`)
        "passing",  # packets go out untouched: the sink's stream carries the source's header
        "remote",  # where the sink sends, or None: not now
        "sent_seq",  # the sink sender's sequence and timestamp of the last packet sent in order
        "sent_ts",
        "seq_off",
        "ssrc",  # RFC 3550 A.1 state, as ReceiverStats.in_order_state gives it
        "started",
        "taken",  # packets (and octets) relayed from the usual way since the last sync
        "taken_octets",
        "ts_off",
        "unsent",  # packets (and octets) of `count` not sent
        "unsent_octets",
    )

    def __init__(self, started: float) -> None:
        self.expect: Address | None = None
        self.remote: Address | None = None
        self.started = started
        self.count = self.extra = self.octets = 0
        self.taken = self.taken_octets = self.unsent = self.unsent_octets = 0
        self.anchor_ssrc = -1
        self.seq_off = self.ts_off = 0
        self.sent_seq = self.sent_ts = -2  # nothing sent yet: never the sender's next
        self.mark = self.check = True  # the first packet relayed marks the discontinuity
        self.passing = False
        self.ssrc, self.max_seq, self.cycles, self.last_ts = -1, 0, 0, 0
        self.jitter = 0.0
        self.last_arrival: float | None = None


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
        """The per-packet closures; their mutable state is one `_State`, `st`.

        A relay at capacity touches hundreds of streams' state once every
        20 ms each, so what a packet reads and writes is kept in one place:
        constants are default arguments (fast locals), counts stay in `st`
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
        samples = sink.config.samples_per_packet
        payload = samples  # G.711: a byte a sample; any other size counts in `extra`
        out_pt = sink.config.payload_type
        passable = out_pt == audio_pt  # the source's packets could go out as they are
        st = _State(now())

        def load_stats() -> None:
            st.ssrc, st.max_seq, st.cycles, st.jitter, st.last_arrival, st.last_ts = stats.in_order_state()
            if st.anchor_ssrc == -1:
                st.anchor_ssrc = st.ssrc

        def sync() -> None:
            received = st.count
            if received:
                octets = received * payload + st.extra
                st.octets += octets
                stats.add_in_order(received, st.max_seq, st.cycles, st.jitter, st.last_arrival, st.last_ts)
                sent = received - st.unsent + st.taken
                sent_octets = octets - st.unsent_octets + st.taken_octets
                st.count = st.extra = st.unsent = st.unsent_octets = 0
            else:
                sent, sent_octets = st.taken, st.taken_octets
            if sent:
                sender.sequence, sender.timestamp = (
                    (st.sent_seq + 1) & 0xFFFF,
                    (st.sent_ts + samples) & 0xFFFFFFFF,
                )
                sender.packets_sent += sent
                sender.octets_sent += sent_octets
            st.taken = st.taken_octets = 0
            st.check = True  # someone may use the sender now: look at it before the next packet
            st.passing = False

        def anchor(seq: int, ts: int, ssrc: int) -> int:
            """Look at the sink's sender before relaying `seq`/`ts`: the marker bit to set on it.

            The first packet and a new source are a discontinuity (RFC 3550 5.1),
            so they are marked; when both streams use one payload type and the
            source's SSRC is new to the sink's far end and not its own, the
            sink's stream takes the source's SSRC and numbering from then on
            and packets go out untouched (what a pass-through translator does,
            RFC 3550 7.2).  A packet the sink sent meanwhile (an RFC 4733 event)
            moves the offsets on instead, so sequence numbers stay unique.
            """
            st.check = False
            marker = 0
            if st.mark:
                st.mark = False
                marker = 0x80
                if passable and ssrc != sender.ssrc and ssrc != sink.stats_in.ssrc:
                    sender.ssrc = ssrc
                    st.seq_off = st.ts_off = 0
                else:
                    st.seq_off = (sender.sequence - seq) & 0xFFFF
                    st.ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
            elif (
                sender.sequence != (st.sent_seq + 1) & 0xFFFF
                or sender.timestamp != (st.sent_ts + samples) & 0xFFFFFFFF
            ):
                st.seq_off = (sender.sequence - seq) & 0xFFFF
                st.ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
            else:
                st.passing = passable and not (st.seq_off or st.ts_off) and sender.ssrc == ssrc
                return 0
            st.sent_seq, st.sent_ts = (seq + st.seq_off) & 0xFFFF, (ts + st.ts_off) & 0xFFFFFFFF
            st.passing = passable and not (st.seq_off or st.ts_off) and sender.ssrc == ssrc
            return marker

        def receive(
            data: bytes,
            addr: Address,
            st: _State = st,
            audio_pt: int = audio_pt,
            out_pt: int = out_pt,
            rate: float = float(stats.clock_rate),
            usual: int = payload + 12,
            now: Callable[[], float] = now,
            unpack: Callable[[bytes, int], tuple[Any, ...]] = _SEQ_TS_SSRC.unpack_from,
            pack: Callable[..., bytes] = _HEADER.pack,
            send: Callable[[bytes, Address], None] = send,
            sender: RtpSender = sender,
        ) -> None:
            size = len(data)
            if size <= 12 or data[1] != audio_pt or data[0] != 0x80 or addr != st.expect:
                the_usual_way(data, addr)  # see the module docstring
                return
            seq, ts, ssrc = unpack(data, 2)
            if ssrc != st.ssrc:
                the_usual_way(data, addr)  # a new source: RFC 3550 A.1 starts over (8.2)
                return
            # RFC 3550 A.1 in order (or a duplicate / reordered packet, counted but not a new maximum).
            max_seq = st.max_seq
            udelta = (seq - max_seq) & 0xFFFF
            if udelta < _MAX_DROPOUT:
                if seq < max_seq:
                    st.cycles += 0x10000
                st.max_seq = seq
            elif udelta <= 0x10000 - _MAX_MISORDER:
                the_usual_way(data, addr)  # a jump: A.1's bad-sequence rules
                return
            arrival = now()
            last = st.last_arrival
            if last is not None:  # RFC 3550 A.8 interarrival jitter
                d = (arrival - last) * rate - (ts - st.last_ts)
                if d < 0.0:
                    d = -d
                if d >= 2147483648.0:  # the timestamps wrapped: they differ modulo 2^32
                    d = abs(d - 4294967296.0)
                jitter = st.jitter
                st.jitter = jitter + (d - jitter) / 16
            st.last_arrival = arrival
            st.last_ts = ts
            st.count += 1
            if size != usual:
                st.extra += size - usual
            remote = st.remote
            if remote is None:
                st.unsent += 1
                st.unsent_octets += size - 12
                return
            if st.passing:  # the source's own header goes on (see `anchor`)
                send(data, remote)
                # In order: the sender moves on (a reordered packet never moves it back).
                if udelta < _MAX_DROPOUT:
                    st.sent_seq = seq
                    st.sent_ts = ts
                return
            marker = anchor(seq, ts, ssrc) if st.check else 0
            if st.passing and not marker:
                send(data, remote)
                if udelta < _MAX_DROPOUT:
                    st.sent_seq = seq
                    st.sent_ts = ts
                return
            out_seq = (seq + st.seq_off) & 0xFFFF
            out_ts = (ts + st.ts_off) & 0xFFFFFFFF
            send(pack(0x80, marker | out_pt, out_seq, out_ts, sender.ssrc) + data[12:], remote)
            if udelta < _MAX_DROPOUT:
                st.sent_seq = out_seq
                st.sent_ts = out_ts

        def the_usual_way(data: bytes, addr: Address) -> None:
            """The source session's own path, with everything counted so far handed to it first."""
            sync()
            slow(data, addr)  # its audio comes back through `taken`
            load_stats()
            st.expect = source.remote_address if source.latched or not source.config.latch else None

        def taken(data: bytes) -> None:
            """Audio the source session took its usual way (and counted): relay it, header and all."""
            remote = st.remote
            if remote is None:
                return
            seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
            if ssrc != st.anchor_ssrc:  # a new source (RFC 3550 5.1: a discontinuity)
                st.anchor_ssrc = ssrc
                st.mark = st.check = True
            marker = data[1] & 0x80
            if st.check:
                marker |= anchor(seq, ts, ssrc)
            out_seq = (seq + st.seq_off) & 0xFFFF
            out_ts = (ts + st.ts_off) & 0xFFFFFFFF
            out = _HEADER.pack(data[0], marker | out_pt, out_seq, out_ts, sender.ssrc)
            sink.raw_sendto()(out + data[12:], remote)
            if (out_seq - st.sent_seq - 1) & 0xFFFF < 0x8000:
                st.sent_seq, st.sent_ts = out_seq, out_ts
            st.taken += 1
            st.taken_octets += len(data) - 12

        def tally() -> tuple[float, int]:
            last = st.last_arrival
            return (st.started if last is None else last), st.octets + st.count * payload + st.extra

        load_stats()
        self._st = st
        self._receive, self._taken, self._tally, self._sync = receive, taken, tally, sync

    def refresh(self, sending: bool | None = None) -> None:
        """Look again at both ends: the source's far end (a re-INVITE re-arms latching) and where the sink sends."""
        if sending is not None:
            self._sending = sending
        source, sink, st = self.source, self.sink, self._st
        st.expect = source.remote_address if source.latched or not source.config.latch else None
        live = self._sending and not sink.closed and not self.stopped
        st.remote = sink.remote_address if live else None

    @property
    def last_packet(self) -> float:
        """`loop.time()` of the last packet relayed the short way (or of the start)."""
        return self._tally()[0]

    def stop(self) -> None:
        """Give the source's socket back to its session; nothing more is relayed."""
        if self.stopped:
            return
        self.stopped = True
        self._st.remote = None
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
