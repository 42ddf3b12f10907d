"""One RTP stream on asyncio: the thin I/O layer around `rtp.py` and `jitter.py`.

Theory of operation.  An `RtpSession` owns an even UDP port from a
`PortAllocator` (RTCP on port + 1, or on the same port with rtcp-mux, RFC 5761)
and one `RtpSender` for the stream it sends.

- Sending: `send_audio(payload)` stamps the next sequence number and timestamp
  and sends to the remote address.  `send_dtmf("1234#")` runs the RFC 4733
  event packets for each digit on a 20 ms schedule as a task of its own; audio
  keeps flowing (and its timestamps keep advancing) meanwhile.
- Receiving: every datagram is checked (version, payload type); telephone-events
  go to a `DtmfReceiver` and out through `on_dtmf`, audio goes into the jitter
  buffer, from which the reader takes one packet per tick with `pop_packet()` /
  `pop_payload()`.  With a pass-through handler set (`pass_through`), audio
  datagrams skip the buffer and are handed on raw, for a bridge to `forward`
  them to another session with only the sequence, timestamp and SSRC rewritten.
- Symmetric RTP (RFC 4961; FreeSWITCH's RTP auto-adjust): unless `latch` is
  off, the remote address becomes the source of the first valid packet, and
  packets from elsewhere are then ignored.  `set_remote` (a re-INVITE) re-arms it.
- Housekeeping runs once a second: the media timeout (no packet for N seconds
  calls `on_timeout` once, until media comes back), DTMF events whose end
  packets were lost, and an RTCP SR/RR + SDES every ~5 s (RFC 3550 6.2,
  randomised by 0.5-1.5 as 6.3.1 asks).  `close()` sends a BYE and frees the port.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from ..errors import SwitchError
from .jitter import JitterBuffer, JitterStats
from .negotiate import Negotiated
from .rtp import (
    AnyRtcpPacket,
    DtmfDigit,
    DtmfReceiver,
    DtmfSender,
    ReceiverStats,
    RtcpByePacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpError,
    RtpPacket,
    RtpSender,
    build_bye,
    build_report,
    ntp_middle,
    ntp_timestamp,
    parse_rtcp,
    round_trip_time,
    ts_diff,
)

log = logging.getLogger(__name__)
_SEQ_TS_SSRC = struct.Struct("!HII")

Address = tuple[str, int]
Receiver = Callable[[bytes, Address], None]
MAX_DATAGRAM = 2048  # see docs: asyncio's 256 KiB default read buffer costs an mmap per packet
CN_PT = 13  # RFC 3389 comfort noise: valid media, but nothing for the decoder


class NoFreePort(SwitchError):
    """The RTP port range is used up (the call fails with a media error)."""


class PortAllocator:
    """Even ports in [start, end] handed out round-robin; RTCP uses port + 1 (RFC 3550 11)."""

    def __init__(self, start: int, end: int) -> None:
        first = start + (start % 2)
        if first + 1 > end:
            raise ValueError(f"RTP port range {start}-{end} holds no even/odd port pair")
        self.start, self.end = first, end
        self._free = list(range(first, end, 2))
        self._used: set[int] = set()

    def allocate(self) -> int:
        if not self._free:
            raise NoFreePort(f"no free RTP port in {self.start}-{self.end}")
        port = self._free.pop(0)
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)


@dataclass(frozen=True, slots=True)
class RtpConfig:
    """How one stream sends and receives; `from_negotiated` fills it from offer/answer."""

    payload_type: int = 0
    clock_rate: int = 8000
    ptime: int = 20
    recv_payload_type: int | None = None  # None: same as payload_type
    dtmf_pt: int | None = 101
    recv_dtmf_pt: int | None = None  # None: same as dtmf_pt
    dtmf_clock_rate: int | None = None  # None: clock_rate
    rtcp_mux: bool = False
    latch: bool = True  # symmetric RTP / rtp-auto-adjust
    jitter_depth: int = 2
    jitter_max_depth: int | None = None
    media_timeout: float | None = None  # seconds without a packet before on_timeout
    rtcp_interval: float | None = 5.0  # None: no RTCP
    mute_during_dtmf: bool = False  # skip (but time) audio packets while an event is on the wire
    cname: str = "switchcore"
    housekeeping: float = 1.0  # seconds between media-timeout / DTMF-expiry / RTCP checks

    @classmethod
    def from_negotiated(cls, negotiated: Negotiated, **options: Any) -> RtpConfig:
        return cls(
            payload_type=negotiated.pt,
            clock_rate=negotiated.codec.clock_rate,
            ptime=negotiated.ptime,
            recv_payload_type=negotiated.recv_pt,
            dtmf_pt=negotiated.dtmf_pt,
            recv_dtmf_pt=negotiated.recv_dtmf_pt,
            dtmf_clock_rate=negotiated.dtmf_clock_rate,
            rtcp_mux=negotiated.rtcp_mux,
            **options,
        )

    @property
    def samples_per_packet(self) -> int:
        return self.clock_rate * self.ptime // 1000


@dataclass(frozen=True, slots=True)
class RtpStats:
    """A snapshot of one session's counters (for `show channels`, CDR quality figures, mod_opus)."""

    packets_sent: int
    octets_sent: int
    packets_received: int
    octets_received: int
    expected: int
    lost: int
    jitter_ms: float
    dtmf_received: int
    bad_packets: int  # not RTP, or an unknown payload type
    foreign_packets: int  # from an address other than the latched one
    jitter_buffer: JitterStats
    remote_report: RtcpReceiverInfo | None  # what the far end last said about our stream
    round_trip_s: float | None

    @property
    def loss_ratio(self) -> float:
        return self.lost / self.expected if self.expected > 0 else 0.0


class _Datagrams(asyncio.DatagramProtocol):
    """The socket's protocol: `datagram_received` is the receiver itself (no call in between).

    It is a slot, not an instance dict entry: the event loop looks it up on
    every datagram, and a slot is found on the (hot) type, not in a dict of
    each of hundreds of sockets' protocols.
    """

    __slots__ = ("datagram_received",)

    def __init__(self, receive: Receiver) -> None:
        self.datagram_received = receive  # type: ignore[method-assign,assignment]

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)  # ICMP port unreachable while the far end sets up


def _shrink_reads(transport: asyncio.BaseTransport) -> None:
    if hasattr(transport, "max_size"):  # the selector loop's transport; uvloop has no such knob
        cast(Any, transport).max_size = MAX_DATAGRAM


class RtpSession:
    """One RTP (and RTCP) stream; see the module docstring."""

    def __init__(
        self,
        config: RtpConfig,
        *,
        on_dtmf: Callable[[DtmfDigit], None] | None = None,
        on_timeout: Callable[[], None] | None = None,
        on_rtcp: Callable[[list[AnyRtcpPacket]], None] | None = None,
        ssrc: int | None = None,
    ) -> None:
        self.config = config
        self.on_dtmf = on_dtmf
        self.on_timeout = on_timeout
        self.on_rtcp = on_rtcp
        self.sender = RtpSender(ssrc=ssrc)
        self.stats_in = ReceiverStats(clock_rate=config.clock_rate)
        self.jitter = JitterBuffer(
            depth=config.jitter_depth,
            max_depth=config.jitter_max_depth,
            samples_per_packet=config.samples_per_packet,
            clock_rate=config.clock_rate,
        )
        self.dtmf_in = DtmfReceiver(clock_rate=config.dtmf_clock_rate or config.clock_rate)
        self.local_address: Address | None = None
        self.local_rtcp_address: Address | None = None
        self.remote_address: Address | None = None
        self.remote_rtcp_address: Address | None = None
        self.latched = False
        self._rtcp_latched = False
        self.closed = False
        self._transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._allocator: PortAllocator | None = None
        self._passthrough: Callable[[bytes], None] | None = None
        self._route: Callable[[Receiver | None], None] | None = None  # see `attach`
        self._tally: Callable[[], tuple[float, int]] | None = None  # a relay's figures (see `divert`)
        self._stats_sync: Callable[[], None] | None = None  # a relay counting into stats_in (`divert`)
        self._sender_sync: Callable[[], None] | None = None  # a relay sending with our sender (`lend_sender`)
        self._dtmf_lock = asyncio.Lock()
        self._dtmf_sending = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mux = config.rtcp_mux
        self._last_rx = time.monotonic()
        self._timed_out = False
        self._next_rtcp = 0.0
        self._last_sr: tuple[int, float] | None = None  # LSR and when it arrived (RFC 3550 6.4.1)
        self._remote_report: RtcpReceiverInfo | None = None
        self._rtt: float | None = None
        self._counts = {"octets_received": 0, "dtmf_received": 0, "bad": 0, "foreign": 0}
        self._set_recv_types()

    def _set_recv_types(self) -> None:
        config = self.config
        recv = config.recv_payload_type if config.recv_payload_type is not None else config.payload_type
        dtmf = config.recv_dtmf_pt if config.recv_dtmf_pt is not None else config.dtmf_pt
        self._audio_pts = frozenset({recv})
        self._dtmf_pts = frozenset({dtmf} if dtmf is not None else ())

    # --- opening and closing -----------------------------------------------

    @classmethod
    async def open(
        cls,
        host: str,
        ports: PortAllocator | int,
        config: RtpConfig | None = None,
        *,
        remote: Address | None = None,
        remote_rtcp: Address | None = None,
        attempts: int = 10,
        **callbacks: Any,
    ) -> RtpSession:
        """Bind an RTP (and RTCP) socket on `host`: a port from the allocator, or the given even port."""
        session = cls(config or RtpConfig(), **callbacks)
        loop = asyncio.get_running_loop()
        tries = attempts if isinstance(ports, PortAllocator) else 1
        for _ in range(tries):
            port = ports.allocate() if isinstance(ports, PortAllocator) else ports
            try:
                await session._bind(loop, host, port)
            except OSError as error:
                if isinstance(ports, PortAllocator):
                    ports.release(port)
                # uvloop wraps the bind error ("could not bind to local_addr") with the errno on its cause.
                cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
                if errno.EADDRINUSE not in (error.errno, cause.errno) or tries == 1:
                    raise
                continue
            session._allocator = ports if isinstance(ports, PortAllocator) else None
            break
        else:
            raise NoFreePort(f"no bindable RTP port on {host} after {attempts} attempts")
        if remote is not None:
            session.set_remote(remote, remote_rtcp)
        return session

    async def _bind(self, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
        protocol = _Datagrams(self.datagram_received)
        transport, _ = await loop.create_datagram_endpoint(lambda: protocol, local_addr=(host, port))
        rtcp_transport = None
        if not self.config.rtcp_mux:
            try:
                rtcp_transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Datagrams(self.rtcp_received), local_addr=(host, port + 1)
                )
            except OSError:
                transport.close()
                raise

        def route(receiver: Receiver | None) -> None:
            protocol.datagram_received = receiver or self.datagram_received  # type: ignore[method-assign,assignment]

        self.attach(transport, rtcp_transport, route=route)

    def attach(
        self,
        transport: asyncio.DatagramTransport,
        rtcp_transport: asyncio.DatagramTransport | None = None,
        *,
        route: Callable[[Receiver | None], None] | None = None,
    ) -> None:
        """Start on already-open transports (sockets, or an in-memory path in tests).

        `route(receiver)` makes the RTP socket hand its datagrams to `receiver`
        directly (None: to this session's `datagram_received` again); with it a
        relay can take the socket over without a call in between (`divert`).
        """
        self._transport, self._rtcp_transport = transport, rtcp_transport
        self._route = route
        _shrink_reads(transport)
        sockname = transport.get_extra_info("sockname")
        self.local_address = (sockname[0], sockname[1]) if sockname else None
        if rtcp_transport is not None:
            _shrink_reads(rtcp_transport)
            rtcp_name = rtcp_transport.get_extra_info("sockname")
            self.local_rtcp_address = (rtcp_name[0], rtcp_name[1]) if rtcp_name else None
        else:
            self.local_rtcp_address = self.local_address
        loop = self._loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        if self.config.rtcp_interval:
            self._next_rtcp = loop.time() + self.config.rtcp_interval * random.uniform(0.5, 1.5)
        self._timer = loop.call_later(self.config.housekeeping, self._housekeeping)

    def close(self) -> None:
        """Send an RTCP BYE, stop timers, close sockets and give the port back."""
        if self.closed:
            return
        self.sync()
        self.closed = True
        try:
            if self.config.rtcp_interval and self.remote_rtcp_address is not None:
                self._send_rtcp(build_bye(self.sender.ssrc, self.config.cname, self._report_blocks()))
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for transport in (self._transport, self._rtcp_transport):
                if transport is not None:
                    transport.close()
            if self._allocator is not None and self.local_address is not None:
                self._allocator.release(self.local_address[1])

    # --- addresses -----------------------------------------------------------

    def set_remote(self, address: Address | None, rtcp: Address | None = None) -> None:
        """Where to send (from SDP); re-arms latching.  RTCP defaults to port + 1, or the same port with mux."""
        self.remote_address = address
        if rtcp is None and address is not None:
            rtcp = address if self.config.rtcp_mux else (address[0], address[1] + 1)
        self.remote_rtcp_address = rtcp
        self.latched = self._rtcp_latched = False

    def set_media_timeout(self, seconds: float | None) -> None:
        """Change the media timeout (e.g. None while on hold); the clock restarts now."""
        self.config = replace(self.config, media_timeout=seconds)
        self._last_rx = asyncio.get_running_loop().time()
        self._timed_out = False

    # --- sending -------------------------------------------------------------

    def send_audio(
        self, payload: bytes, timestamp_increment: int | None = None, marker: bool = False
    ) -> None:
        """Send one media packet and advance the timestamp (default: one ptime of samples)."""
        samples = self.config.samples_per_packet if timestamp_increment is None else timestamp_increment
        if self._sender_sync is not None:
            self._sender_sync()
        if self.remote_address is None or self._transport is None or self.closed:
            self.sender.advance(samples)
            return
        if self._dtmf_sending and self.config.mute_during_dtmf:
            self.sender.advance(samples)
            return
        self._transport.sendto(
            self.sender.audio(self.config.payload_type, payload, samples, marker), self.remote_address
        )

    async def send_dtmf(self, digits: str, duration_ms: int = 100, gap_ms: int = 50) -> None:
        """Send digits as RFC 4733 events, one packet per ptime; digits from concurrent calls queue up."""
        dtmf_pt = self.config.dtmf_pt
        if dtmf_pt is None:
            raise RtpError("no telephone-event payload type was negotiated")
        loop = asyncio.get_running_loop()
        rate = self.config.dtmf_clock_rate or self.config.clock_rate
        sender = DtmfSender(clock_rate=rate, interval_ms=self.config.ptime)
        interval = self.config.ptime / 1000
        async with self._dtmf_lock:
            for index, digit in enumerate(digits):
                steps = sender.steps(digit, duration_ms)
                self.sync()
                start_ts = self.sender.timestamp
                started = loop.time()
                self._dtmf_sending = True
                try:
                    for number, step in enumerate(steps):
                        await asyncio.sleep(max(0.0, started + number * interval - loop.time()))
                        if self.closed:
                            return
                        if self.remote_address is not None and self._transport is not None:
                            self.sync()
                            data = self.sender.packet(dtmf_pt, step.payload, start_ts, step.marker)
                            self._transport.sendto(data, self.remote_address)
                finally:
                    self._dtmf_sending = False
                # RFC 4733 2.5.1.5: the next event needs a later timestamp even if no audio is flowing.
                event_end = (start_ts + steps[-1].event.duration) % (1 << 32)
                self.sync()
                if ts_diff(self.sender.timestamp, event_end) < 0:
                    self.sender.advance(ts_diff(event_end, self.sender.timestamp))
                if index < len(digits) - 1:
                    await asyncio.sleep(gap_ms / 1000)

    def send_packet(self, data: bytes) -> None:
        """Send a datagram already built (with `self.sender`, after `sync()`) to the remote."""
        if self.remote_address is not None and self._transport is not None and not self.closed:
            self._transport.sendto(data, self.remote_address)

    def forward(self, data: bytes, payload_type: int | None = None) -> None:
        """Send another stream's RTP packet as ours, rewriting only sequence, timestamp and SSRC (and PT)."""
        if self.remote_address is None or self._transport is None or self.closed:
            return
        self.sync()
        out = self.sender.forward(data, self.config.samples_per_packet, payload_type)
        self._transport.sendto(out, self.remote_address)

    def raw_sendto(self) -> Callable[[bytes, Address], None]:
        """The socket's own `sendto`, for a relay that builds whole packets with this session's sender."""
        transport = self._transport
        if transport is None:
            return lambda data, addr: None
        send: Callable[[bytes, Address], None] = transport.sendto
        return send

    @property
    def can_divert(self) -> bool:
        """Whether the socket can be handed straight to another receiver (see `attach`)."""
        return self._route is not None and not self.closed

    def sync(self) -> None:
        """Bring `stats_in` and `sender` up to date with what relays counted for us (see `divert`)."""
        if self._stats_sync is not None:
            self._stats_sync()
        if self._sender_sync is not None:
            self._sender_sync()

    def lend_sender(self, sync: Callable[[], None] | None) -> None:
        """A relay sends with our `sender` and keeps its numbers itself; `sync()` writes them back.

        Every use of the sender here (audio, events, reports, stats) syncs first;
        None ends the loan.
        """
        if self._sender_sync is not None and sync is None:
            self._sender_sync()
        self._sender_sync = sync

    def divert(
        self,
        receiver: Receiver | None,
        tally: Callable[[], tuple[float, int]] | None = None,
        sync: Callable[[], None] | None = None,
    ) -> None:
        """Received RTP goes to `receiver` instead of `datagram_received` (None: back to us).

        A relay (`relay.RtpRelay`) takes the socket this way and gives back what
        is not plain audio from the latched far end.  `tally()` tells when the
        receiver last had a packet and how many payload octets it took since it
        began, so the media timeout and the counters still hold; the receiver
        counts its packets into `stats_in`, or keeps them and writes them there
        when `sync()` asks (every read of the figures here does).
        """
        if self._route is None:
            raise RtpError("this session's socket cannot be diverted (attached without route=)")
        if self._tally is not None:  # what the last receiver took counts as ours from now on
            last, octets = self._tally()
            self._last_rx = max(self._last_rx, last)
            self._counts["octets_received"] += octets
        if self._stats_sync is not None:
            self._stats_sync()
        self._tally = tally if receiver is not None else None
        self._stats_sync = sync if receiver is not None else None
        self._route(receiver)

    def pass_through(self, handler: Callable[[bytes], None] | None) -> None:
        """Hand received audio datagrams to `handler` instead of the jitter buffer (None: back to buffering)."""
        self._passthrough = handler
        if handler is None:
            self.jitter.reset()

    # --- receiving -------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Address) -> None:
        # The hot path: header fields first, a full parse only for what is buffered or decoded.
        if len(data) < 12:
            self._counts["bad"] += 1
            return
        second = data[1]
        if 192 <= second <= 223 and self._mux:  # RFC 5761 4
            self.rtcp_received(data, addr)
            return
        pt = second & 0x7F
        audio = pt in self._audio_pts
        if data[0] & 0xC0 != 0x80 or not (audio or pt in self._dtmf_pts or pt == CN_PT):
            self._counts["bad"] += 1
            return
        if self.latched:
            if addr != self.remote_address:
                self._counts["foreign"] += 1
                return
        elif self.config.latch:
            self._latch(addr)
        now = self._loop.time() if self._loop is not None else 0.0
        self._last_rx = now
        self._timed_out = False
        self._counts["octets_received"] += len(data) - 12
        sequence, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        self.stats_in.update(ssrc, sequence, timestamp, now, audio)
        if audio and self._passthrough is not None:
            self._passthrough(data)
            return
        if pt == CN_PT:
            return
        try:
            packet = RtpPacket.parse(data)
            if audio:
                self.jitter.push(packet, now)
                return
            digits = self.dtmf_in.receive(packet, now)
        except RtpError:
            self._counts["bad"] += 1
            return
        for digit in digits:
            self._deliver_dtmf(digit)

    def _latch(self, addr: Address) -> None:
        if addr != self.remote_address:
            log.info("RTP auto-adjust: latching to %s:%d (was %s)", addr[0], addr[1], self.remote_address)
            self.remote_address = addr
            if self.config.rtcp_mux:
                self.remote_rtcp_address = addr
        self.latched = True

    def _deliver_dtmf(self, digit: DtmfDigit) -> None:
        self._counts["dtmf_received"] += 1
        if self.on_dtmf is not None:
            self.on_dtmf(digit)

    def rtcp_received(self, data: bytes, addr: Address) -> None:
        try:
            packets = parse_rtcp(data)
        except RtpError:
            self._counts["bad"] += 1
            return
        if self.config.latch and not self._mux and not self._rtcp_latched:
            self.remote_rtcp_address = addr  # latch RTCP, once, to where it really comes from
            self._rtcp_latched = True
        now = time.time()
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                self._last_sr = (
                    ntp_middle(packet.sender_info.ntp_timestamp),
                    asyncio.get_running_loop().time(),
                )
            if isinstance(packet, RtcpSrPacket | RtcpRrPacket):
                for block in packet.reports:
                    if block.ssrc == self.sender.ssrc:
                        self._remote_report = block
                        self._rtt = round_trip_time(block, now)
            if isinstance(packet, RtcpByePacket):
                log.debug("RTCP BYE from %s", addr)
        if self.on_rtcp is not None:
            self.on_rtcp(packets)

    def pop_packet(self) -> RtpPacket | None:
        """The next audio packet for this tick, or None (conceal)."""
        return self.jitter.pop()

    def pop_payload(self) -> bytes | None:
        packet = self.jitter.pop()
        return packet.payload if packet is not None else None

    def peek_packet(self) -> RtpPacket | None:
        return self.jitter.peek()

    # --- housekeeping and RTCP -------------------------------------------------

    def _housekeeping(self) -> None:
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        try:
            timeout = self.config.media_timeout
            if timeout is not None:
                last = self._last_rx if self._tally is None else max(self._last_rx, self._tally()[0])
                if now - last < timeout:
                    self._timed_out = False  # (media came back through a relay)
                elif not self._timed_out:
                    self._timed_out = True
                    if self.on_timeout is not None:
                        self.on_timeout()
            digit = self.dtmf_in.expire(now)
            if digit is not None:
                self._deliver_dtmf(digit)
            if self.config.rtcp_interval and now >= self._next_rtcp:
                self._next_rtcp = now + self.config.rtcp_interval * random.uniform(0.5, 1.5)
                self.send_report()
        finally:
            if not self.closed:
                self._timer = loop.call_later(self.config.housekeeping, self._housekeeping)

    def _report_blocks(self) -> list[RtcpReceiverInfo]:
        self.sync()
        if self.stats_in.ssrc is None:
            return []
        lsr, dlsr = 0, 0
        if self._last_sr is not None:
            lsr = self._last_sr[0]
            dlsr = int((asyncio.get_running_loop().time() - self._last_sr[1]) * 65536)
        return [self.stats_in.report(lsr, dlsr)]

    def send_report(self) -> None:
        """Send an SR (if we have sent media) or RR, with our report block and CNAME, now."""
        self.sync()
        sender = None
        if self.sender.packets_sent:
            sender = RtcpSenderInfo(
                ntp_timestamp=ntp_timestamp(time.time()),
                rtp_timestamp=self.sender.timestamp,
                packet_count=self.sender.packets_sent & 0xFFFFFFFF,
                octet_count=self.sender.octets_sent & 0xFFFFFFFF,
            )
        self._send_rtcp(build_report(self.sender.ssrc, self.config.cname, self._report_blocks(), sender))

    def _send_rtcp(self, data: bytes) -> None:
        transport = self._transport if self.config.rtcp_mux else self._rtcp_transport
        if transport is not None and self.remote_rtcp_address is not None:
            transport.sendto(data, self.remote_rtcp_address)

    @property
    def stats(self) -> RtpStats:
        self.sync()
        stats_in = self.stats_in
        return RtpStats(
            packets_sent=self.sender.packets_sent,
            octets_sent=self.sender.octets_sent,
            packets_received=stats_in.received,
            octets_received=self._counts["octets_received"] + (self._tally()[1] if self._tally else 0),
            expected=stats_in.expected,
            lost=stats_in.lost,
            jitter_ms=stats_in.jitter_ms,
            dtmf_received=self._counts["dtmf_received"],
            bad_packets=self._counts["bad"],
            foreign_packets=self._counts["foreign"],
            jitter_buffer=self.jitter.stats,
            remote_report=self._remote_report,
            round_trip_s=self._rtt,
        )


def pass_through(source: RtpSession, sink: RtpSession) -> None:
    """Relay `source`'s received audio to `sink` untouched but for seq/ts/SSRC/PT (same-codec bridge)."""
    payload_type = sink.config.payload_type
    source.pass_through(lambda data: sink.forward(data, payload_type))
