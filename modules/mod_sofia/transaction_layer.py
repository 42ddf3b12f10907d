"""The transaction table (RFC 3261 17.1.3 / 17.2.3 matching, 9.2 CANCEL) and the requests it builds.

`TransactionLayer` holds the machines of `transaction.py` and matches messages
to them: responses by branch and method (17.1.3), requests by branch and
sent-by, with the RFC 2543 fallback when the branch lacks the magic cookie
(17.2.3), and CANCEL to the INVITE it cancels (9.2).  Sans I/O like the
machines: every call takes `now` and returns effects.
"""

from __future__ import annotations

import itertools
import logging

from .headers import MAGIC_COOKIE, Header, Via, new_header, split_list
from .message import Request, Response, make_response, new_request, restamp_headers
from .transaction import (
    Address,
    ClientTransaction,
    Deliver,
    Effect,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    TimerConfig,
    Transaction,
)
from .uri import ParseError, SipError

log = logging.getLogger("modules.mod_sofia.transaction")


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


def stamp_via(request: Request, source: Address, *, fresh: bool = False) -> Request:
    """RFC 3261 18.2.1 and RFC 3581 4: note where the request really came from in its
    top Via (`received` when the sent-by host differs, `rport` filled in).

    `fresh`: nobody else holds `request` yet (the stack's, just validated), so the stamp
    goes into it and it is returned, instead of into a copy."""
    via = request.top_via
    wants_rport = via.wants_rport
    if not wants_rport and via.host.strip("[]").lower() == source[0].lower():
        return request
    changed = via.stamped(source[0], source[1] if wants_rport else None)
    first = request.headers_named("via")[0]
    values = split_list(first.value) if "," in first.value else ()
    value = str(changed) if len(values) <= 1 else ", ".join([str(changed), *values[1:]])
    stamped_first = new_header((first.key, first.name, value, None))
    headers = request.headers
    if headers[0] is first:  # the top Via is nearly always the first line
        out = (stamped_first, *headers[1:])
    else:
        out = tuple(stamped_first if header is first else header for header in headers)
    if fresh:
        restamp_headers(request, out)
        stamped = request
        cache = stamped._cache
    else:
        stamped = new_request(request.method, request.uri, request.version, out, request.body)
        # Keep what was parsed already; only the Via views change (and the index's Via lines).
        cache = stamped._cache
        cache.update(request._cache)
    cache.pop("via", None)
    cache["topvia"] = changed
    index = cache.get("#index")
    if index is not None:
        if fresh:
            index["via"][0] = stamped_first
        else:
            cache["#index"] = {**index, "via": [stamped_first, *index["via"][1:]]}
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
    branch = via.branch  # (`via.has_cookie` would look it up a second time)
    if branch is not None and branch.startswith(MAGIC_COOKIE):
        return ("s", branch, via.host.lower(), str(via.port or ""), method)
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
