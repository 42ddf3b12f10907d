"""A received request and the means to answer it: the `Incoming` of `tu.py`.

RFC 3261 8.2.6 (building responses: a To tag on everything but 100, the same
tag on every response of the transaction), 17.2 (responses go through the
server transaction), 13.3.1.4 and RFC 6026 (a 2xx to INVITE is retransmitted
until the ACK arrives).  The retransmission itself is the INVITE server
transaction's Accepted state (Timer G from T1 up to T2, Timer L = 64*T1);
this object only tells the call layer what happened: `ack_received` once
the ACK for its 2xx came, `ack_timed_out` when Timer L passed without one
(the session should then be ended, RFC 3261 13.3.1.4).

An ACK for a 2xx reaches the call layer as an `Incoming` with no
transaction (`txn is None`); calling `respond` on it raises `NoTransaction`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from .message import Request, Response, make_response, new_tag
from .transaction import NoTransaction
from .tu import Source


class Responder(Protocol):
    """What an `Incoming` needs from its stack."""

    def send_response(self, incoming: ServerRequest, response: Response) -> None: ...

    def response_headers(self) -> Sequence[tuple[str, str]]: ...


class ServerRequest:
    """One received request (`tu.Incoming`)."""

    __slots__ = (
        "request",
        "source",
        "txn",
        "final_status",
        "ack_received",
        "ack_timed_out",
        "cancelled",
        "_stack",
        "_tag",
        "_ack_waiters",
        "ack",
    )

    def __init__(self, stack: Responder, txn: str | None, request: Request, source: Source) -> None:
        self.request = request
        self.source = source
        self.txn = txn
        self.final_status = 0  # the last final status sent (0: none yet)
        self.ack_received = False
        self.ack_timed_out = False
        self.cancelled = False  # a CANCEL matched this INVITE
        self.ack: Request | None = None
        self._stack = stack
        self._tag: str | None = None
        # Futures of those waiting for the ACK: every answered INVITE has one waiter, so
        # no Event, no wait_for task (a bare future and, with a timeout, one timer).
        self._ack_waiters: list[asyncio.Future[None]] = []

    def __repr__(self) -> str:
        return f"<Incoming {self.request.method} {self.request.uri} txn={self.txn} from {self.source.transport}:{self.source.addr[0]}:{self.source.addr[1]}>"

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def answered(self) -> bool:
        """A final response was sent."""
        return self.final_status >= 200

    @property
    def local_tag(self) -> str:
        """The To tag of this request's responses: the request's own, or one made once (RFC 3261 8.2.6.2)."""
        if self._tag is None:
            self._tag = self.request.to_tag or new_tag()
        return self._tag

    async def respond(
        self,
        status: int,
        reason: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        to_tag: str | None = None,
    ) -> Response:
        """Send a response through the server transaction; returns what was sent.

        Raises `NoTransaction` for an ACK (nothing answers an ACK) or when the
        transaction is gone, `InvalidTransition` when its state forbids the
        response (a second final response, say).
        """
        return self.reply(status, reason, headers, body, content_type, to_tag)

    def reply(
        self,
        status: int,
        reason: str = "",
        headers: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        to_tag: str | None = None,
    ) -> Response:
        """`respond` without the coroutine, for callers already on the event loop's thread."""
        if self.txn is None:
            raise NoTransaction(f"{self.request.method} has no server transaction to answer through")
        if to_tag is not None:
            self._tag = to_tag
        # The profile's own headers (User-Agent) follow the caller's, unless the caller set one.
        extra = self._stack.response_headers()
        if headers:
            given = extra
            extra = list(headers)
            for default in given:
                name = default[0].lower()
                for n, _ in headers:
                    if n.lower() == name:
                        break
                else:
                    extra.append(default)
        response = make_response(
            self.request,
            status,
            reason or None,
            to_tag=self.local_tag if status > 100 else None,
            headers=extra,
            body=body,
            content_type=content_type,
        )
        self._stack.send_response(self, response)
        if status >= 200:
            self.final_status = status
        return response

    async def wait_for_ack(self, timeout: float | None = None) -> bool:
        """Wait for the ACK of our 2xx: True when it came, False on Timer L or `timeout`."""
        if self.ack_received:
            return True
        if self.ack_timed_out:
            return False
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._ack_waiters.append(waiter)
        timer = loop.call_later(timeout, _wake, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._ack_waiters.remove(waiter)
        return self.ack_received

    # -- called by the stack --
    def on_ack(self, ack: Request) -> bool:
        """The ACK for our 2xx arrived; False if it is a retransmission."""
        if self.ack_received:
            return False
        self.ack_received = True
        self.ack = ack
        for waiter in self._ack_waiters:
            _wake(waiter)
        return True

    def on_ack_timeout(self) -> None:
        self.ack_timed_out = True
        for waiter in self._ack_waiters:
            _wake(waiter)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


__all__ = ["Responder", "ServerRequest"]
