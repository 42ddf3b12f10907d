"""The RTP relay between two SIP legs on their real sockets: `RtpSocket` lets the core's `RtpRelay`
take the socket over (nothing between the socket and the relay), and gives it back."""

from __future__ import annotations

import asyncio
import struct

from modules.mod_sofia.media import RtpSocket
from switchcore.media.relay import RtpRelay
from switchcore.media.rtp import DtmfDigit
from switchcore.media.rtp_session import PortAllocator, RtpConfig, RtpSession

HOST = "127.0.0.1"
Address = tuple[str, int]


class FarEnd(asyncio.DatagramProtocol):
    """A phone's RTP socket: keeps what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.received.put_nowait(data)

    @property
    def address(self) -> Address:
        assert self.transport is not None
        name = self.transport.get_extra_info("sockname")
        return (name[0], name[1])


async def far_end(ports: PortAllocator) -> FarEnd:
    loop = asyncio.get_running_loop()
    for _ in range(8):
        port = ports.allocate()
        try:
            _, protocol = await loop.create_datagram_endpoint(FarEnd, local_addr=(HOST, port))
        except OSError:
            continue  # someone else's: try the next pair
        return protocol
    raise RuntimeError("no free far-end port")


def packet(seq: int, ts: int, pt: int = 0, payload: bytes = b"\x55" * 160) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, ts, 0x1234) + payload


async def drain(far: FarEnd, count: int) -> list[bytes]:
    return [await asyncio.wait_for(far.received.get(), 2.0) for _ in range(count)]


async def test_a_relay_on_real_sockets_rewrites_audio_and_passes_dtmf_the_usual_way_until_stopped() -> None:
    ports = PortAllocator(15670, 15689)
    a_sock = await RtpSocket.bind(HOST, ports)
    b_sock = await RtpSocket.bind(HOST, ports)
    phone_a, phone_b = await far_end(ports), await far_end(ports)
    digits: list[DtmfDigit] = []
    a = RtpSession(RtpConfig(rtcp_interval=None), on_dtmf=digits.append)
    b = RtpSession(RtpConfig(rtcp_interval=None))
    a_sock.attach(a, rtcp_mux=False)
    b_sock.attach(b, rtcp_mux=False)
    a.set_remote(phone_a.address)
    b.set_remote(phone_b.address)
    to_a = (HOST, a_sock.port)
    send_a = phone_a.transport.sendto  # type: ignore[union-attr]
    try:
        relay = RtpRelay(a, b)
        for seq in range(1, 6):
            send_a(packet(seq, seq * 160, payload=bytes([seq]) * 160), to_a)
        event = struct.pack("!BBH", 7, 0x80 | 10, 800)  # digit 7, end bit
        for seq in (6, 7, 8):
            send_a(packet(seq, 960, pt=101, payload=event), to_a)
        got = await drain(phone_b, 5)
        assert [data[12:] for data in got] == [bytes([seq]) * 160 for seq in range(1, 6)]
        assert {struct.unpack_from("!I", data, 8)[0] for data in got} == {b.sender.ssrc}
        first_seq = struct.unpack_from("!H", got[0], 2)[0]
        assert [struct.unpack_from("!H", data, 2)[0] for data in got] == [
            (first_seq + i) & 0xFFFF for i in range(5)
        ]
        for _ in range(20):
            if digits:
                break
            await asyncio.sleep(0.01)
        assert [d.digit for d in digits] == ["7"]
        assert phone_b.received.empty()  # the events were not relayed as audio
        assert a.stats.packets_received == 8 and b.stats.packets_sent == 5

        relay.stop()
        for seq in range(9, 13):
            send_a(packet(seq, seq * 160), to_a)
        await asyncio.sleep(0.1)
        assert phone_b.received.empty()
        assert a.pop_payload() is not None  # frames again: into the jitter buffer
    finally:
        for session in (a, b):
            session.close()
        for sock in (a_sock, b_sock):
            sock.close()
        for phone in (phone_a, phone_b):
            if phone.transport is not None:
                phone.transport.close()


async def test_a_closed_socket_ignores_a_late_route() -> None:
    ports = PortAllocator(15670, 15689)
    sock = await RtpSocket.bind(HOST, ports)
    session = RtpSession(RtpConfig(rtcp_interval=None))
    sock.attach(session, rtcp_mux=False)
    assert session.can_divert
    sock.close()
    session.divert(lambda data, addr: None)  # a relay stopping after the call closed its socket
    session.divert(None)
    session.close()
    assert ports.in_use == 0


async def test_a_relay_stopping_after_a_new_session_took_the_socket_leaves_it_with_the_new_one() -> None:
    ports = PortAllocator(15670, 15689)
    sock, sink_sock = await RtpSocket.bind(HOST, ports), await RtpSocket.bind(HOST, ports)
    phone = await far_end(ports)
    old, sink = RtpSession(RtpConfig(rtcp_interval=None)), RtpSession(RtpConfig(rtcp_interval=None))
    sock.attach(old, rtcp_mux=False)
    sink_sock.attach(sink, rtcp_mux=False)
    old.set_remote(phone.address)
    try:
        relay = RtpRelay(old, sink)
        new = RtpSession(RtpConfig(rtcp_interval=None))  # a re-INVITE changed the codec
        sock.attach(new, rtcp_mux=False)
        new.set_remote(phone.address)
        relay.stop()  # later, from the pump task
        for seq in range(1, 5):
            phone.transport.sendto(packet(seq, seq * 160), (HOST, sock.port))  # type: ignore[union-attr]
        for _ in range(50):
            if new.stats.packets_received == 4:
                break
            await asyncio.sleep(0.01)
        assert new.stats.packets_received == 4 and old.stats.packets_received == 0
    finally:
        for session in (old, new, sink):
            session.close()
        sock.close()
        sink_sock.close()
        if phone.transport is not None:
            phone.transport.close()
