"""RFC 3264 offer/answer with FreeSWITCH codec-prefs, against real phone offers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from switchcore.causes import HangupCause
from switchcore.errors import ConfigError
from switchcore.media.codec import CodecSpec, Decoder, Encoder
from switchcore.media.frame import Samples
from switchcore.media.negotiate import (
    CodecNegotiation,
    CodecPref,
    IncompatibleMedia,
    LocalMedia,
    MediaPolicy,
    NoCommonCodec,
    accept_answer,
    answer_direction,
    answer_offer,
    build_offer,
    is_hold,
    parse_codec_prefs,
    remote_rtcp_address,
    remote_rtp_address,
    with_direction,
)
from switchcore.media.sdp import Direction, RtpMap, SessionDescription

VECTORS = Path(__file__).parents[2] / "vectors" / "sdp"


class _Null:
    def encode(self, samples: Samples) -> bytes:
        return b""

    def decode(self, payload: bytes) -> Samples:
        return np.zeros(0, dtype=np.int16)

    def conceal(self, samples: int) -> Samples:
        return np.zeros(samples, dtype=np.int16)


def _encoder(fmtp: Mapping[str, str]) -> Encoder:
    return _Null()


def _decoder(fmtp: Mapping[str, str]) -> Decoder:
    return _Null()


def spec(
    name: str,
    rate: int,
    clock: int | None = None,
    channels: int = 1,
    static: int | None = None,
    ptimes: tuple[int, ...] = (20,),
    fmtp: Mapping[str, str] | None = None,
) -> CodecSpec:
    return CodecSpec(name, rate, clock or rate, channels, static, _encoder, _decoder, ptimes, fmtp or {})


OPUS = spec("OPUS", 48000, ptimes=(20, 40, 60), fmtp={"useinbandfec": "1", "maxaveragebitrate": "30000"})
G722 = spec("G722", 16000, 8000, static=9, ptimes=(20, 40))
PCMU = spec("PCMU", 8000, static=0, ptimes=(20, 10, 30, 40, 60))
PCMA = spec("PCMA", 8000, static=8, ptimes=(20, 10, 30, 40, 60))
L16_16K = spec("L16", 16000)
AVAILABLE = (OPUS, G722, PCMU, PCMA, L16_16K)
LOCAL = LocalMedia("127.0.0.1", 15200, session_id="42", session_version=1)


def load(name: str) -> SessionDescription:
    return SessionDescription.parse((VECTORS / name).read_bytes())


def policy(prefs: str = "OPUS,G722,PCMU,PCMA", **options: object) -> MediaPolicy:
    return MediaPolicy.from_prefs(prefs, **options)


def sdp(media: str, session: str = "c=IN IP4 10.0.0.9\r\n") -> SessionDescription:
    return SessionDescription.parse(f"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\n{session}t=0 0\r\n{media}")


# --- codec-prefs -----------------------------------------------------------


def test_codec_prefs_parse_freeswitch_syntax() -> None:
    assert parse_codec_prefs("OPUS,G722,PCMU,PCMA") == (
        CodecPref("OPUS"),
        CodecPref("G722"),
        CodecPref("PCMU"),
        CodecPref("PCMA"),
    )
    assert CodecPref.parse("PCMU@20i") == CodecPref("PCMU", ptime=20)
    assert CodecPref.parse("opus@48000h@20i") == CodecPref("OPUS", rate=48000, ptime=20)
    assert CodecPref.parse("G729@8000h@20i@8000b") == CodecPref("G729", 8000, 20, bitrate=8000)
    assert CodecPref.parse("L16@16k@2c") == CodecPref("L16", rate=16000, channels=2)
    assert CodecPref.parse("G7221@32000h~bitrate=48000").fmtp == "bitrate=48000"
    assert str(CodecPref.parse("opus@48000h@20i")) == "OPUS@48000h@20i"
    assert parse_codec_prefs(" PCMU , ,PCMA ") == (CodecPref("PCMU"), CodecPref("PCMA"))


def test_codec_prefs_reject_unreadable_items() -> None:
    with pytest.raises(ConfigError, match=r"bad codec preference 'PCMU@20x': cannot read @20x"):
        CodecPref.parse("PCMU@20x")
    with pytest.raises(ConfigError, match="no codec name"):
        CodecPref.parse("@20i")


def test_pref_matches_pcm_rate_or_rtp_clock_rate_and_ptime() -> None:
    assert CodecPref.parse("G722@16000h").matches(G722)
    assert CodecPref.parse("G722@8000h").matches(G722)
    assert not CodecPref.parse("OPUS@16000h").matches(OPUS)
    assert not CodecPref.parse("OPUS@30i").matches(OPUS)


# --- offers ----------------------------------------------------------------


def test_offer_lists_prefs_in_order_with_telephone_events() -> None:
    offer = build_offer(LOCAL, policy("OPUS,G722,PCMU,PCMA,H264"), AVAILABLE)
    assert str(offer.sdp) == (
        "v=0\r\n"
        "o=switchcore 42 1 IN IP4 127.0.0.1\r\n"
        "s=switchcore\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=audio 15200 RTP/AVP 96 9 0 8 101 127\r\n"
        "a=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 useinbandfec=1;maxaveragebitrate=30000\r\n"
        "a=rtpmap:9 G722/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\n"
        "a=rtpmap:127 telephone-event/48000\r\n"
        "a=fmtp:127 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )
    assert [(c.spec.name, c.pt) for c in offer.codecs] == [
        ("OPUS", 96),
        ("G722", 9),
        ("PCMU", 0),
        ("PCMA", 8),
    ]
    assert offer.dtmf_pts == {8000: 101, 48000: 127}


def test_offer_without_opus_has_only_the_8000_event_and_honours_pref_ptime() -> None:
    offer = build_offer(LOCAL, policy("PCMU@30i,PCMA", rfc2833_pt=100), AVAILABLE, Direction.SENDONLY)
    audio = offer.sdp.media[0]
    assert audio.formats == ("0", "8", "100")
    assert audio.ptime == 30
    assert audio.direction is Direction.SENDONLY
    assert offer.dtmf_pts == {8000: 100}


def test_offer_numbers_dynamic_codecs_around_the_rfc2833_pt() -> None:
    offer = build_offer(LOCAL, policy("L16,OPUS", rfc2833_pt=96, dtmf=True), AVAILABLE)
    assert [c.pt for c in offer.codecs] == [97, 98]


def test_offer_over_ipv6_without_dtmf_with_rtcp_mux() -> None:
    local = LocalMedia("::1", 15202, rtcp_port=15203)
    offer = build_offer(local, policy("PCMA", dtmf=False, offer_rtcp_mux=True), AVAILABLE)
    text = str(offer.sdp)
    assert "o=switchcore 1 1 IN IP6 ::1\r\n" in text and "c=IN IP6 ::1\r\n" in text
    assert "m=audio 15202 RTP/AVP 8\r\n" in text and "a=rtcp-mux\r\n" in text
    assert "telephone-event" not in text


def test_offer_with_nothing_loaded_is_a_488() -> None:
    with pytest.raises(NoCommonCodec) as info:
        build_offer(LOCAL, policy("G729,H264"), AVAILABLE)
    assert str(info.value) == "no codec to offer: codec-prefs G729, H264 match no loaded codec"
    assert info.value.sip_status == 488


# --- answers to real offers ------------------------------------------------


def test_generous_answer_to_pjsua2_takes_the_offerers_first_match() -> None:
    answer = answer_offer(load("pjsua2_offer.sdp"), LOCAL, policy(), AVAILABLE)
    assert str(answer.sdp) == (
        "v=0\r\n"
        "o=switchcore 42 1 IN IP4 127.0.0.1\r\n"
        "s=switchcore\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=audio 15200 RTP/AVP 0 121\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:121 telephone-event/8000\r\n"
        "a=fmtp:121 0-16\r\n"
        "a=ptime:20\r\n"
        "a=sendrecv\r\n"
    )
    negotiated = answer.negotiated
    assert negotiated.codec is PCMU
    assert (negotiated.pt, negotiated.recv_pt, negotiated.dtmf_pt) == (0, 0, 121)
    assert negotiated.remote_addr == ("127.0.0.1", 15220)
    assert negotiated.remote_rtcp_addr == ("127.0.0.1", 15221)
    assert negotiated.direction is Direction.SENDRECV
    assert not negotiated.hold
    assert negotiated.samples_per_packet == 160


def test_greedy_answer_to_pjsua2_takes_our_first_match() -> None:
    answer = answer_offer(
        load("pjsua2_offer.sdp"), LOCAL, policy(negotiation=CodecNegotiation.GREEDY), AVAILABLE
    )
    negotiated = answer.negotiated
    assert negotiated.codec is G722
    assert negotiated.pt == 9
    assert negotiated.samples_per_packet == 160  # the RTP clock of G722 is 8000
    assert answer.sdp.media[0].formats == ("9", "121")


def test_answer_to_baresip_takes_opus_with_its_fmtp_and_the_8000_event() -> None:
    answer = answer_offer(load("baresip_offer.sdp"), LOCAL, policy("OPUS,PCMU"), AVAILABLE)
    negotiated = answer.negotiated
    assert negotiated.codec is OPUS
    assert negotiated.pt == 96
    assert negotiated.fmtp == {"stereo": "1", "sprop-stereo": "1"}
    assert negotiated.dtmf_pt == 101
    assert negotiated.remote_addr == ("127.0.0.1", 15240)
    assert negotiated.remote_rtcp_addr == ("127.0.0.1", 15241)
    audio = answer.sdp.media[0]
    assert audio.rtpmaps()[96] == RtpMap(96, "opus", 48000, 2)
    assert audio.fmtp(96) == {"stereo": "1", "sprop-stereo": "1"}


def test_chrome_offer_needs_a_secure_transport_we_do_not_do_here() -> None:
    with pytest.raises(IncompatibleMedia) as info:
        answer_offer(load("chrome_offer.sdp"), LOCAL, policy(), AVAILABLE)
    assert str(info.value) == "unsupported transport UDP/TLS/RTP/SAVPF"
    assert info.value.cause is HangupCause.INCOMPATIBLE_DESTINATION
    assert not isinstance(info.value, NoCommonCodec)


def test_chrome_offer_picks_opus_and_48000_event_when_the_transport_is_allowed() -> None:
    webrtc = policy(protos=("UDP/TLS/RTP/SAVPF",))
    answer = answer_offer(load("chrome_offer.sdp"), LOCAL, webrtc, AVAILABLE)
    negotiated = answer.negotiated
    assert (negotiated.codec, negotiated.pt, negotiated.dtmf_pt) == (OPUS, 111, 110)
    assert negotiated.rtcp_mux and negotiated.remote_rtcp_addr == negotiated.remote_addr == (
        "127.0.0.1",
        49329,
    )
    assert answer.sdp.media[0].rtcp_mux
    trickle = answer_offer(load("chrome_offer_trickle.sdp"), LOCAL, webrtc, AVAILABLE).negotiated
    assert trickle.remote_addr is None  # c=0.0.0.0 with ICE: the address comes from candidates
    assert not trickle.hold
    assert trickle.direction is Direction.SENDRECV


def test_rfc3264_answer_rejects_video_with_port_zero() -> None:
    answer = answer_offer(load("rfc3264_offer.sdp"), LOCAL, policy("PCMU"), AVAILABLE)
    audio, video = answer.sdp.media
    assert (audio.port, audio.formats) == (15200, ("0",))
    assert (video.media, video.port, video.formats) == ("video", 0, ("31", "32"))
    assert answer.negotiated.dtmf_pt is None  # the offer had no telephone-event
    assert answer.negotiated.remote_addr == ("host.atlanta.example.com", 49170)


def test_no_common_codec_is_a_488_naming_both_sides() -> None:
    offer = sdp("m=audio 5000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n")
    with pytest.raises(NoCommonCodec) as info:
        answer_offer(offer, LOCAL, policy("OPUS,PCMA"), AVAILABLE)
    assert str(info.value) == "no common codec (offered G729/8000; local OPUS, PCMA)"
    assert info.value.sip_status == 488
    assert info.value.cause is HangupCause.INCOMPATIBLE_DESTINATION


def test_offer_without_audio_is_incompatible() -> None:
    offer = sdp("m=video 5000 RTP/AVP 31\r\n")
    with pytest.raises(IncompatibleMedia, match="no audio stream in the offer"):
        answer_offer(offer, LOCAL, policy(), AVAILABLE)


# --- direction and hold ----------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "local", "expected"),
    [
        (Direction.SENDRECV, Direction.SENDRECV, Direction.SENDRECV),
        (Direction.SENDONLY, Direction.SENDRECV, Direction.RECVONLY),
        (Direction.RECVONLY, Direction.SENDRECV, Direction.SENDONLY),
        (Direction.INACTIVE, Direction.SENDRECV, Direction.INACTIVE),
        (Direction.SENDRECV, Direction.SENDONLY, Direction.SENDONLY),
        (Direction.SENDONLY, Direction.SENDONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction_follows_rfc3264_6_1(
    offered: Direction, local: Direction, expected: Direction
) -> None:
    assert answer_direction(offered, local) is expected


def test_sendonly_reoffer_is_hold_and_we_answer_recvonly() -> None:
    offer = load("rfc3264_hold_sendonly.sdp")
    assert is_hold(offer, offer.media[0])
    pcmu_ilbc = policy("PCMU,ILBC")
    ilbc = spec("iLBC", 8000, ptimes=(30, 20))
    answer = answer_offer(offer, LOCAL, pcmu_ilbc, (*AVAILABLE, ilbc))
    assert answer.negotiated.hold
    assert answer.negotiated.direction is Direction.RECVONLY
    assert answer.negotiated.ptime == 30  # iLBC's first ptime: the offer named none
    assert answer.sdp.media[0].direction is Direction.RECVONLY


def test_old_style_null_connection_is_hold_with_no_address() -> None:
    offer = load("rfc2543_hold_null_c.sdp")
    assert is_hold(offer, offer.media[0])
    negotiated = answer_offer(offer, LOCAL, policy("PCMU"), AVAILABLE).negotiated
    assert negotiated.hold
    assert negotiated.remote_addr is None and negotiated.remote_rtcp_addr is None
    assert negotiated.direction is Direction.RECVONLY


def test_inactive_and_recvonly_offers() -> None:
    inactive = sdp("m=audio 5000 RTP/AVP 0\r\na=inactive\r\n")
    assert answer_offer(inactive, LOCAL, policy("PCMU"), AVAILABLE).negotiated.direction is Direction.INACTIVE
    recvonly = sdp("m=audio 5000 RTP/AVP 0\r\na=recvonly\r\n")
    negotiated = answer_offer(recvonly, LOCAL, policy("PCMU"), AVAILABLE).negotiated
    assert negotiated.direction is Direction.SENDONLY and not negotiated.hold


def test_with_direction_bumps_the_session_version() -> None:
    offer = build_offer(LOCAL, policy("PCMU"), AVAILABLE).sdp
    held = with_direction(offer, Direction.SENDONLY)
    assert held.origin.session_version == "2"
    assert held.media[0].direction is Direction.SENDONLY
    assert with_direction(held, Direction.SENDRECV, version=7).origin.session_version == "7"


# --- ptime and fmtp --------------------------------------------------------


def test_remote_ptime_wins_unless_scrooge() -> None:
    offer = sdp("m=audio 5000 RTP/AVP 0\r\na=ptime:30\r\n")
    assert answer_offer(offer, LOCAL, policy("PCMU@20i"), AVAILABLE).negotiated.ptime == 30
    scrooge = policy("PCMU@20i", negotiation=CodecNegotiation.SCROOGE)
    assert answer_offer(offer, LOCAL, scrooge, AVAILABLE).negotiated.ptime == 20
    unsupported = sdp("m=audio 5000 RTP/AVP 0\r\na=ptime:25\r\n")
    assert answer_offer(unsupported, LOCAL, policy("PCMU@10i"), AVAILABLE).negotiated.ptime == 10


def test_maxptime_caps_the_chosen_ptime() -> None:
    offer = sdp("m=audio 5000 RTP/AVP 0\r\na=maxptime:30\r\n")
    assert answer_offer(offer, LOCAL, policy("PCMU@60i"), AVAILABLE).negotiated.ptime == 30


class MinBitrateOpus:
    """A stand-in for mod_opus's rules: answer with FEC on, lowest bitrate wins."""

    def local(self, spec: CodecSpec, remote: Mapping[str, str] | None) -> Mapping[str, str]:
        params = {"useinbandfec": "1", "maxaveragebitrate": "30000"}
        if remote and remote.get("stereo") == "1":
            params["stereo"] = "1"
        return params

    def merge(
        self, spec: CodecSpec, local: Mapping[str, str], remote: Mapping[str, str]
    ) -> Mapping[str, str]:
        rates = [int(p["maxaveragebitrate"]) for p in (local, remote) if "maxaveragebitrate" in p]
        return {**remote, **local, "maxaveragebitrate": str(min(rates))}


def test_fmtp_negotiator_hook_shapes_answer_and_effective_params() -> None:
    offer = sdp(
        "m=audio 5000 RTP/AVP 109\r\na=rtpmap:109 OPUS/48000/2\r\na=fmtp:109 maxaveragebitrate=20000\r\n"
    )
    hooked = policy("OPUS", fmtp={"OPUS": MinBitrateOpus()})
    answer = answer_offer(offer, LOCAL, hooked, AVAILABLE)
    assert answer.sdp.media[0].fmtp(109) == {"useinbandfec": "1", "maxaveragebitrate": "30000"}
    assert answer.negotiated.fmtp == {"maxaveragebitrate": "20000", "useinbandfec": "1"}
    assert answer.negotiated.remote_fmtp == {"maxaveragebitrate": "20000"}
    assert answer.sdp.media[0].rtpmaps()[109].encoding == "OPUS"  # the offerer's spelling is echoed


# --- answers to our offers -------------------------------------------------


def test_accept_answer_uses_answer_pts_for_sending_and_ours_for_receiving() -> None:
    offer = build_offer(LOCAL, policy("OPUS,PCMA"), AVAILABLE)
    answer = sdp(
        "m=audio 6000 RTP/AVP 111 8 102\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:102 telephone-event/48000\r\n"
        "a=fmtp:111 useinbandfec=0\r\na=ptime:40\r\na=sendonly\r\n"
    )
    negotiated = accept_answer(offer.sdp, answer, policy("OPUS,PCMA"), AVAILABLE)
    assert negotiated.codec is OPUS
    assert (negotiated.pt, negotiated.recv_pt) == (111, 96)
    assert (negotiated.dtmf_pt, negotiated.recv_dtmf_pt) == (102, 127)
    assert negotiated.ptime == 40
    assert negotiated.fmtp == {"useinbandfec": "0", "maxaveragebitrate": "30000"}
    assert negotiated.direction is Direction.RECVONLY and negotiated.hold
    assert negotiated.remote_addr == ("10.0.0.9", 6000)


def test_accept_answer_rejected_stream_is_no_common_codec() -> None:
    offer = build_offer(LOCAL, policy("PCMU"), AVAILABLE)
    with pytest.raises(NoCommonCodec, match=r"rejected the audio stream \(port 0\)"):
        accept_answer(offer.sdp, sdp("m=audio 0 RTP/AVP 0\r\n"), policy("PCMU"), AVAILABLE)
    with pytest.raises(NoCommonCodec, match=r"answered G729/8000; offered PCMU/8000"):
        accept_answer(offer.sdp, sdp("m=audio 7000 RTP/AVP 18\r\n"), policy("PCMU"), AVAILABLE)


def test_our_offer_answered_by_our_answerer_agrees_on_both_sides() -> None:
    caller = policy("OPUS,G722,PCMU")
    callee = policy("PCMU,G722", negotiation=CodecNegotiation.GREEDY)
    offer = build_offer(LOCAL, caller, AVAILABLE)
    answer = answer_offer(offer.sdp, LocalMedia("127.0.0.1", 15204), callee, AVAILABLE)
    ours = accept_answer(offer.sdp, answer.sdp, caller, AVAILABLE)
    theirs = answer.negotiated
    assert ours.codec is theirs.codec is PCMU
    assert ours.pt == theirs.recv_pt == 0
    assert ours.dtmf_pt == theirs.dtmf_pt == 101
    assert ours.remote_addr == ("127.0.0.1", 15204)
    assert theirs.remote_addr == ("127.0.0.1", 15200)


def test_remote_addresses_follow_rtcp_attribute_and_mux() -> None:
    plain = sdp("m=audio 5000 RTP/AVP 0\r\n")
    assert remote_rtp_address(plain, plain.media[0]) == ("10.0.0.9", 5000)
    assert remote_rtcp_address(plain, plain.media[0]) == ("10.0.0.9", 5001)
    declared = sdp("m=audio 5000 RTP/AVP 0\r\na=rtcp:6001\r\n")
    assert remote_rtcp_address(declared, declared.media[0]) == ("10.0.0.9", 6001)
    elsewhere = sdp("m=audio 5000 RTP/AVP 0\r\nc=IN IP4 10.0.0.7\r\na=rtcp:6001 IN IP4 10.0.0.8\r\n")
    assert remote_rtp_address(elsewhere, elsewhere.media[0]) == ("10.0.0.7", 5000)
    assert remote_rtcp_address(elsewhere, elsewhere.media[0]) == ("10.0.0.8", 6001)
    muxed = sdp("m=audio 5000 RTP/AVP 0\r\na=rtcp-mux\r\n")
    assert remote_rtcp_address(muxed, muxed.media[0]) == ("10.0.0.9", 5000)
