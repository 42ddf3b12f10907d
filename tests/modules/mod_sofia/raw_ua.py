"""A raw SIP phone for in-process call tests: UDP signalling built from mod_sofia's own wire types,
and a PCMU RTP stream that sends a tone and keeps what it hears.

- `boot_switch(tmp_path)`: the real switch on a copy of this area's conf with the transfer test
  ports (SIP 16230-16239, switch RTP 43500-43699; phones SIP 16240-16279, RTP 43700-43799), where the external profile (no auth) routes
  `162xx` to `sofia/external/162xx@127.0.0.1:162xx`, i.e. a destination number is the SIP port of
  the phone that answers it.
- `RawPhone`: `call()`, `answer()`, in-dialog requests (`request()`), REFER, and a log of what
  came in; BYE and NOTIFY are answered 200 by itself, other in-dialog requests 200 (a re-INVITE
  with our SDP) unless `answers[method]` names another status and extra headers (status 0: no answer).
- `RtpPeer`: sends a PCMU sine every 20 ms to where the SDP answer says, records what arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modules.mod_sofia.dialog import Dialog
from modules.mod_sofia.message import (
    Request,
    Response,
    make_request,
    make_response,
    new_branch,
    new_call_id,
    new_tag,
    parse_message,
)
from modules.mod_sofia.uri import NameAddr
from switchcore.core import Switch
from tests.peers.audio import linear_to_ulaw, ulaw_to_linear
from tests.peers.ports import PortAllocator

from .sofia_harness import ROOT, make_conf

LOOPBACK = "127.0.0.1"
PORTS = PortAllocator(sip=(16240, 16279), rtp=(43700, 43799), ctrl=(16240, 16249))
SWITCH_PORTS = PortAllocator(sip=(16230, 16239), rtp=(43500, 43699), ctrl=(16230, 16239))

ROUTE_TO_PORT = """
    <extension name="to_the_phone_on_that_port">
      <condition field="destination_number" expression="^(162\\d\\d)$">
        <action application="set" data="hangup_after_bridge=true"/>
        <action application="bridge" data="sofia/external/$1@127.0.0.1:$1"/>
      </condition>
    </extension>
"""


@contextlib.asynccontextmanager
async def boot_switch(
    tmp_path: Path, extra_extensions: str = "", external_params: dict[str, str] | None = None
) -> AsyncIterator[tuple[Switch, int]]:
    """(switch, external profile port): see the module docstring; `external_params` are added to that profile."""
    internal, external = SWITCH_PORTS.sip(), SWITCH_PORTS.sip()
    conf = make_conf(tmp_path, internal, external)
    if external_params:
        profile = conf / "sip_profiles" / "external.xml"
        extra = "".join(f'    <param name="{k}" value="{v}"/>\n' for k, v in external_params.items())
        profile.write_text(profile.read_text().replace("  </settings>", extra + "  </settings>", 1))
    public = conf / "dialplan" / "public.xml"
    text = public.read_text()
    public.write_text(
        text.replace(
            '  <context name="public">\n', '  <context name="public">\n' + ROUTE_TO_PORT + extra_extensions, 1
        )
    )
    switch_conf = conf / "autoload_configs" / "switch.conf.xml"
    rtp = SWITCH_PORTS.rtp(2)
    settings = (
        f'    <param name="rtp-start-port" value="{rtp}"/>\n    <param name="rtp-end-port" value="43699"/>\n'
    )
    switch_conf.write_text(switch_conf.read_text().replace("  <settings>\n", "  <settings>\n" + settings, 1))
    switch = Switch(conf_dir=conf, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    try:
        yield switch, external
    finally:
        await switch.stop()


def sdp(port: int, direction: str = "sendrecv", session_version: int = 1) -> bytes:
    return (
        "v=0\r\n"
        f"o=raw 1 {session_version} IN IP4 {LOOPBACK}\r\n"
        "s=-\r\n"
        f"c=IN IP4 {LOOPBACK}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        f"a={direction}\r\n"
    ).encode()


def media_port(body: bytes) -> int:
    for line in body.decode().splitlines():
        if line.startswith("m=audio "):
            return int(line.split()[1])
    raise AssertionError(f"no m=audio in {body!r}")


# ---- RTP --------------------------------------------------------------------------------------


class _RtpProto(asyncio.DatagramProtocol):
    def __init__(self, peer: RtpPeer) -> None:
        self.peer = peer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > 12 and data[1] & 0x7F == 0:
            self.peer.heard.append(data[12:])


class RtpPeer:
    """A PCMU stream: `start(remote_port)` sends `freq` Hz; `heard` keeps the payloads received."""

    def __init__(self, freq: float) -> None:
        self.freq = freq
        self.port = 0
        self.heard: list[bytes] = []
        self.remote: tuple[str, int] | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self.port = PORTS.rtp(2)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _RtpProto(self), local_addr=(LOOPBACK, self.port)
        )
        self._transport = transport

    def start(self, remote_port: int) -> None:
        self.remote = (LOOPBACK, remote_port)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        ssrc, seq, ts = 0x1234 + self.port, 0, 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        n = 0
        while True:
            t = np.arange(ts, ts + 160) / 8000.0
            payload = linear_to_ulaw(8000 * np.sin(2 * math.pi * self.freq * t))
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            if self._transport is not None and self.remote is not None:
                self._transport.sendto(header + payload, self.remote)
            seq, ts, n = seq + 1, ts + 160, n + 1
            await asyncio.sleep(max(0.0, start + n * 0.02 - loop.time()))

    def mark(self) -> int:
        return len(self.heard)

    def samples(self, since: int = 0) -> np.ndarray:
        return ulaw_to_linear(b"".join(self.heard[since:]))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._transport is not None:
            self._transport.close()


# ---- SIP --------------------------------------------------------------------------------------


class _SipProto(asyncio.DatagramProtocol):
    def __init__(self, phone: RawPhone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.phone._received(data, addr)


@dataclass
class Leg:
    """One dialog of the phone, with the INVITE that made it."""

    invite: Request
    dialog: Dialog | None = None
    remote_media: int = 0
    answer: Response | None = None
    requests: list[Request] = field(default_factory=list)  # in-dialog requests that came in
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class RawPhone:
    """See the module docstring.  `user` is the phone's SIP port as text (how the dialplan finds it)."""

    def __init__(self, switch_port: int, freq: float) -> None:
        self.switch = (LOOPBACK, switch_port)
        self.freq = freq
        self.port = 0
        self.rtp = RtpPeer(freq)
        self.responses: asyncio.Queue[Response] = asyncio.Queue()
        self.incoming: asyncio.Queue[Request] = asyncio.Queue()
        self.legs: dict[str, Leg] = {}
        self.tag = new_tag()
        self.answers: dict[str, tuple[int, list[tuple[str, str]]]] = {}  # in-dialog method -> answer
        self._transport: asyncio.DatagramTransport | None = None

    @property
    def user(self) -> str:
        return str(self.port)

    async def open(self) -> RawPhone:
        loop = asyncio.get_running_loop()
        self.port = PORTS.sip()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProto(self), local_addr=(LOOPBACK, self.port)
        )
        self._transport = transport
        await self.rtp.open()
        return self

    def close(self) -> None:
        self.rtp.close()
        if self._transport is not None:
            self._transport.close()

    @property
    def via(self) -> str:
        return f"SIP/2.0/UDP {LOOPBACK}:{self.port};rport;branch={new_branch()}"

    @property
    def contact(self) -> str:
        return f"<sip:{self.user}@{LOOPBACK}:{self.port}>"

    def send(self, message: Request | Response) -> None:
        assert self._transport is not None
        self._transport.sendto(bytes(message), self.switch)

    def _received(self, data: bytes, addr: tuple[str, int]) -> None:
        message = parse_message(data)
        if isinstance(message, Response):
            self.responses.put_nowait(message)
            return
        leg = self.legs.get(message.call_id)
        if message.method == "INVITE" and message.to_tag is None:
            # A new call, or the same one asked again in a new transaction (after a 422 or 401).
            if leg is None or message.cseq.number > leg.invite.cseq.number:
                self.legs[message.call_id] = Leg(message)
                self.send(make_response(message, 100))
                self.incoming.put_nowait(message)
            return
        if message.method == "ACK":
            if leg is not None:
                leg.requests.append(message)
            return
        if leg is None or leg.dialog is None:
            self.send(make_response(message, 481))
            return
        leg.requests.append(message)
        leg.dialog.receive_request(message)
        if message.method == "BYE":
            self.send(make_response(message, 200))
            leg.ended.set()
            return
        status, extra = self.answers.get(message.method, (200, []))
        if status == 0:  # told to leave it unanswered
            return
        if message.method == "INVITE" and status == 200:
            body = sdp(self.rtp.port, session_version=3)
            self.send(
                make_response(
                    message,
                    200,
                    headers=[("Contact", self.contact), *extra],
                    body=body,
                    content_type="application/sdp",
                )
            )
        else:
            self.send(make_response(message, status, headers=extra))

    async def response(self, call_id: str, method: str, final: bool = True, timeout: float = 5.0) -> Response:
        """The next response to `method` in call `call_id` (provisional ones skipped when `final`)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            response = await asyncio.wait_for(self.responses.get(), max(0.01, end - loop.time()))
            if response.call_id != call_id or response.cseq.method != method:
                continue
            if final and response.status < 200:
                continue
            return response

    # -- calls we make --
    def invite(
        self,
        dest: str,
        *,
        offer: bool = True,
        headers: list[tuple[str, str]] | None = None,
        call_id: str = "",
    ) -> Leg:
        request = make_request(
            "INVITE",
            f"sip:{dest}@{self.switch[0]}:{self.switch[1]}",
            from_addr=NameAddr.parse(f"<sip:{self.user}@{LOOPBACK}>").with_tag(self.tag),
            to_addr=f"<sip:{dest}@{LOOPBACK}>",
            call_id=call_id or new_call_id(LOOPBACK),
            cseq=1,
            via=self.via,
            contact=self.contact,
            headers=headers or [],
            body=sdp(self.rtp.port) if offer else b"",
            content_type="application/sdp" if offer else None,
        )
        leg = Leg(request)
        self.legs[request.call_id] = leg
        self.send(request)
        return leg

    async def call(self, dest: str, **options: object) -> Leg:
        """INVITE `dest`, wait for the 200 and ACK it (answering its offer when we sent none)."""
        leg = self.invite(dest, **options)  # type: ignore[arg-type]
        response = await self.response(leg.invite.call_id, "INVITE", timeout=10)
        assert response.status == 200, f"{dest}: {response.status} {response.reason}"
        self.confirm(leg, response)
        return leg

    def confirm(self, leg: Leg, response: Response, ack_body: bytes | None = None) -> None:
        """ACK a 2xx; an offerless INVITE's ACK carries our answer unless `ack_body` says otherwise."""
        leg.answer = response
        leg.dialog = Dialog.from_uac(leg.invite, response)
        leg.remote_media = media_port(response.body) if response.body else 0
        if ack_body is None:
            ack_body = b"" if leg.invite.body else sdp(self.rtp.port)
        ack = leg.dialog.create_ack(
            leg.invite.cseq.number,
            self.via,
            body=ack_body,
            content_type="application/sdp" if ack_body else None,
        )
        self.send(ack)
        if leg.remote_media:
            self.rtp.start(leg.remote_media)

    # -- calls we answer --
    async def answer(self, timeout: float = 10.0) -> Leg:
        invite = await asyncio.wait_for(self.incoming.get(), timeout)
        leg = self.legs[invite.call_id]
        tag = new_tag()
        leg.dialog = Dialog.from_uas(invite, tag, local_contact=NameAddr.parse(self.contact))
        leg.remote_media = media_port(invite.body)
        ok = make_response(
            invite,
            200,
            to_tag=tag,
            headers=[("Contact", self.contact)],
            body=sdp(self.rtp.port),
            content_type="application/sdp",
        )
        self.send(ok)
        self.rtp.start(leg.remote_media)
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while not any(r.method == "ACK" for r in leg.requests):  # 200 is retransmitted until ACK
            assert loop.time() < end, "no ACK for our 200"
            await asyncio.sleep(0.02)
        return leg

    # -- in-dialog --
    async def request(
        self,
        leg: Leg,
        method: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        assert leg.dialog is not None
        request = leg.dialog.create_request(
            method, self.via, headers=headers or [], body=body, content_type=content_type
        )
        self.send(request)
        return await self.response(leg.invite.call_id, method)

    def notifies(self, leg: Leg) -> list[str]:
        """The sipfrag status lines of the NOTIFYs received in this dialog."""
        return [r.body.decode().strip() for r in leg.requests if r.method == "NOTIFY"]


def replaces_of(leg: Leg) -> str:
    """The Replaces value naming `leg`'s dialog from this phone's side (RFC 5589 7.1, as pjsua writes it)."""
    assert leg.dialog is not None
    d = leg.dialog
    return f"{d.call_id};to-tag={d.remote_tag};from-tag={d.local_tag}"


def escaped(value: str) -> str:
    return value.replace("@", "%40").replace(";", "%3B").replace("=", "%3D")


async def wait_until(predicate: object, timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
