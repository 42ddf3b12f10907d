"""Opus fmtp (RFC 7587 6.1, 7): parse/generate vectors, offers, answers, merges, and the hook in negotiate."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from modules.mod_opus import OpusCodecs, OpusFmtp, OpusFmtpNegotiator, OpusSettings
from modules.mod_opus.encoder import EncoderConfig
from switchcore.media.analysis import sine
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.negotiate import LocalMedia, MediaPolicy, accept_answer, answer_offer, build_offer
from switchcore.media.sdp import SessionDescription, format_fmtp_params, parse_fmtp_params

ROOT = Path(__file__).resolve().parents[3]
VECTORS = ROOT / "tests" / "vectors" / "opus"
SDP = ROOT / "tests" / "vectors" / "sdp"
PARSE = json.loads((VECTORS / "fmtp_parse.json").read_text())
NEGOTIATE = json.loads((VECTORS / "fmtp_negotiate.json").read_text())
LOCAL = LocalMedia("127.0.0.1", 16200, session_id="7")


def codecs_for(settings: dict[str, Any]) -> OpusCodecs:
    return OpusCodecs(OpusSettings(**settings))


def names(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


# --- parse and generate ----------------------------------------------------------------------


@pytest.mark.parametrize("case", PARSE, ids=names(PARSE))
def test_fmtp_parse_vectors(case: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mod_opus"):
        parsed = OpusFmtp.parse(parse_fmtp_params(case["fmtp"]))
    assert parsed == OpusFmtp(**case["parsed"])
    assert format_fmtp_params(parsed.to_params()) == case["params"]
    assert len(caplog.records) == case["warnings"]


@pytest.mark.parametrize("case", PARSE, ids=names(PARSE))
def test_generated_fmtp_parses_back_to_the_same_values(case: dict[str, Any]) -> None:
    parsed = OpusFmtp.parse(parse_fmtp_params(case["fmtp"]), quiet=True)
    assert OpusFmtp.parse(parse_fmtp_params(format_fmtp_params(parsed.to_params()))) == parsed


def test_clamping_names_the_side_and_the_values(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mod_opus"):
        OpusFmtp.parse({"maxaveragebitrate": "1000", "stereo": "2", "ptime": "abc"})
    assert [r.getMessage() for r in caplog.records] == [
        "opus fmtp from remote: maxaveragebitrate=1000 is outside 6000..510000, clamped to 6000",
        "opus fmtp from remote: stereo=2 is not 0 or 1, taken as 1",
        "opus fmtp from remote: ptime='abc' is not a number, ignored",
    ]


def test_quiet_parse_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mod_opus"):
        OpusFmtp.parse({"maxaveragebitrate": "1000"}, quiet=True)
    assert not caplog.records


# --- offers, answers, merges -------------------------------------------------------------------


@pytest.mark.parametrize("case", NEGOTIATE["offers"], ids=names(NEGOTIATE["offers"]))
def test_offer_vectors(case: dict[str, Any]) -> None:
    codecs = codecs_for(case["settings"])
    spec = codecs.find(*case["spec"])
    assert format_fmtp_params(codecs.negotiator.local(spec, None)) == case["offer"]
    assert format_fmtp_params(spec.default_fmtp) == case["offer"]  # what PassthroughFmtp would offer


@pytest.mark.parametrize("case", NEGOTIATE["answers"], ids=names(NEGOTIATE["answers"]))
def test_answer_vectors(case: dict[str, Any]) -> None:
    codecs = codecs_for(case["settings"])
    spec = codecs.find(*case["spec"])
    remote = parse_fmtp_params(case["remote"])
    answer = codecs.negotiator.local(spec, remote)
    assert format_fmtp_params(answer) == case["answer"]
    assert format_fmtp_params(codecs.negotiator.merge(spec, answer, remote)) == case["merged"]


@pytest.mark.parametrize("case", NEGOTIATE["accepted"], ids=names(NEGOTIATE["accepted"]))
def test_accepted_answer_vectors(case: dict[str, Any]) -> None:
    codecs = codecs_for(case["settings"])
    spec = codecs.find(*case["spec"])
    merged = codecs.negotiator.merge(
        spec, parse_fmtp_params(case["local"]), parse_fmtp_params(case["remote"])
    )
    assert format_fmtp_params(merged) == case["merged"]


def test_out_of_range_offer_is_logged_once_per_negotiation(caplog: pytest.LogCaptureFixture) -> None:
    codecs = OpusCodecs()
    spec = codecs.find(48000)
    remote = {"maxaveragebitrate": "1000"}
    with caplog.at_level(logging.WARNING, logger="mod_opus"):
        codecs.negotiator.merge(spec, codecs.negotiator.local(spec, remote), remote)
    assert len(caplog.records) == 1


def test_negotiator_follows_settings_reloads() -> None:
    codecs = OpusCodecs()
    spec = codecs.find(48000)
    assert codecs.negotiator.local(spec, None)["maxaveragebitrate"] == "30000"
    codecs.settings = OpusSettings(maxaveragebitrate=64000, mono=True)
    assert codecs.negotiator.local(spec, None)["maxaveragebitrate"] == "64000"
    assert spec.default_fmtp["stereo"] == "0"


def test_negotiator_with_fixed_settings() -> None:
    negotiator = OpusFmtpNegotiator(OpusSettings(use_dtx=True))
    assert negotiator.settings.use_dtx
    assert negotiator.ours(48000, 1, (20,)).usedtx is True


# --- through switchcore.media.negotiate ---------------------------------------------------------


def opus_policy(codecs: OpusCodecs, prefs: str = "OPUS,PCMU", **options: object) -> MediaPolicy:
    return MediaPolicy.from_prefs(prefs, fmtp={"OPUS": codecs.negotiator}, **options)


def available(codecs: OpusCodecs) -> list[Any]:
    return [*codecs.specs, *builtin_codecs()]


def test_offer_writes_opus_48000_2_with_our_fmtp() -> None:
    codecs = OpusCodecs()
    offer = build_offer(LOCAL, opus_policy(codecs), available(codecs))
    text = str(offer.sdp)
    assert "a=rtpmap:96 opus/48000/2\r\n" in text
    assert (
        "a=fmtp:96 useinbandfec=1;maxaveragebitrate=30000;maxplaybackrate=48000;ptime=20;minptime=10;maxptime=40\r\n"
        in text
    )
    assert offer.codecs[0].spec.key == "OPUS/48000/1"


def test_mono_setting_makes_a_stereo_offer_mono() -> None:
    codecs = OpusCodecs(OpusSettings(mono=True))
    offer = build_offer(LOCAL, opus_policy(codecs, "OPUS@2c,PCMU"), available(codecs))
    assert offer.codecs[0].spec.key == "OPUS/48000/2"
    assert offer.codecs[0].fmtp["stereo"] == "0" and offer.codecs[0].fmtp["sprop-stereo"] == "0"


def test_answer_to_baresip_stereo_offer_with_mono_set_is_mono_and_the_encoder_codes_mono() -> None:
    codecs = OpusCodecs(OpusSettings(mono=True))
    offer = SessionDescription.parse((SDP / "baresip_offer.sdp").read_bytes())
    answer = answer_offer(offer, LOCAL, opus_policy(codecs, "OPUS@2c,PCMU"), available(codecs))
    negotiated = answer.negotiated
    assert negotiated.codec.key == "OPUS/48000/2"
    assert "a=fmtp:96 " in str(answer.sdp) and "stereo=0;sprop-stereo=0" in str(answer.sdp)
    config = EncoderConfig.from_fmtp(48000, 2, codecs.settings, negotiated.fmtp)
    assert config.force_mono


def test_answer_to_chrome_turns_on_fec_in_our_encoder() -> None:
    codecs = OpusCodecs()
    offer = SessionDescription.parse((SDP / "chrome_offer.sdp").read_bytes())
    policy = opus_policy(codecs, protos=("UDP/TLS/RTP/SAVPF",))
    negotiated = answer_offer(offer, LOCAL, policy, available(codecs)).negotiated
    assert negotiated.pt == 111
    assert dict(negotiated.local_fmtp)["useinbandfec"] == "1"
    config = EncoderConfig.from_fmtp(48000, 1, codecs.settings, negotiated.fmtp)
    assert config.fec and config.bitrate == 30000


def test_offer_answered_by_a_lower_bitrate_peer_sets_our_encoder_bitrate() -> None:
    codecs = OpusCodecs()
    policy = opus_policy(codecs)
    offer = build_offer(LOCAL, policy, available(codecs))
    answer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"
        "a=fmtp:96 maxaveragebitrate=12000;useinbandfec=1\r\n"
    )
    negotiated = accept_answer(offer.sdp, answer, policy, available(codecs))
    assert negotiated.fmtp["maxaveragebitrate"] == "12000"
    encoder = negotiated.codec.make_encoder(negotiated.fmtp)
    assert encoder.bitrate == 12000  # type: ignore[attr-defined]


def test_peer_offering_only_unknown_parameters_gets_a_working_call() -> None:
    codecs = OpusCodecs()
    offer = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 30000 RTP/AVP 100\r\na=rtpmap:100 opus/48000/2\r\na=fmtp:100 x-vendor=7;frobnicate\r\n"
    )
    negotiated = answer_offer(offer, LOCAL, opus_policy(codecs), available(codecs)).negotiated
    encoder = negotiated.codec.make_encoder(negotiated.fmtp)
    decoder = negotiated.codec.make_decoder(negotiated.fmtp)
    pcm = decoder.decode(encoder.encode(sine(1000, 20, 48000)))
    assert len(pcm) == 960
