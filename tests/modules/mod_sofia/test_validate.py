"""The verdict given to received messages: RFC 4475 torture tests and the RFC 3261 8.2 checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from modules.mod_sofia.message import Request, parse_message
from modules.mod_sofia.validate import Action, Policy, Verdict, check

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
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "sip"


@dataclass(frozen=True)
class Row:
    file: str
    cls: str
    method: str
    preferred: tuple[str, ...]
    tolerated: tuple[str, ...]
    size: int
    sha256: str


def manifest() -> list[Row]:
    rows: list[Row] = []
    lines = [
        line
        for line in (TORTURE / "manifest.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = lines[0].split("\t")
    for line in lines[1:]:
        d = dict(zip(names, line.split("\t"), strict=True))
        tolerated = () if d["tolerated"] == "-" else tuple(d["tolerated"].split("|"))
        rows.append(
            Row(
                d["file"],
                d["class"],
                d["method"],
                tuple(d["preferred"].split("|")),
                tolerated,
                int(d["bytes"]),
                d["sha256"],
            )
        )
    return rows


ROWS = manifest()


def satisfies(verdict: Verdict, token: str, row: Row) -> bool:
    """Does the verdict meet one manifest token (see the manifest's header comment)?"""
    if token == "drop":
        if row.cls.endswith("response"):
            # Responses are never answered.  A well-formed one goes to the transaction
            # layer, which discards it as a stray (test_transaction covers that); a bad
            # one is dropped here already.
            expected = Action.ACCEPT if row.cls == "valid-response" else Action.DROP
            return verdict.action is expected
        return verdict.action is Action.DROP
    if token == "accept":
        return verdict.action is Action.ACCEPT
    if token == "register-only":
        return (
            verdict.action is Action.ACCEPT
            and isinstance(verdict.message, Request)
            and verdict.message.method == "REGISTER"
            and verdict.message.body == b""
        )
    if verdict.action is not Action.REJECT:
        return False
    if token == "auth":
        return verdict.status in (401, 407) and verdict.challenge
    if token == "4xx":
        return 400 <= verdict.status <= 499
    return verdict.status == int(token)


def test_manifest_covers_every_torture_file() -> None:
    assert sorted(row.file for row in ROWS) == sorted(p.name for p in TORTURE.glob("*.dat"))
    assert len(ROWS) == 50


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.file)
def test_torture_message_gets_its_preferred_verdict(row: Row) -> None:
    data = (TORTURE / row.file).read_bytes()
    assert len(data) == row.size and hashlib.sha256(data).hexdigest() == row.sha256
    verdict = check(data)
    assert any(satisfies(verdict, token, row) for token in row.preferred), (
        f"{row.file}: got {verdict.action.value} {verdict.status} {verdict.reason} ({verdict.detail}), "
        f"want {'|'.join(row.preferred)}"
    )


@pytest.mark.parametrize(
    "row",
    [r for r in ROWS if r.cls not in ("valid-response", "invalid-response", "semantic-response")],
    ids=lambda r: r.file,
)
def test_torture_rejection_builds_a_parseable_response(row: Row) -> None:
    verdict = check((TORTURE / row.file).read_bytes())
    response = verdict.response(to_tag="sw1")
    if verdict.action is not Action.REJECT:
        assert response is None
        return
    assert response is not None and response.status == verdict.status
    assert "\r" not in response.reason and "\n" not in response.reason
    # the response carries the request's Via so it can be routed back
    assert response.get("Via") is not None
    assert bytes(response).startswith(f"SIP/2.0 {verdict.status} ".encode())


@pytest.mark.parametrize("path", sorted(VECTORS.glob("*.sip")), ids=lambda p: p.name)
def test_call_flow_vectors_are_accepted(path: Path) -> None:
    verdict = check(path.read_bytes())
    assert verdict.action is Action.ACCEPT, verdict.detail
    assert verdict.message is not None and bytes(verdict.message) == path.read_bytes()


BASE = {
    "Via": "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc",
    "From": "<sip:a@example.com>;tag=1",
    "To": "<sip:b@example.com>",
    "Call-ID": "cid-1",
    "CSeq": "1 OPTIONS",
    "Max-Forwards": "70",
}


def build(
    method: str = "OPTIONS",
    uri: str = "sip:b@example.com",
    version: str = "SIP/2.0",
    body: bytes = b"",
    **overrides: str | None,
) -> bytes:
    headers = dict(BASE)
    for key, value in overrides.items():
        name = key.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    lines = [f"{method} {uri} {version}"] + [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_well_formed_request_is_accepted_with_its_parsed_message() -> None:
    verdict = check(build())
    assert verdict.accepted and isinstance(verdict.message, Request) and verdict.message.call_id == "cid-1"


@pytest.mark.parametrize("name", ["From", "To", "Call-ID", "CSeq", "Max-Forwards"])
def test_missing_mandatory_header_is_400_naming_it(name: str) -> None:
    verdict = check(build(**{name.replace("-", "_"): None}))
    assert (verdict.action, verdict.status, verdict.reason) == (Action.REJECT, 400, f"Missing {name}")


def test_missing_via_cannot_be_answered_so_it_is_dropped() -> None:
    assert check(build(Via=None)).action is Action.DROP


def test_missing_max_forwards_is_tolerated_from_rfc2543_clients() -> None:
    assert check(build(Via="SIP/2.0/UDP 192.0.2.1;branch=1234", Max_Forwards=None)).accepted


def test_max_forwards_zero_is_483() -> None:
    verdict = check(build(Max_Forwards="0"))
    assert (verdict.status, verdict.reason) == (483, "Too Many Hops")
    assert check(build(Max_Forwards="0"), Policy(reject_zero_max_forwards=False)).accepted


def test_unsupported_version_is_505() -> None:
    assert check(build(version="SIP/3.0")).status == 505


def test_cseq_method_mismatch_is_400() -> None:
    verdict = check(build(CSeq="1 INVITE"))
    assert (verdict.status, verdict.reason) == (400, "CSeq Method Mismatch")


@pytest.mark.parametrize("value", ["-1", "abc", "9999"])
def test_bad_content_length_is_400(value: str) -> None:
    data = build().replace(b"Content-Length: 0", f"Content-Length: {value}".encode())
    verdict = check(data)
    assert (verdict.status, verdict.reason) == (400, "Bad Content-Length")


def test_oversized_message_is_513() -> None:
    data = build(X_Padding="a" * 70000)
    verdict = check(data)
    assert (verdict.status, verdict.reason) == (513, "Message Too Large")
    assert check(build(X_Padding="a" * 500), Policy(max_size=400)).status == 513


def test_control_byte_in_header_name_is_400() -> None:
    data = build().replace(b"Call-ID:", b"Call\x01-ID:")
    verdict = check(data)
    assert (verdict.status, verdict.reason) == (400, "Malformed Header")


def test_unknown_method_is_501_with_allow() -> None:
    verdict = check(build(method="FROB", CSeq="1 FROB"))
    assert verdict.status == 501
    assert ("Allow" in dict(verdict.headers)) and "INVITE" in dict(verdict.headers)["Allow"]
    assert check(build(method="FROB", CSeq="1 FROB"), Policy(methods=None)).accepted


def test_problems_with_ack_are_never_answered() -> None:
    assert check(build(method="ACK", CSeq="1 ACK", From=None)).action is Action.DROP
    assert check(build(method="ACK", CSeq="1 ACK")).accepted


def test_require_with_unknown_option_is_420_listing_it() -> None:
    verdict = check(build(Require="100rel, frobnicate"))
    assert verdict.status == 420 and dict(verdict.headers)["Unsupported"] == "frobnicate"
    response = verdict.response()
    assert response is not None and response.get("Unsupported") == "frobnicate"


def test_invite_with_unknown_body_type_is_415_with_accept() -> None:
    verdict = check(build(method="INVITE", CSeq="1 INVITE", Content_Type="text/html", body=b"<p>hi</p>"))
    assert verdict.status == 415 and dict(verdict.headers)["Accept"] == "application/sdp"


def test_invite_accept_wildcards_are_honoured() -> None:
    assert check(build(method="INVITE", CSeq="1 INVITE", Accept="application/*")).accepted
    assert check(build(method="INVITE", CSeq="1 INVITE", Accept="text/plain")).status == 406


def test_proxy_authorization_in_unknown_scheme_is_407_challenge() -> None:
    verdict = check(build(Proxy_Authorization="Basic YWxhZGRpbjpvcGVuc2VzYW1l"))
    assert verdict.status == 407 and verdict.challenge


def test_duplicate_single_value_header_is_400() -> None:
    data = build().replace(b"Call-ID: cid-1\r\n", b"Call-ID: cid-1\r\nCall-ID: cid-2\r\n")
    assert (check(data).status, check(data).reason) == (400, "Multiple Call-ID")


def test_response_to_broadcast_via_is_dropped_but_normal_response_accepted() -> None:
    ok = (VECTORS / "rfc3665_3_1_f6_200.sip").read_bytes()
    assert check(ok).accepted
    bad = ok.replace(b"Via: SIP/2.0/TCP client.biloxi.example.com:5060", b"Via: SIP/2.0/UDP 255.255.255.255")
    assert check(bad).action is Action.DROP


def test_rejection_response_round_trips() -> None:
    verdict = check(build(CSeq="1 INVITE"))
    response = verdict.response(to_tag="abc")
    assert response is not None
    again = parse_message(bytes(response))
    assert again.to_tag == "abc" and again.call_id == "cid-1" and again.cseq.method == "INVITE"


def test_quick_accept_verdict_is_the_dataclass_one() -> None:
    from modules.mod_sofia.validate import _accepted

    message = parse_message(build())
    quick = _accepted(message)
    assert quick == Verdict(Action.ACCEPT, message=message)
    assert quick.detail == "" and quick.accepted
    verdict = check(build())
    assert verdict == Verdict(Action.ACCEPT, message=verdict.message)
