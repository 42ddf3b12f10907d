"""SDP handling around aiortc: which remote candidates are kept, NAT address, the chosen codec."""

from __future__ import annotations

from pathlib import Path

from modules.mod_verto.ice import (
    announce_address,
    audio_codecs,
    filter_candidates,
    first_codec,
    telephone_event_pts,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "verto"
OFFER = (VECTORS / "chromium_offer_with_mic.sdp").read_bytes().decode()


def candidates(sdp: str) -> list[str]:
    return [
        line.split()[4] + "/" + line.split()[2]
        for line in sdp.splitlines()
        if line.startswith("a=candidate:")
    ]


def test_a_loopback_rtp_ip_keeps_only_loopback_udp_candidates():
    assert candidates(OFFER) == [
        "127.0.0.1/udp",
        "192.0.2.2/udp",
        "::1/udp",
        "fd00::2/udp",
        "127.0.0.1/tcp",
        "192.0.2.2/tcp",
        "::1/tcp",
        "fd00::2/tcp",
    ]
    assert candidates(filter_candidates(OFFER, "127.0.0.1")) == ["127.0.0.1/udp"]


def test_a_routable_rtp_ip_keeps_routable_candidates_of_its_family():
    assert candidates(filter_candidates(OFFER, "192.0.2.10")) == ["192.0.2.2/udp"]
    assert candidates(filter_candidates(OFFER, "fd00::10")) == ["fd00::2/udp"]


def test_mdns_candidates_are_dropped_and_other_lines_kept():
    sdp = OFFER.replace("127.0.0.1 46916", "4c1d3e0f-aaaa-bbbb-cccc-1234567890ab.local 46916")
    filtered = filter_candidates(sdp, "127.0.0.1")
    assert candidates(filtered) == []
    assert filtered.count("\r\n") == OFFER.count("\r\n") - 8
    assert "a=rtpmap:111 opus/48000/2" in filtered


def test_ext_rtp_ip_replaces_the_address_in_connection_and_candidate_lines():
    ours = "v=0\r\nc=IN IP4 127.0.0.1\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=x:127.0.0.10\r\n"
    out = announce_address(ours, "127.0.0.1", "203.0.113.5")
    assert "c=IN IP4 203.0.113.5" in out
    assert "203.0.113.5 5000 typ host" in out
    assert "a=x:127.0.0.10" in out
    assert announce_address(ours, "127.0.0.1", "") == ours


def test_the_audio_codecs_are_read_in_m_line_order():
    codecs = audio_codecs(OFFER)
    assert codecs[0] == (111, "OPUS", 48000)
    assert [c[1] for c in codecs] == [
        "OPUS",
        "RED",
        "G722",
        "PCMU",
        "PCMA",
        "CN",
        "TELEPHONE-EVENT",
        "TELEPHONE-EVENT",
    ]
    assert telephone_event_pts(OFFER) == {110, 126}
    assert first_codec(OFFER) == ("OPUS", 48000)
    assert first_codec(
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 126 0\r\na=rtpmap:126 telephone-event/8000\r\na=rtpmap:0 PCMU/8000\r\n"
    ) == ("PCMU", 8000)
    assert first_codec("v=0\r\nm=video 9 RTP/AVP 96\r\n") is None
