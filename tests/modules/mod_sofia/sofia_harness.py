"""Helpers for mod_sofia's stack, registrar and end-to-end tests.

- `PORTS`: this area's loopback ports (SIP 15600-15649, media 15650-15689, control 15690-15699).
- `SipClient`: a raw SIP user agent on a UDP or TCP socket that sends bytes and collects what
  comes back, with builders for REGISTER / OPTIONS and digest answers.
- `FakeDirectory`: a directory with a few users, for profiles run without a switch.
- `make_conf(tmp_path, ...)`: a copy of `conf/` with chosen ports and gateways, for `Switch(conf_dir=...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from modules.mod_sofia.digest import answer, pick_challenge
from modules.mod_sofia.message import Response, StreamFramer, new_branch, new_call_id, new_tag, parse_message
from switchcore.core import Switch
from switchcore.directory import User
from tests.peers.ports import PortAllocator

HERE = Path(__file__).resolve().parent
CONF = HERE / "conf"
LOOPBACK = "127.0.0.1"
PORTS = PortAllocator(sip=(15600, 15649), rtp=(15650, 15689), ctrl=(15690, 15699))


# --- a directory without a switch ---------------------------------------------------------------


@dataclass
class FakeDomain:
    name: str
    aliases: tuple[str, ...] = ()


@dataclass
class FakeDirectory:
    """`user(id, domain)` / `domain(name)` over a dict of users in one domain."""

    domain_name: str = LOOPBACK
    users: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "1000": {"password": "1234"},
            "1001": {"password": "1234"},
            "1002": {"a1-hash": "e116e2c4db021925824bcf5b39c0a9a9"},  # secret1002
            "1003": {"password": "s3cret-1003"},
        }
    )

    def user(self, user: str, domain: str) -> User | None:
        if domain.lower() != self.domain_name.lower():
            return None
        params = self.users.get(user)
        if params is None:
            return None
        return User(user, self.domain_name, MappingProxyType(dict(params)), MappingProxyType({}))

    def domain(self, name: str) -> FakeDomain | None:
        return FakeDomain(self.domain_name) if name.lower() == self.domain_name.lower() else None


# --- a raw SIP peer --------------------------------------------------------------------------------


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, client: SipClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.client._got(data)


class _Tcp(asyncio.Protocol):
    def __init__(self, client: SipClient) -> None:
        self.client = client
        self.framer = StreamFramer()

    def data_received(self, data: bytes) -> None:
        for frame in self.framer.feed(data):
            self.client._got(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.closed.set()


class SipClient:
    """A test peer: `await SipClient.open(server)`, `send(bytes)`, `await next_response()`."""

    def __init__(self, server: tuple[str, int], transport: str) -> None:
        self.server = server
        self.transport = transport
        self.port = 0
        self.received: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Transport | None = None
        self.cseq = 0
        self.call_id = new_call_id(LOOPBACK)
        self.tag = new_tag()

    @classmethod
    async def open(cls, server: tuple[str, int], transport: str = "udp", port: int = 0) -> SipClient:
        client = cls(server, transport)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(client), local_addr=(LOOPBACK, port))
            client._udp = udp
            client.port = udp.get_extra_info("sockname")[1]
        else:
            tcp, _ = await loop.create_connection(lambda: _Tcp(client), server[0], server[1])
            client._tcp = tcp
            client.port = tcp.get_extra_info("sockname")[1]
        return client

    def _got(self, data: bytes) -> None:
        self.received.put_nowait(data)

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data, self.server)
        elif self._tcp is not None:
            self._tcp.write(data)

    async def next_message(self, timeout: float = 2.0) -> bytes:
        return await asyncio.wait_for(self.received.get(), timeout)

    async def next_response(self, timeout: float = 2.0, final: bool = True) -> Response:
        while True:
            message = parse_message(await self.next_message(timeout))
            if isinstance(message, Response) and (message.status >= 200 or not final):
                return message

    async def drain(self, wait: float = 0.3) -> list[bytes]:
        """Everything that arrives within `wait` seconds."""
        out: list[bytes] = []
        with contextlib.suppress(TimeoutError):
            while True:
                out.append(await asyncio.wait_for(self.received.get(), wait))
        return out

    async def collect(self, seconds: float) -> list[bytes]:
        """Everything that arrives in the next `seconds` seconds."""
        out: list[bytes] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        with contextlib.suppress(TimeoutError):
            while (left := end - loop.time()) > 0:
                out.append(await asyncio.wait_for(self.received.get(), left))
        return out

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    # -- builders --
    @property
    def via(self) -> str:
        return f"SIP/2.0/{self.transport.upper()} {LOOPBACK}:{self.port};rport;branch={new_branch()}"

    def request(
        self,
        method: str,
        uri: str,
        *,
        from_user: str = "1000",
        to_user: str | None = None,
        domain: str = LOOPBACK,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        call_id: str | None = None,
        cseq: int | None = None,
        to_tag: str | None = None,
    ) -> bytes:
        self.cseq += 1
        to_user = from_user if to_user is None else to_user
        items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: {self.via}",
            "Max-Forwards: 70",
            f"From: <sip:{from_user}@{domain}>;tag={self.tag}",
            f"To: <sip:{to_user}@{domain}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or self.call_id}",
            f"CSeq: {cseq if cseq is not None else self.cseq} {method}",
            *(f"{name}: {value}" for name, value in items),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        return "\r\n".join(lines).encode() + body

    def register(
        self,
        user: str = "1000",
        *,
        expires: int | None = 300,
        contact: str | None = None,
        domain: str = LOOPBACK,
        extra: list[tuple[str, str]] | None = None,
        authorization: str | None = None,
        user_agent: str = "sofia-test",
    ) -> bytes:
        headers: list[tuple[str, str]] = []
        contact = contact if contact is not None else f"<sip:{user}@{LOOPBACK}:{self.port}>"
        if contact:
            headers.append(("Contact", contact))
        if expires is not None:
            headers.append(("Expires", str(expires)))
        if authorization:
            headers.append(("Authorization", authorization))
        headers.append(("User-Agent", user_agent))
        headers += extra or []
        return self.request(
            "REGISTER", f"sip:{domain}:{self.server[1]}", from_user=user, domain=domain, headers=headers
        )

    async def register_with_auth(
        self, user: str = "1000", password: str = "1234", **options: object
    ) -> tuple[Response, Response]:
        """REGISTER, answer the 401 with digest credentials: (the 401, the final answer)."""
        self.send(self.register(user, **options))  # type: ignore[arg-type]
        challenge = await self.next_response()
        auth = digest_answer(
            challenge, "REGISTER", f"sip:{options.get('domain', LOOPBACK)}:{self.server[1]}", user, password
        )
        self.send(self.register(user, authorization=auth, **options))  # type: ignore[arg-type]
        return challenge, await self.next_response()


def digest_answer(challenge: Response, method: str, uri: str, user: str, password: str) -> str:
    picked = pick_challenge(challenge)
    assert picked is not None, f"no digest challenge in {challenge!r}"
    return answer(picked, method=method, uri=uri, username=user, password=password).header_value()


# --- a conf tree with chosen ports -------------------------------------------------------------------


def make_conf(
    tmp_path: Path,
    internal_port: int,
    external_port: int,
    *,
    gateways: Mapping[str, str] | None = None,
    internal_params: Mapping[str, str] | None = None,
    sip_ip: str = LOOPBACK,
) -> Path:
    """Copy `conf/` to `tmp_path/conf` with these ports; `gateways` are name -> `<gateway>` XML."""
    target = tmp_path / "conf"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(CONF, target)
    vars_xml = target / "vars.xml"
    text = vars_xml.read_text()
    text = text.replace("internal_sip_port=15660", f"internal_sip_port={internal_port}")
    text = text.replace("external_sip_port=15661", f"external_sip_port={external_port}")
    vars_xml.write_text(text)
    internal = target / "sip_profiles" / "internal.xml"
    profile = internal.read_text()
    if sip_ip != LOOPBACK:
        profile = profile.replace('name="sip-ip" value="127.0.0.1"', f'name="sip-ip" value="{sip_ip}"')
    if internal_params:
        extra = "".join(f'    <param name="{k}" value="{v}"/>\n' for k, v in internal_params.items())
        profile = profile.replace("  </settings>", extra + "  </settings>")
    internal.write_text(profile)
    for name, xml in (gateways or {}).items():
        (target / "sip_profiles" / "external" / f"{name}.xml").write_text(f"<include>\n{xml}\n</include>\n")
    return target


def gateway_xml(name: str, proxy: str, username: str, password: str, **params: str) -> str:
    items = {"username": username, "password": password, "proxy": proxy, "retry-seconds": "2", **params}
    body = "".join(f'    <param name="{k}" value="{v}"/>\n' for k, v in items.items())
    return f'  <gateway name="{name}">\n{body}  </gateway>'


ROOT = HERE.parents[2]


@contextlib.asynccontextmanager
async def booted_switch(tmp_path: Path, **conf: object) -> AsyncIterator[tuple[Switch, int, int]]:
    """The real switch on a copy of `conf/` with fresh ports: (switch, internal port, external port)."""
    internal, external = PORTS.sip(), PORTS.sip()
    conf_dir = make_conf(tmp_path, internal, external, **conf)  # type: ignore[arg-type]
    switch = Switch(conf_dir=conf_dir, data_dir=tmp_path / "data", sounds_dir=ROOT / "sounds")
    await switch.start()
    try:
        yield switch, internal, external
    finally:
        await switch.stop()
