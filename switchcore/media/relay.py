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
- the receive statistics are kept as usual (`ReceiverStats.update`, RFC 3550
  A.1/A.3/A.8), and the session sees the relay's last arrival and octets
  (`divert`'s tally), so RTCP reports, the media timeout and the CDR's
  figures stay right;
- the sink's `RtpSender` goes on from where it was: a new source SSRC (and the
  first packet) anchors the offsets with the marker bit set (RFC 3550 5.1), a
  packet the sink sent meanwhile (an RFC 4733 event, `send_dtmf`) re-anchors
  them without it, and the sender's sequence, timestamp and counters follow
  every relayed packet, so its RTCP sender reports and later frames continue
  the same numbering; a reordered packet keeps its place but never moves the
  sender back.

`stop()` gives the socket back.  Stop a relay before closing either session.

`RelayWatch` looks after every relay of a loop with one timer: each relay's
owner registers a `check` (is the relay still right: no tap, no hold, same
partner?), and the watch calls them all every `interval` and wakes the owner
whose check says no.  Hundreds of relays then cost one timer, not one timer,
event and task switch each.
"""

from __future__ import annotations

import asyncio
import struct
import weakref
from collections.abc import Callable

from .rtp_session import Address, RtpSession

__all__ = ["RelayWatch", "RtpRelay"]

_SEQ_TS_SSRC = struct.Struct("!HII")
_HEADER = struct.Struct("!BBHII")


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
        if source.can_divert:
            source.divert(self._receive, self._tally)

    def _build(self) -> None:
        source, sink = self.source, self.sink
        slow = source.datagram_received
        audio_pt = source.config.recv_payload_type
        if audio_pt is None:
            audio_pt = source.config.payload_type
        out_pt = sink.config.payload_type
        sender = sink.sender
        out_ssrc = sender.ssrc
        samples = sink.config.samples_per_packet
        update = source.stats_in.update
        loop = asyncio.get_running_loop()
        now = loop.time
        send = sink.raw_sendto()
        unpack, pack = _SEQ_TS_SSRC.unpack_from, _HEADER.pack

        expect: Address | None = None  # the latched far end: only its packets take the short way
        remote: Address | None = None  # where the sink sends, or None: not now
        last = now()  # arrival of the last packet relayed
        octets = 0  # payload octets received the short way
        in_ssrc = -1  # the source SSRC the offsets are anchored on
        seq_off = ts_off = 0
        next_seq = -1  # the sink sender's sequence after our last packet

        def receive(data: bytes, addr: Address) -> None:
            nonlocal last, octets, in_ssrc, seq_off, ts_off, next_seq
            if len(data) <= 12 or data[1] != audio_pt or data[0] != 0x80 or addr != expect:
                slow(data, addr)  # see the module docstring; audio comes back through `taken`
                if addr != expect:
                    follow_source()
                return
            seq, ts, ssrc = unpack(data, 2)
            last = now()
            update(ssrc, seq, ts, last, True)
            octets += len(data) - 12
            if remote is None:
                return
            marker = 0
            if ssrc != in_ssrc or sender.sequence != next_seq:
                marker = 0x80 if ssrc != in_ssrc else 0
                in_ssrc = ssrc
                seq_off = (sender.sequence - seq) & 0xFFFF
                ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
                next_seq = sender.sequence
            out_seq = (seq + seq_off) & 0xFFFF
            out_ts = (ts + ts_off) & 0xFFFFFFFF
            send(pack(0x80, marker | out_pt, out_seq, out_ts, out_ssrc) + data[12:], remote)
            if (out_seq - next_seq) & 0xFFFF < 0x8000:  # in order: the sender moves on
                next_seq = sender.sequence = (out_seq + 1) & 0xFFFF
                sender.timestamp = (out_ts + samples) & 0xFFFFFFFF
            sender.packets_sent += 1
            sender.octets_sent += len(data) - 12

        def taken(data: bytes) -> None:
            """Audio the source session took its usual way (and counted): relay it, header and all."""
            nonlocal last, in_ssrc, seq_off, ts_off, next_seq
            last = now()
            if remote is None:
                return
            seq, ts, ssrc = unpack(data, 2)
            marker = data[1] & 0x80
            if ssrc != in_ssrc or sender.sequence != next_seq:
                if ssrc != in_ssrc:
                    marker = 0x80
                in_ssrc = ssrc
                seq_off = (sender.sequence - seq) & 0xFFFF
                ts_off = (sender.timestamp - ts) & 0xFFFFFFFF
                next_seq = sender.sequence
            out_seq = (seq + seq_off) & 0xFFFF
            out_ts = (ts + ts_off) & 0xFFFFFFFF
            send(pack(data[0], marker | out_pt, out_seq, out_ts, out_ssrc) + data[12:], remote)
            if (out_seq - next_seq) & 0xFFFF < 0x8000:
                next_seq = sender.sequence = (out_seq + 1) & 0xFFFF
                sender.timestamp = (out_ts + samples) & 0xFFFFFFFF
            sender.packets_sent += 1
            sender.octets_sent += len(data) - 12

        def follow_source() -> None:
            nonlocal expect
            expect = source.remote_address if source.latched or not source.config.latch else None

        def route(address: Address | None) -> None:
            nonlocal remote
            remote = address

        def tally() -> tuple[float, int]:
            return last, octets

        self._receive, self._taken, self._tally = receive, taken, tally
        self._follow_source, self._route = follow_source, route

    def refresh(self, sending: bool | None = None) -> None:
        """Look again at both ends: the source's far end (a re-INVITE re-arms latching) and where the sink sends."""
        if sending is not None:
            self._sending = sending
        self._follow_source()
        sink = self.sink
        self._route(sink.remote_address if self._sending and not sink.closed and not self.stopped else None)

    @property
    def last_packet(self) -> float:
        """`loop.time()` of the last packet relayed (or of the start)."""
        return self._tally()[0]

    def stop(self) -> None:
        """Give the source's socket back to its session; nothing more is relayed."""
        if self.stopped:
            return
        self.stopped = True
        self._route(None)
        source = self.source
        source.pass_through(None)
        if source.can_divert:
            source.divert(None)


class RelayWatch:
    """One timer over every relay of a loop; see the module docstring.

    `watch(check)` returns a future that is done when `check()` first returns
    False at a sweep (or raises), or when the owner resolves it itself (an
    event that cannot wait for the next sweep); cancelling it unregisters.
    """

    _per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RelayWatch] = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float = 0.25) -> None:
        self._loop = loop
        self.interval = interval
        self._checks: dict[asyncio.Future[None], Callable[[], bool]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.sweeps = 0

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
        future.add_done_callback(self._forget)
        if self._timer is None:
            self._timer = self._loop.call_later(self.interval, self._sweep)
        return future

    def _forget(self, future: asyncio.Future[None]) -> None:
        self._checks.pop(future, None)

    def _sweep(self) -> None:
        self._timer = None
        self.sweeps += 1
        for future, check in list(self._checks.items()):
            if future.done():
                continue
            try:
                keep = check()
            except Exception as exc:  # a broken check ends its relay, not the sweep
                future.set_exception(exc)
                continue
            if not keep:
                future.set_result(None)
        if self._checks:
            self._timer = self._loop.call_later(self.interval, self._sweep)
