"""The registered implementations: what they declare, and that audio survives encode -> decode."""

from __future__ import annotations

import numpy as np
import pytest

from modules.mod_opus import IMPLEMENTATIONS, PTIMES, OpusCodecs
from switchcore.media.analysis import dbfs, dominant_frequency, sine, split_channels, tone_present
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.codec import CodecSpec
from switchcore.media.frame import Samples
from switchcore.media.resample import Resampler

CODECS = OpusCodecs()
CASES = [(spec, ptime) for spec in CODECS.specs for ptime in spec.ptimes]


def run(spec: CodecSpec, fmtp: dict[str, str], signal: Samples, ptime: int) -> Samples:
    """`signal` (interleaved for stereo) through a fresh encoder and decoder, one ptime per packet."""
    encoder, decoder = spec.make_encoder(fmtp), spec.make_decoder(fmtp)
    step = spec.rate * ptime // 1000 * spec.channels
    packets = [encoder.encode(signal[i : i + step]) for i in range(0, len(signal) - step + 1, step)]
    return np.concatenate([decoder.decode(p) for p in packets])


def test_four_implementations_as_freeswitch_registers_them() -> None:
    assert [s.key for s in CODECS.specs] == ["OPUS/48000/1", "OPUS/48000/2", "OPUS/16000/1", "OPUS/8000/1"]
    assert IMPLEMENTATIONS == ((48000, 1), (48000, 2), (16000, 1), (8000, 1))
    for spec in CODECS.specs:
        assert (spec.name, spec.clock_rate, spec.static_pt, spec.ptimes) == ("OPUS", 48000, None, PTIMES)
    assert PTIMES[0] == 20  # the default ptime
    assert CODECS.find(16000).description == "Opus 16 kHz mono (libopus)"
    with pytest.raises(KeyError):
        CODECS.find(24000)


def test_no_key_clashes_with_the_builtin_codecs() -> None:
    keys = [s.key for s in [*builtin_codecs(), *CODECS.specs]]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("spec", "ptime"), CASES, ids=[f"{s.rate}-{s.channels}ch-{p}ms" for s, p in CASES])
def test_1khz_tone_keeps_its_frequency_and_level(spec: CodecSpec, ptime: int) -> None:
    tone = sine(1000, 1200, spec.rate)
    signal = np.stack([tone] * spec.channels, axis=1).reshape(-1) if spec.channels == 2 else tone
    out = run(spec, dict(spec.default_fmtp), signal, ptime)
    assert len(out) == len(signal) // (spec.rate * ptime // 1000 * spec.channels) * (
        spec.rate * ptime // 1000 * spec.channels
    )
    for channel in split_channels(out, spec.channels):
        settled = channel[spec.rate // 5 :]  # past the encoder's start-up
        assert abs(dominant_frequency(settled, spec.rate) - 1000.0) < 2.0
        assert tone_present(settled, spec.rate, 1000, min_ratio=0.9)
        assert abs(dbfs(settled) - dbfs(tone)) < 1.0


def test_stereo_keeps_left_and_right_apart_when_the_peer_asks_for_stereo() -> None:
    spec = CODECS.find(48000, 2)
    left, right = sine(700, 1000, 48000), sine(1800, 1000, 48000)
    signal = np.stack([left, right], axis=1).reshape(-1)
    fmtp = {"stereo": "1", "sprop-stereo": "1", "maxaveragebitrate": "64000"}
    out_left, out_right = (c[9600:] for c in split_channels(run(spec, fmtp, signal, 20), 2))
    assert tone_present(out_left, 48000, 700, min_ratio=0.8) and not tone_present(out_left, 48000, 1800)
    assert tone_present(out_right, 48000, 1800, min_ratio=0.8) and not tone_present(out_right, 48000, 700)


def test_stereo_implementation_sends_mono_to_a_peer_that_did_not_ask_for_stereo() -> None:
    spec = CODECS.find(48000, 2)
    encoder = spec.make_encoder({})
    signal = np.stack([sine(700, 20, 48000), sine(1800, 20, 48000)], axis=1).reshape(-1)
    assert all(not encoder.encode(signal)[0] & 0x4 for _ in range(10))  # TOC s bit: mono


def test_any_implementation_decodes_what_another_encoded() -> None:
    """RFC 7587 4.1: the stream is the same whatever PCM rate each side runs at."""
    sender, receiver = CODECS.find(48000), CODECS.find(8000)
    encoder, decoder = sender.make_encoder({}), receiver.make_decoder({})
    tone = sine(1000, 1000, 48000)
    out = np.concatenate(
        [decoder.decode(encoder.encode(tone[i : i + 960])) for i in range(0, len(tone), 960)]
    )
    assert len(out) == 8000
    assert abs(dominant_frequency(out[1600:], 8000) - 1000.0) < 2.0


@pytest.mark.parametrize("rate", [48000, 16000])
def test_opus_leg_to_pcmu_leg_through_l16_and_resampling(rate: int) -> None:
    """A bridge to a PCMU leg: Opus -> L16 at the Opus rate -> 8 kHz -> PCMU, and back the other way."""
    opus = CODECS.find(rate)
    pcmu = next(s for s in builtin_codecs() if s.name == "PCMU")
    opus_phone_out, opus_leg_in = opus.make_encoder({}), opus.make_decoder({})
    opus_leg_out, opus_phone_in = opus.make_encoder({}), opus.make_decoder({})
    pcmu_leg_out, pcmu_phone_in = pcmu.make_encoder({}), pcmu.make_decoder({})
    pcmu_phone_out, pcmu_leg_in = pcmu.make_encoder({}), pcmu.make_decoder({})
    down, up = Resampler(rate, 8000), Resampler(8000, rate)
    step = rate // 50
    heard_by_pcmu, heard_by_opus = [], []
    tone_a, tone_b = sine(1000, 1000, rate), sine(600, 1000, 8000)
    for i in range(50):
        l16 = opus_leg_in.decode(opus_phone_out.encode(tone_a[i * step : (i + 1) * step]))
        heard_by_pcmu.append(pcmu_phone_in.decode(pcmu_leg_out.encode(down.process(l16))))
        l16 = up.process(pcmu_leg_in.decode(pcmu_phone_out.encode(tone_b[i * 160 : (i + 1) * 160])))
        heard_by_opus.append(opus_phone_in.decode(opus_leg_out.encode(l16)))
    assert abs(dominant_frequency(np.concatenate(heard_by_pcmu)[1600:], 8000) - 1000.0) < 3.0
    assert abs(dominant_frequency(np.concatenate(heard_by_opus)[rate // 5 :], rate) - 600.0) < 3.0
