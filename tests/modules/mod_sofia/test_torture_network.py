"""RFC 4475: every torture message, sent to a running profile over UDP and over TCP, gets the
verdict its manifest entry asks for, and an OPTIONS sent right after it is answered 200.

Manifest tokens (the vectors' manifest.tsv): NNN is that status, 4xx any 400-499, auth a 401 or
407, accept any final status except 400 and 5xx and never a 2xx to INVITE / REGISTER / MESSAGE,
drop nothing at all, register-only an answer to the REGISTER and none with CSeq INVITE.

The messages were written for UDP with sent-by addresses of their own; RFC 3261 18.2.2 sends the
answer to the Via's port at the address the request came from, so the UDP copies get our client's
port in their top Via (nothing else changes).  Over TCP answers go back on the connection, and
two messages are incomplete streams (clerr: a Content-Length past the end, baddn: no empty line),
which a server must wait on rather than answer; dblreq's trailing INVITE is a second message.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modules.mod_sofia.message import Response, parse_message
from modules.mod_sofia.profile import ProfileSettings, SofiaProfile

from .sofia_harness import LOOPBACK, FakeDirectory, SipClient

TORTURE = Path("/work/shared/vectors/rfc4475")
NO_ANSWER_YET_OVER_TCP = {"clerr.dat", "baddn.dat"}

pytestmark = pytest.mark.skipif(not TORTURE.is_dir(), reason="RFC 4475 vectors not present")


def manifest() -> list[dict[str, str]]:
    lines = [line for line in (TORTURE / "manifest.tsv").read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


_VIA = re.compile(rb"(?im)^(?:via|v)[ \t]*:")
_SENT_BY = re.compile(rb"(SIP\s*/\s*[0-9.]+\s*/\s*[A-Za-z]+\s+)([A-Za-z0-9.\-]+)(\s*:\s*\d+)?")


def aim_at(data: bytes, port: int) -> bytes:
    """The message with its top Via's sent-by port set to `port`."""
    found = _VIA.search(data)
    if found is None:
        return data
    match = _SENT_BY.search(data, found.end())
    if match is None:
        return data
    return data[: match.start()] + match.group(1) + match.group(2) + b":%d" % port + data[match.end() :]


def judged(tokens: list[str], method: str, responses: list[Response]) -> bool:
    finals = [r for r in responses if r.status >= 200]
    for token in tokens:
        if token == "drop" and not responses:
            return True
        if not finals:
            continue
        statuses = {r.status for r in finals}
        if token.isdigit() and int(token) in statuses:
            return True
        if token == "4xx" and all(400 <= s < 500 for s in statuses):
            return True
        if token == "auth" and statuses <= {401, 407}:
            return True
        if token == "accept" and all(
            s != 400 and s < 500 and not (s < 300 and method in ("INVITE", "REGISTER", "MESSAGE"))
            for s in statuses
        ):
            return True
        if token == "two-messages":
            register = [r for r in responses if r.cseq.method == "REGISTER"]
            invite = [r for r in responses if r.cseq.method == "INVITE"]
            return judged(["auth"], "REGISTER", register) and judged(["accept"], "INVITE", invite)
        if token == "register-only":
            methods = {r.cseq.method for r in finals}
            return "REGISTER" in methods and "INVITE" not in methods
    return False


async def collect(client: SipClient, wait_for_final: bool) -> list[Response]:
    """Responses until the first final one (plus a moment for late extras), or a quiet spell."""
    out: list[Response] = []
    deadline = asyncio.get_running_loop().time() + (1.5 if wait_for_final else 0.4)
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            data = await asyncio.wait_for(client.received.get(), left)
        except TimeoutError:
            break
        message = parse_message(data)
        assert isinstance(message, Response), f"the switch sent a request: {data[:80]!r}"
        out.append(message)
        if message.status >= 200:
            deadline = min(deadline, asyncio.get_running_loop().time() + 0.1)
    return out


@pytest.fixture
async def profile() -> AsyncIterator[SofiaProfile]:
    running = SofiaProfile(
        ProfileSettings(name="internal", sip_port=0, force_register_domain=LOOPBACK),
        directory=lambda: FakeDirectory(),
    )
    await running.start()
    yield running
    await running.stop()


async def ping(profile: SofiaProfile, transport: str) -> int:
    assert profile.stack is not None
    client = await SipClient.open(profile.stack.local, transport)
    try:
        client.send(client.request("OPTIONS", "sip:ping@127.0.0.1"))
        return (await client.next_response(timeout=2)).status
    finally:
        client.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_every_torture_message_gets_its_verdict_and_the_switch_keeps_answering(
    profile: SofiaProfile, transport: str
) -> None:
    assert profile.stack is not None
    failures: list[str] = []
    entries = manifest()
    assert len(entries) >= 49
    for entry in entries:
        name = entry["file"]
        data = (TORTURE / name).read_bytes()
        client = await SipClient.open(profile.stack.local, transport)
        tokens = [t for t in entry["preferred"].split("|") + entry["tolerated"].split("|") if t and t != "-"]
        if transport == "tcp" and name in NO_ANSWER_YET_OVER_TCP:
            tokens = ["drop"]
        elif transport == "tcp" and name == "dblreq.dat":
            tokens = ["two-messages"]  # on a stream the INVITE behind the REGISTER is a message of its own
        try:
            client.send(aim_at(data, client.port) if transport == "udp" else data)
            responses = await collect(client, "drop" not in tokens)
        finally:
            client.close()
        if not judged(tokens, entry["method"], responses):
            got = [f"{r.status} {r.reason} ({r.cseq.method})" for r in responses] or ["nothing"]
            failures.append(f"{name} ({entry['section']}): wanted {tokens}, got {got}")
        status = await ping(profile, transport)
        if status != 200:
            failures.append(f"{name}: the OPTIONS after it got {status}")
    assert not failures, "\n".join(failures)


def test_aim_at_moves_only_the_top_via_port() -> None:
    plain = b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP host.example.com;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b:1\r\n\r\n"
    assert aim_at(plain, 7) == plain.replace(b"host.example.com;", b"host.example.com:7;")
    folded = (TORTURE / "wsinv.dat").read_bytes()
    assert b"192.0.2.2:7;branch=390skdjuw" in aim_at(folded, 7)
