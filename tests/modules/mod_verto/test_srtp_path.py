"""The short SRTP path: an in-memory pair with loss, the RFC 7983 demultiplexer, and real loopback sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pylibsrtp
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap
from aiortc.rtp import RtpPacket as AiortcPacket

from modules.mod_verto.srtp_path import (
    DemuxProtocol,
    SrtpPath,
    attach,
    detach,
    is_rtp_or_rtcp,
    mid_extension,
    parse_rtp,
)
from switchcore.media.rtp import RtcpSrPacket, RtpPacket, parse_rtcp

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "verto"
KEY_AB = bytes(range(30))  # AES_CM_128_HMAC_SHA1_80: 16-byte key + 14-byte salt
KEY_BA = bytes(range(30, 60))


def session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    kind = pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND
    return pylibsrtp.Session(policy=pylibsrtp.Policy(key=key, ssrc_type=kind))


class End:
    """One side of a pair: its path, and what reached it."""

    def __init__(self, rx_key: bytes, tx_key: bytes, ssrc: int, extension: bytes = b"") -> None:
        self.wire: list[bytes] = []
        self.packets: list[RtpPacket] = []
        self.rtcp: list[bytes] = []
        self.path = SrtpPath(
            session(rx_key, False),
            session(tx_key, True),
            self.wire.append,
            ssrc,
            111,
            48000,
            lambda packet, plain: self.packets.append(packet),
            self.rtcp.append,
            extension,
        )


def pair() -> tuple[End, End]:
    return End(KEY_BA, KEY_AB, 0x1111), End(KEY_AB, KEY_BA, 0x2222)


def test_audio_crosses_a_pair_with_our_ssrc_numbering_and_a_marker_on_the_first():
    a, b = pair()
    payloads = [bytes([n]) * 40 for n in range(5)]
    for n, payload in enumerate(payloads):
        a.path.send_audio(payload, now=n * 0.02)
    assert all(is_rtp_or_rtcp(d) for d in a.wire)
    assert all(p not in d for d, p in zip(a.wire, payloads, strict=True))  # encrypted on the wire
    for data in a.wire:
        b.path.receive(data, 0.0)
    assert [p.payload for p in b.packets] == payloads
    assert {p.ssrc for p in b.packets} == {0x1111}
    assert {p.payload_type for p in b.packets} == {111}
    assert [p.marker for p in b.packets] == [True, False, False, False, False]
    first = b.packets[0]
    assert [(p.sequence - first.sequence) & 0xFFFF for p in b.packets] == [0, 1, 2, 3, 4]
    assert [(p.timestamp - first.timestamp) & 0xFFFFFFFF for p in b.packets] == [0, 960, 1920, 2880, 3840]
    assert first.sequence < 0x8000  # started in the lower half, far from the wrap
    assert (a.path.packets_sent, a.path.octets_sent, b.path.packets_received) == (5, 200, 5)


def test_a_tampered_or_replayed_packet_is_rejected_and_counted():
    a, b = pair()
    a.path.send_audio(b"\x01" * 20, 0.0)
    a.path.send_audio(b"\x02" * 20, 0.02)
    good, second = a.wire
    tampered = bytearray(second)
    tampered[20] ^= 0xFF
    b.path.receive(bytes(tampered), 0.0)  # RFC 3711 3.3: authentication fails
    b.path.receive(good, 0.0)
    b.path.receive(good, 0.0)  # RFC 3711 3.3.2: a replay
    assert [p.payload for p in b.packets] == [b"\x01" * 20]
    assert b.path.rejected == 2


def test_reports_carry_our_counts_and_a_block_on_the_other_stream_with_its_loss():
    a, b = pair()
    for n in range(50):
        a.path.send_audio(b"x" * 30, n * 0.02)
        b.path.send_audio(b"y" * 30, n * 0.02)
    for n, data in enumerate(a.wire):
        if n % 5 != 2:  # every fifth packet lost
            b.path.receive(data, n * 0.02)
    for data in b.wire:
        a.path.receive(data, 0.0)
    a.wire.clear()

    a.path.send_rtcp(a.path.report(now=1.0, unix_time=1_700_000_000.0))
    b.path.receive(a.wire[0], now=1.0)  # b learns a's SR time (LSR)
    (a_sr,) = parse_rtcp(b.rtcp[0])
    assert isinstance(a_sr, RtcpSrPacket)
    assert (a_sr.ssrc, a_sr.sender_info.packet_count, a_sr.sender_info.octet_count) == (0x1111, 50, 1500)
    assert a_sr.reports[0].ssrc == 0x2222 and a_sr.reports[0].packets_lost == 0

    b.wire.clear()
    b.path.send_rtcp(b.path.report(now=1.5, unix_time=1_700_000_000.5))
    a.path.receive(b.wire[0], 1.5)
    (b_sr,) = parse_rtcp(a.rtcp[0])
    assert isinstance(b_sr, RtcpSrPacket)
    (block,) = b_sr.reports
    assert block.ssrc == 0x1111
    assert block.packets_lost == 10
    assert block.fraction_lost == (10 << 8) // 50
    assert block.lsr == (a_sr.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF
    assert block.dlsr == 65536 // 2  # half a second after that SR


def test_before_sending_anything_the_report_is_a_receiver_report():
    a, _ = pair()
    (packet,) = parse_rtcp(a.path.report(0.0, 1_700_000_000.0))
    assert type(packet).__name__ == "RtcpRrPacket" and packet.ssrc == 0x1111


def test_the_mid_extension_is_what_aiortc_reads_as_the_mid():
    assert mid_extension(1, "0") == bytes.fromhex("bede0001") + bytes([0x10]) + b"0" + bytes(2)
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
            ]
        )
    )
    a = End(KEY_BA, KEY_AB, 0x1111, extension=mid_extension(4, "audio"))
    plain_sink = End(KEY_AB, KEY_BA, 0x2222)
    a.path.send_audio(b"opus", 0.0)
    plain = plain_sink.path._rx.unprotect(a.wire[0])
    packet = AiortcPacket.parse(plain, extensions)
    assert packet.extensions.mid == "audio"
    assert packet.payload == b"opus"
    with pytest.raises(ValueError):
        mid_extension(15, "0")


def test_parse_rtp_skips_a_browsers_header_extensions():
    data = (VECTORS / "rtp_opus_with_extensions.bin").read_bytes()  # aiortc's mid, abs-send-time, level
    packet = parse_rtp(data)
    assert packet == RtpPacket(111, 0x1234, 0x01020304, 0xCAFEBABE, bytes.fromhex("780be4c136"), True)
    plain = bytes([0x80, 0x00]) + data[2:12] + b"pcmu"
    assert parse_rtp(plain) == RtpPacket(0, 0x1234, 0x01020304, 0xCAFEBABE, b"pcmu", False)
    with_csrc = bytes([0x81, 111]) + data[2:12] + (7).to_bytes(4, "big") + b"abc"
    assert parse_rtp(with_csrc).payload == b"abc"
    assert parse_rtp(with_csrc).extension is None


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []
        self.lost = False

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.datagrams.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def test_the_demux_sends_stun_dtls_and_turn_channels_on_and_keeps_rtp_and_rtcp():
    """RFC 7983 7: 0-3 STUN, 20-63 DTLS, 64-79 TURN channel, 128-191 RTP and RTCP."""
    a, b = pair()
    inner = Recorder()
    demux = DemuxProtocol(inner, b.path)
    a.path.send_audio(b"media", 0.0)
    a.path.send_rtcp(a.path.report(0.1, 1_700_000_000.0))
    stun, dtls, turn = b"\x00\x01" + bytes(18), b"\x16\xfe\xfd" + bytes(10), b"\x40\x00\x00\x04abcd"
    for data in (stun, a.wire[0], dtls, a.wire[1], turn, b""):
        demux.datagram_received(data, ("127.0.0.1", 9))
    assert inner.datagrams == [stun, dtls, turn, b""]
    assert [p.payload for p in b.packets] == [b"media"] and len(b.rtcp) == 1
    demux.connection_lost(None)
    assert inner.lost and b.path.closed
    b.path.receive(a.wire[0], 0.0)
    assert len(b.packets) == 1  # a closed path takes nothing more


async def test_srtp_crosses_real_loopback_sockets_once_attached_and_stun_still_reaches_aioice():
    loop = asyncio.get_running_loop()
    inner = Recorder()
    switch_side, _ = await loop.create_datagram_endpoint(lambda: inner, local_addr=("127.0.0.1", 0))
    browser = Recorder()
    browser_side, _ = await loop.create_datagram_endpoint(lambda: browser, local_addr=("127.0.0.1", 0))
    switch_addr = switch_side.get_extra_info("sockname")
    browser_addr = browser_side.get_extra_info("sockname")
    received: list[RtpPacket] = []

    def send(data: bytes) -> None:
        switch_side.sendto(data, browser_addr)

    path = SrtpPath(
        session(KEY_AB, False), session(KEY_BA, True), send, 0x3333, 0, 8000, lambda p, _: received.append(p)
    )
    attach(switch_side, path)
    browser_path = End(KEY_BA, KEY_AB, 0x4444).path
    browser_tx: list[bytes] = []
    browser_path._send = browser_tx.append
    try:
        for n in range(3):
            browser_path.send_audio(bytes([n]) * 160, n * 0.02)
        for data in browser_tx:
            browser_side.sendto(data, switch_addr)
        browser_side.sendto(b"\x00\x01\x00\x00" + bytes(16), switch_addr)  # a STUN binding request
        path.send_audio(b"\xff" * 160, 0.0)
        for _ in range(100):
            if len(received) == 3 and inner.datagrams and browser.datagrams:
                break
            await asyncio.sleep(0.01)
        assert [p.payload[0] for p in received] == [0, 1, 2]
        assert {p.ssrc for p in received} == {0x4444}
        assert inner.datagrams == [b"\x00\x01\x00\x00" + bytes(16)]
        assert browser.datagrams and is_rtp_or_rtcp(browser.datagrams[0])
        detach(switch_side)
        assert switch_side.get_protocol() is inner and path.closed
    finally:
        switch_side.close()
        browser_side.close()
