"""SIP transports: UDP and TCP on one profile address (RFC 3261 18).

The only place in the SIP stack that touches sockets.  A transport turns
received bytes into `(data, Source)` calls on its receiver and sends bytes to
an address; it knows nothing of messages beyond framing a TCP byte stream.

- UDP (`UdpTransport`): one asyncio `DatagramProtocol`, its socket's receive
  buffer raised to ride out bursts (`RECEIVE_BUFFER`).  Its read size is
  lowered from asyncio's 256 KiB to just over the largest message we accept,
  so glibc serves each read from the heap instead of mmap/munmap per datagram
  (CPython issue 85451); a longer datagram arrives truncated and the
  validator answers it 513.
- TCP (`TcpTransport`): a listening server plus connections we open; every
  connection, inbound or outbound, is kept in one table by peer address and
  reused for anything sent to that address (RFC 3261 18.2.2: responses go
  back over the connection the request came on).  Each connection frames its
  stream with `StreamFramer` (RFC 3261 18.3); a stream that cannot be framed
  (bad Content-Length, a message over the size limit) gets one last answer
  from `on_bad_stream` and is closed.  A message left half-received for
  `partial_timeout` seconds closes the connection too (RFC 4475 3.1.2.2), as
  does `idle_timeout` seconds without traffic.
- Nothing is ever sent to a broadcast, multicast or unspecified address
  (RFC 4475 3.3.10): `sendable()` is checked on every send.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from .message import FramingError, StreamFramer
from .tu import Address, Source
from .uri import SipError

log = logging.getLogger("mod_sofia.transport")

MAX_MESSAGE_SIZE = 65535
# The UDP socket's receive buffer.  The default (some 200 KB, a hundred-odd datagrams)
# overflows when thousands of phones register a second and the process is off the CPU for
# a few tens of milliseconds: the kernel drops REGISTERs, phones retransmit them 500 ms
# later, and every retransmission is work again.  Linux doubles the value asked for: 1 MiB
# holds some 1,500 requests, a third of a second at 2,000 registrations a second, short
# of Timer A's first retransmission (T1, 500 ms, RFC 3261 17.1.1.2); a longer queue would
# only be answered after the phones have sent everything again.
RECEIVE_BUFFER = 1024 * 1024
Receiver = Callable[[bytes, Source], None]
BadStreamHandler = Callable[[bytes, Source, FramingError], bytes | None]


class TransportError(SipError):
    """A message could not be sent (no connection, refused address, socket error)."""


_SENDABLE: dict[str, bool] = {}


def sendable(host: str) -> bool:
    """False for addresses a response or request must never go to (RFC 4475 3.3.10)."""
    found = _SENDABLE.get(host)
    if found is None:
        found = _sendable(host)
        if len(_SENDABLE) < 4096:  # bounded: addresses come from the network
            _SENDABLE[host] = found
    return found


def _sendable(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return bool(host)  # a host name: resolved by the caller before sending
    if address.is_multicast or address.is_unspecified:
        return False
    return not (
        isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255")
    )


_IP_CACHE: dict[str, bool] = {}


def is_ip(host: str) -> bool:
    found = _IP_CACHE.get(host)
    if found is None:
        try:
            ipaddress.ip_address(host.strip("[]"))
            found = True
        except ValueError:
            found = False
        if len(_IP_CACHE) < 4096:
            _IP_CACHE[host] = found
    return found


def host_literal(host: str) -> str:
    """How an address appears in a URI or Via: IPv6 in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _peer(addr: Any) -> Address:
    return (str(addr[0]), int(addr[1]))


# --- UDP --------------------------------------------------------------------------------------


class UdpTransport(asyncio.DatagramProtocol):
    """The profile's UDP socket."""

    name = "udp"

    def __init__(
        self,
        local: Address,
        receiver: Receiver,
        *,
        max_size: int = MAX_MESSAGE_SIZE,
        receive_buffer: int = RECEIVE_BUFFER,
    ) -> None:
        self.local = local
        self.receiver = receiver
        self.max_size = max_size
        self.receive_buffer = receive_buffer
        self._transport: asyncio.DatagramTransport | None = None
        # A Source is immutable: one per peer serves every datagram from it.
        self._sources: dict[Any, Source] = {}

    async def start(self) -> Address:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=self.local)
        assert self._transport is not None
        self.local = _peer(self._transport.get_extra_info("sockname"))
        self._sources.clear()  # they name the local address
        sock = self._transport.get_extra_info("socket")
        if sock is not None and self.receive_buffer > 0:
            # The kernel keeps it under net.core.rmem_max; failing to raise it is no error.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
        return self.local

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        transport = cast(asyncio.DatagramTransport, transport)
        self._transport = transport
        # One byte more than we accept, so an oversized datagram is seen as such (513).
        if hasattr(transport, "max_size"):
            transport.max_size = self.max_size + 1

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source = self._sources.get(addr)
        if source is None:
            source = Source("udp", _peer(addr), self.local)
            if len(self._sources) >= 4096:  # bounded: addresses come from the network
                self._sources.clear()
            self._sources[addr] = source
        self.receiver(data, source)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp %s:%d: %s", self.local[0], self.local[1], exc)

    def send(self, data: bytes, addr: Address) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"udp {self.local[0]}:{self.local[1]} is closed")
        if not sendable(addr[0]):
            raise TransportError(f"refusing to send to {addr[0]}")
        self._transport.sendto(data, addr)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @property
    def running(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()


# --- TCP --------------------------------------------------------------------------------------


class _Framer(StreamFramer):
    """StreamFramer that can hand back what it holds after a framing error."""

    @property
    def pending(self) -> bytes:
        return bytes(self._buffer)


class TcpConnection(asyncio.Protocol):
    """One TCP connection (accepted or opened), framing its stream into messages."""

    def __init__(self, owner: TcpTransport, outbound: bool) -> None:
        self.owner = owner
        self.outbound = outbound
        self.peer: Address = ("", 0)
        self.source: Source | None = None
        self.framer = _Framer(owner.max_size)
        self.last_activity = time.monotonic()
        self.partial_since: float | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.peer = _peer(transport.get_extra_info("peername"))
        self.source = Source("tcp", self.peer, self.owner.local)
        self.owner._adopt(self)

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        assert self.source is not None
        try:
            frames = self.framer.feed(data)
        except FramingError as exc:
            reply = self.owner.on_bad_stream(self.framer.pending, self.source, exc)
            if reply is not None:
                self.write(reply)
            log.info("tcp %s:%d: %s; closing", self.peer[0], self.peer[1], exc.reason)
            self.close()
            return
        if not self.framer.buffered:
            self.partial_since = None
        elif frames or self.partial_since is None:
            self.partial_since = self.last_activity
        for frame in frames:
            self.owner.receiver(frame, self.source)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.owner._forget(self)

    def write(self, data: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            raise TransportError(f"tcp connection to {self.peer[0]}:{self.peer[1]} is closed")
        self.last_activity = time.monotonic()
        self._transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()


class TcpTransport:
    """The profile's TCP listener and every TCP connection it holds."""

    name = "tcp"

    def __init__(
        self,
        local: Address,
        receiver: Receiver,
        on_bad_stream: BadStreamHandler,
        *,
        max_size: int = MAX_MESSAGE_SIZE,
        connect_timeout: float = 5.0,
        partial_timeout: float = 32.0,
        idle_timeout: float = 3600.0,
    ) -> None:
        self.local = local
        self.receiver = receiver
        self.on_bad_stream = on_bad_stream
        self.max_size = max_size
        self.connect_timeout = connect_timeout
        self.partial_timeout = partial_timeout
        self.idle_timeout = idle_timeout
        self.connections: dict[Address, TcpConnection] = {}
        self._server: asyncio.Server | None = None
        self._connecting: dict[Address, asyncio.Future[TcpConnection]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, port: int | None = None) -> Address:
        loop = asyncio.get_running_loop()
        host, wanted = self.local
        self._server = await loop.create_server(
            lambda: TcpConnection(self, outbound=False), host, port if port is not None else wanted
        )
        self.local = _peer(self._server.sockets[0].getsockname())
        self._sweeper = loop.create_task(self._sweep(), name=f"sip-tcp-sweep-{self.local[1]}")
        return self.local

    async def connect(self, addr: Address) -> TcpConnection:
        """The connection to `addr`, opened if there is none (RFC 3261 18.1.1)."""
        found = self.connections.get(addr)
        if found is not None and found.open:
            return found
        if not sendable(addr[0]):
            raise TransportError(f"refusing to connect to {addr[0]}")
        pending = self._connecting.get(addr)
        if pending is not None:
            return await asyncio.shield(pending)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TcpConnection] = loop.create_future()
        self._connecting[addr] = future
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: TcpConnection(self, outbound=True), addr[0], addr[1]),
                self.connect_timeout,
            )
            future.set_result(conn)
            return conn
        except (OSError, TimeoutError) as exc:
            error = TransportError(f"cannot connect to {addr[0]}:{addr[1]}: {exc}")
            future.set_exception(error)
            future.exception()  # retrieved: waiters get it through shield
            raise error from None
        finally:
            self._connecting.pop(addr, None)

    def send(self, data: bytes, addr: Address) -> bool:
        """Write on the open connection to `addr`; False when there is none."""
        conn = self.connections.get(addr)
        if conn is None or not conn.open:
            return False
        conn.write(data)
        return True

    def _adopt(self, conn: TcpConnection) -> None:
        old = self.connections.get(conn.peer)
        if old is not None and old is not conn and old.open:
            log.debug("tcp: second connection to %s:%d replaces the first", *conn.peer)
        self.connections[conn.peer] = conn

    def _forget(self, conn: TcpConnection) -> None:
        if self.connections.get(conn.peer) is conn:
            del self.connections[conn.peer]

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.partial_timeout / 4, self.idle_timeout / 4))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                if conn.partial_since is not None and now - conn.partial_since > self.partial_timeout:
                    log.info(
                        "tcp %s:%d: incomplete message for %.0f s; closing",
                        *conn.peer,
                        now - conn.partial_since,
                    )
                    conn.close()
                elif now - conn.last_activity > self.idle_timeout:
                    conn.close()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for conn in list(self.connections.values()):
            conn.close()
        self.connections.clear()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None


__all__ = [
    "MAX_MESSAGE_SIZE",
    "RECEIVE_BUFFER",
    "TcpConnection",
    "TcpTransport",
    "TransportError",
    "UdpTransport",
    "host_literal",
    "is_ip",
    "sendable",
]
