"""A Verto call's audio RTP, straight between the ICE socket and the call, with aiortc's SRTP keys.

Why.  aiortc moves every RTP packet through a chain of coroutines: on the way
in aioice's protocol, a queue, the ICE transport, the DTLS transport's loop,
the RTP router and the receiver; on the way out a track, the sender's loop,
header extensions, the DTLS transport and aioice again.  That Python work per
packet, a hundred packets a second each way, was most of what an Opus call
cost the switch.  Once ICE has nominated a pair and DTLS has keyed SRTP, a
packet needs far less:

    in:   first byte -> unprotect -> read the 12-byte header -> the call
    out:  write the header -> protect -> sendto

How it hooks into aiortc (the private names live in aiortc_adapter.py):

- Keys.  RFC 5764 4.2: DTLS exports the SRTP master keys, and aiortc's
  `RTCDtlsTransport` keeps one pylibsrtp session per direction.  This path uses
  those same sessions, so each direction keeps one replay window and one
  rollover counter (RFC 3711 3.3.1) whoever protects the packet.
- Socket.  With BUNDLE and rtcp-mux (RFC 8843, RFC 5761) everything shares the
  nominated pair's socket, and RFC 7983 7 tells the kinds apart by the first
  byte: 0-3 STUN, 20-63 DTLS, 128-191 RTP/RTCP.  `DemuxProtocol` takes the
  place of aioice's protocol on that socket: STUN and DTLS go on to aioice
  untouched (ICE consent freshness, RFC 7675; DTLS alerts and close), RTP and
  RTCP stop here.
- RTCP.  RFC 5761 4: the second byte (192-223) marks RTCP.  Incoming RTCP is
  unprotected here, which gives the browser's last SR for our report block,
  and is then handed to aiortc in the clear for its statistics and BYE.
  Outgoing, aiortc's sender keeps its report timer, and each report it would
  send goes out as ours: an SR with our packet counts and one report block on
  what we received (RFC 3550 6.4.1), followed by aiortc's SDES CNAME.

`SrtpPath` is the per-call part and does no I/O itself: datagrams come in
through `receive`, and leave through the `send` function it was given.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp

from switchcore.media.rtp import (
    ReceiverStats,
    RtcpRrPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpError,
    RtpPacket,
    ntp_middle,
    ntp_timestamp,
    parse_rtcp,
)

_HEADER = struct.Struct("!BBHII")
_WORDS = struct.Struct("!H")
_ONE_BYTE_PROFILE = b"\xbe\xde"  # RFC 8285 4.2


def is_rtp_or_rtcp(data: bytes) -> bool:
    """RFC 7983 7: a first byte of 128-191 is RTP or RTCP (STUN is 0-3, DTLS 20-63)."""
    return bool(data) and 127 < data[0] < 192


def mid_extension(ext_id: int, mid: str) -> bytes:
    """The RFC 8285 one-byte header extension carrying our MID (RFC 8843 15.2), padded to 32 bits."""
    value = mid.encode()
    if not 1 <= ext_id <= 14 or not 1 <= len(value) <= 16:
        raise ValueError(f"cannot carry MID {mid!r} in one-byte extension {ext_id}")
    element = bytes([ext_id << 4 | (len(value) - 1)]) + value
    element += bytes(-len(element) % 4)
    return _ONE_BYTE_PROFILE + _WORDS.pack(len(element) // 4) + element


def parse_rtp(data: bytes) -> RtpPacket:
    """The header fields and payload (header extension skipped: the core needs none of it)."""
    if len(data) < 12:
        raise RtpError(f"RTP packet is {len(data)} bytes, shorter than the 12-byte header")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    if first == 0x80:
        return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[12:], second > 0x7F)
    if first == 0x90 and len(data) >= 16:  # what browsers send: one extension block, no CSRC
        end = 16 + 4 * _WORDS.unpack_from(data, 14)[0]
        if len(data) >= end:
            return RtpPacket(second & 0x7F, sequence, timestamp, ssrc, data[end:], second > 0x7F)
    return RtpPacket.parse(data)._replace(extension=None)  # CSRCs, padding, or an error


class SrtpPath:
    """One call's SRTP both ways over one send function; see the module docstring.

    `on_rtp(packet, plain)` gets every RTP packet that unprotects (with its
    plain bytes, for handing on); `on_rtcp(plain)` every RTCP compound packet.
    """

    def __init__(
        self,
        rx: pylibsrtp.Session,
        tx: pylibsrtp.Session,
        send: Callable[[bytes], None],
        ssrc: int,
        payload_type: int,
        clock_rate: int,
        on_rtp: Callable[[RtpPacket, bytes], None],
        on_rtcp: Callable[[bytes], None] | None = None,
        extension: bytes = b"",
    ) -> None:
        self._rx, self._tx, self._send = rx, tx, send
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.step = clock_rate // 50  # timestamp units in 20 ms
        self._on_rtp, self._on_rtcp = on_rtp, on_rtcp
        self._first = 0x90 if extension else 0x80
        self._extension = extension
        self.sequence = int.from_bytes(os.urandom(2), "big") & 0x7FFF  # far from the 16-bit wrap
        self.timestamp = int.from_bytes(os.urandom(4), "big")
        self.packets_sent = 0
        self.octets_sent = 0
        self._last_timestamp = self.timestamp
        self._last_sent_at = 0.0
        self.packets_received = 0
        self.rtcp_received = 0
        self.rejected = 0  # failed to unprotect (RFC 3711 3.3: authentication, replay) or to parse
        self.stats = ReceiverStats(clock_rate)
        self._lsr = 0  # RFC 3550 6.4.1: middle of the NTP time of the browser's last SR
        self._lsr_at = 0.0
        self.closed = False

    # ---- out -------------------------------------------------------------------------------

    def send_audio(self, payload: bytes, now: float) -> None:
        """One 20 ms payload of the negotiated codec, then the timestamp moves on 20 ms."""
        if self.closed:
            return
        second = self.payload_type | (0x80 if self.packets_sent == 0 else 0)  # RFC 3551 4.1 marker
        header = _HEADER.pack(self._first, second, self.sequence, self.timestamp, self.ssrc)
        self._send(self._tx.protect(header + self._extension + payload))
        self.sequence = (self.sequence + 1) & 0xFFFF
        self._last_timestamp = self.timestamp
        self.timestamp = (self.timestamp + self.step) & 0xFFFFFFFF
        self._last_sent_at = now
        self.packets_sent += 1
        self.octets_sent += len(payload)

    def report(self, now: float, unix_time: float) -> bytes:
        """Our SR (RR before we sent anything) with a report block on the browser's stream."""
        reports = []
        if self.stats.ssrc is not None:
            dlsr = int((now - self._lsr_at) * 65536) if self._lsr else 0
            reports.append(self.stats.report(self._lsr, dlsr & 0xFFFFFFFF))
        if not self.packets_sent:
            return bytes(RtcpRrPacket(ssrc=self.ssrc, reports=reports))
        elapsed = int((now - self._last_sent_at) * self.clock_rate)
        sender = RtcpSenderInfo(
            ntp_timestamp=ntp_timestamp(unix_time),
            rtp_timestamp=(self._last_timestamp + elapsed) & 0xFFFFFFFF,
            packet_count=self.packets_sent & 0xFFFFFFFF,
            octet_count=self.octets_sent & 0xFFFFFFFF,
        )
        return bytes(RtcpSrPacket(ssrc=self.ssrc, sender_info=sender, reports=reports))

    def send_rtcp(self, plain: bytes) -> None:
        if not self.closed:
            self._send(self._tx.protect_rtcp(plain))

    # ---- in --------------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> None:
        """One SRTP or SRTCP datagram (the caller checked `is_rtp_or_rtcp`)."""
        if self.closed:
            return
        if len(data) > 1 and 191 < data[1] < 224:  # RFC 5761 4
            self._receive_rtcp(data, now)
            return
        try:
            plain = self._rx.unprotect(data)
            packet = parse_rtp(plain)
        except (pylibsrtp.Error, RtpError):
            self.rejected += 1
            return
        self.packets_received += 1
        self.stats.update(packet.ssrc, packet.sequence, packet.timestamp, now)
        self._on_rtp(packet, plain)

    def _receive_rtcp(self, data: bytes, now: float) -> None:
        try:
            plain = self._rx.unprotect_rtcp(data)
            packets = parse_rtcp(plain)
        except (pylibsrtp.Error, RtpError):
            self.rejected += 1
            return
        self.rtcp_received += 1
        for packet in packets:
            if isinstance(packet, RtcpSrPacket):
                self._lsr = ntp_middle(packet.sender_info.ntp_timestamp)
                self._lsr_at = now
        if self._on_rtcp is not None:
            self._on_rtcp(plain)

    def close(self) -> None:
        self.closed = True


class DemuxProtocol(asyncio.DatagramProtocol):
    """Sits on the nominated pair's socket in place of aioice's protocol (RFC 7983 7 demultiplexing)."""

    def __init__(self, inner: asyncio.DatagramProtocol, path: SrtpPath) -> None:
        self.inner = inner
        self.path = path

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if data and 127 < data[0] < 192:
            self.path.receive(data, time.monotonic())
        else:
            self.inner.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.inner.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.path.close()
        self.inner.connection_lost(exc)


def attach(transport: asyncio.DatagramTransport, path: SrtpPath) -> DemuxProtocol:
    """Put `path` on `transport` in front of the protocol it has (aioice's)."""
    inner = transport.get_protocol()
    if isinstance(inner, DemuxProtocol):  # already ours: only the path changes
        inner.path.close()
        inner = inner.inner
    demux = DemuxProtocol(inner, path)  # type: ignore[arg-type]
    transport.set_protocol(demux)
    return demux


def detach(transport: asyncio.DatagramTransport) -> None:
    """Give the socket back to the protocol `attach` found there."""
    protocol = transport.get_protocol()
    if isinstance(protocol, DemuxProtocol):
        protocol.path.close()
        transport.set_protocol(protocol.inner)
