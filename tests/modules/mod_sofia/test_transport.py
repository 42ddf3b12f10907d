"""UDP and TCP transports on real loopback sockets: framing, reuse, limits, refusals."""

from __future__ import annotations

import asyncio
import socket

import pytest

from modules.mod_sofia.message import FramingError
from modules.mod_sofia.transport import TcpTransport, TransportError, UdpTransport, sendable
from modules.mod_sofia.tu import Source

from .sofia_harness import LOOPBACK

OPTIONS = (
    b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK1\r\n"
    b"Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: c1\r\n"
    b"CSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody"
)


class Sink:
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, Source]] = asyncio.Queue()
        self.bad: list[tuple[bytes, Source, FramingError]] = []

    def __call__(self, data: bytes, source: Source) -> None:
        self.got.put_nowait((data, source))

    def on_bad(self, data: bytes, source: Source, exc: FramingError) -> bytes | None:
        self.bad.append((data, source, exc))
        return b"SIP/2.0 400 Bad Content-Length\r\n\r\n"

    async def next(self, timeout: float = 2.0) -> tuple[bytes, Source]:
        return await asyncio.wait_for(self.got.get(), timeout)


def test_sendable_refuses_broadcast_multicast_and_unspecified_addresses() -> None:
    assert sendable("127.0.0.1") and sendable("192.0.2.7") and sendable("::1")
    assert not sendable("255.255.255.255")
    assert not sendable("0.0.0.0")
    assert not sendable("224.0.0.1")
    assert not sendable("ff02::1")
    assert not sendable("::")


async def test_udp_delivers_datagrams_with_their_real_source() -> None:
    sink = Sink()
    udp = UdpTransport((LOOPBACK, 0), sink)
    local = await udp.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.bind((LOOPBACK, 0))
            peer.sendto(b"hello", local)
            data, source = await sink.next()
            assert data == b"hello"
            assert source == Source("udp", peer.getsockname(), local)
            udp.send(b"back", peer.getsockname())
            peer.settimeout(2)
            assert peer.recv(100) == b"back"
    finally:
        udp.close()


async def test_udp_rides_out_a_burst_the_default_buffer_would_drop() -> None:
    # 800 datagrams sent while the loop is busy elsewhere: with the kernel's default
    # buffer (some 200 KB) hundreds are dropped; the raised one keeps them all.
    sink = Sink()
    udp = UdpTransport((LOOPBACK, 0), sink)
    local = await udp.start()
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            allowed = int(f.read())
        if allowed < 1024 * 1024:
            pytest.skip(f"net.core.rmem_max is {allowed}: the buffer cannot be raised here")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            for n in range(800):  # the loop does not run meanwhile: all queue in the kernel
                peer.sendto(b"REGISTER %d " % n + b"x" * 500, local)
            received = 0
            while received < 800:
                await sink.next()
                received += 1
    finally:
        udp.close()


async def test_udp_reads_one_byte_past_the_limit_so_oversized_datagrams_are_seen() -> None:
    sink = Sink()
    udp = UdpTransport((LOOPBACK, 0), sink, max_size=2000)
    local = await udp.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"x" * 5000, local)
            data, _ = await sink.next()
            assert len(data) == 2001
    finally:
        udp.close()


async def test_udp_never_sends_to_a_broadcast_address() -> None:
    udp = UdpTransport((LOOPBACK, 0), Sink())
    await udp.start()
    try:
        with pytest.raises(TransportError, match="255.255.255.255"):
            udp.send(b"x", ("255.255.255.255", 5060))
    finally:
        udp.close()


async def test_tcp_frames_a_stream_into_messages_however_it_is_cut() -> None:
    sink = Sink()
    tcp = TcpTransport((LOOPBACK, 0), sink, sink.on_bad)
    local = await tcp.start()
    try:
        reader, writer = await asyncio.open_connection(*local)
        writer.write(OPTIONS + b"\r\n\r\n" + OPTIONS[:50])  # two keep-alive CRLFs between
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(OPTIONS[50:])
        await writer.drain()
        first, source = await sink.next()
        second, _ = await sink.next()
        assert first == OPTIONS and second == OPTIONS
        assert source.transport == "tcp" and source.addr == writer.get_extra_info("sockname")
        writer.close()
    finally:
        await tcp.close()


async def test_tcp_answers_over_the_connection_the_request_came_on() -> None:
    sink = Sink()
    tcp = TcpTransport((LOOPBACK, 0), sink, sink.on_bad)
    local = await tcp.start()
    try:
        reader, writer = await asyncio.open_connection(*local)
        writer.write(OPTIONS)
        _, source = await sink.next()
        assert tcp.send(b"SIP/2.0 200 OK\r\n\r\n", source.addr)
        assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2) == b"SIP/2.0 200 OK\r\n\r\n"
        conn = await tcp.connect(source.addr)  # reused, not a second connection
        assert len(tcp.connections) == 1 and conn is tcp.connections[source.addr]
        writer.close()
    finally:
        await tcp.close()


async def test_tcp_opens_one_connection_per_peer_and_reuses_it() -> None:
    server_sink, client_sink = Sink(), Sink()
    server = TcpTransport((LOOPBACK, 0), server_sink, server_sink.on_bad)
    client = TcpTransport((LOOPBACK, 0), client_sink, client_sink.on_bad)
    address = await server.start()
    await client.start()
    try:
        first, second = await asyncio.gather(client.connect(address), client.connect(address))
        assert first is second
        assert client.send(OPTIONS, address) and client.send(OPTIONS, address)
        await server_sink.next()
        await server_sink.next()
        assert len(server.connections) == 1
    finally:
        await client.close()
        await server.close()


async def test_tcp_connect_to_a_closed_port_is_a_transport_error() -> None:
    tcp = TcpTransport((LOOPBACK, 0), Sink(), Sink().on_bad, connect_timeout=2)
    await tcp.start()
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        dead = probe.getsockname()
    try:
        with pytest.raises(TransportError, match="cannot connect"):
            await tcp.connect(dead)
    finally:
        await tcp.close()


async def test_tcp_stream_with_a_bad_content_length_gets_one_answer_and_is_closed() -> None:
    sink = Sink()
    tcp = TcpTransport((LOOPBACK, 0), sink, sink.on_bad)
    local = await tcp.start()
    try:
        reader, writer = await asyncio.open_connection(*local)
        writer.write(OPTIONS.replace(b"Content-Length: 4", b"Content-Length: -4"))
        answer = await asyncio.wait_for(reader.read(), 2)  # read() returns at EOF: closed
        assert answer.startswith(b"SIP/2.0 400 Bad Content-Length")
        assert sink.bad and "Content-Length" in sink.bad[0][2].reason
        assert sink.got.empty()
    finally:
        await tcp.close()


async def test_tcp_message_over_the_size_limit_closes_the_connection() -> None:
    sink = Sink()
    tcp = TcpTransport((LOOPBACK, 0), sink, sink.on_bad, max_size=1000)
    local = await tcp.start()
    try:
        reader, writer = await asyncio.open_connection(*local)
        writer.write(OPTIONS.replace(b"Content-Length: 4", b"Content-Length: 5000"))
        await asyncio.wait_for(reader.read(), 2)
        assert sink.bad[0][2].status == 513
    finally:
        await tcp.close()


async def test_tcp_half_received_message_times_out_and_closes() -> None:
    sink = Sink()
    tcp = TcpTransport((LOOPBACK, 0), sink, sink.on_bad, partial_timeout=0.2)
    local = await tcp.start()
    try:
        reader, writer = await asyncio.open_connection(*local)
        writer.write(OPTIONS[:-2])  # two body bytes short
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert sink.got.empty()
    finally:
        await tcp.close()
