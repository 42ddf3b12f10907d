"""RTP and RTCP on the wire, without I/O (RFC 3550, RFC 4733, RFC 5761).

- `RtpPacket`: the RFC 3550 5.1 fixed header with CSRCs, one header extension
  and padding; `RtpPacket.parse(data)` / `bytes(packet)` round-trip.
- `RtpSender`: the sending half of one RTP stream (SSRC, sequence number,
  timestamp, RFC 3550 6.4.1 sender counters).  It also forwards packets from
  another stream by rewriting only the sequence, timestamp and SSRC bytes,
  which is how a bridge passes same-codec media through cheaply.
- `TelephoneEvent`, `DtmfSender`, `DtmfReceiver`: RFC 4733 DTMF events.
- `ReceiverStats`: RFC 3550 A.1 sequence tracking, A.3 loss and A.8 jitter,
  turned into RTCP report blocks.
- RTCP compound packets (SR/RR + SDES, BYE) are built and parsed with aiortc's
  RTCP classes, which are plain wire objects; they are re-exported here.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from aiortc.rtp import (
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from ..errors import SwitchError

__all__ = [
    "AnyRtcpPacket",
    "DtmfDigit",
    "DtmfReceiver",
    "DtmfSender",
    "DtmfStep",
    "ReceiverStats",
    "RtcpByePacket",
    "RtcpReceiverInfo",
    "RtcpRrPacket",
    "RtcpSdesPacket",
    "RtcpSenderInfo",
    "RtcpSourceInfo",
    "RtcpSrPacket",
    "RtpError",
    "RtpPacket",
    "RtpSender",
    "TelephoneEvent",
    "build_bye",
    "build_report",
    "digit_to_event",
    "event_to_digit",
    "is_rtcp",
    "ntp_middle",
    "ntp_timestamp",
    "parse_rtcp",
    "restamp",
    "round_trip_time",
    "seq_diff",
    "ts_diff",
]

RTP_VERSION = 2
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
_HEADER = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")
_EXTENSION = struct.Struct("!HH")
_EVENT = struct.Struct("!BBH")
NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
SDES_CNAME = 1


class RtpError(SwitchError):
    """A datagram that is not a well-formed RTP or RTCP packet (the remote's fault; drop it)."""


def seq_diff(a: int, b: int) -> int:
    """`a - b` for 16-bit sequence numbers, in -32768..32767 (RFC 3550 A.1 modular arithmetic)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """`a - b` for 32-bit RTP timestamps, signed."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 4: with rtcp-mux, packet types 192-223 in the second byte are RTCP."""
    return len(data) >= 2 and 192 <= data[1] <= 223


# --- RTP -------------------------------------------------------------------


class RtpPacket(NamedTuple):
    """RFC 3550 5.1 one RTP packet.  `extension` is (profile, data) of the 5.3.1 header extension;
    `padding` is the number of padding octets including the count octet (written as zeros).

    A NamedTuple rather than a frozen dataclass: one is built per received
    packet, and tuple construction costs a quarter of a frozen dataclass's.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: tuple[int, bytes] | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < 12:
            raise RtpError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first == 0x80:  # the usual packet: version 2, no padding, extension or CSRC
            return cls(second & 0x7F, sequence, timestamp, ssrc, data[12:], second > 0x7F)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        count = first & 0x0F
        pos = 12 + 4 * count
        if len(data) < pos:
            raise RtpError("RTP packet is truncated in its CSRC list")
        csrc = struct.unpack_from(f"!{count}I", data, 12) if count else ()
        extension = None
        if first & 0x10:
            if len(data) < pos + 4:
                raise RtpError("RTP packet is truncated in its header extension")
            profile, words = _EXTENSION.unpack_from(data, pos)
            end = pos + 4 + 4 * words
            if len(data) < end:
                raise RtpError("RTP packet is truncated in its header extension")
            extension = (profile, bytes(data[pos + 4 : end]))
            pos = end
        padding = 0
        end = len(data)
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or padding > end - pos:
                raise RtpError(f"RTP padding count {padding} is invalid")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=ssrc,
            payload=bytes(data[pos:end]),
            marker=bool(second & 0x80),
            csrc=tuple(csrc),
            extension=extension,
            padding=padding,
        )

    def __bytes__(self) -> bytes:
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        parts = [
            _HEADER.pack(
                first,
                self.payload_type | (0x80 if self.marker else 0),
                self.sequence,
                self.timestamp,
                self.ssrc,
            )
        ]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension is not None:
            profile, data = self.extension
            if len(data) % 4:
                raise RtpError("RTP header extension length must be a multiple of 4 octets")
            parts.append(_EXTENSION.pack(profile, len(data) // 4) + data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def restamp(
    data: bytes,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload_type: int | None = None,
    marker: bool | None = None,
) -> bytes:
    """The same RTP packet with another sequence number, timestamp and SSRC (and optionally PT/marker).

    Only header bytes 1-11 change, the rest is copied: the cheap path for relaying.
    """
    out = bytearray(data)
    _SEQ_TS_SSRC.pack_into(out, 2, sequence & 0xFFFF, timestamp % TS_MOD, ssrc)
    if payload_type is not None or marker is not None:
        pt = out[1] & 0x7F if payload_type is None else payload_type
        mark = bool(out[1] & 0x80) if marker is None else marker
        out[1] = pt | (0x80 if mark else 0)
    return bytes(out)


class RtpSender:
    """The sending half of one RTP stream: SSRC, next sequence number and timestamp, counters.

    RFC 3550 5.1: the sequence number and timestamp start at random values;
    the timestamp advances by the samples of each packet at the RTP clock.
    """

    __slots__ = (
        "_fwd_source",
        "_fwd_seq_offset",
        "_fwd_ts_offset",
        "last_timestamp",
        "octets_sent",
        "packets_sent",
        "sequence",
        "ssrc",
        "timestamp",
    )

    def __init__(
        self, ssrc: int | None = None, sequence: int | None = None, timestamp: int | None = None
    ) -> None:
        self.ssrc = ssrc if ssrc is not None else int.from_bytes(os.urandom(4), "big")
        self.sequence = sequence if sequence is not None else int.from_bytes(os.urandom(2), "big") & 0x7FFF
        self.timestamp = timestamp if timestamp is not None else int.from_bytes(os.urandom(4), "big")
        self.last_timestamp = self.timestamp  # the timestamp of the last packet sent (for SR)
        self.packets_sent = 0
        self.octets_sent = 0
        self._fwd_source: int | None = None
        self._fwd_seq_offset = 0
        self._fwd_ts_offset = 0

    def packet(self, payload_type: int, payload: bytes, timestamp: int, marker: bool = False) -> bytes:
        """One packet at an explicit timestamp (RFC 4733 events keep their start time); takes a sequence number."""
        data = _HEADER.pack(
            RTP_VERSION << 6,
            payload_type | (0x80 if marker else 0),
            self.sequence,
            timestamp % TS_MOD,
            self.ssrc,
        )
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.last_timestamp = timestamp % TS_MOD
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data + payload

    def audio(self, payload_type: int, payload: bytes, samples: int, marker: bool = False) -> bytes:
        """One media packet at the current timestamp, then advance the timestamp by `samples`."""
        data = self.packet(payload_type, payload, self.timestamp, marker)
        self.advance(samples)
        return data

    def advance(self, samples: int) -> None:
        """Let time pass without a packet (silence suppression, muted audio during DTMF)."""
        self.timestamp = (self.timestamp + samples) % TS_MOD

    def forward(self, data: bytes, samples: int, payload_type: int | None = None) -> bytes:
        """Relay another stream's packet as ours, continuing our sequence and timestamp.

        When the forwarded SSRC changes (a new source, or the first packet) the
        offsets are chosen so the relayed packet follows on from what we sent
        last, and the marker bit is set (RFC 3550 5.1: a discontinuity).
        Reordering in the source is kept: offsets are fixed per source.
        """
        if len(data) < 12:
            raise RtpError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
        in_seq, in_ts, in_ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        marker: bool | None = None
        if in_ssrc != self._fwd_source:
            self._fwd_source = in_ssrc
            self._fwd_seq_offset = (self.sequence - in_seq) & 0xFFFF
            self._fwd_ts_offset = (self.timestamp - in_ts) % TS_MOD
            marker = True
        out_seq = (in_seq + self._fwd_seq_offset) & 0xFFFF
        out_ts = (in_ts + self._fwd_ts_offset) % TS_MOD
        if seq_diff(out_seq, self.sequence) >= 0:
            self.sequence = (out_seq + 1) & 0xFFFF
        if ts_diff(out_ts + samples, self.timestamp) > 0:
            self.timestamp = (out_ts + samples) % TS_MOD
        self.last_timestamp = out_ts
        self.packets_sent += 1
        self.octets_sent += max(0, len(data) - 12)
        return restamp(data, out_seq, out_ts, self.ssrc, payload_type, marker)

    def stop_forwarding(self) -> None:
        """Forget the forwarded source, so the next forwarded packet re-anchors."""
        self._fwd_source = None


# --- RFC 4733 telephone events ---------------------------------------------

EVENT_DIGITS = "0123456789*#ABCD"  # RFC 4733 3.2, events 0-15; 16 is flash


def digit_to_event(digit: str) -> int:
    """RFC 4733 3.2 table 1: `0-9 * # A-D` -> 0..15, flash (`F`) -> 16."""
    upper = digit.upper()
    if upper == "F":
        return 16
    index = EVENT_DIGITS.find(upper)
    if len(upper) != 1 or index < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return index


def event_to_digit(event: int) -> str:
    if 0 <= event < len(EVENT_DIGITS):
        return EVENT_DIGITS[event]
    if event == 16:
        return "F"
    raise ValueError(f"telephone-event {event} is not a DTMF digit")


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """RFC 4733 2.3 the 4-octet event payload: event, E(nd) bit, volume (-dBm0), duration (clock units)."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise RtpError(f"telephone-event payload is {len(payload)} bytes, needs 4")
        event, flags, duration = _EVENT.unpack_from(payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        return _EVENT.pack(
            self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration & 0xFFFF
        )


@dataclass(frozen=True, slots=True)
class DtmfStep:
    """One event packet of a digit: send `payload` with `marker` at the event's start timestamp."""

    event: TelephoneEvent
    marker: bool

    @property
    def payload(self) -> bytes:
        return bytes(self.event)


class DtmfSender:
    """The packets of one digit, one per `interval_ms` (RFC 4733 2.5.1).

    The first packet has the marker bit (2.5.1.1); each update carries the
    duration so far (2.5.1.2); the final duration goes out with the E bit
    `end_repeats` times (2.5.1.4).  All carry the same RTP timestamp: the
    caller's timestamp when the event began.
    """

    def __init__(
        self, clock_rate: int = 8000, interval_ms: int = 20, volume: int = 10, end_repeats: int = 3
    ) -> None:
        self.clock_rate = clock_rate
        self.interval_ms = interval_ms
        self.volume = volume
        self.end_repeats = end_repeats

    def steps(self, digit: str, duration_ms: int = 100) -> tuple[DtmfStep, ...]:
        event = digit_to_event(digit)
        step = self.clock_rate * self.interval_ms // 1000
        total = min(
            max(step, self.clock_rate * duration_ms // 1000), 0xFFFF
        )  # 2.5.1.3 long events not needed
        updates = [min(step * n, total) for n in range(1, -(-total // step))]
        out = [
            DtmfStep(TelephoneEvent(event, False, self.volume, d), marker=(i == 0))
            for i, d in enumerate(updates)
        ]
        final = TelephoneEvent(event, True, self.volume, total)
        out += [DtmfStep(final, marker=not updates and i == 0) for i in range(self.end_repeats)]
        return tuple(out)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A digit received as RFC 4733 events, reported once."""

    digit: str
    duration_ms: int
    ssrc: int
    timestamp: int


class DtmfReceiver:
    """Turns telephone-event packets into digits, each reported once (RFC 4733 2.5.2).

    An event is identified by (SSRC, RTP timestamp).  It is reported when its
    first E-bit packet arrives; repeated end packets of a reported event are
    ignored.  If every end packet is lost, the event is reported when the next
    event starts or when `expire(now)` finds it idle for `timeout` seconds.
    """

    def __init__(self, clock_rate: int = 8000, timeout: float = 0.5, memory: int = 16) -> None:
        self.clock_rate = clock_rate
        self.timeout = timeout
        self._done: deque[tuple[int, int]] = deque(maxlen=memory)
        self._current: tuple[int, int, TelephoneEvent, float] | None = None  # ssrc, ts, last event, last seen

    def receive(self, packet: RtpPacket, now: float = 0.0) -> list[DtmfDigit]:
        """Feed one telephone-event packet; returns the digits it completes (0, 1, or 2 when it starts a new one)."""
        event = TelephoneEvent.parse(packet.payload)
        key = (packet.ssrc, packet.timestamp)
        if key in self._done or event.event > 16:
            return []
        digits: list[DtmfDigit] = []
        current = self._current
        if current is not None and (current[0], current[1]) != key:
            digits.append(self._finish(current[0], current[1], current[2]))
        if event.end:
            digits.append(self._finish(packet.ssrc, packet.timestamp, event))
        else:
            self._current = (packet.ssrc, packet.timestamp, event, now)
        return digits

    def expire(self, now: float) -> DtmfDigit | None:
        """Report an event whose end packets never came."""
        current = self._current
        if current is None or now - current[3] < self.timeout:
            return None
        return self._finish(current[0], current[1], current[2])

    def _finish(self, ssrc: int, timestamp: int, event: TelephoneEvent) -> DtmfDigit:
        self._current = None
        self._done.append((ssrc, timestamp))
        return DtmfDigit(
            event_to_digit(event.event), event.duration * 1000 // self.clock_rate, ssrc, timestamp
        )


# --- receiver statistics ---------------------------------------------------

MAX_DROPOUT = 3000
MAX_MISORDER = 100


@dataclass(slots=True)
class ReceiverStats:
    """RFC 3550 A.1 (sequence validation), A.3 (loss) and A.8 (interarrival jitter) for one source.

    Unlike A.1 there is no probation: the first packet is accepted, as phones
    expect media to flow from the first packet.
    """

    clock_rate: int
    ssrc: int | None = None
    base_seq: int = 0
    max_seq: int = 0
    cycles: int = 0
    bad_seq: int = SEQ_MOD + 1
    received: int = 0
    received_prior: int = 0
    expected_prior: int = 0
    jitter: float = 0.0  # in RTP timestamp units, as RFC 3550 A.8 keeps it
    _last_arrival: float | None = field(default=None, repr=False)
    _last_timestamp: int = field(default=0, repr=False)

    def _init_seq(self, sequence: int) -> None:
        self.base_seq = self.max_seq = sequence
        self.bad_seq = SEQ_MOD + 1
        self.cycles = self.received = self.received_prior = self.expected_prior = 0

    def update(self, ssrc: int, sequence: int, timestamp: int, arrival: float, jitter: bool = True) -> bool:
        """Count one packet; False when A.1 calls it a bad sequence jump (not counted until confirmed).

        This runs for every packet received (and relayed), so the in-order case
        comes first and the A.8 jitter step is written out here, not called.
        """
        if self.ssrc == ssrc:
            max_seq = self.max_seq
            udelta = (sequence - max_seq) & 0xFFFF
            if udelta < MAX_DROPOUT:
                if sequence < max_seq:
                    self.cycles += SEQ_MOD
                self.max_seq = sequence
            elif udelta <= SEQ_MOD - MAX_MISORDER:
                if sequence != self.bad_seq:
                    self.bad_seq = (sequence + 1) & 0xFFFF
                    return False
                self._init_seq(sequence)  # two in a row: the source restarted
            # else: a duplicate or reordered packet
        else:  # a new source: start over (RFC 3550 8.2 SSRC change)
            self.ssrc = ssrc
            self._init_seq(sequence)
            self._last_arrival = None
            self.jitter = 0.0
        self.received += 1
        if jitter:
            last = self._last_arrival
            if last is not None:
                # A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si), timestamps compared modulo 2^32.
                d = (arrival - last) * self.clock_rate - (
                    ((timestamp - self._last_timestamp + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                )
                self.jitter += ((d if d >= 0 else -d) - self.jitter) / 16
            self._last_arrival = arrival
            self._last_timestamp = timestamp
        return True

    def in_order_state(self) -> tuple[int, int, int, float, float | None, int]:
        """(SSRC or -1, max_seq, cycles, jitter, last arrival, last timestamp): what A.1's in-order
        case and A.8 change, for a relay that counts such packets itself and hands them back
        with `add_in_order` (anything else it passes to `update`)."""
        ssrc = -1 if self.ssrc is None else self.ssrc
        return ssrc, self.max_seq, self.cycles, self.jitter, self._last_arrival, self._last_timestamp

    def add_in_order(
        self,
        received: int,
        max_seq: int,
        cycles: int,
        jitter: float,
        last_arrival: float | None,
        last_timestamp: int,
    ) -> None:
        """Take back what a relay counted since `in_order_state` (same source, no bad jumps)."""
        self.received += received
        self.max_seq, self.cycles, self.jitter = max_seq, cycles, jitter
        self._last_arrival, self._last_timestamp = last_arrival, last_timestamp

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.ssrc is not None else 0

    @property
    def lost(self) -> int:
        """A.3 cumulative number of packets lost (duplicates can make it negative)."""
        return self.expected - self.received

    @property
    def jitter_ms(self) -> float:
        return 1000.0 * self.jitter / self.clock_rate

    def report(self, lsr: int = 0, dlsr: int = 0) -> RtcpReceiverInfo:
        """An RTCP report block (6.4.1); the fraction lost covers the time since the last report."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior, self.received_prior = expected, self.received
        lost_interval = expected_interval - received_interval
        fraction = (
            0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        )
        return RtcpReceiverInfo(
            ssrc=self.ssrc or 0,
            fraction_lost=min(fraction, 255),
            packets_lost=max(-(1 << 23), min(self.lost, (1 << 23) - 1)),
            highest_sequence=self.extended_max % TS_MOD,
            jitter=int(self.jitter),
            lsr=lsr,
            dlsr=dlsr,
        )


# --- RTCP ------------------------------------------------------------------


def ntp_timestamp(unix_time: float) -> int:
    """RFC 3550 4: 64-bit NTP time (seconds since 1900 in the high 32 bits)."""
    return int((unix_time + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as LSR and round-trip arithmetic use them (6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(block: RtcpReceiverInfo, arrival_unix_time: float) -> float | None:
    """RFC 3550 6.4.1: A - LSR - DLSR, in seconds; None when the peer has had no SR from us."""
    if block.lsr == 0:
        return None
    units = (ntp_middle(ntp_timestamp(arrival_unix_time)) - block.lsr - block.dlsr) & 0xFFFFFFFF
    return units / 65536.0 if units < 0x80000000 else 0.0


_RTCP_HEADER = struct.Struct("!BBHL")  # V/P/count, packet type, length in words - 1, SSRC
_SENDER_INFO = struct.Struct("!QLLL")
_REPORT_BLOCK = struct.Struct("!LB3sLLLL")
RTCP_SR, RTCP_RR, RTCP_SDES = 200, 201, 202


def _report_block(block: RtcpReceiverInfo) -> bytes:
    """RFC 3550 6.4.1 one report block (the cumulative loss is a signed 24-bit number)."""
    lost = (block.packets_lost & 0xFFFFFF).to_bytes(3, "big")
    return _REPORT_BLOCK.pack(
        block.ssrc, block.fraction_lost, lost, block.highest_sequence, block.jitter, block.lsr, block.dlsr
    )


def _sdes_cname(ssrc: int, cname: bytes) -> bytes:
    """RFC 3550 6.5 an SDES packet with one chunk: our CNAME, a null item, padding to 32 bits."""
    chunk = struct.pack("!LBB", ssrc, SDES_CNAME, len(cname)) + cname + b"\x00\x00"
    chunk += bytes(-len(chunk) % 4)
    return struct.pack("!BBH", 0x81, RTCP_SDES, len(chunk) // 4) + chunk


def build_report(
    ssrc: int,
    cname: str,
    reports: Sequence[RtcpReceiverInfo] = (),
    sender: RtcpSenderInfo | None = None,
) -> bytes:
    """RFC 3550 6.1 compound packet: SR (when we sent media) or RR, then SDES with our CNAME.

    Packed here with `struct` (byte for byte what aiortc's packet classes write,
    which `parse_rtcp` reads back): every stream sends one every few seconds,
    so with hundreds of calls this is on a busy path.
    """
    blocks = b"".join(_report_block(block) for block in reports)
    count = len(reports)
    if sender is not None:
        info = _SENDER_INFO.pack(
            sender.ntp_timestamp, sender.rtp_timestamp, sender.packet_count, sender.octet_count
        )
        first = _RTCP_HEADER.pack(0x80 | count, RTCP_SR, 6 + 6 * count, ssrc) + info + blocks
    else:
        first = _RTCP_HEADER.pack(0x80 | count, RTCP_RR, 1 + 6 * count, ssrc) + blocks
    return first + _sdes_cname(ssrc, cname.encode())


def build_bye(ssrc: int, cname: str, reports: Sequence[RtcpReceiverInfo] = ()) -> bytes:
    """RFC 3550 6.6: a BYE ends a compound packet that still starts with a report."""
    return build_report(ssrc, cname, reports) + bytes(RtcpByePacket(sources=[ssrc]))


def parse_rtcp(data: bytes) -> list[AnyRtcpPacket]:
    """The packets of a compound RTCP datagram (unknown types such as APP and XR are skipped)."""
    try:
        return RtcpPacket.parse(data)
    except (ValueError, struct.error) as error:
        raise RtpError(f"bad RTCP packet: {error}") from error
