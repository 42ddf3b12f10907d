"""SDP parse/serialize against offers captured from real phones and the RFC examples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from switchcore.media.sdp import (
    Attribute,
    Candidate,
    Connection,
    Direction,
    Fingerprint,
    RtpMap,
    SdpError,
    SessionDescription,
    format_fmtp_params,
    parse_fmtp_params,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "sdp"


def load(name: str) -> str:
    return (VECTORS / name).read_bytes().decode()


@pytest.mark.parametrize("name", sorted(p.name for p in VECTORS.glob("*.sdp")))
def test_every_vector_round_trips_byte_for_byte(name: str) -> None:
    text = load(name)
    sdp = SessionDescription.parse(text)
    assert str(sdp) == text
    assert bytes(sdp) == text.encode()
    assert SessionDescription.parse(bytes(sdp)) == sdp


def test_pjsua2_offer_exposes_codecs_rtcp_and_direction() -> None:
    sdp = SessionDescription.parse(load("pjsua2_offer.sdp"))
    assert sdp.origin.session_id == "4004661598"
    assert sdp.name == "pjmedia"
    assert [str(b) for b in sdp.bandwidths] == ["AS:84"]
    audio = sdp.audio()
    assert audio is not None
    assert audio.port == 15220
    assert audio.payload_types == (96, 97, 98, 99, 3, 0, 8, 9, 120, 121, 122)
    maps = audio.rtpmaps()
    assert maps[0] == RtpMap(0, "PCMU", 8000)
    assert maps[121] == RtpMap(121, "telephone-event", 8000)
    assert audio.fmtp(99) == {"mode": "30"}
    assert audio.fmtp(121) == {"0-16": ""}
    assert audio.fmtp(0) == {}
    assert audio.rtcp == (15221, Connection("127.0.0.1"))
    assert audio.direction is Direction.SENDRECV
    assert sdp.connection_of(audio) == Connection("127.0.0.1")
    assert audio.attribute("ssrc") == "660430480 cname:00ae207b5de20404"
    assert [str(b) for b in audio.bandwidths] == ["TIAS:64000"]
    assert sdp.attribute("X-nat") == "0"


def test_baresip_offer_with_opus_has_session_level_connection_and_ptime() -> None:
    sdp = SessionDescription.parse(load("baresip_offer.sdp"))
    audio = sdp.audio()
    assert audio is not None
    assert audio.connection is None
    assert sdp.connection_of(audio) == Connection("127.0.0.1")
    assert audio.rtpmaps()[96] == RtpMap(96, "opus", 48000, 2)
    assert audio.rtpmaps()[96].name == "OPUS"
    assert audio.fmtp(96) == {"stereo": "1", "sprop-stereo": "1"}
    assert audio.ptime == 20
    assert audio.attribute("minptime") == "20"
    assert audio.has_attribute("rtcp-rsize")
    assert audio.rtcp is None
    assert not audio.rtcp_mux


def test_chrome_offer_exposes_ice_dtls_and_mux_attributes() -> None:
    sdp = SessionDescription.parse(load("chrome_offer.sdp"))
    audio = sdp.audio()
    assert audio is not None
    assert audio.proto == "UDP/TLS/RTP/SAVPF"
    assert audio.rtcp_mux
    assert audio.mid == "0"
    assert audio.setup == "actpass"
    assert audio.ice_ufrag == "eEoa"
    assert audio.ice_pwd == "wkF/Zleon/EU46PVEYmANZ7E"
    assert audio.fingerprints()[0].algorithm == "sha-256"
    assert audio.fingerprints()[0].value.startswith("6E:26:95")
    candidates = audio.candidates()
    assert len(candidates) == 8
    assert candidates[0] == Candidate(
        "110193668",
        1,
        "udp",
        2122194687,
        "127.0.0.1",
        49329,
        "host",
        ("generation", "0", "network-id", "3", "network-cost", "50"),
    )
    assert str(candidates[4]).endswith("typ host tcptype active generation 0 network-id 3 network-cost 50")
    # Unknown attributes stay verbatim, even the leading space Chrome puts after the colon.
    assert sdp.attributes[2] == Attribute("msid-semantic", " WMS 1356cdb9-10e4-4cf4-ad4b-9b468bbfb921")
    assert audio.rtpmaps()[110] == RtpMap(110, "telephone-event", 48000)


def test_chrome_trickle_offer_has_null_connection_but_ice() -> None:
    sdp = SessionDescription.parse(load("chrome_offer_trickle.sdp"))
    audio = sdp.audio()
    assert audio is not None
    connection = sdp.connection_of(audio)
    assert connection is not None and connection.is_null
    assert sdp.ice_ufrag_of(audio) == "e6Gf"
    assert audio.candidates() == ()


def test_rfc3264_offer_keeps_both_streams_in_order() -> None:
    sdp = SessionDescription.parse(load("rfc3264_offer.sdp"))
    assert sdp.name == ""
    assert [m.media for m in sdp.media] == ["audio", "video"]
    assert sdp.media[1].formats == ("31", "32")
    assert sdp.media[1].rtpmaps()[32] == RtpMap(32, "MPV", 90000)
    assert sdp.connection == Connection("host.atlanta.example.com")


def test_hold_vectors_show_sendonly_and_null_connection() -> None:
    sendonly = SessionDescription.parse(load("rfc3264_hold_sendonly.sdp"))
    assert sendonly.direction_of(sendonly.media[0]) is Direction.SENDONLY
    old_style = SessionDescription.parse(load("rfc2543_hold_null_c.sdp"))
    assert old_style.direction_of(old_style.media[0]) is Direction.SENDRECV
    assert old_style.connection is not None and old_style.connection.is_null


def test_rfc8866_example_keeps_session_fields_and_media_level_connection() -> None:
    sdp = SessionDescription.parse(load("rfc8866_example.sdp"))
    assert sdp.information == "SDP Offer #1"
    assert sdp.uri == "http://www.jdoe.example.com/home.html"
    assert sdp.emails == ("Jane Doe <jane@jdoe.example.com>",)
    assert sdp.phones == ("+1 617 555-6011",)
    video = sdp.media[2]
    assert video.connection == Connection("2001:db8::2", addrtype="IP6")
    assert sdp.audio() == sdp.media[0]


def test_session_level_direction_applies_when_media_has_none() -> None:
    text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=inactive\r\nm=audio 5000 RTP/AVP 0\r\n"
    sdp = SessionDescription.parse(text)
    assert sdp.media[0].direction is None
    assert sdp.direction_of(sdp.media[0]) is Direction.INACTIVE


def test_lf_only_input_is_accepted_and_written_with_crlf() -> None:
    text = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nt=0 0\nm=audio 5000 RTP/AVP 0\n"
    assert str(SessionDescription.parse(text)) == text.replace("\n", "\r\n")


def test_repeat_times_zone_and_key_lines_round_trip() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=3034423619 3042462419\r\nr=604800 3600 0 90000\r\n"
        "z=2882844526 -1h 2898848070 0\r\nk=prompt\r\nm=audio 5000/2 RTP/AVP 0\r\ni=voice\r\nk=clear:x\r\n"
    )
    sdp = SessionDescription.parse(text)
    assert sdp.timings[0].repeats == ("604800 3600 0 90000",)
    assert sdp.media[0].port_count == 2
    assert str(sdp) == text


def test_with_direction_replaces_the_attribute_in_place() -> None:
    sdp = SessionDescription.parse(load("pjsua2_offer.sdp"))
    audio = sdp.media[0]
    held = audio.with_direction(Direction.SENDONLY)
    assert held.direction is Direction.SENDONLY
    assert held.attributes.index(Attribute("sendonly")) == audio.attributes.index(Attribute("sendrecv"))
    baresip = SessionDescription.parse(load("rfc3264_offer.sdp")).media[0]
    assert baresip.with_direction(Direction.INACTIVE).attributes[-1] == Attribute("inactive")
    stripped = audio.without_attributes("ssrc", "rtcp")
    assert not stripped.has_attribute("ssrc") and not stripped.has_attribute("rtcp")
    assert replace(sdp, media=(held,)).media[0].direction is Direction.SENDONLY


def test_direction_reversal_swaps_send_and_receive() -> None:
    assert Direction.SENDONLY.reversed() is Direction.RECVONLY
    assert Direction.RECVONLY.reversed() is Direction.SENDONLY
    assert Direction.SENDRECV.reversed() is Direction.SENDRECV
    assert Direction.INACTIVE.reversed() is Direction.INACTIVE
    assert Direction.of(sends=True, receives=False) is Direction.SENDONLY


def test_fmtp_params_parse_and_format() -> None:
    params = parse_fmtp_params("useinbandfec=1; maxaveragebitrate=30000;stereo=0")
    assert params == {"useinbandfec": "1", "maxaveragebitrate": "30000", "stereo": "0"}
    assert format_fmtp_params(params) == "useinbandfec=1;maxaveragebitrate=30000;stereo=0"
    assert format_fmtp_params(parse_fmtp_params("0-16")) == "0-16"


def test_fingerprint_and_rtpmap_print_as_they_parse() -> None:
    assert str(Fingerprint.parse("SHA-256 AB:CD")) == "sha-256 AB:CD"
    assert str(RtpMap.parse("111 opus/48000/2")) == "111 opus/48000/2"
    assert str(RtpMap.parse("0 PCMU/8000")) == "0 PCMU/8000"
    with pytest.raises(ValueError, match="bad rtpmap"):
        RtpMap.parse("x PCMU")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "SDP: empty session description"),
        ("o=- 1 1 IN IP4 1.2.3.4\r\n", "SDP line 1: the first line must be v="),
        ("v=1\r\n", "SDP line 1: unsupported version v=1"),
        ("v=0\r\ns=-\r\n", "SDP: missing o= line"),
        ("v=0\r\no=- 1 1 IN IP4\r\n", "SDP line 2: o= needs 6 fields, got 5"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nhello\r\n", "SDP line 3: not a <type>=<value> line: 'hello'"),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", "SDP line 3: bad m= port 'x'"),
        (
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\nt=0 0\r\n",
            "SDP line 4: t= is not allowed inside a media section",
        ),
        ("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nb=AS\r\n", "SDP line 3: b= is not <type>:<number>: 'AS'"),
    ],
)
def test_malformed_sdp_raises_sdp_error_with_line(text: str, message: str) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(text)
    assert str(info.value) == message
    assert info.value.sip_status == 400
