"""The stack on loopback sockets: validation, dispatch, server and client transactions, strays."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from modules.mod_sofia.incoming import ServerRequest
from modules.mod_sofia.message import (
    Request,
    Response,
    make_request,
    make_response,
    new_branch,
    parse_message,
)
from modules.mod_sofia.stack import NullCallHandler, SipStack
from modules.mod_sofia.transaction import TimerConfig, make_ack
from modules.mod_sofia.tu import Incoming

from .sofia_harness import LOOPBACK, SipClient

FAST = TimerConfig(t1=0.05, t2=0.2, t4=0.2, d=0.5)


@dataclass
class Recorder:
    """A CallHandler that records what it is given and answers as told."""

    answer: int | None = None
    requests: list[Incoming] = field(default_factory=list)
    cancels: list[Incoming] = field(default_factory=list)
    strays: list[Response] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False
    supported: str = "path, replaces"  # as a call layer whose session timers are off

    async def on_request(self, incoming: Incoming) -> None:
        self.requests.append(incoming)
        self.got.set()
        if self.fail:
            raise RuntimeError("handler bug")
        if self.answer is not None and incoming.request.method != "ACK":
            await incoming.respond(self.answer, body=b"v=0\r\n" if self.answer == 200 else b"")

    async def on_cancel(self, invite: Incoming) -> None:
        self.cancels.append(invite)
        await invite.respond(487, "Request Terminated")

    def on_stray_2xx(self, response: Response) -> None:
        self.strays.append(response)


class User:
    def __init__(self, handler: object) -> None:
        self.handler = handler
        self.registers: list[ServerRequest] = []

    def on_register(self, incoming: ServerRequest) -> None:
        self.registers.append(incoming)
        incoming.reply(200, "OK")

    def challenge_headers(self, request: Request, status: int) -> list[tuple[str, str]]:
        return [("WWW-Authenticate", 'Digest realm="test", nonce="abc", algorithm=MD5, qop="auth"')]


@pytest.fixture
async def stack() -> AsyncIterator[SipStack]:
    user = User(Recorder())
    sip = SipStack("test", (LOOPBACK, 0), user, timers=FAST)  # type: ignore[arg-type]
    await sip.start()
    try:
        yield sip
    finally:
        await sip.stop()


def handler_of(stack: SipStack) -> Recorder:
    return stack.user.handler  # type: ignore[return-value]


@pytest.fixture
async def client(stack: SipStack) -> AsyncIterator[SipClient]:
    peer = await SipClient.open(stack.local)
    yield peer
    peer.close()


def invite(client: SipClient, **kw: object) -> bytes:
    return client.request(
        "INVITE",
        "sip:9196@127.0.0.1",
        headers=[("Contact", f"<sip:1000@127.0.0.1:{client.port}>")],
        body=b"v=0\r\n",
        **kw,  # type: ignore[arg-type]
    ).replace(b"Content-Length", b"Content-Type: application/sdp\r\nContent-Length")


async def test_options_outside_a_dialog_is_answered_200_with_capabilities(
    stack: SipStack, client: SipClient
) -> None:
    client.send(client.request("OPTIONS", "sip:anyone@127.0.0.1"))
    response = await client.next_response()
    assert response.status == 200
    assert "INVITE" in (response.get("Allow") or "") and response.get("Accept") == "application/sdp"
    assert response.get("Supported") == "path, replaces" and response.to_tag  # the call layer's own list
    via = response.top_via
    assert via.received == LOOPBACK and via.rport == client.port  # RFC 3581
    assert response.get("User-Agent", "").startswith("switchcore")
    assert handler_of(stack).requests == []


async def test_malformed_request_gets_400_with_the_reason_and_the_stack_keeps_serving(
    stack: SipStack, client: SipClient
) -> None:
    broken = client.request("OPTIONS", "sip:x@127.0.0.1").replace(b"Call-ID:", b"X-Gone:")
    client.send(broken)
    response = await client.next_response()
    assert (response.status, response.reason) == (400, "Missing Call-ID")
    client.send(client.request("OPTIONS", "sip:x@127.0.0.1"))
    assert (await client.next_response()).status == 200


async def test_garbage_and_unanswerable_requests_are_dropped_without_a_word(
    stack: SipStack, client: SipClient
) -> None:
    client.send(b"\x00\xff garbage \r\n\r\n")
    client.send(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: a\r\n\r\n")  # no Via: nowhere to answer
    client.send(b"\r\n\r\n")  # keep-alive
    assert await client.drain(0.3) == []
    assert stack.stats["dropped"] == 2
    client.send(client.request("OPTIONS", "sip:x@127.0.0.1"))
    assert (await client.next_response()).status == 200


async def test_message_over_the_size_limit_gets_513() -> None:
    sip = SipStack("small", (LOOPBACK, 0), User(Recorder()), timers=FAST, max_size=4096)  # type: ignore[arg-type]
    await sip.start()
    peer = await SipClient.open(sip.local)
    try:
        peer.send(peer.request("OPTIONS", "sip:x@127.0.0.1", headers=[("X-Pad", "a" * 5000)]))
        response = await peer.next_response()
        assert (response.status, response.reason) == (513, "Message Too Large")
    finally:
        peer.close()
        await sip.stop()


async def test_invite_gets_100_then_the_handler_sees_it_and_its_2xx_is_repeated_until_ack(
    stack: SipStack, client: SipClient
) -> None:
    handler = handler_of(stack)
    handler.answer = 200
    client.send(invite(client))
    trying = await client.next_response(final=False)
    assert trying.status == 100 and trying.to_tag is None
    first = await client.next_response()
    assert first.status == 200 and first.to_tag
    again = await client.next_response(timeout=1)  # Timer G, RFC 6026 Accepted
    assert again.status == 200 and again.to_tag == first.to_tag
    incoming = handler.requests[0]
    assert isinstance(incoming, ServerRequest) and not incoming.ack_received
    ack = client.request("ACK", "sip:9196@127.0.0.1", to_tag=first.to_tag, cseq=first.cseq.number)
    client.send(ack)
    assert await incoming.wait_for_ack(2)
    await client.collect(0.1)
    assert await client.collect(0.4) == []  # no more retransmissions
    acks = [r for r in handler.requests if r.request.method == "ACK"]
    assert len(acks) == 1 and acks[0].txn is None  # ACK for a 2xx: no transaction (RFC 3261 17.1.1.3)


async def test_invite_retransmission_is_absorbed(stack: SipStack, client: SipClient) -> None:
    handler = handler_of(stack)
    data = invite(client)
    client.send(data)
    await handler.got.wait()
    client.send(data)
    await client.drain(0.2)
    assert len(handler.requests) == 1


async def test_cancel_gets_200_then_the_handler_answers_the_invite_487_and_the_ack_is_absorbed(
    stack: SipStack, client: SipClient
) -> None:
    handler = handler_of(stack)
    data = invite(client)
    client.send(data)
    await handler.got.wait()
    cancel = data.replace(b"INVITE sip:", b"CANCEL sip:").replace(b" INVITE\r\n", b" CANCEL\r\n")
    cancel = cancel.split(b"Content-Type")[0] + b"Content-Length: 0\r\n\r\n"
    client.send(cancel)
    got = [parse_message(m) for m in await client.collect(0.3)]
    statuses = {(r.status, r.cseq.method) for r in got if isinstance(r, Response)}
    assert (200, "CANCEL") in statuses and (487, "INVITE") in statuses
    assert handler.cancels and handler.cancels[0].request.method == "INVITE"
    final = next(r for r in got if isinstance(r, Response) and r.status == 487)
    client.send(bytes(make_ack(Request.parse(data), final)))  # same branch: the INVITE transaction's
    await asyncio.sleep(0.1)
    assert [r for r in handler.requests if r.request.method == "ACK"] == []


async def test_cancel_without_a_matching_invite_gets_481(stack: SipStack, client: SipClient) -> None:
    client.send(client.request("CANCEL", "sip:9196@127.0.0.1"))
    assert (await client.next_response()).status == 481


async def test_handler_failure_leaves_a_500_behind(stack: SipStack, client: SipClient) -> None:
    handler_of(stack).fail = True
    client.send(client.request("MESSAGE", "sip:1001@127.0.0.1", body=b"hi"))
    response = await client.next_response()
    assert response.status == 500


async def test_register_goes_to_the_registrar_not_the_call_layer(stack: SipStack, client: SipClient) -> None:
    client.send(client.register("1000"))
    assert (await client.next_response()).status == 200
    assert len(stack.user.registers) == 1  # type: ignore[attr-defined]
    assert handler_of(stack).requests == []


async def test_unknown_auth_scheme_is_rejected_401_with_a_fresh_challenge(
    stack: SipStack, client: SipClient
) -> None:
    client.send(client.register("1000", authorization="NewAuth foo=bar"))
    response = await client.next_response()
    assert response.status == 401 and "Digest" in (response.get("WWW-Authenticate") or "")


async def test_responses_without_a_transaction_are_dropped_and_stray_2xx_to_invite_go_to_the_handler(
    stack: SipStack, client: SipClient
) -> None:
    stray = (
        f"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {LOOPBACK}:{stack.local[1]};branch={new_branch()}\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: stray\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    client.send(stray.replace("{method}", "OPTIONS").encode())
    client.send(stray.replace("{method}", "INVITE").encode())
    await asyncio.sleep(0.2)
    strays = handler_of(stack).strays
    assert len(strays) == 1 and strays[0].cseq.method == "INVITE"
    assert await client.drain(0.1) == []


async def test_response_to_a_broadcast_maddr_is_never_sent(stack: SipStack, client: SipClient) -> None:
    sent: list[tuple[str, int]] = []
    stack.sent_observers.append(lambda data, transport, addr: sent.append(addr))
    data = client.request("OPTIONS", "sip:x@127.0.0.1").replace(b";rport;", b";maddr=255.255.255.255;")
    client.send(data)
    await asyncio.sleep(0.2)
    assert sent == [("255.255.255.255", client.port)] and stack.stats["sent"] == 0
    client.send(client.request("OPTIONS", "sip:x@127.0.0.1"))
    assert (await client.next_response()).status == 200


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_request_resolves_with_the_final_response_and_reports_provisionals(transport: str) -> None:
    async def answer(peer_stack: SipStack) -> None:
        pass

    uas_handler = Recorder(answer=486)
    uas = SipStack("uas", (LOOPBACK, 0), User(uas_handler), timers=FAST)  # type: ignore[arg-type]
    uac = SipStack("uac", (LOOPBACK, 0), User(Recorder()), timers=FAST)  # type: ignore[arg-type]
    await uas.start()
    await uac.start()
    try:
        provisional: list[int] = []
        request = make_request(
            "INVITE",
            f"sip:9196@{LOOPBACK}:{uas.local[1]}",
            from_addr="<sip:1000@127.0.0.1>;tag=abc",
            to_addr="<sip:9196@127.0.0.1>",
            call_id="call-1",
            cseq=1,
            via=uac.via(transport),
            contact=f"<{uac.contact_uri('1000', transport)}>",
        )
        response = await uac.request(request, uas.local, transport, lambda r: provisional.append(r.status))
        assert response.status == 486 and provisional == [100]
        assert uas_handler.requests[0].source.transport == transport
    finally:
        await uac.stop()
        await uas.stop()


async def test_request_to_nobody_times_out_with_a_synthesized_408(stack: SipStack) -> None:
    silent = await SipClient.open((LOOPBACK, 9))
    try:
        request = make_request(
            "OPTIONS",
            f"sip:x@127.0.0.1:{silent.port}",
            from_addr="<sip:a@127.0.0.1>;tag=1",
            to_addr="<sip:x@127.0.0.1>",
            call_id="timeout-1",
            cseq=1,
            via=stack.via(),
        )
        response = await asyncio.wait_for(stack.request(request, (LOOPBACK, silent.port)), 10)
        assert (response.status, response.reason) == (408, "Request Timeout")
        retransmissions = await silent.drain(0.05)
        assert len(retransmissions) >= 4  # Timer E resent it
    finally:
        silent.close()


async def test_request_over_tcp_to_a_closed_port_is_a_synthesized_503(stack: SipStack) -> None:
    request = make_request(
        "OPTIONS",
        "sip:x@127.0.0.1:9",
        from_addr="<sip:a@127.0.0.1>;tag=1",
        to_addr="<sip:x@127.0.0.1>",
        call_id="refused-1",
        cseq=1,
        via=stack.via("tcp"),
    )
    response = await stack.request(request, (LOOPBACK, 9), "tcp")
    assert response.status == 503


async def test_send_stateless_and_the_stack_addresses(stack: SipStack, client: SipClient) -> None:
    host, port = stack.local
    assert stack.contact_uri("1000") == f"sip:1000@{host}:{port}"
    assert stack.contact_uri("1000", "tcp") == f"sip:1000@{host}:{port};transport=tcp"
    assert stack.via("tcp").startswith(f"SIP/2.0/TCP {host}:{port};rport;branch=z9hG4bK")
    request = Request.parse(client.request("OPTIONS", "sip:x@127.0.0.1"))
    stack.send_stateless(make_response(request, 200), (LOOPBACK, client.port))
    assert (await client.next_response()).status == 200


async def test_null_call_handler_refuses_calls_480_and_unknown_dialogs_481() -> None:
    sip = SipStack("null", (LOOPBACK, 0), User(NullCallHandler()), timers=FAST)  # type: ignore[arg-type]
    await sip.start()
    peer = await SipClient.open(sip.local)
    try:
        peer.send(invite(peer))
        assert (await peer.next_response()).status == 480
        peer.send(peer.request("BYE", "sip:9196@127.0.0.1", to_tag="gone"))
        assert (await peer.next_response()).status == 481
        peer.send(peer.request("SUBSCRIBE", "sip:9196@127.0.0.1", headers=[("Event", "presence")]))
        assert (await peer.next_response()).status == 501
    finally:
        peer.close()
        await sip.stop()


async def test_a_retransmitted_register_gets_the_same_answer_without_being_handled_again(
    stack: SipStack, client: SipClient
) -> None:
    data = client.register("1000")
    client.send(data)
    first = await client.next_message()
    client.send(data)
    second = await client.next_message()
    assert first == second and parse_message(first).status == 200  # type: ignore[union-attr]
    assert len(stack.user.registers) == 1  # type: ignore[attr-defined]
    assert len(stack.answered) == 1 and len(stack.layer) == 0  # no transaction machine was made


def test_answered_requests_are_kept_for_timer_j_and_forgotten_in_order() -> None:
    from modules.mod_sofia.answered import AnsweredTable

    table = AnsweredTable(hold=32.0, trying_limit=64.0)
    table.begin(("s", "b1"), ("127.0.0.1", 1), "udp", now=0.0)
    table.begin(("s", "b2"), ("127.0.0.1", 2), "tcp", now=0.0)
    table.begin(("s", "b3"), ("127.0.0.1", 3), "udp", now=0.0)
    table.complete(("s", "b1"), b"200", now=1.0)
    table.complete(("s", "b2"), b"200", now=1.0)  # reliable: nothing to keep
    assert len(table) == 2 and table.get(("s", "b1")).response == b"200"  # type: ignore[union-attr]
    assert table.expire(32.9) == 0
    assert table.expire(33.0) == 1 and table.get(("s", "b1")) is None
    assert table.expire(64.0) == 1 and len(table) == 0  # never answered: dropped after its limit
