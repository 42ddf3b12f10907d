"""RtpSession pairs: an in-memory path with loss and reordering, and real 127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from switchcore.media.codec import CodecSpec
from switchcore.media.negotiate import LocalMedia, MediaPolicy, answer_offer
from switchcore.media.rtp import DtmfDigit, RtpError, RtpPacket, parse_rtcp
from switchcore.media.rtp_session import (
    MAX_DATAGRAM,
    NoFreePort,
    PortAllocator,
    RtpConfig,
    RtpSession,
    pass_through,
)
from switchcore.media.sdp import SessionDescription

VECTORS = Path(__file__).parents[2] / "vectors" / "sdp"
HOST = "127.0.0.1"
PORTS = (15200, 15299)  # this suite's UDP range
Address = tuple[str, int]


def payload(i: int) -> bytes:
    return i.to_bytes(2, "big") * 80


def index_of(data: bytes | None) -> int | None:
    return int.from_bytes(data[:2], "big") if data is not None else None


async def settle(rounds: int = 3) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


# --- an in-memory network ----------------------------------------------------


class MemoryNetwork:
    """Delivers datagrams between attached sessions on the loop; drops or delays chosen RTP packets."""

    def __init__(self) -> None:
        self.endpoints: dict[Address, Callable[[bytes, Address], None]] = {}
        self.drop: set[int] = set()  # indices (in sending order) of RTP datagrams to lose
        self.hold_back: set[int] = set()  # ... and of ones to deliver after the next one (reorder)
        self._sent = 0
        self._held: list[tuple[bytes, Address, Address]] = []

    def send(self, data: bytes, src: Address, dst: Address) -> None:
        if len(data) >= 2 and 192 <= data[1] <= 223:  # RTCP passes untouched
            self._deliver(data, src, dst)
            return
        index = self._sent
        self._sent += 1
        if index in self.drop:
            return
        if index in self.hold_back:
            self._held.append((data, src, dst))
            return
        self._deliver(data, src, dst)
        held, self._held = self._held, []
        for item in held:
            self._deliver(*item)

    def _deliver(self, data: bytes, src: Address, dst: Address) -> None:
        receive = self.endpoints.get(dst)
        if receive is not None:
            asyncio.get_running_loop().call_soon(receive, data, src)


class MemoryTransport(asyncio.DatagramTransport):
    def __init__(self, network: MemoryNetwork, local: Address) -> None:
        super().__init__()
        self.network, self.local, self.closed = network, local, False

    def sendto(self, data: Any, addr: Any = None) -> None:
        self.network.send(bytes(data), self.local, addr)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.local if name == "sockname" else default

    def close(self) -> None:
        self.closed = True


def memory_session(network: MemoryNetwork, port: int, config: RtpConfig, **callbacks: Any) -> RtpSession:
    session = RtpSession(config, **callbacks)
    rtp, rtcp = (HOST, port), (HOST, port + 1)
    network.endpoints[rtp] = session.datagram_received
    network.endpoints[rtcp] = session.rtcp_received
    session.attach(MemoryTransport(network, rtp), MemoryTransport(network, rtcp))
    return session


# --- fixtures ------------------------------------------------------------------


@pytest.fixture
def ports() -> PortAllocator:
    return PortAllocator(*PORTS)


@pytest.fixture
async def pair(ports: PortAllocator) -> AsyncIterator[tuple[RtpSession, RtpSession]]:
    config = RtpConfig(payload_type=0, dtmf_pt=101, jitter_depth=2)
    a = await RtpSession.open(HOST, ports, config)
    b = await RtpSession.open(HOST, ports, config)
    assert a.local_address is not None and b.local_address is not None
    a.set_remote(b.local_address)
    b.set_remote(a.local_address)
    yield a, b
    a.close()
    b.close()


# --- ports ---------------------------------------------------------------------


def test_port_allocator_hands_out_even_ports_round_robin() -> None:
    allocator = PortAllocator(15201, 15206)
    assert [allocator.allocate(), allocator.allocate()] == [15202, 15204]
    with pytest.raises(NoFreePort, match="no free RTP port in 15202-15206"):
        allocator.allocate()
    allocator.release(15202)
    assert allocator.in_use == 1
    assert allocator.allocate() == 15202
    with pytest.raises(ValueError, match="no even/odd port pair"):
        PortAllocator(15210, 15210)


async def test_open_skips_ports_someone_else_holds(ports: PortAllocator) -> None:
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind((HOST, 15200))
    try:
        session = await RtpSession.open(HOST, ports)
        assert session.local_address == (HOST, 15202)
        assert session.local_rtcp_address == (HOST, 15203)
        assert (
            session._transport is not None
            and getattr(session._transport, "max_size", MAX_DATAGRAM) == MAX_DATAGRAM
        )
        session.close()
        assert ports.in_use == 0
    finally:
        squatter.close()


# --- in-memory path --------------------------------------------------------------


async def test_memory_pair_plays_50_packets_in_order_through_loss_and_reordering() -> None:
    network = MemoryNetwork()
    network.drop = {5, 17, 33}
    network.hold_back = {10, 40, 41}
    config = RtpConfig(payload_type=0, jitter_depth=2, rtcp_interval=None)
    a = memory_session(network, 15200, config)
    b = memory_session(network, 15210, config)
    a.set_remote((HOST, 15210))
    b.set_remote((HOST, 15200))
    played: list[int | None] = []
    for i in range(50):
        a.send_audio(payload(i))
        await settle()
        played.append(index_of(b.pop_payload()))
    for _ in range(4):
        played.append(index_of(b.pop_payload()))
    heard = [i for i in played if i is not None]
    assert heard == [i for i in range(50) if i not in network.drop]
    assert played.count(None) >= 3
    stats = b.stats
    assert (stats.expected, stats.packets_received, stats.lost) == (50, 47, 3)
    assert stats.jitter_buffer.lost == 3 and stats.jitter_buffer.late == 0
    assert a.stats.packets_sent == 50


async def test_memory_pair_rtcp_reports_the_loss_back_to_the_sender() -> None:
    network = MemoryNetwork()
    network.drop = {1, 2}
    config = RtpConfig(payload_type=0, rtcp_interval=None)
    a = memory_session(network, 15220, config)
    b = memory_session(network, 15230, config)
    a.set_remote((HOST, 15230))
    b.set_remote((HOST, 15220))
    for i in range(10):
        a.send_audio(payload(i))
    await settle()
    a.send_report()  # SR: lets b's report carry LSR/DLSR
    await settle()
    b.send_report()
    await settle()
    report = a.stats.remote_report
    assert report is not None
    assert (report.ssrc, report.packets_lost, report.fraction_lost) == (a.sender.ssrc, 2, 51)  # 2/10 * 256
    assert a.stats.round_trip_s is not None and 0.0 <= a.stats.round_trip_s < 0.5


# --- real sockets -------------------------------------------------------------------


async def test_socket_pair_exchanges_50_packets_with_loss_and_reordering(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    a, b = pair
    lost, swapped = {7, 21, 22}, {30}
    built: list[bytes] = []
    for i in range(50):
        data = a.sender.audio(0, payload(i), 160)
        if i not in lost:
            built.append(data)
    order = list(built)
    for i in swapped:  # send packet i+1 before packet i
        at = next(k for k, d in enumerate(order) if index_of(RtpPacket.parse(d).payload) == i)
        order[at], order[at + 1] = order[at + 1], order[at]
    played: list[int | None] = []
    for data in order:
        a.send_packet(data)
        await asyncio.sleep(0.002)
        played.append(index_of(b.pop_payload()))
    for _ in range(4):
        played.append(index_of(b.pop_payload()))
    assert [i for i in played if i is not None] == [i for i in range(50) if i not in lost]
    assert (b.stats.expected, b.stats.lost) == (50, 3)
    assert b.stats.jitter_buffer.late == 0


async def test_dtmf_1234_hash_end_to_end_while_audio_keeps_flowing(
    pair: tuple[RtpSession, RtpSession],
) -> None:
    a, b = pair
    digits: list[DtmfDigit] = []
    audio: list[RtpPacket] = []
    b.on_dtmf = digits.append
    b.pass_through(lambda data: audio.append(RtpPacket.parse(data)))  # see every audio packet as it lands
    sending = asyncio.create_task(a.send_dtmf("1234#", duration_ms=100))
    while not sending.done():
        a.send_audio(payload(0))
        await asyncio.sleep(0.02)
    await sending
    await asyncio.sleep(0.05)
    assert "".join(d.digit for d in digits) == "1234#"
    assert all(d.duration_ms == 100 for d in digits)
    event_timestamps = [d.timestamp for d in digits]
    assert event_timestamps == sorted(event_timestamps) and len(set(event_timestamps)) == 5
    assert len(audio) >= 30  # about one per 20 ms for the ~0.9 s the digits take
    steps = {y.timestamp - x.timestamp for x, y in zip(audio, audio[1:], strict=False)}
    assert steps <= {160}, "audio timestamps advance by one ptime while DTMF is sent"
    assert b.stats.dtmf_received == 5


async def test_dtmf_needs_a_negotiated_payload_type(ports: PortAllocator) -> None:
    session = await RtpSession.open(HOST, ports, RtpConfig(dtmf_pt=None))
    try:
        with pytest.raises(RtpError, match="no telephone-event payload type was negotiated"):
            await session.send_dtmf("1")
    finally:
        session.close()


async def test_latches_to_the_real_source_and_ignores_others(pair: tuple[RtpSession, RtpSession]) -> None:
    a, b = pair
    assert a.local_address is not None and b.local_address is not None
    b.set_remote((HOST, 15298))  # what a's SDP claimed; nothing listens there
    a.send_audio(payload(1))
    await asyncio.sleep(0.02)
    assert b.latched and b.remote_address == a.local_address
    b.send_audio(payload(2))
    a.send_audio(payload(3))
    await asyncio.sleep(0.02)
    assert a.stats.packets_received == 1  # b's packet went to a's real address
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        intruder.sendto(a.sender.audio(0, payload(9), 160), b.local_address)
        await asyncio.sleep(0.02)
    finally:
        intruder.close()
    assert b.stats.foreign_packets == 1
    assert b.remote_address == a.local_address


async def test_without_latching_we_keep_sending_where_sdp_said(ports: PortAllocator) -> None:
    a = await RtpSession.open(HOST, ports, RtpConfig(rtcp_interval=None))
    b = await RtpSession.open(HOST, ports, RtpConfig(latch=False, rtcp_interval=None))
    try:
        assert b.local_address is not None
        a.set_remote(b.local_address)
        b.set_remote((HOST, 15298))
        a.send_audio(payload(1))
        await asyncio.sleep(0.02)
        assert not b.latched and b.remote_address == (HOST, 15298)
        assert b.stats.packets_received == 1
    finally:
        a.close()
        b.close()


async def test_rtcp_on_port_plus_one_reports_loss(pair: tuple[RtpSession, RtpSession]) -> None:
    a, b = pair
    for i in range(20):
        data = a.sender.audio(0, payload(i), 160)
        if i not in (4, 9):
            a.send_packet(data)
    await asyncio.sleep(0.02)
    a.send_report()
    await asyncio.sleep(0.02)
    b.send_report()
    await asyncio.sleep(0.02)
    report = a.stats.remote_report
    assert report is not None and report.packets_lost == 2 and report.fraction_lost == 25  # 2/20 * 256
    assert b.stats.loss_ratio == pytest.approx(0.1)


async def test_rtcp_mux_shares_the_rtp_port(ports: PortAllocator) -> None:
    config = RtpConfig(rtcp_mux=True, rtcp_interval=None)
    seen: list[int] = []
    a = await RtpSession.open(HOST, ports, config)
    b = await RtpSession.open(HOST, ports, config, on_rtcp=lambda packets: seen.append(len(packets)))
    try:
        assert a.local_address is not None and b.local_address is not None
        assert a.local_rtcp_address == a.local_address
        a.set_remote(b.local_address)
        a.send_audio(payload(0))
        a.send_report()
        await asyncio.sleep(0.02)
        assert seen == [2] and b.stats.packets_received == 1 and b.stats.bad_packets == 0
    finally:
        a.close()
        b.close()


async def test_media_timeout_fires_once_and_rearms_when_media_returns(ports: PortAllocator) -> None:
    timeouts: list[float] = []
    config = RtpConfig(media_timeout=0.1, housekeeping=0.02, rtcp_interval=None)
    loop = asyncio.get_running_loop()
    a = await RtpSession.open(HOST, ports, RtpConfig(rtcp_interval=None))
    b = await RtpSession.open(HOST, ports, config, on_timeout=lambda: timeouts.append(loop.time()))
    try:
        assert b.local_address is not None
        a.set_remote(b.local_address)
        await asyncio.sleep(0.25)
        assert len(timeouts) == 1
        a.send_audio(payload(0))
        await asyncio.sleep(0.05)
        assert len(timeouts) == 1
        await asyncio.sleep(0.15)
        assert len(timeouts) == 2
        b.set_media_timeout(None)  # e.g. on hold
        await asyncio.sleep(0.15)
        assert len(timeouts) == 2
    finally:
        a.close()
        b.close()


async def test_pass_through_bridge_rewrites_only_seq_ts_ssrc(ports: PortAllocator) -> None:
    config = RtpConfig(payload_type=0, rtcp_interval=None, jitter_depth=1)
    phone_a, leg_a, leg_b, phone_b = [await RtpSession.open(HOST, ports, config) for _ in range(4)]
    try:
        for x, y in ((phone_a, leg_a), (leg_b, phone_b)):
            assert x.local_address is not None and y.local_address is not None
            x.set_remote(y.local_address)
            y.set_remote(x.local_address)
        leg_b.send_audio(payload(999))  # leg b already sent some of its own media
        await asyncio.sleep(0.01)
        assert phone_b.pop_packet() is not None
        pass_through(leg_a, leg_b)
        for i in range(5):
            phone_a.send_audio(payload(i))
            await asyncio.sleep(0.005)
        relayed = [phone_b.pop_packet() for _ in range(5)]
        assert [index_of(p.payload if p else None) for p in relayed] == [0, 1, 2, 3, 4]
        assert {p.ssrc for p in relayed if p} == {leg_b.sender.ssrc}
        assert [p.sequence for p in relayed if p] == [
            (leg_b.sender.sequence - 5 + k) % 65536 for k in range(5)
        ]
        assert phone_b.stats.lost == 0 and leg_a.stats.packets_received == 5
        assert len(leg_a.jitter) == 0  # nothing buffered on the relaying leg
    finally:
        for session in (phone_a, leg_a, leg_b, phone_b):
            session.close()


async def test_close_sends_bye_and_frees_the_port(ports: PortAllocator) -> None:
    received: list[bytes] = []
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((HOST, 15297))
    listener.setblocking(False)
    session = await RtpSession.open(HOST, ports, RtpConfig(), remote=(HOST, 15296))
    session.close()
    await asyncio.sleep(0.01)
    try:
        received.append(listener.recv(2048))
    finally:
        listener.close()
    kinds = [type(p).__name__ for p in parse_rtcp(received[0])]
    assert kinds == ["RtcpRrPacket", "RtcpSdesPacket", "RtcpByePacket"]
    assert ports.in_use == 0 and session.closed


async def test_mute_during_dtmf_skips_audio_but_keeps_time(ports: PortAllocator) -> None:
    a = await RtpSession.open(HOST, ports, RtpConfig(mute_during_dtmf=True, rtcp_interval=None))
    b = await RtpSession.open(HOST, ports, RtpConfig(rtcp_interval=None, jitter_depth=1))
    try:
        assert b.local_address is not None
        a.set_remote(b.local_address)
        before = a.sender.timestamp
        task = asyncio.create_task(a.send_dtmf("5", duration_ms=60))
        await asyncio.sleep(0.005)
        a.send_audio(payload(1))
        await task
        assert a.sender.timestamp - before == 480  # 160 for the muted packet, then up to the event's end
        await asyncio.sleep(0.02)
        assert b.stats.packets_received == 5 and b.pop_packet() is None  # 2 updates + 3 ends, no audio
    finally:
        a.close()
        b.close()


def test_config_from_negotiated_takes_pts_clock_and_mux() -> None:
    def unused(fmtp: Mapping[str, str]) -> Any:
        raise AssertionError("no codec is built here")

    g722 = CodecSpec("G722", 16000, 8000, 1, 9, unused, unused, (20,))
    offer = SessionDescription.parse((VECTORS / "pjsua2_offer.sdp").read_bytes())
    greedy = MediaPolicy.from_prefs("G722,PCMU")
    negotiated = answer_offer(offer, LocalMedia(HOST, 15200), greedy, [g722]).negotiated
    config = RtpConfig.from_negotiated(negotiated, media_timeout=30.0)
    assert (config.payload_type, config.recv_payload_type, config.dtmf_pt, config.recv_dtmf_pt) == (
        9,
        9,
        121,
        121,
    )
    assert (config.clock_rate, config.ptime, config.samples_per_packet) == (8000, 20, 160)
    assert (config.dtmf_clock_rate, config.rtcp_mux, config.media_timeout) == (8000, False, 30.0)
