"""The RFC 3261 17 transaction layer, sans I/O.

Theory of operation
-------------------
Four state machines (INVITE / non-INVITE, client / server) are written as
tables: `(state, event) -> (next state, action)`.  Events are received
responses classified as "1xx" / "2xx" / "final" (300-699), received request
retransmissions ("request", "ack"), responses from the TU ("tu_1xx", "tu_2xx",
"tu_final"), timers ("timer_A" ...) and "transport_error".  A network event the
table lacks is logged and dropped; a TU event it lacks raises InvalidTransition.

Nothing here touches a socket or a clock.  Every method takes `now` and returns
effects: `Send` (a message to an address), `StartTimer` / `CancelTimer` (the
I/O layer owns the real timers and calls `on_timer(txn, name, now)` when one
fires), `Deliver` (a message for the TU), `Timeout` (Timer B/F/H expired or the
transport failed) and `Terminated` (forget the transaction).

Timers follow RFC 3261 17 and its Table 4; on a reliable transport the timers
that only absorb retransmissions (D, I, J, K) are zero and fire at once, and the
retransmission timers (A, E, G) are not started.  RFC 6026 is applied: an
INVITE client stays "Accepted" for Timer M after a 2xx so retransmitted 2xx
reach the TU, and an INVITE server stays "Accepted" for Timer L, absorbing
INVITE retransmissions and retransmitting the 2xx (RFC 3261 13.3.1.4, Timer G
reused) until the ACK arrives.

`TransactionLayer` holds the machines and matches messages to them
(17.1.3 for responses, 17.2.3 for requests with the RFC 2543 fallback when the
branch lacks the magic cookie, 9.2 for CANCEL).
"""

from __future__ import annotations

import enum
import itertools
import logging
from dataclasses import dataclass
from typing import ClassVar

from switchcore.errors import InvalidTransition

from .headers import Header, Via, split_list
from .message import Request, Response, make_response
from .uri import ParseError, SipError

log = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """RFC 3261 Table 4.  T1 is the RTT estimate, T2 the cap on non-INVITE
    retransmission intervals, T4 how long the network holds a message."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0  # Timer D on unreliable transports (at least 32 s)


# --- effects -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    message: Request | Response
    addr: Address
    txn: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: str
    delay: float
    txn: str


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str
    txn: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """A message for the TU.  `txn` is None for strays (RFC 3261 17.1.3 / 17.2.3:
    passed to the core); for a CANCEL, `cancels` names the INVITE server
    transaction it matches (RFC 3261 9.2), if any."""

    message: Request | Response
    txn: str | None
    cancels: str | None = None


@dataclass(frozen=True, slots=True)
class Timeout:
    """The transaction failed: `reason` is the timer ("B", "F", "H", "L") or "transport"."""

    txn: str
    reason: str


@dataclass(frozen=True, slots=True)
class Terminated:
    txn: str


Effect = Send | StartTimer | CancelTimer | Deliver | Timeout | Terminated


class State(enum.Enum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


S = State
Table = dict[tuple[State, str], tuple[State, str]]


def _classify(status: int) -> str:
    return "1xx" if status < 200 else "2xx" if status < 300 else "final"


_EARLY = 0.02  # an I/O loop may fire a timer this early; earlier firings are stale


class Transaction:
    """Shared machinery: the table walk, timer bookkeeping, sends."""

    TABLE: ClassVar[Table] = {}
    INITIAL: ClassVar[State]

    def __init__(
        self,
        txn: str,
        request: Request,
        addr: Address,
        reliable: bool,
        timers: TimerConfig,
        key: tuple[str, ...],
    ) -> None:
        self.id = txn
        self.request = request
        self.addr = addr
        self.reliable = reliable
        self.timers = timers
        self.key = key
        self.state = self.INITIAL
        self.last_response: Response | None = None
        self._running: dict[str, float] = {}  # timer name -> deadline
        self._interval: dict[str, float] = {}  # current retransmission interval
        self._immediate: list[str] = []
        self._effects: list[Effect] = []

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    # -- table walk --
    def _fire(self, event: str, now: float, message: Request | Response | None = None) -> list[Effect]:
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            raise InvalidTransition(
                f"{type(self).__name__} {self.id}: no transition for {event} in {self.state.value}"
            )
        new_state, action = entry
        self._effects = []
        getattr(self, "_" + action)(now, message)
        self._set_state(new_state)
        effects = self._effects
        while self._immediate and not self.terminated:
            # RFC 3261 17: on reliable transports these timers are zero: fire them now.
            name = self._immediate.pop(0)
            effects += self._fire("timer_" + name, now)
        self._effects = effects
        return effects

    def _set_state(self, new: State) -> None:
        if new is self.state:
            return
        log.debug("%s %s: %s -> %s", type(self).__name__, self.id, self.state.value, new.value)
        self.state = new
        if new is State.TERMINATED:
            for name in list(self._running):
                self._cancel(name)
            self._immediate.clear()
            self._effects.append(Terminated(self.id))

    def on_timer(self, name: str, now: float) -> list[Effect]:
        """A timer fired.  Stale firings (cancelled, restarted, early) are ignored."""
        deadline = self._running.get(name)
        if deadline is None or now + _EARLY < deadline:
            return []
        del self._running[name]
        return self._fire("timer_" + name, now)

    def transport_error(self, now: float) -> list[Effect]:
        if (self.state, "transport_error") not in self.TABLE:
            return []
        return self._fire("transport_error", now)

    # -- helpers for actions --
    def _start(self, name: str, delay: float, now: float) -> None:
        if delay <= 0:
            self._immediate.append(name)
            return
        self._running[name] = now + delay
        self._effects.append(StartTimer(name, delay, self.id))

    def _cancel(self, name: str) -> None:
        if self._running.pop(name, None) is not None:
            self._effects.append(CancelTimer(name, self.id))

    def _send(self, message: Request | Response) -> None:
        self._effects.append(Send(message, self.addr, self.id))

    def _deliver(self, message: Request | Response | None) -> None:
        assert message is not None
        self._effects.append(Deliver(message, self.id))

    def _backoff(self, name: str, now: float, cap: float | None) -> None:
        interval = self._interval[name] * 2
        if cap is not None:
            interval = min(interval, cap)
        self._interval[name] = interval
        self._start(name, interval, now)

    # actions shared by several machines
    def _ignore(self, now: float, message: Request | Response | None) -> None:
        pass

    def _deliver_message(self, now: float, message: Request | Response | None) -> None:
        self._deliver(message)

    def _fail_transport(self, now: float, message: Request | Response | None) -> None:
        self._effects.append(Timeout(self.id, "transport"))

    def _end(self, now: float, message: Request | Response | None) -> None:
        pass


# --- client transactions (RFC 3261 17.1) ----------------------------------------------------


class ClientTransaction(Transaction):
    def start(self, now: float) -> list[Effect]:
        """Send the request and arm the timers (the machine's entry action)."""
        self._effects = []
        self._send(self.request)
        self._arm(now)
        return self._effects

    def _arm(self, now: float) -> None:
        raise NotImplementedError

    def receive(self, response: Response, now: float) -> list[Effect]:
        event = _classify(response.status)
        if (self.state, event) not in self.TABLE:
            log.info("%s %s: dropping %s in %s", type(self).__name__, self.id, response, self.state.value)
            return []
        return self._fire(event, now, response)

    def _timeout(self, now: float, message: Request | Response | None) -> None:
        self._effects.append(Timeout(self.id, "B" if self.method == "INVITE" else "F"))

    def _retransmit(self, now: float, message: Request | Response | None) -> None:
        self._send(self.request)


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.1 (Figure 5) with RFC 6026's Accepted state."""

    INITIAL = S.CALLING
    TABLE: ClassVar[Table] = {
        (S.CALLING, "timer_A"): (S.CALLING, "retransmit_a"),
        (S.CALLING, "timer_B"): (S.TERMINATED, "timeout"),
        (S.CALLING, "1xx"): (S.PROCEEDING, "provisional"),
        (S.CALLING, "2xx"): (S.ACCEPTED, "accept"),
        (S.CALLING, "final"): (S.COMPLETED, "complete"),
        (S.CALLING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.PROCEEDING, "1xx"): (S.PROCEEDING, "deliver_message"),
        (S.PROCEEDING, "2xx"): (S.ACCEPTED, "accept"),
        (S.PROCEEDING, "final"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.COMPLETED, "final"): (S.COMPLETED, "send_ack"),  # 17.1.1.2: retransmitted final -> ACK again
        (S.COMPLETED, "1xx"): (S.COMPLETED, "ignore"),
        (S.COMPLETED, "2xx"): (S.COMPLETED, "ignore"),
        (S.COMPLETED, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.COMPLETED, "timer_D"): (S.TERMINATED, "end"),
        (S.ACCEPTED, "2xx"): (S.ACCEPTED, "deliver_message"),  # RFC 6026 7.2: to the TU, which re-ACKs
        (S.ACCEPTED, "1xx"): (S.ACCEPTED, "ignore"),
        (S.ACCEPTED, "final"): (S.ACCEPTED, "ignore"),
        (S.ACCEPTED, "timer_M"): (S.TERMINATED, "end"),
    }

    def _arm(self, now: float) -> None:
        if not self.reliable:
            self._interval["A"] = self.timers.t1
            self._start("A", self.timers.t1, now)
        self._start("B", 64 * self.timers.t1, now)

    def _retransmit_a(self, now: float, message: Request | Response | None) -> None:
        # 17.1.1.2: Timer A doubles each time; unlike Timer E it is not capped at T2.
        self._send(self.request)
        self._backoff("A", now, None)

    def _provisional(self, now: float, message: Request | Response | None) -> None:
        self._cancel("A")
        self._cancel("B")
        self._deliver(message)

    def _accept(self, now: float, message: Request | Response | None) -> None:
        self._cancel("A")
        self._cancel("B")
        self._deliver(message)
        self._start("M", 64 * self.timers.t1, now)

    def _complete(self, now: float, message: Request | Response | None) -> None:
        assert isinstance(message, Response)
        self._cancel("A")
        self._cancel("B")
        self.last_response = message
        self._deliver(message)
        self._send(make_ack(self.request, message))
        self._start("D", 0.0 if self.reliable else self.timers.d, now)

    def _send_ack(self, now: float, message: Request | Response | None) -> None:
        assert isinstance(message, Response)
        self._send(make_ack(self.request, message))


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 17.1.2 (Figure 6)."""

    INITIAL = S.TRYING
    TABLE: ClassVar[Table] = {
        (S.TRYING, "timer_E"): (S.TRYING, "retransmit_e"),
        (S.TRYING, "timer_F"): (S.TERMINATED, "timeout"),
        (S.TRYING, "1xx"): (S.PROCEEDING, "deliver_message"),
        (S.TRYING, "2xx"): (S.COMPLETED, "complete"),
        (S.TRYING, "final"): (S.COMPLETED, "complete"),
        (S.TRYING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.PROCEEDING, "timer_E"): (S.PROCEEDING, "retransmit_e"),
        (S.PROCEEDING, "timer_F"): (S.TERMINATED, "timeout"),
        (S.PROCEEDING, "1xx"): (S.PROCEEDING, "deliver_message"),
        (S.PROCEEDING, "2xx"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "final"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.COMPLETED, "1xx"): (S.COMPLETED, "ignore"),
        (S.COMPLETED, "2xx"): (S.COMPLETED, "ignore"),
        (S.COMPLETED, "final"): (S.COMPLETED, "ignore"),
        (S.COMPLETED, "timer_K"): (S.TERMINATED, "end"),
    }

    def _arm(self, now: float) -> None:
        if not self.reliable:
            self._interval["E"] = self.timers.t1
            self._start("E", self.timers.t1, now)
        self._start("F", 64 * self.timers.t1, now)

    def _retransmit_e(self, now: float, message: Request | Response | None) -> None:
        # 17.1.2.2: in Trying E doubles up to T2; in Proceeding it is T2.
        self._send(self.request)
        if self.state is S.PROCEEDING:
            self._interval["E"] = self.timers.t2
            self._start("E", self.timers.t2, now)
        else:
            self._backoff("E", now, self.timers.t2)

    def _complete(self, now: float, message: Request | Response | None) -> None:
        assert isinstance(message, Response)
        self._cancel("E")
        self._cancel("F")
        self.last_response = message
        self._deliver(message)
        self._start("K", 0.0 if self.reliable else self.timers.t4, now)


# --- server transactions (RFC 3261 17.2) ----------------------------------------------------


class ServerTransaction(Transaction):
    def receive(self, request: Request, now: float) -> list[Effect]:
        event = "ack" if request.method == "ACK" else "request"
        if (self.state, event) not in self.TABLE:
            log.info("%s %s: dropping %s in %s", type(self).__name__, self.id, request, self.state.value)
            return []
        return self._fire(event, now, request)

    def respond(self, response: Response, now: float) -> list[Effect]:
        """Send a response from the TU (raises InvalidTransition when not allowed now)."""
        return self._fire("tu_" + _classify(response.status), now, response)

    def _send_response(self, now: float, message: Request | Response | None) -> None:
        assert isinstance(message, Response)
        self.last_response = message
        self._send(message)

    def _resend_last(self, now: float, message: Request | Response | None) -> None:
        if self.last_response is not None:
            self._send(self.last_response)


class InviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.1 (Figure 7) with RFC 6026's Accepted state."""

    INITIAL = S.PROCEEDING
    TABLE: ClassVar[Table] = {
        (S.PROCEEDING, "request"): (S.PROCEEDING, "resend_last"),
        (S.PROCEEDING, "ack"): (S.PROCEEDING, "ignore"),  # nothing to acknowledge yet
        (S.PROCEEDING, "tu_1xx"): (S.PROCEEDING, "send_response"),
        (S.PROCEEDING, "tu_2xx"): (S.ACCEPTED, "accept"),
        (S.PROCEEDING, "tu_final"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.COMPLETED, "request"): (S.COMPLETED, "resend_last"),
        (S.COMPLETED, "timer_G"): (S.COMPLETED, "retransmit_g"),
        (S.COMPLETED, "ack"): (S.CONFIRMED, "confirm"),
        (S.COMPLETED, "timer_H"): (S.TERMINATED, "timeout_h"),
        (S.COMPLETED, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.CONFIRMED, "request"): (S.CONFIRMED, "ignore"),
        (S.CONFIRMED, "ack"): (S.CONFIRMED, "ignore"),
        (S.CONFIRMED, "timer_I"): (S.TERMINATED, "end"),
        (S.ACCEPTED, "request"): (S.ACCEPTED, "ignore"),  # RFC 6026 8.7: absorb INVITE retransmissions
        (S.ACCEPTED, "tu_2xx"): (S.ACCEPTED, "accept"),
        (S.ACCEPTED, "timer_G"): (S.ACCEPTED, "retransmit_g"),
        (S.ACCEPTED, "ack"): (S.ACCEPTED, "ack_2xx"),
        (S.ACCEPTED, "timer_L"): (S.TERMINATED, "end_accepted"),
        (S.ACCEPTED, "transport_error"): (S.ACCEPTED, "ignore"),
    }

    acked = False  # the ACK for our 2xx arrived (Accepted state)

    def _complete(self, now: float, message: Request | Response | None) -> None:
        self._send_response(now, message)
        if not self.reliable:
            self._interval["G"] = self.timers.t1
            self._start("G", self.timers.t1, now)
        self._start("H", 64 * self.timers.t1, now)

    def _retransmit_g(self, now: float, message: Request | Response | None) -> None:
        # 17.2.1 / 13.3.1.4: the response is resent at T1, 2T1, ... capped at T2.
        self._resend_last(now, None)
        self._backoff("G", now, self.timers.t2)

    def _confirm(self, now: float, message: Request | Response | None) -> None:
        self._cancel("G")
        self._cancel("H")
        self._start("I", 0.0 if self.reliable else self.timers.t4, now)

    def _timeout_h(self, now: float, message: Request | Response | None) -> None:
        self._effects.append(Timeout(self.id, "H"))

    def _accept(self, now: float, message: Request | Response | None) -> None:
        self._send_response(now, message)
        if "L" not in self._running:
            self._start("L", 64 * self.timers.t1, now)
        if not self.reliable and not self.acked and "G" not in self._running:
            self._interval["G"] = self.timers.t1
            self._start("G", self.timers.t1, now)

    def _ack_2xx(self, now: float, message: Request | Response | None) -> None:
        if not self.acked:
            self.acked = True
            self._cancel("G")
        self._deliver(message)

    def _end_accepted(self, now: float, message: Request | Response | None) -> None:
        # RFC 3261 13.3.1.4: no ACK within 64*T1 -> the TU should end the session.
        if not self.acked and not self.reliable:
            self._effects.append(Timeout(self.id, "L"))


class NonInviteServerTransaction(ServerTransaction):
    """RFC 3261 17.2.2 (Figure 8)."""

    INITIAL = S.TRYING
    TABLE: ClassVar[Table] = {
        (S.TRYING, "request"): (S.TRYING, "ignore"),
        (S.TRYING, "tu_1xx"): (S.PROCEEDING, "send_response"),
        (S.TRYING, "tu_2xx"): (S.COMPLETED, "complete"),
        (S.TRYING, "tu_final"): (S.COMPLETED, "complete"),
        (S.TRYING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.PROCEEDING, "request"): (S.PROCEEDING, "resend_last"),
        (S.PROCEEDING, "tu_1xx"): (S.PROCEEDING, "send_response"),
        (S.PROCEEDING, "tu_2xx"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "tu_final"): (S.COMPLETED, "complete"),
        (S.PROCEEDING, "transport_error"): (S.TERMINATED, "fail_transport"),
        (S.COMPLETED, "request"): (S.COMPLETED, "resend_last"),
        (S.COMPLETED, "timer_J"): (S.TERMINATED, "end"),
        (S.COMPLETED, "transport_error"): (S.TERMINATED, "fail_transport"),
    }

    def _complete(self, now: float, message: Request | Response | None) -> None:
        self._send_response(now, message)
        self._start("J", 0.0 if self.reliable else 64 * self.timers.t1, now)


# --- requests the transaction layer builds ----------------------------------------------------


def make_ack(invite: Request, response: Response) -> Request:
    """The ACK for a non-2xx final response (RFC 3261 17.1.1.3): Request-URI, Call-ID,
    From, CSeq number and the top Via of the INVITE, To of the response, its Routes."""
    headers = [Header.make("Via", split_list(invite.get_all("Via")[0])[0])]
    headers.append(Header.make("Max-Forwards", "70"))
    headers += [Header.make("Route", value) for value in invite.get_all("Route")]
    headers += [
        Header.make("From", invite["From"]),
        Header.make("To", response["To"]),
        Header.make("Call-ID", invite.call_id),
        Header.make("CSeq", f"{invite.cseq.number} ACK"),
        Header.make("Content-Length", "0"),
    ]
    return Request(method="ACK", uri=invite.uri, headers=tuple(headers))


def make_cancel(invite: Request) -> Request:
    """CANCEL for a pending INVITE (RFC 3261 9.1): same Request-URI, Call-ID, To,
    From, CSeq number and top Via (so the same branch), the same Route headers."""
    headers = [Header.make("Via", split_list(invite.get_all("Via")[0])[0])]
    headers.append(Header.make("Max-Forwards", "70"))
    headers += [Header.make("Route", value) for value in invite.get_all("Route")]
    headers += [
        Header.make("From", invite["From"]),
        Header.make("To", invite["To"]),
        Header.make("Call-ID", invite.call_id),
        Header.make("CSeq", f"{invite.cseq.number} CANCEL"),
        Header.make("Content-Length", "0"),
    ]
    return Request(method="CANCEL", uri=invite.uri, headers=tuple(headers))


def stamp_via(request: Request, source: Address) -> Request:
    """RFC 3261 18.2.1 and RFC 3581 4: note where the request really came from in its
    top Via (`received` when the sent-by host differs, `rport` filled in)."""
    via = request.top_via
    changed = via
    if via.host.strip("[]").lower() != source[0].lower():
        changed = changed.with_param("received", source[0])
    if via.wants_rport:
        changed = changed.with_param("received", source[0]).with_param("rport", str(source[1]))
    if changed is via:
        return request
    values = split_list(request.get_all("Via")[0])
    value = ", ".join([str(changed), *values[1:]])
    out: list[Header] = []
    done = False
    for header in request.headers:
        if header.key == "via" and not done:
            out.append(Header(header.key, header.name, value, None))
            done = True
        else:
            out.append(header)
    stamped = Request(
        method=request.method, uri=request.uri, version=request.version, headers=tuple(out), body=request.body
    )
    # Keep what was parsed already; only the Via views change.
    stamped._cache.update((k, v) for k, v in request._cache.items() if k not in ("via", "topvia", "#index"))
    stamped._cache["topvia"] = changed
    return stamped


def response_address(via: Via, source: Address, reliable: bool) -> Address:
    """Where responses go (RFC 3261 18.2.2, RFC 3581 4)."""
    if reliable:
        return source  # back over the same connection
    if via.maddr:
        return (via.maddr, via.port or 5060)
    if via.wants_rport:
        return source
    return (via.received or source[0], via.port or (5061 if via.transport == "TLS" else 5060))


# --- the layer: matching and bookkeeping ---------------------------------------------------------


class NoTransaction(SipError):
    """The TU named a transaction that does not exist (any more)."""


def client_key(branch: str | None, method: str) -> tuple[str, ...]:
    """RFC 3261 17.1.3: top Via branch and CSeq method identify a client transaction."""
    return ("c", branch or "", method)


def server_key(request: Request) -> tuple[str, ...]:
    """RFC 3261 17.2.3.  With the magic cookie: branch, sent-by and method (ACK counts as
    INVITE).  Without (RFC 2543): Request-URI, From tag, Call-ID, CSeq number, top Via and
    method; the To tag is checked separately (`_same_2543_dialog`)."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    if via.has_cookie:
        host, port = via.sent_by
        return ("s", via.branch or "", host, str(port or ""), method)
    return (
        "2543",
        request.uri,
        request.from_tag or "",
        request.call_id,
        str(request.cseq.number),
        str(via),
        method,
    )


class TransactionLayer:
    """All live transactions of one SIP stack, keyed for matching.

    `send_request` starts a client transaction, `receive` routes a received
    message (creating server transactions for new requests), `respond` sends a
    TU response through its server transaction, `on_timer` / `transport_error`
    feed the rest.  Each returns effects; Terminated transactions are dropped
    from the tables before the effects are returned.
    """

    def __init__(self, timers: TimerConfig | None = None, *, send_trying: bool = True) -> None:
        self.timers = timers or TimerConfig()
        self.send_trying = send_trying  # 17.2.1: answer INVITEs with 100 Trying at once
        self._by_id: dict[str, Transaction] = {}
        self._client: dict[tuple[str, ...], ClientTransaction] = {}
        self._server: dict[tuple[str, ...], ServerTransaction] = {}
        self._accepted: dict[tuple[str, int, str], InviteServerTransaction] = {}
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, txn: str) -> Transaction | None:
        return self._by_id.get(txn)

    def send_request(
        self, request: Request, addr: Address, now: float, *, reliable: bool = False
    ) -> tuple[str, list[Effect]]:
        """Start a client transaction for `request` (not ACK: 17.1.1.3 / 13.2.2.4)."""
        if request.method == "ACK":
            raise ValueError("an ACK is sent outside any transaction")
        cls = InviteClientTransaction if request.method == "INVITE" else NonInviteClientTransaction
        key = client_key(request.top_via.branch, request.cseq.method)
        if key in self._client:
            raise ValueError(f"a client transaction with branch {key[1]!r} exists already")
        txn = cls(f"c{next(self._ids)}", request, addr, reliable, self.timers, key)
        self._client[key] = txn
        self._by_id[txn.id] = txn
        return txn.id, self._after(txn, txn.start(now))

    def receive(
        self, message: Request | Response, addr: Address, now: float, *, reliable: bool = False
    ) -> list[Effect]:
        """Route a received (already validated) message."""
        try:
            if isinstance(message, Response):
                return self._receive_response(message, now)
            return self._receive_request(message, addr, now, reliable)
        except ParseError as exc:
            log.info("dropping unmatchable %r: %s", message, exc)
            return []

    def _receive_response(self, response: Response, now: float) -> list[Effect]:
        client = self._client.get(client_key(response.top_via.branch, response.cseq.method))
        if client is None:
            return [Deliver(response, None)]  # 17.1.3: no match -> to the core (strays, 2xx retransmits)
        return self._after(client, client.receive(response, now))

    def _receive_request(self, request: Request, addr: Address, now: float, reliable: bool) -> list[Effect]:
        key = server_key(request)
        request = stamp_via(request, addr)
        server = self._server.get(key)
        if server is not None and key[0] == "2543" and not _same_2543_dialog(server, request):
            server = None
        if server is not None:
            return self._after(server, server.receive(request, now))
        if request.method == "ACK":
            accepted = self._accepted.get((request.call_id, request.cseq.number, request.from_tag or ""))
            if accepted is not None:
                return self._after(accepted, accepted.receive(request, now))
            return [Deliver(request, None)]  # ACK for a 2xx: the dialog's business (13.3.1.4)
        cls = InviteServerTransaction if request.method == "INVITE" else NonInviteServerTransaction
        source = response_address(request.top_via, addr, reliable)
        txn = cls(f"s{next(self._ids)}", request, source, reliable, self.timers, key)
        self._server[key] = txn
        self._by_id[txn.id] = txn
        cancels = None
        if request.method == "CANCEL":
            # RFC 3261 9.2: the CANCEL matches the INVITE it cancels by the 17.2.3 rules.
            target = self._server.get((*key[:-1], "INVITE"))
            cancels = target.id if target is not None and not target.terminated else None
        effects: list[Effect] = []
        if request.method == "INVITE" and self.send_trying:
            effects += txn.respond(make_response(request, 100), now)  # before the TU can answer
        effects.append(Deliver(request, txn.id, cancels))
        return self._after(txn, effects)

    def respond(self, txn: str, response: Response, now: float) -> list[Effect]:
        """Send the TU's response through server transaction `txn`."""
        server = self._by_id.get(txn)
        if not isinstance(server, ServerTransaction):
            raise NoTransaction(f"no server transaction {txn}")
        return self._after(server, server.respond(response, now))

    def on_timer(self, txn: str, name: str, now: float) -> list[Effect]:
        found = self._by_id.get(txn)
        return [] if found is None else self._after(found, found.on_timer(name, now))

    def transport_error(self, txn: str, now: float) -> list[Effect]:
        found = self._by_id.get(txn)
        return [] if found is None else self._after(found, found.transport_error(now))

    def find_server(self, request: Request) -> str | None:
        """The server transaction a request belongs to (e.g. the INVITE for a CANCEL's key)."""
        found = self._server.get(server_key(request))
        return found.id if found is not None else None

    def _after(self, txn: Transaction, effects: list[Effect]) -> list[Effect]:
        if isinstance(txn, InviteServerTransaction):
            dialog_key = (txn.request.call_id, txn.request.cseq.number, txn.request.from_tag or "")
            if txn.state is State.ACCEPTED:
                self._accepted[dialog_key] = txn
            elif self._accepted.get(dialog_key) is txn:
                del self._accepted[dialog_key]
        if txn.terminated:
            self._by_id.pop(txn.id, None)
            if isinstance(txn, ClientTransaction):
                self._client.pop(txn.key, None)
            elif self._server.get(txn.key) is txn:
                del self._server[txn.key]
        return effects


def _same_2543_dialog(txn: ServerTransaction, request: Request) -> bool:
    """RFC 3261 17.2.3: an RFC 2543 ACK matches if its To tag is the one we responded
    with; a retransmitted INVITE if its To tag is the original's."""
    if request.method == "ACK":
        sent = txn.last_response.to_tag if txn.last_response is not None else None
        return request.to_tag == sent
    return request.to_tag == txn.request.to_tag
