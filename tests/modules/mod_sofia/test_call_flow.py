"""An in-memory UAC/UAS pair over a lossy fake network with a fake clock.

Every datagram is serialized, judged by `validate.check` and parsed again on the
far side, so the parser, validator, transaction layer and dialogs are exercised
together: INVITE / 100 / 180 / 200 / ACK / BYE / 200, with chosen losses that
only retransmissions (Timers A, G, E) can repair.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from modules.mod_sofia.dialog import Dialog, DialogId, DialogTable
from modules.mod_sofia.message import Request, Response, make_request, make_response
from modules.mod_sofia.transaction import (
    Address,
    CancelTimer,
    Deliver,
    Effect,
    Send,
    StartTimer,
    Terminated,
    Timeout,
    TransactionLayer,
    make_cancel,
)
from modules.mod_sofia.uri import URI, NameAddr
from modules.mod_sofia.validate import check

UAC = ("192.0.2.1", 5060)
UAS = ("192.0.2.2", 5060)
DELAY = 0.01


@dataclass
class World:
    """Fake clock, event queue and a network that drops the datagrams `lose` picks."""

    lose: Callable[[str], bool]
    now: float = 0.0
    queue: list[tuple[float, int, Callable[[], None]]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)
    wire: list[tuple[float, str, bool]] = field(default_factory=list)
    nodes: dict[Address, Node] = field(default_factory=dict)

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (when, next(self.seq), action))

    def send(self, src: Address, dst: Address, data: bytes) -> None:
        label = data.split(b"\r\n", 1)[0].decode()
        lost = self.lose(label)
        self.wire.append((round(self.now, 3), label, lost))
        if not lost:
            self.at(self.now + DELAY, lambda: self.nodes[dst].datagram(data, src))

    def run(self, until: float) -> None:
        while self.queue and self.queue[0][0] <= until:
            when, _, action = heapq.heappop(self.queue)
            self.now = when
            action()
        self.now = until


class Node:
    def __init__(self, world: World, addr: Address) -> None:
        self.world = world
        self.addr = addr
        self.layer = TransactionLayer()
        self.dialogs = DialogTable()
        self.timers: dict[tuple[str, str], int] = {}
        self.log: list[str] = []
        world.nodes[addr] = self

    @property
    def via(self) -> str:
        return f"SIP/2.0/UDP {self.addr[0]}:{self.addr[1]};rport"

    def run(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.world.send(self.addr, effect.addr, bytes(effect.message))
            elif isinstance(effect, StartTimer):
                token = next(self.world.seq)
                self.timers[(effect.txn, effect.name)] = token
                self.world.at(
                    self.world.now + effect.delay,
                    lambda txn=effect.txn, name=effect.name, token=token: self.fire(txn, name, token),
                )
            elif isinstance(effect, CancelTimer):
                self.timers.pop((effect.txn, effect.name), None)
            elif isinstance(effect, Deliver):
                self.deliver(effect)
            elif isinstance(effect, Timeout):
                self.log.append(f"timeout {effect.reason}")
            elif isinstance(effect, Terminated):
                pass

    def fire(self, txn: str, name: str, token: int) -> None:
        if self.timers.get((txn, name)) == token:
            del self.timers[(txn, name)]
            self.run(self.layer.on_timer(txn, name, self.world.now))

    def datagram(self, data: bytes, src: Address) -> None:
        verdict = check(data)
        assert verdict.accepted, verdict.detail
        assert verdict.message is not None
        self.run(self.layer.receive(verdict.message, src, self.world.now))

    def raw_send(self, request: Request, dst: Address) -> None:
        self.world.send(self.addr, dst, bytes(request))

    def deliver(self, effect: Deliver) -> None:
        raise NotImplementedError


class Callee(Node):
    """Rings, answers after 1 s, answers BYE."""

    def deliver(self, effect: Deliver) -> None:
        msg = effect.message
        assert isinstance(msg, Request)
        self.log.append(f"got {msg.method}")
        txn = effect.txn
        if msg.method == "INVITE" and txn is not None:
            contact = NameAddr(URI.parse(f"sip:bob@{self.addr[0]}:{self.addr[1]}"))
            dialog = Dialog.from_uas(msg, "bob-tag", local_contact=contact, early=True)
            self.dialogs.add(dialog)
            self.run(self.layer.respond(txn, make_response(msg, 180, to_tag="bob-tag"), self.world.now))

            def answer() -> None:
                if dialog.terminated:  # cancelled meanwhile
                    return
                ok = make_response(
                    msg,
                    200,
                    to_tag="bob-tag",
                    headers=[("Contact", str(contact))],
                    body=b"v=0\r\n",
                    content_type="application/sdp",
                )
                dialog._event("2xx")
                self.run(self.layer.respond(txn, ok, self.world.now))

            self.world.at(self.world.now + 1.0, answer)
        elif msg.method == "BYE" and txn is not None:
            dialog = self.dialogs.for_request(msg)
            assert dialog is not None
            dialog.receive_request(msg)
            self.run(self.layer.respond(txn, make_response(msg, 200), self.world.now))
        elif msg.method == "CANCEL" and txn is not None:
            self.run(self.layer.respond(txn, make_response(msg, 200), self.world.now))
            if effect.cancels is not None:
                invite = self.layer.get(effect.cancels)
                assert invite is not None
                terminated = make_response(invite.request, 487, to_tag="bob-tag")
                dialog = self.dialogs.get(DialogId(msg.call_id, "bob-tag", msg.from_tag or ""))
                assert dialog is not None
                dialog.terminate()
                self.run(self.layer.respond(effect.cancels, terminated, self.world.now))


class Caller(Node):
    """Calls, ACKs every 2xx (retransmissions too), hangs up on request."""

    def __init__(self, world: World, addr: Address) -> None:
        super().__init__(world, addr)
        self.invite: Request | None = None
        self.dialog: Dialog | None = None
        self.statuses: list[int] = []

    def call(self) -> None:
        self.invite = make_request(
            "INVITE",
            "sip:bob@192.0.2.2",
            from_addr="Alice <sip:alice@192.0.2.1>;tag=alice-tag",
            to_addr="Bob <sip:bob@192.0.2.2>",
            call_id="call-1@192.0.2.1",
            cseq=1,
            via=f"{self.via};branch=z9hG4bK-invite-1",
            contact="<sip:alice@192.0.2.1:5060>",
            body=b"v=0\r\n",
            content_type="application/sdp",
        )
        _, effects = self.layer.send_request(self.invite, UAS, self.world.now)
        self.run(effects)

    def hang_up(self) -> None:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", self.via)
        _, effects = self.layer.send_request(bye, UAS, self.world.now)
        self.run(effects)

    def cancel(self) -> None:
        assert self.invite is not None
        _, effects = self.layer.send_request(make_cancel(self.invite), UAS, self.world.now)
        self.run(effects)

    def deliver(self, effect: Deliver) -> None:
        msg = effect.message
        assert isinstance(msg, Response) and self.invite is not None
        self.statuses.append(msg.status)
        if msg.cseq.method == "INVITE" and 101 <= msg.status < 300:
            if self.dialog is None:
                self.dialog = Dialog.from_uac(self.invite, msg)
            else:
                self.dialog.receive_response(msg)
            if msg.status >= 200:  # 13.2.2.4: the TU ACKs every 2xx, retransmissions included
                self.raw_send(self.dialog.create_ack(1, self.via, branch="z9hG4bK-ack-1"), UAS)
        elif msg.cseq.method == "BYE" and msg.status == 200 and self.dialog is not None:
            self.dialog.terminate()


def losing(*labels: str) -> Callable[[str], bool]:
    """Lose the first datagram whose first line starts with each label."""
    pending = list(labels)

    def lose(line: str) -> bool:
        for label in pending:
            if line.startswith(label):
                pending.remove(label)
                return True
        return False

    return lose


def call(lose: Callable[[str], bool]) -> tuple[World, Caller, Callee]:
    world = World(lose)
    caller, callee = Caller(world, UAC), Callee(world, UAS)
    world.at(0.0, caller.call)
    world.at(10.0, caller.hang_up)
    world.run(60.0)
    return world, caller, callee


def test_clean_call_completes_with_no_retransmissions() -> None:
    world, caller, callee = call(lambda line: False)
    lines = [line for _, line, _ in world.wire]
    assert lines == [
        "INVITE sip:bob@192.0.2.2 SIP/2.0",
        "SIP/2.0 100 Trying",
        "SIP/2.0 180 Ringing",
        "SIP/2.0 200 OK",
        "ACK sip:bob@192.0.2.2:5060 SIP/2.0",
        "BYE sip:bob@192.0.2.2:5060 SIP/2.0",
        "SIP/2.0 200 OK",
    ]
    assert caller.statuses == [100, 180, 200, 200]
    assert caller.dialog is not None and caller.dialog.terminated
    assert callee.log == ["got INVITE", "got ACK", "got BYE"]
    assert len(caller.layer) == 0 and len(callee.layer) == 0  # every transaction ended by its timers


@pytest.mark.parametrize(
    "lost",
    [
        ("INVITE",),
        ("SIP/2.0 200",),
        ("ACK",),
        ("BYE",),
        ("INVITE", "SIP/2.0 100", "SIP/2.0 180", "SIP/2.0 200", "ACK", "BYE"),
    ],
    ids=["invite", "200-to-invite", "ack", "bye", "one-of-each"],
)
def test_lost_datagrams_are_repaired_by_retransmission(lost: tuple[str, ...]) -> None:
    world, caller, callee = call(losing(*lost))
    assert [line for _, line, dropped in world.wire if dropped] == [
        next(line for _, line, _ in world.wire if line.startswith(label)) for label in lost
    ]
    assert callee.log.count("got INVITE") == 1 and callee.log.count("got BYE") == 1
    assert "got ACK" in callee.log
    assert caller.dialog is not None and caller.dialog.terminated
    assert caller.log == [] and callee.log[-1] == "got BYE"  # no timeouts
    assert len(caller.layer) == 0 and len(callee.layer) == 0


def test_lost_invite_is_resent_after_timer_a() -> None:
    world, _, _ = call(losing("INVITE"))
    invites = [t for t, line, _ in world.wire if line.startswith("INVITE")]
    assert invites == [0.0, 0.5]


def test_lost_ack_makes_the_callee_retransmit_its_200() -> None:
    world, caller, _ = call(losing("ACK"))
    oks = [t for t, line, _ in world.wire if line == "SIP/2.0 200 OK" and t < 10]
    assert len(oks) == 2  # the 2xx again at T1, then the second ACK stops it
    assert caller.statuses.count(200) == 3  # two for the INVITE (retransmission passed up), one for BYE


def test_cancel_before_answer_gets_487() -> None:
    world = World(lambda line: False)
    caller, callee = Caller(world, UAC), Callee(world, UAS)
    world.at(0.0, caller.call)
    world.at(0.5, caller.cancel)
    world.run(60.0)
    assert 487 in caller.statuses and 200 in caller.statuses  # 200 for the CANCEL
    lines = [line for _, line, _ in world.wire]
    assert "CANCEL sip:bob@192.0.2.2 SIP/2.0" in lines
    assert lines[-1].startswith("ACK")  # the transaction ACKs the 487
    assert len(caller.layer) == 0 and len(callee.layer) == 0
