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
import logging
from dataclasses import dataclass
from typing import ClassVar

from switchcore.errors import InvalidTransition

from .message import Request, Response

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


# The table and the requests it builds live in transaction_layer.py; importable from here too.
from .transaction_layer import (  # noqa: E402
    NoTransaction,
    TransactionLayer,
    client_key,
    make_ack,
    make_cancel,
    response_address,
    server_key,
    stamp_via,
)

__all__ = [
    "CancelTimer",
    "ClientTransaction",
    "Deliver",
    "InviteClientTransaction",
    "InviteServerTransaction",
    "NoTransaction",
    "NonInviteClientTransaction",
    "NonInviteServerTransaction",
    "Send",
    "ServerTransaction",
    "StartTimer",
    "State",
    "Terminated",
    "Timeout",
    "TimerConfig",
    "Transaction",
    "TransactionLayer",
    "client_key",
    "make_ack",
    "make_cancel",
    "response_address",
    "server_key",
    "stamp_via",
]
