"""Gateways: outbound registration to a provider (freeswitch-behaviour.md S3).

Theory of operation
-------------------
A gateway is FreeSWITCH's: a provider account read from `<gateway name="x">`
params (username, password, realm, proxy, register, expire-seconds,
retry-seconds, ping ...).  Its registration state machine is a table over
FreeSWITCH's state names; `GatewayMachine.fire(event)` walks it, logs
`old -> new` and fires `sofia::gateway_state` (Gateway, State, Ping-Status,
and Status / Phrase when a response caused it):

    UNREGED --register--> TRYING --ok--> REGISTER --confirmed--> REGED --refresh--> UNREGED
    TRYING --failed--> FAILED --wait--> FAIL_WAIT --retry--> UNREGED
    TRYING --timeout--> TIMEOUT --wait--> FAIL_WAIT
    any registering state --unregister--> UNREGISTER --unregistered--> NOREG
    UNREGED --noreg--> NOREG (register=false) --down--> DOWN --up--> NOREG

Each gateway runs in its own task and waits only on its own requests, so a
provider that never answers delays nothing else.  A 2xx is refreshed 15 s
before it runs out (2 s for intervals of a minute or less), as FreeSWITCH
does; a failure waits `retry-seconds` times the number of failures in a row
(just `retry-seconds` after a 503).  OPTIONS pings every `ping` seconds move
the gateway's status UP / DOWN (`ping-min` / `ping-max`, FreeSWITCH's
counters).  A challenge is answered only with this gateway's credentials,
only for its own realm (when `realm` is set) and only on its own requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lxml import etree

from switchcore.errors import ConfigError, InvalidTransition
from switchcore.events import Event
from switchcore.xmlconf import read_params
from switchcore.xmlconf.location import error_at
from switchcore.xmlconf.schemas import SOFIA_GATEWAY

from .digest import authorize, pick_challenge
from .message import Request, Response, make_request, new_call_id, new_tag
from .tu import Address

if TYPE_CHECKING:
    from .stack import SipStack

log = logging.getLogger("mod_sofia.gateway")

STATE_EVENT = "sofia::gateway_state"


class GatewayState(enum.Enum):
    UNREGED = "UNREGED"
    TRYING = "TRYING"
    REGISTER = "REGISTER"
    REGED = "REGED"
    UNREGISTER = "UNREGISTER"
    FAILED = "FAILED"
    FAIL_WAIT = "FAIL_WAIT"
    EXPIRED = "EXPIRED"
    NOREG = "NOREG"
    DOWN = "DOWN"
    TIMEOUT = "TIMEOUT"


G = GatewayState
_REGISTERING = (G.UNREGED, G.TRYING, G.REGISTER, G.REGED, G.FAILED, G.FAIL_WAIT, G.TIMEOUT, G.EXPIRED)

TRANSITIONS: dict[tuple[GatewayState, str], GatewayState] = {
    (G.UNREGED, "register"): G.TRYING,
    (G.UNREGED, "noreg"): G.NOREG,
    (G.TRYING, "ok"): G.REGISTER,
    (G.TRYING, "failed"): G.FAILED,
    (G.TRYING, "timeout"): G.TIMEOUT,
    (G.REGISTER, "confirmed"): G.REGED,
    (G.REGED, "refresh"): G.UNREGED,
    (G.REGED, "expired"): G.EXPIRED,
    (G.EXPIRED, "retry"): G.UNREGED,
    (G.FAILED, "wait"): G.FAIL_WAIT,
    (G.TIMEOUT, "wait"): G.FAIL_WAIT,
    (G.FAIL_WAIT, "retry"): G.UNREGED,
    (G.UNREGISTER, "unregistered"): G.NOREG,
    (G.NOREG, "down"): G.DOWN,
    (G.DOWN, "up"): G.NOREG,
    (G.NOREG, "restart"): G.UNREGED,
    (G.DOWN, "restart"): G.UNREGED,
    (G.FAIL_WAIT, "restart"): G.UNREGED,
    (G.REGED, "restart"): G.UNREGED,
    **{(state, "unregister"): G.UNREGISTER for state in _REGISTERING},
}


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """A `<gateway>`'s params, with FreeSWITCH's defaults filled in."""

    name: str
    username: str
    password: str | None
    auth_username: str
    realm: str
    realm_set: bool  # realm was given (challenges for other realms are refused)
    from_user: str
    from_domain: str
    extension: str
    proxy: str
    register_proxy: str
    outbound_proxy: str | None
    register: bool
    transport: str
    expire_seconds: int
    retry_seconds: int
    ping: int
    ping_min: int
    ping_max: int
    context: str | None
    dialplan: str | None
    caller_id_in_from: bool
    extension_in_contact: bool
    contact_params: str | None
    distinct_to: bool

    @staticmethod
    def from_element(element: etree._Element) -> GatewaySettings:
        """Read one `<gateway>`; raises ConfigError (file:line) when it cannot be used."""
        name = element.get("name", "")
        if not name:
            raise error_at(element, "<gateway> without a name")
        values, warnings = read_params(element, SOFIA_GATEWAY)
        for warning in warnings:
            log.warning("%s", warning)
        username = _text(values.get("username"))
        register = bool(values.get("register"))
        if not username:
            if register:
                raise error_at(element, f'gateway "{name}": param "username" is required to register')
            username = "FreeSWITCH"
        realm = _text(values.get("realm"))
        proxy = _text(values.get("proxy")) or realm or name
        return GatewaySettings(
            name=name,
            username=username,
            password=_text(values.get("password")),
            auth_username=_text(values.get("auth-username")) or username,
            realm=realm or name,
            realm_set=realm is not None,
            from_user=_text(values.get("from-user")) or username,
            from_domain=_text(values.get("from-domain")) or realm or proxy,
            extension=_text(values.get("extension")) or username,
            proxy=proxy,
            register_proxy=_text(values.get("register-proxy")) or proxy,
            outbound_proxy=_text(values.get("outbound-proxy")),
            register=register,
            transport=str(values.get("register-transport") or "udp"),
            expire_seconds=_int(values.get("expire-seconds"), 3600),
            retry_seconds=_int(values.get("retry-seconds"), 30),
            ping=_int(values.get("ping"), 0),
            ping_min=_int(values.get("ping-min"), 1),
            ping_max=_int(values.get("ping-max"), 1),
            context=_text(values.get("context")),
            dialplan=_text(values.get("dialplan")),
            caller_id_in_from=bool(values.get("caller-id-in-from")),
            extension_in_contact=bool(values.get("extension-in-contact")),
            contact_params=_text(values.get("contact-params")),
            distinct_to=bool(values.get("distinct-to")),
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value else default


def split_hostport(text: str, default_port: int = 5060) -> Address:
    """`host`, `host:port`, `[v6]:port` or `sip:host:port;params` -> (host, port)."""
    text = text.strip()
    for prefix in ("sips:", "sip:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    text = text.split(";", 1)[0].split("@")[-1]
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
        return host, port
    host, _, port_text = text.partition(":")
    return host, int(port_text) if port_text.isdigit() else default_port


class GatewayMachine:
    """The registration state of one gateway, walked through `TRANSITIONS`."""

    TABLE: ClassVar[dict[tuple[GatewayState, str], GatewayState]] = TRANSITIONS

    def __init__(
        self, name: str, on_change: Callable[[GatewayState, GatewayState, int, str], None] | None = None
    ) -> None:
        self.name = name
        self.state = GatewayState.UNREGED
        self.on_change = on_change

    def fire(self, event: str, status: int = 0, phrase: str = "") -> GatewayState:
        new = self.TABLE.get((self.state, event))
        if new is None:
            raise InvalidTransition(f"gateway {self.name}: no transition for {event} in {self.state.value}")
        old, self.state = self.state, new
        if old is not new:
            log.info(
                "gateway %s: %s -> %s%s",
                self.name,
                old.value,
                new.value,
                f" ({status} {phrase})" if status else "",
            )
            if self.on_change is not None:
                self.on_change(old, new, status, phrase)
        return new

    def can(self, event: str) -> bool:
        return (self.state, event) in self.TABLE


class Gateway:
    """One gateway of a profile: its registration task, pings and counters."""

    def __init__(
        self,
        settings: GatewaySettings,
        profile_name: str,
        stack: Callable[[], SipStack | None],
        *,
        fire: Callable[[Event], None] | None = None,
        user_agent: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.profile_name = profile_name
        self.stack = stack
        self.fire = fire
        self.user_agent = user_agent
        self.clock = clock
        self.machine = GatewayMachine(settings.name, self._changed)
        self.status = "DOWN"
        self.ping_count = 0
        self.pinging = False
        self.next_ping = 0.0
        self.failures = 0
        self.freq = settings.expire_seconds
        self.expires_at = 0.0  # when the registration is refreshed
        self.retry_at = 0.0
        self.last_status = 0
        self.last_phrase = ""
        self.address: Address | None = None
        self.calls_in = 0
        self.calls_out = 0
        self.failed_calls_in = 0
        self.failed_calls_out = 0
        self.started = clock()
        self._call_id = new_call_id()
        self._cseq = 0
        self._tag = new_tag()
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ping_task: asyncio.Task[None] | None = None

    # ---- what the call layer and the commands read ------------------------------------------------

    @property
    def state(self) -> GatewayState:
        return self.machine.state

    @property
    def register_to(self) -> str:
        return f"sip:{self.settings.username}@{self.settings.realm}"

    @property
    def register_from(self) -> str:
        return f"<sip:{self.settings.from_user}@{self.settings.from_domain}>"

    @property
    def register_proxy(self) -> str:
        suffix = ";transport=tcp" if self.settings.transport == "tcp" else ""
        return f"sip:{self.settings.register_proxy}{suffix}"

    def contact(self) -> str:
        stack = self.stack()
        host, port = stack.local if stack is not None else ("127.0.0.1", 5060)
        user = self.settings.extension if self.settings.extension_in_contact else f"gw+{self.name}"
        params = f";transport={self.settings.transport};gw={self.name}"
        if self.settings.contact_params:
            params += ";" + self.settings.contact_params.lstrip(";")
        host_text = f"[{host}]" if ":" in host else host
        return f"<sip:{user}@{host_text}:{port}{params}>"

    @property
    def usable(self) -> bool:
        """Calls may go out through it (FreeSWITCH: status UP, else GATEWAY_DOWN)."""
        return self.status == "UP"

    def target_for(self, number: str) -> str:
        """The Request-URI of a call to `number` through this gateway."""
        suffix = ";transport=tcp" if self.settings.transport == "tcp" else ""
        return f"sip:{number}@{self.settings.proxy}{suffix}"

    @property
    def next_hop(self) -> Address:
        """Where this gateway's requests go: outbound-proxy, else proxy."""
        return split_hostport(self.settings.outbound_proxy or self.settings.proxy)

    def credentials_for(self, realm: str, peer: Address | None = None) -> tuple[str, str] | None:
        """(auth user, password) for a challenge to one of this gateway's own requests.

        None when the gateway has no password, when `realm` is set and differs,
        or when the challenge comes from another host than the gateway's proxy.
        """
        password = self.settings.password
        if password is None:
            return None
        if self.settings.realm_set and realm != self.settings.realm:
            return None
        if peer is not None and self.address is not None and peer[0] != self.address[0]:
            return None
        return self.settings.auth_username, password

    # ---- life cycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.settings.register and self.state is GatewayState.UNREGED:
            self.machine.fire("noreg")
            if self.settings.ping <= 0:
                self.status = "UP"
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name=f"sofia-gateway-{self.name}")
        if self.settings.ping > 0:
            self._ping_task = loop.create_task(self._ping_loop(), name=f"sofia-gateway-{self.name}-ping")

    async def stop(self, unregister: bool = True, timeout: float = 2.0) -> None:
        """Stop the tasks; un-REGISTER first (bounded by `timeout`) when registered."""
        was_registered = self.state is GatewayState.REGED
        for task in (self._task, self._ping_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = self._ping_task = None
        if unregister and was_registered:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._register(0), timeout)

    def register_now(self) -> None:
        """`sofia profile <p> register <gw>`: register again at once."""
        if self.machine.can("restart"):
            self.machine.fire("restart")
        self.retry_at = 0.0
        self._kick.set()

    def unregister_now(self) -> None:
        """`sofia profile <p> unregister <gw>`: un-REGISTER and stay unregistered."""
        if self.machine.can("unregister"):
            self.machine.fire("unregister")
            self._kick.set()

    # ---- the registration loop ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gateway %s: registration step failed", self.name)
                await self._sleep(self.settings.retry_seconds)

    async def _step(self) -> None:
        state = self.state
        if state is GatewayState.UNREGED:
            await self._attempt()
        elif state in (GatewayState.FAILED, GatewayState.TIMEOUT):
            if self.last_status == 503:
                wait = self.settings.retry_seconds
            else:
                wait = min(self.settings.retry_seconds * max(self.failures, 1), 3600)
            self.retry_at = self.clock() + wait
            self.status = "DOWN"
            self.machine.fire("wait")
            log.warning("%s Failed Registration, setting retry to %d seconds.", self.name, wait)
        elif state is GatewayState.FAIL_WAIT:
            await self._sleep(self.retry_at - self.clock())
            if self.state is GatewayState.FAIL_WAIT:
                self.machine.fire("retry")
        elif state is GatewayState.REGED:
            await self._sleep(self.expires_at - self.clock())
            if self.state is GatewayState.REGED:
                self.machine.fire("refresh")
        elif state is GatewayState.UNREGISTER:
            with contextlib.suppress(Exception):
                await self._register(0)
            self.status = "DOWN" if self.settings.ping > 0 else self.status
            self.machine.fire("unregistered")
        elif state is GatewayState.EXPIRED:
            self.machine.fire("retry")
        else:  # NOREG, DOWN: nothing to do until a command
            self._kick.clear()
            await self._kick.wait()

    async def _attempt(self) -> None:
        self.machine.fire("register")
        self.retry_at = self.clock() + self.settings.retry_seconds
        response = await self._register(self.settings.expire_seconds)
        if self.state is not GatewayState.TRYING:
            return  # a command moved us meanwhile
        self.last_status, self.last_phrase = response.status, response.reason
        if 200 <= response.status < 300:
            self.freq = self._granted(response)
            self.failures = 0
            self.machine.fire("ok", response.status, response.reason)
            margin = 15 if self.freq > 60 else 2
            self.expires_at = self.clock() + max(self.freq - margin, 1)
            self.status = "UP"
            self.machine.fire("confirmed")
        elif response.status == 408:
            self.failures += 1
            self.machine.fire("timeout", response.status, response.reason)
        else:
            self.failures += 1
            log.error(
                "%s Registration Failed with status %s [%d]. failure #%d",
                self.name,
                response.reason,
                response.status,
                self.failures,
            )
            self.machine.fire("failed", response.status, response.reason)

    def _granted(self, response: Response) -> int:
        """The interval the registrar granted our contact (its `expires` param, else Expires)."""
        try:
            mine = self.contact().strip("<>").split(";", 1)[0]
            for contact in response.contacts:
                if str(contact.uri).split(";", 1)[0] == mine:
                    value = contact.param("expires")
                    if value is not None and value.isdigit() and int(value) > 0:
                        return int(value)
            if response.expires:
                return int(response.expires)
        except Exception:
            log.debug("gateway %s: unreadable expiry in %r", self.name, response)
        return self.settings.expire_seconds

    async def _sleep(self, seconds: float) -> None:
        self._kick.clear()
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._kick.wait(), seconds)

    # ---- requests ---------------------------------------------------------------------------------

    def _build(self, method: str, uri: str, extra: list[tuple[str, str]]) -> Request:
        stack = self.stack()
        if stack is None:
            raise RuntimeError("the profile is not running")
        self._cseq += 1
        to = self.register_to if self.settings.distinct_to else self.register_from.strip("<>")
        headers = list(extra)
        if self.user_agent:
            headers.append(("User-Agent", self.user_agent))
        return make_request(
            method,
            uri,
            from_addr=f"{self.register_from};tag={self._tag}",
            to_addr=f"<{to}>",
            call_id=self._call_id,
            cseq=self._cseq,
            via=stack.via(self.settings.transport),
            contact=self.contact(),
            headers=headers,
        )

    async def _destination(self) -> Address:
        return split_hostport(self.settings.register_proxy)

    async def _register(self, expires: int) -> Response:
        """One REGISTER, answering up to two challenges with this gateway's credentials."""
        stack = self.stack()
        if stack is None:
            raise RuntimeError("the profile is not running")
        request = self._build("REGISTER", self.register_proxy, [("Expires", str(expires))])
        dest = await self._destination()
        self.address = dest
        response = await stack.request(request, dest, self.settings.transport)
        for _ in range(3):
            if response.status == 423 and expires > 0:
                # RFC 3261 10.2.8: ask again for at least the registrar's Min-Expires.
                minimum = (response.get("Min-Expires") or "").strip()
                if not minimum.isdigit() or int(minimum) <= expires:
                    break
                expires = int(minimum)
                request = self._build("REGISTER", self.register_proxy, [("Expires", str(expires))])
                response = await stack.request(request, dest, self.settings.transport)
                continue
            if response.status not in (401, 407):
                break
            challenge = pick_challenge(response)
            if challenge is None or self.credentials_for(challenge.realm) is None:
                log.warning(
                    "gateway %s: not answering a challenge for realm %r",
                    self.name,
                    challenge.realm if challenge else None,
                )
                break
            user, password = self.settings.auth_username, self.settings.password or ""
            retry = authorize(request, response, user, password)
            if retry is None:
                break
            self._cseq = retry.cseq.number
            request = retry
            response = await stack.request(request, dest, self.settings.transport)
        return response

    async def ping_once(self) -> bool:
        """One OPTIONS to the proxy: True when it answered (anything but 408 / 503)."""
        stack = self.stack()
        if stack is None:
            return False
        self.pinging = True
        try:
            request = self._build("OPTIONS", self.register_proxy, [])
            response = await stack.request(request, await self._destination(), self.settings.transport)
            return response.status not in (408, 503)
        finally:
            self.pinging = False

    async def _ping_loop(self) -> None:
        while True:
            self.next_ping = self.clock() + self.settings.ping
            await asyncio.sleep(self.settings.ping)
            if self.state not in (GatewayState.REGED, GatewayState.NOREG, GatewayState.DOWN):
                continue
            try:
                ok = await self.ping_once()
            except Exception as exc:
                log.debug("gateway %s: ping failed: %r", self.name, exc)
                ok = False
            self._ping_result(ok)

    def _ping_result(self, ok: bool) -> None:
        settings = self.settings
        if ok:
            self.ping_count = min(self.ping_count + 1, settings.ping_max)
            if self.ping_count >= settings.ping_max and self.status == "DOWN":
                self._set_status("UP")
        else:
            self.ping_count = max(self.ping_count - 1, 0)
            if self.ping_count < settings.ping_min and self.status == "UP":
                self._set_status("DOWN")

    def _set_status(self, status: str) -> None:
        self.status = status
        if self.state is GatewayState.NOREG and status == "DOWN":
            self.machine.fire("down")
        elif self.state is GatewayState.DOWN and status == "UP":
            self.machine.fire("up")
        else:
            self._emit(0, "")

    # ---- events -----------------------------------------------------------------------------------

    def _changed(self, old: GatewayState, new: GatewayState, status: int, phrase: str) -> None:
        self._emit(status, phrase)

    def _emit(self, status: int, phrase: str) -> None:
        if self.fire is None:
            return
        headers = {
            "Gateway": self.name,
            "State": self.state.value,
            "Ping-Status": self.status,
            "profile-name": self.profile_name,
        }
        if phrase:
            headers["Phrase"] = phrase
        if status:
            headers["Status"] = str(status)
        self.fire(Event.create("CUSTOM", STATE_EVENT, **headers))

    def status_text(self) -> str:
        """`sofia status gateway <name>` (mod_sofia.c cmd_status)."""
        line = "=" * 97
        password = "yes" if self.settings.password else "no"
        rows = [
            ("Name    ", self.name),
            ("Profile ", self.profile_name),
            ("Scheme  ", "Digest"),
            ("Realm   ", self.settings.realm),
            ("Username", self.settings.username),
            ("Password", password),
            ("From    ", self.register_from),
            ("Contact ", self.contact()),
            ("Exten   ", self.settings.extension),
            ("To      ", self.register_to),
            ("Proxy   ", self.register_proxy),
            ("Context ", self.settings.context or "public"),
            ("Expires ", str(self.settings.expire_seconds)),
            ("Freq    ", str(self.freq)),
            ("Ping    ", str(int(self.next_ping))),
            ("PingFreq", str(self.settings.ping)),
            ("PingState", f"{self.settings.ping_min}/{self.ping_count}/{self.settings.ping_max}"),
            ("State   ", self.state.value),
            ("Status  ", self.status + (" (ping)" if self.pinging else "")),
            ("Uptime  ", f"{int(self.clock() - self.started)}s"),
            ("CallsIN ", str(self.calls_in)),
            ("CallsOUT", str(self.calls_out)),
            ("FailedCallsIN", str(self.failed_calls_in)),
            ("FailedCallsOUT", str(self.failed_calls_out)),
        ]
        body = "".join(f"{name}\t{value}\n" for name, value in rows)
        return f"{line}\n{body}{line}\n"

    def retry_note(self) -> str:
        """` (retry: 12s)` in `sofia status` for a gateway that failed or is trying."""
        if self.state not in (GatewayState.FAILED, GatewayState.TRYING, GatewayState.FAIL_WAIT):
            return ""
        left = int(self.retry_at - self.clock())
        return f" (retry: {left}s)" if left > 0 else " (retry: NEVER)"


def gateway_name_of(user: str | None) -> str | None:
    """The gateway a request was sent to by its Request-URI user (`gw+<name>`), if any."""
    if user and user.startswith("gw+"):
        return user[3:] or None
    return None


def read_gateways(profile: etree._Element) -> tuple[list[GatewaySettings], list[ConfigError]]:
    """The usable `<gateways><gateway>` of a profile element, and the problems of the others."""
    found: list[GatewaySettings] = []
    problems: list[ConfigError] = []
    seen: set[str] = set()
    for element in profile.iterfind("gateways/gateway"):
        try:
            settings = GatewaySettings.from_element(element)
        except ConfigError as exc:
            problems.append(exc)
            continue
        if settings.name in seen:
            problems.append(
                error_at(element, f'gateway "{settings.name}" defined twice; the first one is used')
            )
            continue
        seen.add(settings.name)
        found.append(settings)
    return found, problems


__all__ = [
    "STATE_EVENT",
    "TRANSITIONS",
    "Gateway",
    "GatewayMachine",
    "GatewaySettings",
    "GatewayState",
    "gateway_name_of",
    "read_gateways",
    "split_hostport",
]
