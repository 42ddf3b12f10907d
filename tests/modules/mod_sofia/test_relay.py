"""The RTP relay between two SIP legs: header rewrite, what takes the usual way, counters, timeout, stop."""

from __future__ import annotations

import struct
from collections.abc import Callable

from modules.mod_sofia.media import SipMedia
from modules.mod_sofia.relay import RtpRelay
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.negotiate import Negotiated
from switchcore.media.rtp_session import RtpConfig, RtpSession
from switchcore.media.sdp import Direction

PCMU = next(s for s in builtin_codecs() if s.name == "PCMU")
A_FAR, B_FAR = ("127.0.0.1", 40000), ("127.0.0.1", 40002)
Address = tuple[str, int]


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def sendto(self, data: bytes, addr: Address) -> None:
        self.sent.append((data, addr))

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 16000) if name == "sockname" else default

    def close(self) -> None:
        return


class FakeSocket:
    """What RtpRelay needs of an RtpSocket."""

    def __init__(self, session: RtpSession) -> None:
        self.transport = FakeTransport()
        self.handler: Callable[[bytes, Address], None] = session.datagram_received
        self.sendto = self.transport.sendto

    def divert(self, handler: Callable[[bytes, Address], None]) -> None:
        self.handler = handler

    def restore(self, session: RtpSession) -> None:
        self.handler = session.datagram_received


def leg(far: Address, pt: int = 0) -> tuple[SipMedia, FakeSocket]:
    negotiated = Negotiated(
        codec=PCMU,
        pt=pt,
        ptime=20,
        fmtp={},
        dtmf_pt=101,
        remote_addr=far,
        direction=Direction.SENDRECV,
        recv_pt=pt,
    )
    rtp = RtpSession(RtpConfig.from_negotiated(negotiated, media_timeout=30.0))
    sock = FakeSocket(rtp)
    rtp.attach(sock.transport)  # type: ignore[arg-type]
    rtp.set_remote(far)
    return SipMedia(rtp, negotiated), sock


def packet(
    seq: int, ts: int, ssrc: int = 0xABCDEF01, pt: int = 0, marker: bool = False, payload: bytes = b"x" * 160
) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def header(data: bytes) -> tuple[int, int, int, int, int]:
    second, seq, ts, ssrc = struct.unpack_from("!xBHII", data)
    return second >> 7, second & 0x7F, seq, ts, ssrc


async def test_packets_go_out_on_the_other_leg_with_its_numbering_and_the_payload_untouched() -> None:
    a, a_sock = leg(A_FAR)
    b, b_sock = leg(B_FAR, pt=0)
    b.rtp.sender.sequence, b.rtp.sender.timestamp = 1000, 50000
    relay = RtpRelay(a, a_sock, b, b_sock)
    a_sock.handler(packet(7, 960), A_FAR)  # latches, then relayed
    a_sock.handler(packet(8, 1120), A_FAR)
    a_sock.handler(packet(9, 1280, payload=b"y" * 160), A_FAR)
    sent = [data for data, addr in b_sock.transport.sent if addr == B_FAR]
    assert [header(d) for d in sent] == [
        (1, 0, 1000, 50000, b.rtp.sender.ssrc),  # the first relayed packet marks the discontinuity
        (0, 0, 1001, 50160, b.rtp.sender.ssrc),
        (0, 0, 1002, 50320, b.rtp.sender.ssrc),
    ]
    assert sent[2][12:] == b"y" * 160
    assert (b.rtp.sender.sequence, b.rtp.sender.timestamp) == (1003, 50480)
    relay.sync()
    assert b.rtp.sender.packets_sent == 3 and b.rtp.sender.octets_sent == 480
    assert a.rtp.stats.packets_received == 3


async def test_a_new_source_ssrc_reanchors_with_the_marker_bit() -> None:
    a, a_sock = leg(A_FAR)
    b, b_sock = leg(B_FAR)
    RtpRelay(a, a_sock, b, b_sock)
    a_sock.handler(packet(100, 16000), A_FAR)
    a_sock.handler(packet(5, 777, ssrc=0x11), A_FAR)
    (m1, _, s1, t1, _), (m2, _, s2, t2, _) = (header(d) for d, _ in b_sock.transport.sent[-2:])
    assert (m1, m2) == (1, 1) and s2 == s1 + 1 and t2 == t1 + 160


async def test_telephone_events_and_strangers_take_the_usual_way() -> None:
    a, a_sock = leg(A_FAR)
    b, b_sock = leg(B_FAR)
    digits: list[str] = []
    a.rtp.on_dtmf = lambda digit: digits.append(digit.digit)
    RtpRelay(a, a_sock, b, b_sock)
    a_sock.handler(packet(1, 160), A_FAR)
    event = struct.pack("!BBH", 5, 0x80 | 10, 800)  # digit 5, end bit, duration 800
    for seq in (2, 3, 4):
        a_sock.handler(packet(seq, 320, pt=101, payload=event), A_FAR)
    a_sock.handler(packet(5, 480), ("127.0.0.1", 49999))  # not the latched far end
    assert digits == ["5"]
    assert len(b_sock.transport.sent) == 1  # only the first audio packet was relayed
    assert a.rtp.stats.foreign_packets == 1


async def test_nothing_is_sent_while_the_other_leg_may_not_send_and_stop_gives_the_socket_back() -> None:
    a, a_sock = leg(A_FAR)
    b, b_sock = leg(B_FAR)
    relay = RtpRelay(a, a_sock, b, b_sock)
    b.sending = False  # the far end of B holds the call (sendonly)
    relay.refresh()
    a_sock.handler(packet(1, 160), A_FAR)
    assert b_sock.transport.sent == []
    relay.stop()
    assert a_sock.handler == a.rtp.datagram_received
    assert a.rtp.config.media_timeout == 30.0  # the session watches its media again


async def test_the_media_timeout_is_watched_while_relaying() -> None:
    a, a_sock = leg(A_FAR)
    b, b_sock = leg(B_FAR)
    relay = RtpRelay(a, a_sock, b, b_sock)
    assert a.rtp.config.media_timeout is None
    assert not relay.timed_out(relay.last_packet + 29.0)
    assert relay.timed_out(relay.last_packet + 30.0)
