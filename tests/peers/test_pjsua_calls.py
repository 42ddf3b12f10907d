"""The phone driver reads a dialog's tags from the INVITE's responses (RFC 3261 19.3, 20.20, 20.39)."""

from __future__ import annotations

import pytest

pytest.importorskip("pjsua2")

from tests.peers.pjsua_calls import dialog_of_response  # noqa: E402

RINGING = (
    "SIP/2.0 180 Ringing\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;rport=5060;branch=z9hG4bK1\r\n"
    'f: "Alice" <sip:1000@127.0.0.1;tag=not-this>;tag=sw1tch\r\n'
    "To: <sip:1001@127.0.0.1:16225>;tag=b-tag.7\r\n"
    "Call-ID: abc@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


def test_a_response_gives_call_id_both_tags_and_the_method_the_uri_params_aside() -> None:
    assert dialog_of_response(RINGING) == ("abc@127.0.0.1", "sw1tch", "b-tag.7", "INVITE")


@pytest.mark.parametrize(
    "text",
    [
        RINGING.replace(";tag=b-tag.7", ""),  # 100 Trying-like: no To tag, no dialog yet
        "INVITE sip:1001@127.0.0.1 SIP/2.0\r\nTo: <sip:1001@h>;tag=x\r\n\r\n",  # a request
        "",
    ],
)
def test_no_dialog_without_a_to_tag_or_from_a_request(text: str) -> None:
    assert dialog_of_response(text) is None
