"""One profile's SIP stack: transports, the transaction table, timers, and dispatch.

Theory of operation
-------------------
Bytes arrive from a transport as `(data, Source)`.  `validate.check` judges
them first (RFC 3261 8.2, the RFC 4475 lessons): a message to drop is
dropped, one to reject is answered statelessly with the verdict's status and
reason phrase (to where RFC 3261 18.2.2 and RFC 3581 say), and an accepted
one goes to the sans-I/O `TransactionLayer`.  The layer returns effects,
which `_run` carries out: `Send` goes to a transport, `StartTimer` /
`CancelTimer` become `loop.call_later` handles, `Deliver` is dispatched,
`Timeout` resolves a client request with a synthesized 408 / 503 (RFC 3261
8.1.3.1) and `Terminated` forgets the transaction's timers and bookkeeping.

Dispatch of what the layer delivers:
- REGISTER -> the profile's registrar;
- OPTIONS outside a dialog -> 200 with Allow / Accept / Supported (RFC 3261 11.2);
- CANCEL -> 200 (or 481 without a matching INVITE, RFC 3261 9.2), then the
  call layer's `on_cancel` for the INVITE it cancels;
- the ACK for a 2xx and every other request -> the call layer's `on_request`;
- responses -> the client request waiting for them; a stray 2xx to an INVITE
  -> `on_stray_2xx` (RFC 3261 13.2.2.4); other strays are dropped (17.1.3).

REGISTER and out-of-dialog OPTIONS, which the stack answers itself with one
final response, skip the transaction machines: `answered.py` keeps their
server transaction as a key and the response bytes (absorbing and answering
retransmissions until Timer J), which is what lets a registrar hold tens of
thousands of them.

A handler that raises leaves a 500 behind for the request it was given, so a
bug costs one call, never the stack.  Nothing a peer sends can make this file
raise: the receive path catches and logs in one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .answered import AnsweredTable
from .incoming import ServerRequest
from .message import FramingError, Request, Response, make_response, new_branch, new_tag
from .stack_user import NullCallHandler, StackUser
from .transaction import (
    CancelTimer,
    Deliver,
    Effect,
    NoTransaction,
    Send,
    StartTimer,
    Terminated,
    Timeout,
    TimerConfig,
    TransactionLayer,
    response_address,
    server_key,
    stamp_via,
)
from .transport import (
    MAX_MESSAGE_SIZE,
    TcpTransport,
    TransportError,
    UdpTransport,
    host_literal,
    is_ip,
    sendable,
)
from .tu import Address, CallHandler, Source
from .uri import ParseError
from .validate import DEFAULT_POLICY, Action, Policy, Verdict, check

log = logging.getLogger("mod_sofia.stack")
trace_log = logging.getLogger("mod_sofia.siptrace")

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY"
ACCEPT = "application/sdp"


@dataclass(slots=True)
class _Pending:
    """A client request waiting for its final response."""

    request: Request
    future: asyncio.Future[Response]
    on_provisional: Callable[[Response], None] | None
    transport: str


class SipStack:
    """The `tu.Stack` of one profile; start() binds, stop() closes."""

    def __init__(
        self,
        profile_name: str,
        local: Address,
        user: StackUser,
        *,
        policy: Policy = DEFAULT_POLICY,
        timers: TimerConfig | None = None,
        transports: Sequence[str] = ("udp", "tcp"),
        user_agent: str | None = "switchcore-mod_sofia",
        max_size: int = MAX_MESSAGE_SIZE,
        tcp_partial_timeout: float = 32.0,
    ) -> None:
        self.profile_name = profile_name
        self.local: Address = local
        self.user = user
        self.policy = policy if policy.max_size == max_size else _with_max_size(policy, max_size)
        self.layer = TransactionLayer(timers)
        self.answered = AnsweredTable(hold=64 * self.layer.timers.t1)
        self._answering: dict[str, tuple[str, ...]] = {}  # "L<n>" -> answered-table key
        self._light_ids = 0
        self.transport_names = tuple(transports)
        self.user_agent = user_agent
        self.trace = False
        self.udp: UdpTransport | None = None
        self.tcp: TcpTransport | None = None
        self.max_size = max_size
        self.tcp_partial_timeout = tcp_partial_timeout
        self.stats: dict[str, int] = {"received": 0, "sent": 0, "rejected": 0, "dropped": 0}
        # Called with (data, transport, address) for every message sent: tests, capture tools.
        self.sent_observers: list[Callable[[bytes, str, Address], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: dict[str, dict[str, asyncio.TimerHandle]] = {}
        self._pending: dict[str, _Pending] = {}
        self._invites: dict[str, ServerRequest] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._response_headers: tuple[tuple[str, str], ...] = (
            (("User-Agent", user_agent),) if user_agent else ()
        )

    # ---- life cycle ---------------------------------------------------------------------------

    async def start(self) -> Address:
        """Bind UDP (and TCP on the same port); returns the bound address.

        With port 0 the system picks a free UDP port; if TCP cannot have the same
        number, another pick is tried.
        """
        self._loop = asyncio.get_running_loop()
        attempts = 5 if self.local[1] == 0 else 1
        for attempt in range(attempts):
            try:
                await self._bind()
                return self.local
            except OSError:
                await self._close_transports()
                if attempt == attempts - 1:
                    raise
        return self.local

    async def _bind(self) -> None:
        host, port = self.local
        if "udp" in self.transport_names:
            self.udp = UdpTransport((host, port), self._on_data, max_size=self.max_size)
            host, port = await self.udp.start()
        if "tcp" in self.transport_names:
            self.tcp = TcpTransport(
                (host, port),
                self._on_data,
                self._on_bad_stream,
                max_size=self.max_size,
                partial_timeout=self.tcp_partial_timeout,
            )
            host, port = await self.tcp.start()
        self.local = (host, port)

    async def _close_transports(self) -> None:
        if self.udp is not None:
            self.udp.close()
            self.udp = None
        if self.tcp is not None:
            await self.tcp.close()
            self.tcp = None

    async def stop(self) -> None:
        """Close the transports, cancel timers and handler tasks, fail waiting requests (503)."""
        for handles in self._timers.values():
            for handle in handles.values():
                handle.cancel()
        self._timers.clear()
        for txn, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_result(make_response(pending.request, 503, "Service Unavailable"))
            self._pending.pop(txn, None)
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await self._close_transports()
        self.layer = TransactionLayer(self.layer.timers)
        self.answered.clear()
        self._answering.clear()
        self._invites.clear()

    @property
    def running(self) -> bool:
        return (self.udp is not None and self.udp.running) or (self.tcp is not None and self.tcp.running)

    def now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    # ---- the tu.Stack surface -----------------------------------------------------------------

    async def request(
        self,
        request: Request,
        dest: Address,
        transport: str = "udp",
        on_provisional: Callable[[Response], None] | None = None,
    ) -> Response:
        """Send through a client transaction and wait for the final response.

        On timeout (Timer B/F) the response is a synthesized 408, on a transport
        failure (no connection, refused address) a synthesized 503 (RFC 3261 8.1.3.1).
        """
        transport = transport.lower()
        try:
            dest = await self._resolve(dest)
            if transport == "tcp":
                if self.tcp is None:
                    raise TransportError("this profile has no TCP transport")
                await self.tcp.connect(dest)
            elif self.udp is None:
                raise TransportError("this profile has no UDP transport")
        except (TransportError, OSError) as exc:
            log.info(
                "%s: cannot send %s to %s:%d: %s", self.profile_name, request.method, dest[0], dest[1], exc
            )
            return make_response(request, 503, "Service Unavailable")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        txn, effects = self.layer.send_request(request, dest, self.now(), reliable=transport != "udp")
        self._pending[txn] = _Pending(request, future, on_provisional, transport)
        self._run(effects, None, transport)
        return await asyncio.shield(future)

    def send_stateless(self, message: Request | Response, dest: Address, transport: str = "udp") -> None:
        """Send outside any transaction (the ACK for a 2xx, a 2xx retransmission)."""
        self._send(message, dest, transport.lower(), None)

    def contact_uri(self, user: str = "", transport: str = "udp") -> str:
        host, port = self.local
        userinfo = f"{user}@" if user else ""
        tail = ";transport=tcp" if transport.lower() == "tcp" else ""
        return f"sip:{userinfo}{host_literal(host)}:{port}{tail}"

    def via(self, transport: str = "udp") -> str:
        host, port = self.local
        return f"SIP/2.0/{transport.upper()} {host_literal(host)}:{port};rport;branch={new_branch()}"

    @property
    def url(self) -> str:
        """The profile URL as FreeSWITCH shows it (`sip:mod_sofia@127.0.0.1:5060`)."""
        host, port = self.local
        return f"sip:mod_sofia@{host_literal(host)}:{port}"

    # ---- the Responder surface (incoming.py) ----------------------------------------------------

    def response_headers(self) -> Sequence[tuple[str, str]]:
        return self._response_headers

    def send_response(self, incoming: ServerRequest, response: Response) -> None:
        txn = incoming.txn
        assert txn is not None
        if txn.startswith("L"):
            self._answer_light(txn, response)
            return
        effects = self.layer.respond(txn, response, self.now())
        self._run(effects, incoming.source, incoming.source.transport)

    def _answer_light(self, txn: str, response: Response) -> None:
        key = self._answering.get(txn)
        entry = self.answered.get(key) if key is not None else None
        if key is None or entry is None:
            raise NoTransaction(f"no server transaction {txn}")
        data = bytes(response)
        self._send_data(data, entry.addr, entry.transport, None)
        if response.status >= 200:
            del self._answering[txn]
            self.answered.complete(key, data, self._loop.time() if self._loop is not None else self.now())

    # ---- receiving ------------------------------------------------------------------------------

    def _on_data(self, data: bytes, source: Source) -> None:
        try:
            self._receive(data, source)
        except Exception as exc:  # a peer must never be able to raise through the transport
            log.warning(
                "%s: dropped a message from %s:%s:%d after an internal error: %r",
                self.profile_name,
                source.transport,
                source.addr[0],
                source.addr[1],
                exc,
            )
            log.debug("internal error detail", exc_info=True)

    def _receive(self, data: bytes, source: Source) -> None:
        if self.trace:
            self._trace("recv", data, source.transport, source.addr)
        if not data.strip(b"\r\n \t"):
            return  # RFC 5626 4.4.1 keep-alive
        self.stats["received"] += 1
        now = self.now()
        if self.answered:
            self.answered.expire(now)
        verdict = check(data, self.policy)
        if verdict.action is Action.ACCEPT:
            message = verdict.message
            assert message is not None
            if (
                type(message) is Request
                and (message.method == "REGISTER" or (message.method == "OPTIONS" and message.to_tag is None))
                and self._receive_light(message, source, now)
            ):
                return
            effects = self.layer.receive(message, source.addr, now, reliable=source.transport != "udp")
            self._run(effects, source, source.transport)
        elif verdict.action is Action.REJECT:
            self._reject(verdict, source)
        else:
            self.stats["dropped"] += 1
            log.debug(
                "%s: dropped from %s:%d: %s",
                self.profile_name,
                source.addr[0],
                source.addr[1],
                verdict.detail,
            )

    def _receive_light(self, request: Request, source: Source, now: float) -> bool:
        """A request the stack answers itself, outside the transaction machines; False to use them."""
        try:
            key = server_key(request)
            request = stamp_via(request, source.addr, fresh=True)  # `check` made it just now
            addr = response_address(request.top_via, source.addr, source.transport != "udp")
        except ParseError:
            return False
        entry = self.answered.get(key)
        if entry is not None:
            if entry.response is not None:  # a retransmission: the same answer again
                self._send_data(entry.response, entry.addr, entry.transport, None)
            return True
        self.answered.begin(key, addr, source.transport, now)
        self._light_ids += 1
        txn = f"L{self._light_ids}"
        self._answering[txn] = key
        incoming = ServerRequest(self, txn, request, source)
        if request.method == "REGISTER":
            work = self.user.on_register(incoming)
            if work is not None:
                self._spawn(_awaited(work), incoming)
        else:
            incoming.reply(
                200, "OK", (("Allow", ALLOW), ("Accept", ACCEPT), ("Supported", self.user.handler.supported))
            )
        return True

    def _reject(self, verdict: Verdict, source: Source) -> None:
        """Answer a malformed or unsupported request statelessly (RFC 3261 8.2)."""
        self.stats["rejected"] += 1
        request = verdict.message
        assert isinstance(request, Request)
        log.info(
            "%s: %d %s to %s from %s:%d (%s)",
            self.profile_name,
            verdict.status,
            verdict.reason,
            request.method,
            source.addr[0],
            source.addr[1],
            verdict.detail,
        )
        headers = list(verdict.headers)
        if verdict.challenge:
            headers += self.user.challenge_headers(request, verdict.status)
        headers += self._response_headers
        response = make_response(request, verdict.status, verdict.reason, to_tag=new_tag(), headers=headers)
        self._send(response, self._reply_address(request, source), source.transport, None)

    def _reply_address(self, request: Request, source: Source) -> Address:
        reliable = source.transport != "udp"
        try:
            via = request.top_via
        except ParseError:
            return source.addr
        if via.host.strip("[]").lower() != source.addr[0].lower() or via.wants_rport:
            via = via.with_param("received", source.addr[0])
            if via.wants_rport:
                via = via.with_param("rport", str(source.addr[1]))
        return response_address(via, source.addr, reliable)

    def _on_bad_stream(self, data: bytes, source: Source, exc: FramingError) -> bytes | None:
        """A TCP stream that cannot be framed: one last 400 / 513 if the head is readable."""
        try:
            verdict = check(data, self.policy)
            request = verdict.message
            if not isinstance(request, Request) or verdict.action is Action.DROP or request.method == "ACK":
                return None
            status = exc.status if exc.status in (400, 513) else 400
            reason = "Message Too Large" if status == 513 else "Bad Content-Length"
            response = make_response(
                request, status, reason, to_tag=new_tag(), headers=self._response_headers
            )
            data_out = bytes(response)
        except Exception as err:
            log.debug("no answer for a broken stream from %s:%d: %r", source.addr[0], source.addr[1], err)
            return None
        if self.trace:
            self._trace("send", data_out, "tcp", source.addr)
        for observer in self.sent_observers:
            observer(data_out, "tcp", source.addr)
        return data_out

    # ---- effects ----------------------------------------------------------------------------------

    def _run(self, effects: list[Effect], source: Source | None, transport: str) -> None:
        for effect in effects:
            kind = type(effect)
            if kind is Send:
                assert isinstance(effect, Send)
                self._send(effect.message, effect.addr, transport, effect.txn)
            elif kind is StartTimer:
                assert isinstance(effect, StartTimer)
                self._start_timer(effect)
            elif kind is CancelTimer:
                assert isinstance(effect, CancelTimer)
                handles = self._timers.get(effect.txn)
                if handles is not None:
                    handle = handles.pop(effect.name, None)
                    if handle is not None:
                        handle.cancel()
            elif kind is Deliver:
                assert isinstance(effect, Deliver)
                self._deliver(effect, source)
            elif kind is Timeout:
                assert isinstance(effect, Timeout)
                self._timeout(effect)
            elif kind is Terminated:
                assert isinstance(effect, Terminated)
                self._terminated(effect.txn)

    def _start_timer(self, effect: StartTimer) -> None:
        assert self._loop is not None
        handles = self._timers.setdefault(effect.txn, {})
        old = handles.get(effect.name)
        if old is not None:
            old.cancel()
        handles[effect.name] = self._loop.call_later(effect.delay, self._fire, effect.txn, effect.name)

    def _fire(self, txn: str, name: str) -> None:
        handles = self._timers.get(txn)
        if handles is not None:
            handles.pop(name, None)
        try:
            self._run(self.layer.on_timer(txn, name, self.now()), None, "udp")
        except Exception:
            log.exception("%s: timer %s of %s failed", self.profile_name, name, txn)

    def _terminated(self, txn: str) -> None:
        handles = self._timers.pop(txn, None)
        if handles:
            for handle in handles.values():
                handle.cancel()
        self._invites.pop(txn, None)
        pending = self._pending.pop(txn, None)
        if pending is not None and not pending.future.done():
            pending.future.set_result(make_response(pending.request, 408, "Request Timeout"))

    def _timeout(self, effect: Timeout) -> None:
        pending = self._pending.get(effect.txn)
        if pending is not None:
            if not pending.future.done():
                status, reason = (
                    (503, "Service Unavailable") if effect.reason == "transport" else (408, "Request Timeout")
                )
                pending.future.set_result(make_response(pending.request, status, reason))
            return
        if effect.reason == "L":
            invite = self._invites.get(effect.txn)
            if invite is not None:
                invite.on_ack_timeout()
        log.debug("%s: transaction %s timed out (%s)", self.profile_name, effect.txn, effect.reason)

    # ---- sending ----------------------------------------------------------------------------------

    def _send(self, message: Request | Response, addr: Address, transport: str, txn: str | None) -> None:
        if not is_ip(addr[0]):
            self._spawn(self._send_resolved(message, addr, transport, txn), None)
            return
        self._send_data(bytes(message), addr, transport, txn)

    def _send_data(self, data: bytes, addr: Address, transport: str, txn: str | None) -> None:
        if self.trace:
            self._trace("send", data, transport, addr)
        for observer in self.sent_observers:
            observer(data, transport, addr)
        try:
            if not sendable(addr[0]):
                raise TransportError(f"refusing to send to {addr[0]}")
            if transport == "udp" or self.tcp is None:
                if self.udp is None:
                    raise TransportError("no UDP transport")
                self.udp.send(data, addr)
            elif not self.tcp.send(data, addr):
                self._spawn(self._connect_and_send(data, addr, txn), None)
                return
            self.stats["sent"] += 1
        except TransportError as exc:
            log.info("%s: %s", self.profile_name, exc)
            if txn is not None:
                self._run(self.layer.transport_error(txn, self.now()), None, transport)

    async def _send_resolved(
        self, message: Request | Response, addr: Address, transport: str, txn: str | None
    ) -> None:
        try:
            resolved = await self._resolve(addr)
        except OSError as exc:
            log.info("%s: cannot resolve %s: %s", self.profile_name, addr[0], exc)
            if txn is not None:
                self._run(self.layer.transport_error(txn, self.now()), None, transport)
            return
        self._send(message, resolved, transport, txn)

    async def _connect_and_send(self, data: bytes, addr: Address, txn: str | None) -> None:
        assert self.tcp is not None
        try:
            conn = await self.tcp.connect(addr)
            conn.write(data)
            self.stats["sent"] += 1
        except TransportError as exc:
            log.info("%s: %s", self.profile_name, exc)
            if txn is not None:
                self._run(self.layer.transport_error(txn, self.now()), None, "tcp")

    async def _resolve(self, dest: Address) -> Address:
        host, port = dest
        if is_ip(host):
            return (host.strip("[]"), port)
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        if not infos:
            raise OSError(f"{host} has no address")
        address = infos[0][4]
        return (str(address[0]), int(address[1]))

    def _trace(self, direction: str, data: bytes, transport: str, addr: Address) -> None:
        stamp = datetime.now().strftime("%H:%M:%S.%f")
        preposition = "from" if direction == "recv" else "to"
        rule = "-" * 72
        trace_log.info(
            "%s %d bytes %s %s/[%s]:%d at %s:\n%s\n%s%s",
            direction,
            len(data),
            preposition,
            transport,
            addr[0],
            addr[1],
            stamp,
            rule,
            data.decode("utf-8", "replace"),
            rule,
        )

    # ---- dispatch ---------------------------------------------------------------------------------

    def _deliver(self, effect: Deliver, source: Source | None) -> None:
        message = effect.message
        if isinstance(message, Response):
            self._deliver_response(message, effect.txn)
            return
        if source is None:  # requests only arrive from the network
            return
        txn = effect.txn
        method = message.method
        if method == "ACK":
            if txn is not None:
                invite = self._invites.get(txn)
                if invite is not None and not invite.on_ack(message):
                    return  # a retransmitted ACK
            self._call(lambda h, inc: h.on_request(inc), ServerRequest(self, None, message, source))
            return
        if txn is None:
            return
        incoming = ServerRequest(self, txn, message, source)
        if method == "INVITE":
            self._invites[txn] = incoming
            self._call(lambda h, inc: h.on_request(inc), incoming)
        elif method == "REGISTER":
            work = self.user.on_register(incoming)
            if work is not None:
                self._spawn(_awaited(work), incoming)
        elif method == "OPTIONS" and message.to_tag is None:
            incoming.reply(
                200, "OK", (("Allow", ALLOW), ("Accept", ACCEPT), ("Supported", self.user.handler.supported))
            )
        elif method == "CANCEL":
            self._cancel(incoming, effect.cancels)
        else:
            self._call(lambda h, inc: h.on_request(inc), incoming)

    def _cancel(self, cancel: ServerRequest, invite_txn: str | None) -> None:
        invite = self._invites.get(invite_txn) if invite_txn is not None else None
        if invite is None:
            cancel.reply(481, "Call/Transaction Does Not Exist")
            return
        cancel.reply(200, "OK")
        if invite.answered or invite.cancelled:
            return
        invite.cancelled = True
        self._call(lambda h, inc: h.on_cancel(inc), invite)

    def _deliver_response(self, response: Response, txn: str | None) -> None:
        pending = self._pending.get(txn) if txn is not None else None
        if pending is None or pending.future.done():
            if response.is_final and response.status < 300 and response.cseq.method == "INVITE":
                try:
                    self.user.handler.on_stray_2xx(response)
                except Exception:
                    log.exception("%s: on_stray_2xx failed", self.profile_name)
            else:
                log.debug("%s: dropped stray %r", self.profile_name, response)
            return
        if response.status < 200:
            if pending.on_provisional is not None:
                try:
                    pending.on_provisional(response)
                except Exception:
                    log.exception("%s: provisional response callback failed", self.profile_name)
            return
        pending.future.set_result(response)

    def _call(
        self,
        action: Callable[[CallHandler, ServerRequest], Coroutine[Any, Any, None]],
        incoming: ServerRequest,
    ) -> None:
        self._spawn(action(self.user.handler, incoming), incoming)

    def _spawn(self, coro: Coroutine[Any, Any, None], incoming: ServerRequest | None) -> None:
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._task_done(t, incoming))

    def _task_done(self, task: asyncio.Task[Any], incoming: ServerRequest | None) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error(
            "%s: handling %r failed: %r",
            self.profile_name,
            incoming,
            exc,
            exc_info=(type(exc), exc, exc.__traceback__),
        )
        if incoming is not None and incoming.txn is not None and not incoming.answered:
            with contextlib.suppress(Exception):
                incoming.reply(500, "Server Internal Error")


async def _awaited(work: Awaitable[None]) -> None:
    await work


def _with_max_size(policy: Policy, max_size: int) -> Policy:
    from dataclasses import replace

    return replace(policy, max_size=max_size)


__all__ = ["ALLOW", "NullCallHandler", "SipStack", "StackUser", "host_literal", "is_ip"]
