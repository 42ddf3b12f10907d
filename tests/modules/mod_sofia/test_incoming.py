"""A received request's wait for the ACK of its 2xx (RFC 3261 13.3.1.4): woken by the ACK or Timer L."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from modules.mod_sofia.incoming import ServerRequest
from modules.mod_sofia.message import Request, Response, parse_message
from modules.mod_sofia.tu import Source

INVITE = (
    b"INVITE sip:7000@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bK-ack-wait\r\n"
    b"From: <sip:caller@192.0.2.9>;tag=a1\r\nTo: <sip:7000@192.0.2.1>\r\n"
    b"Call-ID: ack-wait@192.0.2.9\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
)


class Responses:
    def __init__(self) -> None:
        self.sent: list[Response] = []

    def send_response(self, incoming: ServerRequest, response: Response) -> None:
        self.sent.append(response)

    def response_headers(self) -> Sequence[tuple[str, str]]:
        return ()


def incoming() -> ServerRequest:
    request = parse_message(INVITE)
    assert isinstance(request, Request)
    return ServerRequest(Responses(), "t1", request, Source("udp", ("192.0.2.9", 5060), ("192.0.2.1", 5060)))


async def test_every_waiter_wakes_when_the_ack_arrives() -> None:
    inc = incoming()
    waiters = [asyncio.ensure_future(inc.wait_for_ack()), asyncio.ensure_future(inc.wait_for_ack(5))]
    await asyncio.sleep(0)
    assert inc.on_ack(inc.request)
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True]
    assert not inc.on_ack(inc.request)  # a retransmitted ACK
    assert await inc.wait_for_ack() is True  # answered at once afterwards


async def test_a_wait_with_a_timeout_ends_false_without_an_ack() -> None:
    inc = incoming()
    assert await asyncio.wait_for(inc.wait_for_ack(0.05), 1) is False
    assert inc._ack_waiters == []  # nothing left behind


async def test_timer_l_ends_the_wait_false() -> None:
    inc = incoming()
    waiter = asyncio.ensure_future(inc.wait_for_ack())
    await asyncio.sleep(0)
    inc.on_ack_timeout()
    assert await asyncio.wait_for(waiter, 1) is False
    assert await inc.wait_for_ack() is False


async def test_a_cancelled_waiter_leaves_the_others_waiting() -> None:
    inc = incoming()
    first, second = asyncio.ensure_future(inc.wait_for_ack()), asyncio.ensure_future(inc.wait_for_ack())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert len(inc._ack_waiters) == 1
    inc.on_ack(inc.request)
    assert await asyncio.wait_for(second, 1) is True
