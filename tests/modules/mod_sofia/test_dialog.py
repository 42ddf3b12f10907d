"""Dialogs (RFC 3261 12, 13.2.2.4): creation on both sides, routing, CSeq, matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.mod_sofia.dialog import (
    CSeqOutOfOrder,
    Dialog,
    DialogId,
    DialogState,
    DialogTable,
)
from modules.mod_sofia.message import Request, Response, make_response, parse_message
from modules.mod_sofia.uri import URI, NameAddr, SipError
from switchcore.errors import InvalidTransition

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sip"
OUR_VIA = "SIP/2.0/UDP 192.0.2.1:5060"


def load(name: str) -> Request | Response:
    return parse_message((VECTORS / name).read_bytes())


def uac_pair() -> tuple[Request, Response]:
    request = load("rfc3665_3_1_f1_invite.sip")
    response = load("rfc3665_3_1_f3_200.sip")
    assert isinstance(request, Request) and isinstance(response, Response)
    return request, response


def test_uac_dialog_from_2xx() -> None:
    request, ok = uac_pair()
    dialog = Dialog.from_uac(request, ok)
    assert dialog.state is DialogState.CONFIRMED and dialog.is_uac
    assert dialog.id == DialogId("3848276298220188511@atlanta.example.com", "9fxced76sl", "8321234356")
    assert str(dialog.remote_target) == "sip:bob@client.biloxi.example.com;transport=tcp"
    assert dialog.local_seq == 1 and dialog.remote_seq is None
    assert dialog.local_uri.tag is None and dialog.remote_uri.tag is None
    assert dialog.route_set == ()


def test_uac_ack_for_2xx_matches_the_rfc3665_flow() -> None:
    request, ok = uac_pair()
    dialog = Dialog.from_uac(request, ok)
    ack = dialog.create_ack(
        request.cseq.number, "SIP/2.0/TCP client.atlanta.example.com:5060", branch="z9hG4bK74bd5"
    )
    expected = load("rfc3665_3_1_f4_ack.sip")
    assert ack.uri == expected.uri  # type: ignore[union-attr]
    assert ack.cseq == expected.cseq and ack.top_via.branch == "z9hG4bK74bd5"
    assert ack.from_tag == expected.from_tag and ack.to_tag == expected.to_tag
    assert ack.call_id == expected.call_id and ack.content_length == 0
    assert dialog.local_seq == 1  # an ACK does not use a new CSeq


def test_uas_dialog_and_bye_match_the_rfc3665_flow() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    assert isinstance(invite, Request)
    contact = NameAddr(URI.parse("sip:bob@client.biloxi.example.com;transport=tcp"))
    dialog = Dialog.from_uas(invite, "8321234356", local_contact=contact)
    assert not dialog.is_uac and dialog.remote_seq == 1 and dialog.local_seq is None
    assert dialog.id == DialogId("3848276298220188511@atlanta.example.com", "8321234356", "9fxced76sl")
    bye = dialog.create_request("BYE", "SIP/2.0/TCP client.biloxi.example.com:5060", branch="z9hG4bKnashds7")
    expected = load("rfc3665_3_1_f5_bye.sip")
    assert bye.uri == expected.uri  # type: ignore[union-attr]
    assert bye.from_tag == expected.from_tag and bye.to_tag == expected.to_tag
    assert bye.from_addr.uri.equivalent(expected.from_addr.uri)
    assert bye.cseq.method == "BYE" and bye.cseq.number == 1
    assert "Contact" not in bye  # BYE is not a target refresh
    assert parse_message(bytes(bye)).call_id == expected.call_id


def test_record_route_is_reversed_for_the_uac_and_kept_for_the_uas() -> None:
    invite = load("rfc3261_24_2_f1_invite_via_proxy.sip")
    assert isinstance(invite, Request)
    invite = invite.replace_header("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    uas = Dialog.from_uas(invite, "t1")
    assert [r.uri.host for r in uas.route_set] == ["p1.example.com", "p2.example.com"]
    ok = make_response(invite, 200, to_tag="t1", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    ok = ok.with_header("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    uac = Dialog.from_uac(invite, ok)
    assert [r.uri.host for r in uac.route_set] == ["p2.example.com", "p1.example.com"]


def test_loose_routing_keeps_the_remote_target_as_request_uri() -> None:
    request, ok = uac_pair()
    ok = ok.with_header("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    dialog = Dialog.from_uac(request, ok)
    bye = dialog.create_request("BYE", OUR_VIA)
    assert bye.uri == "sip:bob@client.biloxi.example.com;transport=tcp"
    assert [str(r.uri) for r in bye.routes] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]


def test_strict_router_becomes_request_uri_and_target_goes_last() -> None:
    request, ok = uac_pair()
    ok = ok.with_header("Record-Route", "<sip:p1.example.com;lr>, <sip:strict.example.com;method=INVITE>")
    dialog = Dialog.from_uac(request, ok)
    info = dialog.create_request("INFO", OUR_VIA)
    assert info.uri == "sip:strict.example.com"
    assert [str(r.uri) for r in info.routes] == [
        "sip:p1.example.com;lr",
        "sip:bob@client.biloxi.example.com;transport=tcp",
    ]


def test_in_dialog_requests_increment_local_cseq_and_carry_contact_for_refreshes() -> None:
    request, ok = uac_pair()
    dialog = Dialog.from_uac(request, ok)
    reinvite = dialog.create_request("INVITE", OUR_VIA, body=b"v=0\r\n", content_type="application/sdp")
    info = dialog.create_request("INFO", OUR_VIA, headers=[("Content-Type", "application/dtmf-relay")])
    notify = dialog.create_request("NOTIFY", OUR_VIA, headers=[("Event", "refer")])
    refer = dialog.create_request("REFER", OUR_VIA, headers=[("Refer-To", "<sip:carol@example.com>")])
    assert [r.cseq.number for r in (reinvite, info, notify, refer)] == [2, 3, 4, 5]
    assert reinvite.contacts[0].uri.user == "alice" and reinvite.body == b"v=0\r\n"
    assert "Contact" not in info and notify.get("Event") == "refer" and refer.get("Refer-To")
    assert reinvite.top_via.branch != info.top_via.branch and reinvite.top_via.has_cookie
    with pytest.raises(ValueError):
        dialog.create_request("ACK", OUR_VIA)


def test_uas_dialog_starts_its_own_cseq() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    assert isinstance(invite, Request)
    dialog = Dialog.from_uas(invite, "x")
    assert dialog.create_request("BYE", OUR_VIA).cseq.number == 1


def test_lower_remote_cseq_is_out_of_order() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    assert isinstance(invite, Request)
    dialog = Dialog.from_uas(invite, "x")
    info = invite.replace_header("CSeq", "5 INFO")
    info = Request(method="INFO", uri=info.uri, headers=info.headers)
    dialog.receive_request(info)
    assert dialog.remote_seq == 5
    stale = Request(method="INFO", uri=info.uri, headers=info.replace_header("CSeq", "4 INFO").headers)
    with pytest.raises(CSeqOutOfOrder) as excinfo:
        dialog.receive_request(stale)
    assert excinfo.value.status == 500
    ack = Request(method="ACK", uri=info.uri, headers=info.replace_header("CSeq", "1 ACK").headers)
    dialog.receive_request(ack)  # ACK carries the INVITE's number: not checked
    assert dialog.remote_seq == 5


def test_reinvite_contact_refreshes_the_remote_target() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    assert isinstance(invite, Request)
    dialog = Dialog.from_uas(invite, "x")
    reinvite = invite.replace_header("CSeq", "2 INVITE").replace_header(
        "Contact", "<sip:alice@198.51.100.7:5070>"
    )
    dialog.receive_request(reinvite)
    assert str(dialog.remote_target) == "sip:alice@198.51.100.7:5070"


def test_bye_terminates_and_terminated_dialog_refuses_requests() -> None:
    invite = load("rfc3665_3_1_f1_invite.sip")
    assert isinstance(invite, Request)
    dialog = Dialog.from_uas(invite, "x")
    bye = Request(method="BYE", uri=invite.uri, headers=invite.replace_header("CSeq", "2 BYE").headers)
    dialog.receive_request(bye)
    assert dialog.terminated
    with pytest.raises(SipError):
        dialog.create_request("BYE", OUR_VIA)
    with pytest.raises(InvalidTransition):
        dialog.receive_request(bye)


def test_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    request, ok = uac_pair()
    ringing = load("rfc3665_3_1_f2_180.sip")
    assert isinstance(ringing, Response)
    ringing = ringing.with_header("Record-Route", "<sip:old.example.com;lr>")
    dialog = Dialog.from_uac(request, ringing)
    assert dialog.state is DialogState.EARLY and dialog.route_set[0].uri.host == "old.example.com"
    dialog.receive_response(ringing)
    assert dialog.state is DialogState.EARLY
    dialog.receive_response(ok.with_header("Record-Route", "<sip:new.example.com;lr>"))
    assert dialog.state is DialogState.CONFIRMED
    assert [r.uri.host for r in dialog.route_set] == ["new.example.com"]


def test_early_dialog_ends_on_failure_and_confirmed_survives_failed_reinvite() -> None:
    request, ok = uac_pair()
    ringing = load("rfc3665_3_1_f2_180.sip")
    assert isinstance(ringing, Response)
    early = Dialog.from_uac(request, ringing)
    early.receive_response(make_response(request, 486, to_tag="8321234356"))
    assert early.terminated
    confirmed = Dialog.from_uac(request, ok)
    reinvite = confirmed.create_request("INVITE", OUR_VIA)
    confirmed.receive_response(make_response(reinvite, 488))
    assert confirmed.state is DialogState.CONFIRMED


@pytest.mark.parametrize("status", [481, 408])
def test_481_or_408_to_in_dialog_request_terminates(status: int) -> None:
    request, ok = uac_pair()
    dialog = Dialog.from_uac(request, ok)
    info = dialog.create_request("INFO", OUR_VIA)
    dialog.receive_response(make_response(info, status))
    assert dialog.terminated


def test_from_uac_needs_a_tagged_dialog_creating_response() -> None:
    request, _ = uac_pair()
    with pytest.raises(SipError):
        Dialog.from_uac(request, make_response(request, 180))  # no To tag
    with pytest.raises(SipError):
        Dialog.from_uac(request, make_response(request, 486, to_tag="t"))


def test_dialog_table_matches_incoming_requests_and_responses() -> None:
    request, ok = uac_pair()
    table = DialogTable()
    uac = Dialog.from_uac(request, ok)
    table.add(uac)
    with pytest.raises(SipError):
        table.add(uac)
    bye_from_bob = load("rfc3665_3_1_f5_bye.sip")
    assert isinstance(bye_from_bob, Request)
    assert table.for_request(bye_from_bob) is uac and uac.matches_request(bye_from_bob)
    assert table.for_response(ok) is uac and uac.matches_response(ok)
    assert table.for_request(request) is None  # no To tag: not in a dialog
    other = bye_from_bob.replace_header("To", "Alice <sip:alice@atlanta.example.com>;tag=nope")
    assert table.for_request(Request(method="BYE", uri=other.uri, headers=other.headers)) is None
    assert list(table) == [uac] and len(table) == 1
    table.remove(uac)
    assert len(table) == 0 and table.get(uac.id) is None
