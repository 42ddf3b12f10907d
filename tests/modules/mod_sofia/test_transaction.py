"""RFC 3261 17 transactions with a fake clock: every state, timer, stray and late message."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.mod_sofia.message import Request, Response, make_response, parse_message
from modules.mod_sofia.transaction import (
    CancelTimer,
    Deliver,
    Effect,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    NoTransaction,
    Send,
    StartTimer,
    State,
    Terminated,
    Timeout,
    TimerConfig,
    TransactionLayer,
    make_ack,
    make_cancel,
    response_address,
    stamp_via,
)
from switchcore.errors import InvalidTransition

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sip"
# shared/ sits beside the repository (here /work/shared, in CI beside the clone).
TORTURE = next(
    (
        p
        for p in (
            Path(__file__).resolve().parents[4] / "shared" / "vectors" / "rfc4475",
            Path("/work/shared/vectors/rfc4475"),
        )
        if p.is_dir()
    ),
    Path("/work/shared/vectors/rfc4475"),
)
PEER = ("192.0.2.50", 5060)


class Harness:
    """A fake I/O loop: runs the layer's effects against a fake clock."""

    def __init__(
        self, reliable: bool = False, timers: TimerConfig | None = None, send_trying: bool = True
    ) -> None:
        self.layer = TransactionLayer(timers, send_trying=send_trying)
        self.reliable = reliable
        self.now = 0.0
        self.timers: dict[tuple[str, str], float] = {}
        self.effects: list[Effect] = []

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, StartTimer):
                assert (effect.txn, effect.name) not in self.timers, f"timer {effect.name} started twice"
                self.timers[(effect.txn, effect.name)] = self.now + effect.delay
            elif isinstance(effect, CancelTimer):
                del self.timers[(effect.txn, effect.name)]
            elif isinstance(effect, Terminated):
                assert not [k for k in self.timers if k[0] == effect.txn], (
                    "timers left running at termination"
                )
        self.effects += effects
        return effects

    def advance(self, until: float) -> None:
        while True:
            due = [(t, k) for k, t in self.timers.items() if t <= until]
            if not due:
                break
            deadline, (txn, name) = min(due)
            del self.timers[(txn, name)]
            self.now = deadline
            self.apply(self.layer.on_timer(txn, name, self.now))
        self.now = until

    def send(self, request: Request) -> str:
        txn, effects = self.layer.send_request(request, PEER, self.now, reliable=self.reliable)
        self.apply(effects)
        return txn

    def receive(self, message: Request | Response) -> list[Effect]:
        return self.apply(self.layer.receive(message, PEER, self.now, reliable=self.reliable))

    def respond(self, txn: str, response: Response) -> list[Effect]:
        return self.apply(self.layer.respond(txn, response, self.now))

    def sent(self) -> list[Request | Response]:
        return [e.message for e in self.effects if isinstance(e, Send)]

    def of(self, kind: type) -> list[Effect]:
        return [e for e in self.effects if isinstance(e, kind)]

    def clear(self) -> None:
        self.effects = []


def invite() -> Request:
    return Request.parse((VECTORS / "rfc3665_3_1_f1_invite.sip").read_bytes())


def options() -> Request:
    return Request.parse((VECTORS / "rfc3261_24_1_options.sip").read_bytes())


def reply(request: Request, status: int, tag: str = "totag") -> Response:
    return make_response(request, status, to_tag=tag)


class Recorder(Harness):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.send_at: list[tuple[float, str]] = []

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for effect in effects:
            if isinstance(effect, Send):
                m = effect.message
                self.send_at.append((self.now, m.method if isinstance(m, Request) else str(m.status)))
        return super().apply(effects)

    def times(self, what: str) -> list[float]:
        return [round(t, 3) for t, w in self.send_at if w == what]


@pytest.mark.parametrize(
    ("machine", "events"),
    [
        (InviteClientTransaction, ("1xx", "2xx", "final")),
        (NonInviteClientTransaction, ("1xx", "2xx", "final")),
        (InviteServerTransaction, ("request", "ack")),
        (NonInviteServerTransaction, ("request",)),
    ],
)
def test_every_live_state_says_what_a_late_or_stray_message_does(
    machine: type, events: tuple[str, ...]
) -> None:
    # RFC 3261 17: each state absorbs, forwards or acts on every message the network can send it.
    states = {state for state, _ in machine.TABLE}
    assert State.TERMINATED not in states
    for state in states:
        for event in events:
            assert (state, event) in machine.TABLE, (state, event)
    targets = {target for target, _ in machine.TABLE.values()}
    assert State.TERMINATED in targets and states | {State.TERMINATED} >= targets


# --- INVITE client (17.1.1) -----------------------------------------------------------------


def test_invite_client_retransmits_until_timer_b() -> None:
    h = Recorder()
    txn = h.send(invite())
    h.advance(40.0)
    # Timer A: 0.5, 1, 2, 4, 8, 16 (doubling, no T2 cap); Timer B = 64*T1 = 32 s.
    assert h.times("INVITE") == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert h.of(Timeout) == [Timeout(txn, "B")]
    assert h.of(Terminated) == [Terminated(txn)]
    assert len(h.layer) == 0 and h.timers == {}


def test_invite_client_on_reliable_transport_does_not_retransmit() -> None:
    h = Recorder(reliable=True)
    h.send(invite())
    h.advance(40.0)
    assert h.times("INVITE") == [0.0]
    assert len(h.of(Timeout)) == 1


def test_invite_client_provisional_stops_retransmissions_and_timer_b() -> None:
    h = Recorder()
    request = invite()
    txn = h.send(request)
    h.advance(0.7)
    h.receive(reply(request, 180))
    assert h.layer.get(txn).state is State.PROCEEDING  # type: ignore[union-attr]
    assert [e.message.status for e in h.of(Deliver)] == [180]  # type: ignore[union-attr]
    h.advance(100.0)
    assert h.times("INVITE") == [0.0, 0.5]
    assert h.of(Timeout) == [] and h.timers == {}
    h.receive(reply(request, 183))
    assert [e.message.status for e in h.of(Deliver)] == [180, 183]  # type: ignore[union-attr]


def test_invite_client_2xx_goes_to_accepted_and_passes_retransmissions_up() -> None:
    h = Recorder()
    request = invite()
    txn = h.send(request)
    h.receive(reply(request, 180))
    ok = reply(request, 200)
    h.receive(ok)
    assert h.layer.get(txn).state is State.ACCEPTED  # type: ignore[union-attr]
    h.advance(5.0)
    h.receive(ok)  # RFC 6026: the retransmitted 2xx reaches the TU, which re-sends its ACK
    assert [e.message.status for e in h.of(Deliver)] == [180, 200, 200]  # type: ignore[union-attr]
    assert h.times("ACK") == []  # the transaction never ACKs a 2xx
    h.receive(reply(request, 486))  # a late non-2xx is absorbed
    assert len(h.of(Deliver)) == 3
    h.advance(32.0)  # Timer M = 64*T1 from the 2xx
    assert h.of(Terminated) == [Terminated(txn)] and len(h.layer) == 0
    h.clear()
    h.receive(ok)  # after Accepted ends, a 2xx is a stray for the core
    assert h.of(Deliver) == [Deliver(ok, None)]


def test_invite_client_non_2xx_final_is_acked_and_retransmissions_absorbed() -> None:
    h = Recorder()
    request = invite()
    txn = h.send(request)
    busy = reply(request, 486)
    h.receive(busy)
    assert [e.message.status for e in h.of(Deliver)] == [486]  # type: ignore[union-attr]
    acks = [m for m in h.sent() if isinstance(m, Request) and m.method == "ACK"]
    assert len(acks) == 1
    ack = acks[0]
    # RFC 3261 17.1.1.3: same Request-URI, branch, From, Call-ID, CSeq number; To of the response.
    assert ack.uri == request.uri and ack.top_via.branch == request.top_via.branch
    assert ack.from_tag == request.from_tag and ack.to_tag == "totag"
    assert (ack.cseq.number, ack.cseq.method) == (request.cseq.number, "ACK")
    h.advance(10.0)
    h.receive(busy)
    assert h.times("ACK") == [0.0, 10.0] and len(h.of(Deliver)) == 1
    h.receive(reply(request, 180))
    assert len(h.of(Deliver)) == 1
    assert h.layer.get(txn).state is State.COMPLETED  # type: ignore[union-attr]
    h.advance(32.0)  # Timer D = 32 s on UDP
    assert h.of(Terminated) == [Terminated(txn)]
    assert h.times("INVITE") == [0.0]


def test_invite_client_non_2xx_on_reliable_terminates_at_once() -> None:
    h = Recorder(reliable=True)
    request = invite()
    txn = h.send(request)
    h.receive(reply(request, 404))
    assert h.times("ACK") == [0.0]
    assert h.of(Terminated) == [Terminated(txn)] and len(h.layer) == 0


def test_invite_client_transport_error_reports_timeout() -> None:
    h = Harness()
    txn = h.send(invite())
    h.apply(h.layer.transport_error(txn, 0.1))
    assert h.of(Timeout) == [Timeout(txn, "transport")]
    assert h.of(Terminated) == [Terminated(txn)]


def test_custom_t1_scales_the_timers() -> None:
    h = Recorder(timers=TimerConfig(t1=0.1))
    h.send(invite())
    h.advance(10.0)
    assert h.times("INVITE") == [0.0, 0.1, 0.3, 0.7, 1.5, 3.1, 6.3]  # B = 6.4 s
    assert h.of(Timeout)[0].reason == "B"  # type: ignore[union-attr]


# --- non-INVITE client (17.1.2) ----------------------------------------------------------------


def test_non_invite_client_retransmits_with_backoff_capped_at_t2_until_timer_f() -> None:
    h = Recorder()
    txn = h.send(options())
    h.advance(40.0)
    assert h.times("OPTIONS") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert h.of(Timeout) == [Timeout(txn, "F")]


def test_non_invite_client_provisional_switches_to_t2_interval() -> None:
    h = Recorder()
    request = options()
    h.send(request)
    h.advance(0.2)
    h.receive(reply(request, 100))
    h.advance(20.0)
    assert h.times("OPTIONS") == [0.0, 0.5, 4.5, 8.5, 12.5, 16.5]


def test_non_invite_client_final_waits_timer_k_absorbing_retransmissions() -> None:
    h = Recorder()
    request = options()
    txn = h.send(request)
    ok = reply(request, 200)
    h.advance(1.0)
    h.receive(ok)
    h.receive(ok)
    h.receive(reply(request, 180))
    assert [e.message for e in h.of(Deliver)] == [ok]  # type: ignore[union-attr]
    assert h.layer.get(txn).state is State.COMPLETED  # type: ignore[union-attr]
    h.advance(6.1)  # Timer K = T4 = 5 s after the final at 1 s
    assert h.of(Terminated) == [Terminated(txn)]
    assert h.times("OPTIONS") == [0.0, 0.5]


def test_non_invite_client_reliable_final_terminates_at_once() -> None:
    h = Harness(reliable=True)
    request = options()
    txn = h.send(request)
    h.receive(reply(request, 404))
    assert h.of(Terminated) == [Terminated(txn)] and h.timers == {}


def test_ack_is_never_sent_in_a_transaction() -> None:
    ack = Request.parse((VECTORS / "rfc3665_3_1_f4_ack.sip").read_bytes())
    with pytest.raises(ValueError):
        TransactionLayer().send_request(ack, PEER, 0.0)


def test_duplicate_client_branch_is_refused() -> None:
    layer = TransactionLayer()
    layer.send_request(options(), PEER, 0.0)
    with pytest.raises(ValueError):
        layer.send_request(options(), PEER, 0.0)


# --- INVITE server (17.2.1) ----------------------------------------------------------------------


def new_invite_server(h: Harness) -> tuple[str, Request]:
    request = invite()
    effects = h.receive(request)
    delivered = [e for e in effects if isinstance(e, Deliver)]
    assert len(delivered) == 1 and delivered[0].txn is not None
    return delivered[0].txn, request


def test_invite_server_sends_100_and_resends_last_provisional_on_retransmission() -> None:
    h = Recorder()
    txn, request = new_invite_server(h)
    assert h.times("100") == [0.0]
    h.advance(0.5)
    h.receive(request)
    assert h.times("100") == [0.0, 0.5]
    h.respond(txn, reply(request, 180))
    h.advance(1.0)
    h.receive(request)
    assert h.times("180") == [0.5, 1.0]
    assert len(h.of(Deliver)) == 1  # retransmissions never reach the TU


def test_invite_server_without_automatic_trying() -> None:
    h = Recorder(send_trying=False)
    txn, request = new_invite_server(h)
    h.receive(request)
    assert h.send_at == []


def test_invite_server_retransmits_non_2xx_until_ack_then_absorbs_acks() -> None:
    h = Recorder()
    txn, request = new_invite_server(h)
    busy = reply(request, 486)
    h.respond(txn, busy)
    h.advance(12.0)
    # Timer G: T1, 2T1, 4T1, then capped at T2 = 4 s
    assert h.times("486") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    ack = make_ack(request, busy)
    h.receive(ack)
    assert h.layer.get(txn).state is State.CONFIRMED  # type: ignore[union-attr]
    h.receive(ack)
    h.receive(request)
    h.advance(30.0)
    assert h.times("486") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]
    assert len(h.of(Deliver)) == 1  # the ACK for a non-2xx is absorbed by the transaction
    assert h.of(Terminated) == [Terminated(txn)]  # after Timer I = T4


def test_invite_server_timer_h_fires_without_ack() -> None:
    h = Recorder()
    txn, request = new_invite_server(h)
    h.respond(txn, reply(request, 603))
    h.advance(40.0)
    assert h.of(Timeout) == [Timeout(txn, "H")]
    assert h.times("603")[-1] == 31.5


def test_invite_server_reliable_ack_terminates_at_once() -> None:
    h = Recorder(reliable=True)
    txn, request = new_invite_server(h)
    busy = reply(request, 486)
    h.respond(txn, busy)
    h.advance(10.0)
    assert h.times("486") == [0.0]
    h.receive(make_ack(request, busy))
    assert h.of(Terminated) == [Terminated(txn)]


def test_invite_server_2xx_retransmitted_until_the_dialog_ack_arrives() -> None:
    h = Recorder()
    txn, request = new_invite_server(h)
    ok = reply(request, 200)
    h.respond(txn, ok)
    assert h.layer.get(txn).state is State.ACCEPTED  # type: ignore[union-attr]
    h.advance(2.0)
    h.receive(request)  # RFC 6026: retransmitted INVITE absorbed in Accepted
    assert h.times("200") == [0.0, 0.5, 1.5]
    ack = Request.parse((VECTORS / "rfc3665_3_1_f4_ack.sip").read_bytes())
    effects = h.receive(ack)  # its own branch; matched to the accepted INVITE by dialog
    assert [e for e in effects if isinstance(e, Deliver)][0].txn == txn
    h.advance(33.0)
    assert h.times("200") == [0.0, 0.5, 1.5]
    assert h.of(Timeout) == [] and h.of(Terminated) == [Terminated(txn)]  # Timer L = 64*T1
    h.clear()
    h.receive(ack)  # a late ACK for the 2xx goes to the core
    assert [(type(e), e.txn) for e in h.effects] == [(Deliver, None)]  # type: ignore[union-attr]


def test_invite_server_2xx_without_ack_reports_timeout_l() -> None:
    h = Recorder()
    txn, request = new_invite_server(h)
    h.respond(txn, reply(request, 200))
    h.advance(40.0)
    assert h.of(Timeout) == [Timeout(txn, "L")]
    assert h.times("200") == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]


def test_invite_server_tu_cannot_respond_after_final() -> None:
    h = Harness()
    txn, request = new_invite_server(h)
    h.respond(txn, reply(request, 486))
    with pytest.raises(InvalidTransition):
        h.respond(txn, reply(request, 200))
    with pytest.raises(NoTransaction):
        h.respond("s999", reply(request, 200))


# --- non-INVITE server (17.2.2) ------------------------------------------------------------------


def test_non_invite_server_absorbs_then_resends_final_until_timer_j() -> None:
    h = Recorder()
    request = options()
    txn = [e for e in h.receive(request) if isinstance(e, Deliver)][0].txn
    assert txn is not None
    h.receive(request)  # Trying: absorbed, nothing to resend
    assert h.send_at == []
    h.respond(txn, reply(request, 200))
    h.advance(3.0)
    h.receive(request)
    assert h.times("200") == [0.0, 3.0]
    h.advance(40.0)
    assert h.of(Terminated) == [Terminated(txn)]  # Timer J = 64*T1 = 32 s
    assert len(h.of(Deliver)) == 1
    with pytest.raises(NoTransaction):
        h.respond(txn, reply(request, 200))


def test_non_invite_server_provisional_is_resent_on_retransmission() -> None:
    h = Recorder()
    request = options()
    txn = [e for e in h.receive(request) if isinstance(e, Deliver)][0].txn
    assert txn is not None
    h.respond(txn, reply(request, 100))
    h.receive(request)
    assert h.times("100") == [0.0, 0.0]


def test_non_invite_server_reliable_terminates_after_final() -> None:
    h = Harness(reliable=True)
    request = options()
    txn = [e for e in h.receive(request) if isinstance(e, Deliver)][0].txn
    assert txn is not None
    h.respond(txn, reply(request, 200))
    assert h.of(Terminated) == [Terminated(txn)]


def test_non_invite_server_rejects_second_final_from_tu() -> None:
    h = Harness()
    request = options()
    txn = [e for e in h.receive(request) if isinstance(e, Deliver)][0].txn
    assert txn is not None
    h.respond(txn, reply(request, 200))
    with pytest.raises(InvalidTransition):
        h.respond(txn, reply(request, 500))


# --- matching (17.1.3, 17.2.3, 9.2) -------------------------------------------------------------


def test_cancel_matches_the_pending_invite_server_transaction() -> None:
    h = Harness()
    invite_txn, request = new_invite_server(h)
    cancel = make_cancel(request)
    delivered = [e for e in h.receive(cancel) if isinstance(e, Deliver)]
    assert delivered[0].cancels == invite_txn and delivered[0].txn != invite_txn
    other = make_cancel(
        request.replace_header("Via", "SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bKzz")
    )
    assert [e for e in h.receive(other) if isinstance(e, Deliver)][0].cancels is None


def test_same_branch_from_a_different_sent_by_is_another_transaction() -> None:
    h = Harness()
    first, request = new_invite_server(h)
    spoofed = request.replace_header("Via", "SIP/2.0/TCP other.example.com:5060;branch=z9hG4bK74bf9")
    delivered = [e for e in h.receive(spoofed) if isinstance(e, Deliver)]
    assert delivered[0].txn not in (None, first)
    assert len(h.layer) == 2


def test_rfc2543_fallback_matching_without_magic_cookie() -> None:
    h = Recorder()
    request = invite().replace_header("Via", "SIP/2.0/UDP old.example.com:5060;branch=1234")
    txn = [e for e in h.receive(request) if isinstance(e, Deliver)][0].txn
    assert txn is not None
    h.receive(request)  # retransmission matched by R-URI/From tag/Call-ID/CSeq/Via
    assert len(h.layer) == 1 and h.times("100") == [0.0, 0.0]
    busy = reply(request, 486, tag="srv")
    h.respond(txn, busy)
    wrong = make_ack(request, reply(request, 486, tag="other"))
    assert [type(e) for e in h.receive(wrong)] == [Deliver]  # To tag differs: not ours
    h.receive(make_ack(request, busy))
    assert h.layer.get(txn).state is State.CONFIRMED  # type: ignore[union-attr]


def test_responses_match_by_branch_and_cseq_method() -> None:
    h = Harness()
    request = invite()
    invite_txn = h.send(request)
    h.receive(reply(request, 180))
    cancel = make_cancel(request)
    cancel_txn = h.send(cancel)
    h.clear()
    h.receive(reply(cancel, 200))
    h.receive(reply(request, 487))
    assert [(e.txn, e.message.status) for e in h.of(Deliver)] == [  # type: ignore[union-attr]
        (cancel_txn, 200),
        (invite_txn, 487),
    ]


def test_stray_and_torture_responses_get_no_answer() -> None:
    h = Harness()
    for name in ("unreason.dat", "noreason.dat"):
        response = parse_message((TORTURE / name).read_bytes())
        effects = h.receive(response)
        assert [type(e) for e in effects] == [Deliver] and effects[0].txn is None  # type: ignore[union-attr]
    assert h.sent() == [] and len(h.layer) == 0


def test_stale_timer_firing_is_ignored() -> None:
    h = Harness()
    request = options()
    txn = h.send(request)
    h.receive(reply(request, 200))
    assert h.layer.on_timer(txn, "E", 0.5) == []  # E was cancelled by the final response
    assert h.layer.on_timer(txn, "K", 1.0) == []  # K not due before 5 s
    assert h.layer.on_timer("c999", "K", 9.0) == []


def test_stamp_via_adds_received_and_rport() -> None:
    request = Request.parse((VECTORS / "compact_forms.sip").read_bytes())
    stamped = stamp_via(request, ("203.0.113.9", 40000))
    via = stamped.top_via
    assert via.received == "203.0.113.9" and via.rport == 40000
    assert [v.host for v in stamped.vias] == ["192.0.2.20", "[2001:db8::20]"]
    same = options()
    assert stamp_via(same, ("pc33.atlanta.com", 5060)) is same


def test_response_address_rules() -> None:
    via = Request.parse((VECTORS / "compact_forms.sip").read_bytes()).top_via
    assert response_address(via, ("203.0.113.9", 40000), False) == ("203.0.113.9", 40000)  # rport
    plain = options().top_via
    assert response_address(plain, ("198.51.100.1", 6000), False) == ("198.51.100.1", 5060)
    assert response_address(plain, ("198.51.100.1", 6000), True) == ("198.51.100.1", 6000)
    maddr = plain.with_param("maddr", "224.0.1.75")
    assert response_address(maddr, ("198.51.100.1", 6000), False) == ("224.0.1.75", 5060)


def test_server_transaction_sends_to_the_source_via_rport() -> None:
    h = Harness()
    request = Request.parse((VECTORS / "compact_forms.sip").read_bytes())
    effects = h.apply(h.layer.receive(request, ("203.0.113.9", 40000), 0.0))
    sends = [e for e in effects if isinstance(e, Send)]
    assert sends[0].addr == ("203.0.113.9", 40000)
    assert sends[0].message.top_via.rport == 40000  # the 100 Trying echoes the stamped Via
