"""The encoder: what the negotiated fmtp and opus.conf make of it, and RTCP adaptation on a live encoder."""

from __future__ import annotations

import numpy as np
import pytest

from modules.mod_opus import EncoderConfig, OpusEncoder, OpusSettings
from modules.mod_opus.libopus import APPLICATION_AUDIO, APPLICATION_VOIP
from switchcore.media.analysis import sine
from switchcore.media.builtin_codecs import CodecError

DEFAULTS = OpusSettings()


def test_config_from_chromes_fmtp() -> None:
    config = EncoderConfig.from_fmtp(48000, 1, DEFAULTS, {"minptime": "10", "useinbandfec": "1"})
    assert config == EncoderConfig(
        rate=48000,
        channels=1,
        bitrate=30000,
        complexity=10,
        vbr=True,
        dtx=False,
        fec=True,
        packet_loss_percent=10,
        force_mono=False,
        max_audio_rate=48000,
        application=APPLICATION_VOIP,
        ptime=20,
    )


@pytest.mark.parametrize(
    ("fmtp", "field", "value"),
    [
        ({"maxaveragebitrate": "12000"}, "bitrate", 12000),
        ({"maxaveragebitrate": "90000"}, "bitrate", 30000),  # ours is lower
        ({}, "fec", False),  # RFC 7587 6.1: useinbandfec defaults to 0
        ({"usedtx": "1"}, "dtx", True),
        ({"cbr": "1"}, "vbr", False),
        ({"maxplaybackrate": "16000"}, "max_audio_rate", 16000),
        ({"ptime": "40"}, "ptime", 40),
    ],
)
def test_config_follows_the_peers_parameters(fmtp: dict[str, str], field: str, value: object) -> None:
    assert getattr(EncoderConfig.from_fmtp(48000, 1, DEFAULTS, fmtp), field) == value


def test_config_follows_opus_conf() -> None:
    settings = OpusSettings(
        use_vbr=False, use_dtx=True, complexity=3, packet_loss_percent=25, sprop_maxcapturerate=16000
    )
    config = EncoderConfig.from_fmtp(48000, 1, settings, {})
    assert (config.vbr, config.dtx, config.complexity, config.packet_loss_percent) == (False, True, 3, 25)
    assert config.max_audio_rate == 16000  # nothing above what we capture
    assert EncoderConfig.from_fmtp(16000, 1, DEFAULTS, {}).bitrate == 20000
    assert EncoderConfig.from_fmtp(8000, 1, DEFAULTS, {}).bitrate == 14000


def test_voice_hint_at_16_khz_and_below_as_freeswitch_sets_it() -> None:
    assert EncoderConfig.from_fmtp(16000, 1, DEFAULTS, {}).voice
    assert EncoderConfig.from_fmtp(48000, 1, DEFAULTS, {"maxplaybackrate": "16000"}).voice
    assert not EncoderConfig.from_fmtp(48000, 1, DEFAULTS, {}).voice


def test_stereo_config_codes_stereo_only_when_asked_and_not_mono() -> None:
    assert EncoderConfig.from_fmtp(48000, 2, DEFAULTS, {}).force_mono
    stereo = EncoderConfig.from_fmtp(48000, 2, DEFAULTS, {"stereo": "1"})
    assert not stereo.force_mono and stereo.application == APPLICATION_AUDIO
    assert EncoderConfig.from_fmtp(48000, 2, OpusSettings(mono=True), {"stereo": "1"}).force_mono


def stereo_packet(config: EncoderConfig) -> bytes:
    encoder = OpusEncoder(config)
    signal = np.stack([sine(500, 20, 48000), sine(1500, 20, 48000)], axis=1).reshape(-1)
    return [encoder.encode(signal) for _ in range(5)][-1]


def test_forced_mono_packets_say_mono_and_stereo_ones_say_stereo() -> None:
    assert not stereo_packet(EncoderConfig(rate=48000, channels=2, bitrate=64000, force_mono=True))[0] & 0x4
    assert stereo_packet(EncoderConfig(rate=48000, channels=2, bitrate=64000))[0] & 0x4


def test_dtx_sends_one_byte_frames_in_silence() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=48000, dtx=True))
    sizes = [len(encoder.encode(np.zeros(960, dtype=np.int16))) for _ in range(30)]
    assert sizes[-1] == 1 and sizes.count(1) >= 15
    plain = OpusEncoder(EncoderConfig(rate=48000))
    assert min(len(plain.encode(np.zeros(960, dtype=np.int16))) for _ in range(30)) > 2


def test_cbr_packets_have_one_size() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=48000, bitrate=24000, vbr=False))
    sizes = {len(encoder.encode(sine(1000, 20, 48000))) for _ in range(20)}
    assert sizes == {60}  # 24000 bps x 20 ms / 8


def test_maxplaybackrate_8000_keeps_packets_narrowband() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=48000, max_audio_rate=8000))
    configs = {encoder.encode(sine(1000, 20, 48000))[0] >> 3 for _ in range(20)}
    assert configs <= {0, 1, 2, 3, 16, 17, 18, 19}  # RFC 6716 3.1: the narrowband TOC configurations


def test_encoder_starts_at_the_negotiated_bitrate() -> None:
    encoder = OpusEncoder.for_fmtp(48000, 1, DEFAULTS, {"maxaveragebitrate": "16000"})
    assert encoder.bitrate == 16000
    assert encoder.lookahead == 312  # 6.5 ms at 48 kHz for the VOIP application


def test_loss_reports_change_the_live_encoders_bitrate() -> None:
    encoder = OpusEncoder.for_fmtp(48000, 1, DEFAULTS, {"useinbandfec": "1"})
    assert encoder.bitrate == 30000
    assert encoder.on_loss_report(64, now=0.0) == 26000
    assert encoder.bitrate == 26000
    for t in range(1, 30):
        encoder.on_loss_report(0, now=float(t))
    assert encoder.bitrate == 30000
    assert encoder.encode(sine(1000, 20, 48000))


def test_loss_reports_without_adjust_bitrate_leave_the_bitrate() -> None:
    encoder = OpusEncoder.for_fmtp(48000, 1, OpusSettings(adjust_bitrate=False), {})
    assert encoder.on_loss_report(200, now=0.0) is None
    assert encoder.bitrate == 30000


def test_encoder_without_controller_takes_the_loss_hint_only() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=16000, bitrate=20000, fec=True))
    assert encoder.on_loss_report(128, now=0.0) is None
    assert encoder.bitrate == 20000


def test_set_bitrate_is_clamped_to_what_opus_can_do() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=48000))
    encoder.set_bitrate(1000)
    assert encoder.bitrate == 6000
    encoder.set_bitrate(10_000_000)  # asks for 510000, which libopus caps at 300000 a channel
    assert encoder.bitrate == 300000


def test_encoder_counts_frames_and_bytes() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=8000))
    sizes = [len(encoder.encode(sine(1000, 20, 8000))) for _ in range(5)]
    assert (encoder.frames, encoder.bytes) == (5, sum(sizes))


def test_wrong_length_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="not one at 16000 Hz"):
        OpusEncoder(EncoderConfig(rate=16000)).encode(sine(1000, 25, 16000))
