"""The decoder: FEC beats concealment, bad payloads never raise, the counters count."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from modules.mod_opus import EncoderConfig, OpusDecoder, OpusEncoder, OpusStats
from switchcore.media.analysis import sine
from switchcore.media.frame import FrameFlag, Samples

from .signals import frames, speech_like

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "opus"
PACKETS = {p["name"]: p for p in json.loads((VECTORS / "packets.json").read_text())}
LOST_EVERY = 5  # every fifth packet, starting with the third


def lost(index: int) -> bool:
    return index % LOST_EVERY == 2


def lossy_playout(rate: int, packets: list[bytes], size: int, use_fec: bool) -> tuple[Samples, OpusStats]:
    """What an endpoint plays when every fifth packet is lost: FEC from the next packet, or concealment."""
    decoder = OpusDecoder(rate, use_fec=use_fec)
    out = []
    for index, packet in enumerate(packets):
        if not lost(index):
            out.append(decoder.decode(packet))
        elif index + 1 < len(packets):
            out.append(decoder.decode_fec(packets[index + 1], size))
        else:
            out.append(decoder.conceal(size))
    return np.concatenate(out), decoder.stats


@pytest.mark.parametrize(("rate", "bitrate"), [(48000, 30000), (16000, 20000), (8000, 20000)])
def test_fec_recovers_lost_packets_better_than_concealment(rate: int, bitrate: int) -> None:
    size = rate // 50
    signal = speech_like(rate, 4.0)
    encoder = OpusEncoder(EncoderConfig(rate=rate, bitrate=bitrate, fec=True, packet_loss_percent=20))
    packets = [encoder.encode(f) for f in frames(signal, size)]
    delay = encoder.lookahead  # the decoded audio lags the input by this much

    def error_in_lost_frames(played: Samples) -> float:
        """RMS error against the original over the lost packets' audio."""
        errors = [
            played[i * size + delay : (i + 1) * size + delay].astype(float)
            - signal[i * size : (i + 1) * size]
            for i in range(len(packets) - 1)
            if lost(i)
        ]
        return float(np.sqrt(np.mean(np.concatenate(errors) ** 2)))

    with_fec, fec_stats = lossy_playout(rate, packets, size, use_fec=True)
    with_plc, plc_stats = lossy_playout(rate, packets, size, use_fec=False)
    assert error_in_lost_frames(with_fec) < 0.75 * error_in_lost_frames(with_plc)
    losses = sum(lost(i) for i in range(len(packets)))
    assert fec_stats.fec >= 0.6 * losses and fec_stats.fec + fec_stats.plc == losses
    assert plc_stats == OpusStats(frames=len(packets) - losses, plc=losses, fec=0)


def test_decode_fec_without_fec_in_the_next_packet_conceals() -> None:
    packet = bytes.fromhex(PACKETS["celt_fb_20ms"]["packet"])
    decoder = OpusDecoder(48000)
    out = decoder.decode_fec(packet, 960)
    assert len(out) == 960
    assert decoder.last_flag is FrameFlag.PLC and decoder.stats == OpusStats(plc=1)


def test_decode_fec_uses_the_next_packet_and_flags_the_frame() -> None:
    case = PACKETS["silk_wb_fec_20ms"]
    decoder = OpusDecoder(16000)
    decoder.decode(bytes.fromhex(case["previous"]))
    out = decoder.decode_fec(bytes.fromhex(case["packet"]), 320)
    assert len(out) == 320 and decoder.last_flag is FrameFlag.FEC
    assert str(decoder.stats) == "Frames[1] PLC[0] FEC[1]"
    decoder.decode(bytes.fromhex(case["packet"]))
    assert decoder.last_flag is FrameFlag.NONE and decoder.frames == 2


@pytest.mark.parametrize("samples", [0, -5, 317, 5761 * 2])
def test_decode_fec_with_an_unusable_length_conceals(samples: int) -> None:
    decoder = OpusDecoder(16000)
    out = decoder.decode_fec(bytes.fromhex(PACKETS["silk_wb_fec_20ms"]["packet"]), samples)
    assert len(out) == max(samples, 0) and decoder.fec == 0 and decoder.plc == 1


def test_decode_fec_is_off_without_jitter_buffer_lookahead() -> None:
    decoder = OpusDecoder(16000, use_fec=False)
    decoder.decode_fec(bytes.fromhex(PACKETS["silk_wb_fec_20ms"]["packet"]), 320)
    assert (decoder.fec, decoder.plc) == (0, 1)


def valid_packets() -> list[bytes]:
    encoder = OpusEncoder(EncoderConfig(rate=48000, bitrate=30000, fec=True, packet_loss_percent=10))
    return [encoder.encode(f) for f in frames(speech_like(48000, 0.4), 960)]


def test_corrupt_and_truncated_payloads_are_concealed_and_never_raise() -> None:
    rng = random.Random(7)
    packets = valid_packets()
    bad = [b"", b"\x00", b"\xff" * 3, bytes(5000)]
    bad += [bytes([b]) for b in range(256)]
    bad += [p[: rng.randrange(1, len(p))] for p in packets]  # truncated
    bad += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))) for _ in range(300)]  # noise
    bad += [bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.1 else b for b in p) for p in packets]
    decoder = OpusDecoder(48000)
    for payload in bad:
        out = decoder.decode(payload)
        assert out.dtype == np.int16 and len(out) % 120 == 0 and 0 < len(out) <= 5760
        out = decoder.decode_fec(payload, 960)
        assert len(out) == 960
    stats = decoder.stats
    assert stats.invalid > 0 and stats.plc >= stats.invalid
    assert stats.frames + stats.invalid + 1 == len(bad)  # each decoded, refused, or (b'') lost
    for packet in packets:  # and it still decodes good audio afterwards
        assert len(decoder.decode(packet)) == 960


def test_an_invalid_payload_is_counted_and_stands_in_for_the_last_packet_length() -> None:
    encoder = OpusEncoder(EncoderConfig(rate=48000))
    decoder = OpusDecoder(48000)
    decoder.decode(encoder.encode(sine(1000, 40, 48000)))
    out = decoder.decode(b"\xff\xff\xff")
    assert len(out) == 1920 and decoder.last_flag is FrameFlag.PLC
    assert decoder.stats == OpusStats(frames=1, plc=1, fec=0, invalid=1)


def test_an_empty_payload_is_a_lost_packet() -> None:
    decoder = OpusDecoder(16000)
    assert len(decoder.decode(b"")) == 320  # 20 ms until a packet says otherwise
    assert decoder.stats == OpusStats(plc=1)


@pytest.mark.parametrize(
    ("rate", "channels", "samples"), [(48000, 1, 960), (48000, 2, 960), (8000, 1, 77), (16000, 1, 4000)]
)
def test_conceal_gives_exactly_the_samples_asked_for(rate: int, channels: int, samples: int) -> None:
    decoder = OpusDecoder(rate, channels)
    out = decoder.conceal(samples)
    assert out.dtype == np.int16 and len(out) == samples * channels
    assert decoder.last_flag is FrameFlag.PLC


def test_concealment_continues_the_sound_then_fades() -> None:
    encoder, decoder = OpusEncoder(EncoderConfig(rate=48000)), OpusDecoder(48000)
    tone = sine(1000, 400, 48000)
    for f in frames(tone, 960):
        decoder.decode(encoder.encode(f))
    first = decoder.conceal(960)
    later = [decoder.conceal(960) for _ in range(10)][-1]
    assert np.sqrt(np.mean(first.astype(float) ** 2)) > 1000
    assert np.sqrt(np.mean(later.astype(float) ** 2)) < np.sqrt(np.mean(first.astype(float) ** 2)) / 4


def test_stats_as_channel_variables() -> None:
    stats = OpusStats(frames=100, plc=3, fec=2, invalid=1)
    assert str(stats) == "Frames[100] PLC[3] FEC[2]"
    assert stats.variables() == {
        "rtp_audio_in_opus_frames": "100",
        "rtp_audio_in_opus_plc": "3",
        "rtp_audio_in_opus_fec": "2",
        "rtp_audio_in_opus_invalid": "1",
    }
    assert stats.variables(prefix="opus_")["opus_fec"] == "2"
