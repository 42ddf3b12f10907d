"""The seam between the SIP stack (transports, transactions, registrar) and the call layer.

The stack (`stack.py`) owns sockets, transaction state machines and their
timers, and answers what needs no call: REGISTER (`registrar.py`), OPTIONS
outside a dialog, stray ACKs and responses.  Everything else is handed to the
profile's `CallHandler` (the transaction user, `calls.py`), which sees
requests as `Incoming` objects and sends requests through `Stack.request`.

RFC 3261 17.2.1 / RFC 6026: the INVITE server transaction ends when the TU
sends a 2xx; the TU retransmits the 2xx until the ACK arrives
(`Incoming.respond` keeps doing that for a 2xx to an INVITE until
`ack_received` is set by the stack, which routes the ACK for a 2xx to the TU
as an `Incoming` with no transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .message import Request, Response

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a request came from: the transport and the address it really came from (RFC 3581)."""

    transport: str  # "udp" | "tcp"
    addr: Address
    local: Address  # the profile address it arrived on


class Incoming(Protocol):
    """A request for the call layer, with the means to answer it."""

    request: Request
    source: Source

    async def respond(
        self,
        status: int,
        reason: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        to_tag: str | None = None,
    ) -> Response:
        """Send a response through the server transaction (a 2xx to INVITE is retransmitted until ACK)."""
        ...


class Stack(Protocol):
    """What the call layer needs from a running profile's stack."""

    profile_name: str
    local: Address  # sip-ip, sip-port

    async def request(
        self,
        request: Request,
        dest: Address,
        transport: str = "udp",
        on_provisional: Callable[[Response], None] | None = None,
    ) -> Response:
        """Send through a client transaction; resolves on the final response.

        On timeout or transport error the stack synthesises 408 / 503 (RFC 3261 8.1.3.1).
        A 2xx to INVITE resolves the call; later 2xx retransmissions go to `CallHandler.on_stray_2xx`.
        """
        ...

    def send_stateless(self, message: Request | Response, dest: Address, transport: str = "udp") -> None:
        """Send without a transaction: the ACK for a 2xx, 2xx retransmissions."""
        ...

    def contact_uri(self, user: str = "", transport: str = "udp") -> str:
        """`sip:<user>@<sip-ip>:<sip-port>[;transport=tcp]` for Contact headers."""
        ...

    def via(self, transport: str = "udp") -> str:
        """A fresh top Via value (new branch, rport) for a request we originate."""
        ...


class CallHandler(Protocol):
    """The transaction user for everything but REGISTER and out-of-dialog OPTIONS."""

    @property
    def supported(self) -> str:
        """The option tags for our Supported header (RFC 3261 20.37), e.g. "timer, path, replaces"."""
        ...

    async def on_request(self, incoming: Incoming) -> None:
        """INVITE (initial and re-INVITE), ACK for 2xx, BYE, INFO, REFER, NOTIFY, MESSAGE, UPDATE, in-dialog OPTIONS."""
        ...

    async def on_cancel(self, invite: Incoming) -> None:
        """A CANCEL matched this INVITE's server transaction; the stack already answered the CANCEL 200.

        The handler answers the INVITE 487 (RFC 3261 9.2) unless it already sent a final response.
        """
        ...

    def on_stray_2xx(self, response: Response) -> None:
        """A 2xx retransmission for an INVITE whose transaction is gone: re-send the ACK (RFC 3261 13.2.2.4)."""
        ...
