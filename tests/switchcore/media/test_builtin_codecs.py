"""The built-in codec specs: payload formats, round trips and concealment."""

from __future__ import annotations

import numpy as np
import pytest

from switchcore.media.analysis import dominant_frequency, rms, sine
from switchcore.media.builtin_codecs import CodecError, RepeatFade, builtin_codecs
from switchcore.media.codec import CodecSpec
from switchcore.media.g711 import ulaw_encode


def spec(key: str) -> CodecSpec:
    found = {s.key: s for s in builtin_codecs()}
    return found[key]


def test_builtin_codecs_declare_rfc3551_payload_types_and_rates() -> None:
    table = {s.key: (s.static_pt, s.rate, s.clock_rate) for s in builtin_codecs()}
    assert table == {
        "G722/16000/1": (9, 16000, 8000),
        "PCMU/8000/1": (0, 8000, 8000),
        "PCMA/8000/1": (8, 8000, 8000),
        "L16/8000/1": (None, 8000, 8000),
        "L16/16000/1": (None, 16000, 16000),
        "L16/48000/1": (None, 48000, 48000),
    }
    assert all(s.ptimes[0] == 20 for s in builtin_codecs())


@pytest.mark.parametrize("key", ["PCMU/8000/1", "PCMA/8000/1"])
def test_g711_payload_is_one_byte_per_sample_and_round_trips_a_tone(key: str) -> None:
    codec = spec(key)
    encoder, decoder = codec.make_encoder({}), codec.make_decoder({})
    x = sine(1000, 20, 8000, amplitude=10000)
    payload = encoder.encode(x)
    assert len(payload) == 160
    y = decoder.decode(payload)
    assert y.dtype == np.int16 and len(y) == 160
    assert np.max(np.abs(y.astype(int) - x)) <= 320  # within one quantisation step at this level


def test_pcmu_encoder_uses_the_g711_tables() -> None:
    x = sine(440, 20, 8000)
    assert spec("PCMU/8000/1").make_encoder({}).encode(x) == ulaw_encode(x)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_l16_is_big_endian_and_lossless(rate: int) -> None:
    codec = spec(f"L16/{rate}/1")
    x = sine(1000, 20, rate)
    payload = codec.make_encoder({}).encode(x)
    assert payload[:4] == x[:2].astype(">i2").tobytes()
    assert np.array_equal(codec.make_decoder({}).decode(payload), x)


def test_l16_refuses_an_odd_payload() -> None:
    with pytest.raises(CodecError, match="odd length"):
        spec("L16/8000/1").make_decoder({}).decode(b"\x00\x01\x02")


def test_g722_codes_20ms_to_160_bytes_and_keeps_the_tone_over_many_frames() -> None:
    codec = spec("G722/16000/1")
    encoder, decoder = codec.make_encoder({}), codec.make_decoder({})
    x = sine(1000, 1000, 16000, amplitude=8000)
    out = []
    for i in range(50):
        payload = encoder.encode(x[i * 320 : (i + 1) * 320])
        assert len(payload) == 160
        out.append(decoder.decode(payload))
    y = np.concatenate(out)
    assert len(y) == len(x)
    assert dominant_frequency(y[1600:], 16000) == pytest.approx(1000, abs=2)
    assert rms(y[1600:]) == pytest.approx(rms(x), rel=0.1)


def test_g722_encodes_40ms_in_one_payload() -> None:
    encoder = spec("G722/16000/1").make_encoder({})
    assert len(encoder.encode(sine(500, 40, 16000))) == 320


def test_g722_refuses_a_partial_block() -> None:
    with pytest.raises(CodecError, match="whole 20 ms blocks"):
        spec("G722/16000/1").make_encoder({}).encode(np.zeros(160, np.int16))


def test_each_factory_call_gives_independent_codec_state() -> None:
    codec = spec("G722/16000/1")
    a, b = codec.make_encoder({}), codec.make_encoder({})
    x = sine(700, 20, 16000)
    a.encode(sine(3000, 20, 16000))
    assert b.encode(x) == codec.make_encoder({}).encode(x)


@pytest.mark.parametrize("key", ["PCMU/8000/1", "PCMA/8000/1", "L16/16000/1", "G722/16000/1"])
def test_conceal_before_any_packet_is_silence(key: str) -> None:
    y = spec(key).make_decoder({}).conceal(160)
    assert y.dtype == np.int16 and len(y) == 160 and not np.any(y)


def test_conceal_repeats_the_last_frame_then_fades_to_silence() -> None:
    decoder = spec("PCMU/8000/1").make_decoder({})
    x = sine(1000, 20, 8000, amplitude=10000)
    decoder.decode(ulaw_encode(x))
    first, second, third, fourth = (decoder.conceal(160) for _ in range(4))
    assert rms(first) > rms(second) > rms(third) > 0
    assert not np.any(fourth)  # 60 ms of fade, then silence
    assert dominant_frequency(first, 8000) == pytest.approx(1000, abs=5)
    # the next good packet resets the fade
    decoder.decode(ulaw_encode(x))
    assert rms(decoder.conceal(160)) == pytest.approx(rms(first), rel=0.01)


def test_repeat_fade_handles_odd_sizes() -> None:
    plc = RepeatFade(8000, fade_ms=20)
    plc.good(np.full(100, 1000, np.int16))
    y = plc.conceal(250)
    assert len(y) == 250
    assert y[0] == 1000 and y[159] <= 10 and not np.any(y[160:])
    assert len(plc.conceal(0)) == 0
