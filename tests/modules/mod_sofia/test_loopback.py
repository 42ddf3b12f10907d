"""The sans-I/O core behind a minimal asyncio UDP server, against real peers on 127.0.0.1.

sipsak pings (OPTIONS) and registers with digest auth; sipp runs its built-in
UAC scenario (INVITE / 100 / 180 / 200 / ACK / BYE / 200).  The server is the
thinnest possible adapter: datagram -> `check` -> `TransactionLayer.receive`,
effects -> sendto / call_later, and a toy TU.  Ports 15010-15019.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import cast

import pytest

from modules.mod_sofia.dialog import Dialog, DialogTable
from modules.mod_sofia.digest import AuthResult, Credentials, DigestServer
from modules.mod_sofia.message import Request, make_response, new_tag
from modules.mod_sofia.transaction import (
    Address,
    CancelTimer,
    Deliver,
    Effect,
    Send,
    StartTimer,
    TransactionLayer,
    response_address,
)
from modules.mod_sofia.uri import ParseError
from modules.mod_sofia.validate import Action, check

HOST = "127.0.0.1"
REALM = "127.0.0.1"
PASSWORDS = {"alice": "secret"}
SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 15018 RTP/AVP 0\r\n"


class Server(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.layer = TransactionLayer()
        self.digest = DigestServer(nonce_ttl=30)
        self.dialogs = DialogTable()
        self.handles: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.seen: list[str] = []
        self.registered: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        verdict = check(data)
        if verdict.action is Action.REJECT:
            response = verdict.response(to_tag=new_tag())
            assert response is not None and isinstance(verdict.message, Request)
            dest = response_address(verdict.message.top_via, addr, False)
            self.send(bytes(response), dest)
        elif verdict.action is Action.ACCEPT and verdict.message is not None:
            self.run(self.layer.receive(verdict.message, addr, self.loop.time()))

    def send(self, data: bytes, addr: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, addr)

    def run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.send(bytes(effect.message), effect.addr)
            elif isinstance(effect, StartTimer):
                key = (effect.txn, effect.name)
                self.handles[key] = self.loop.call_later(effect.delay, self.fire, *key)
            elif isinstance(effect, CancelTimer):
                handle = self.handles.pop((effect.txn, effect.name), None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, Deliver):
                self.tu(effect)

    def fire(self, txn: str, name: str) -> None:
        self.handles.pop((txn, name), None)
        self.run(self.layer.on_timer(txn, name, self.loop.time()))

    def respond(self, txn: str, request: Request, status: int, **kwargs: object) -> None:
        response = make_response(request, status, **kwargs)  # type: ignore[arg-type]
        self.run(self.layer.respond(txn, response, self.loop.time()))

    def tu(self, effect: Deliver) -> None:
        msg = effect.message
        if not isinstance(msg, Request):
            return
        self.seen.append(msg.method)
        txn = effect.txn
        if txn is None:
            return  # ACK for our 2xx arrived after the transaction, or a stray
        if msg.method == "OPTIONS":
            self.respond(
                txn, msg, 200, to_tag=new_tag(), headers=[("Allow", "INVITE, ACK, BYE, OPTIONS, REGISTER")]
            )
        elif msg.method == "REGISTER":
            self.register(txn, msg)
        elif msg.method == "INVITE":
            tag = new_tag()
            contact = f"<sip:switch@{HOST}:15010>"
            self.dialogs.add(Dialog.from_uas(msg, tag))
            self.respond(txn, msg, 180, to_tag=tag)
            self.respond(
                txn,
                msg,
                200,
                to_tag=tag,
                headers=[("Contact", contact)],
                body=SDP,
                content_type="application/sdp",
            )
        elif msg.method == "BYE":
            dialog = self.dialogs.for_request(msg)
            if dialog is None:
                self.respond(txn, msg, 481)
                return
            dialog.receive_request(msg)
            self.dialogs.remove(dialog)
            self.respond(txn, msg, 200)
        else:
            self.respond(txn, msg, 501)

    def register(self, txn: str, msg: Request) -> None:
        now = time.time()
        user = msg.to_addr.uri.user or ""
        header = msg.authorization
        result = None
        if header is not None and user in PASSWORDS:
            try:
                credentials = Credentials.from_header(header)
                result = self.digest.verify(credentials, "REGISTER", REALM, now, password=PASSWORDS[user])
            except ParseError:
                result = AuthResult.BAD_RESPONSE
        if result is AuthResult.OK:
            contact = msg.get("Contact") or ""
            self.registered[user] = contact
            expires = msg.expires if msg.expires is not None else 3600
            headers = [("Contact", f"{contact};expires={expires}")] if contact else []
            self.respond(txn, msg, 200, to_tag=new_tag(), headers=headers)
            return
        challenge = self.digest.challenges(REALM, now, stale=result is AuthResult.STALE)[0]
        self.respond(
            txn, msg, 401, to_tag=new_tag(), headers=[("WWW-Authenticate", challenge.header_value())]
        )


async def serve(port: int) -> tuple[asyncio.DatagramTransport, Server]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Server, local_addr=(HOST, port))
    return transport, protocol  # type: ignore[return-value]


async def run_peer(*argv: str, timeout: float = 30.0) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


needs_sipsak = pytest.mark.skipif(shutil.which("sipsak") is None, reason="sipsak not installed")
needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")


@needs_sipsak
async def test_sipsak_options_ping_gets_200() -> None:
    transport, server = await serve(15010)
    try:
        code, out = await run_peer("sipsak", "-s", f"sip:ping@{HOST}:15010", "-l", "15011", "-H", HOST)
    finally:
        transport.close()
    assert code == 0, out
    assert server.seen == ["OPTIONS"]


@needs_sipsak
async def test_sipsak_registers_with_digest_auth() -> None:
    transport, server = await serve(15012)
    try:
        code, out = await run_peer(
            "sipsak", "-U", "-C", f"sip:alice@{HOST}:15013", "-s", f"sip:alice@{HOST}:15012",
            "-a", "secret", "-l", "15013", "-H", HOST, "-x", "60",
        )  # fmt: skip
    finally:
        transport.close()
    assert code == 0, out
    assert server.seen.count("REGISTER") >= 2  # challenged, then accepted
    assert "sip:alice@127.0.0.1:15013" in server.registered["alice"]


@needs_sipsak
async def test_sipsak_with_wrong_password_is_refused() -> None:
    transport, server = await serve(15014)
    try:
        code, out = await run_peer(
            "sipsak", "-U", "-C", f"sip:alice@{HOST}:15015", "-s", f"sip:alice@{HOST}:15014",
            "-a", "wrong", "-l", "15015", "-H", HOST, "-x", "60",
        )  # fmt: skip
    finally:
        transport.close()
    assert code != 0
    assert "alice" not in server.registered


@needs_sipp
async def test_sipp_uac_calls_complete() -> None:
    transport, server = await serve(15016)
    try:
        code, out = await run_peer(
            "sipp", "-sn", "uac", f"{HOST}:15016", "-i", HOST, "-p", "15017",
            "-m", "5", "-r", "50", "-d", "0", "-nostdin", "-timeout", "20s", "-timeout_error",
        )  # fmt: skip
    finally:
        transport.close()
    assert code == 0, out
    assert server.seen.count("INVITE") == 5 and server.seen.count("BYE") == 5
    assert len(server.dialogs) == 0
