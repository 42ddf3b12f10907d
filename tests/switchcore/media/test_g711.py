"""G.711 against the ITU-T G.191 reference behaviour and CPython's audioop (3.11 only)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from switchcore.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop
    except ImportError:  # Python >= 3.13
        audioop = None  # type: ignore[assignment]

needs_audioop = pytest.mark.skipif(audioop is None, reason="audioop was removed in Python 3.13")

ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def codes(payload: bytes) -> np.ndarray:
    return np.frombuffer(payload, dtype=np.uint8)


# Known values from the G.191 tables: (sample, mu-law code, A-law code).
KNOWN = [
    (0, 0xFF, 0xD5),
    (-1, 0x7F, 0x55),  # G.191 folds negatives with ~x: -1 is "negative zero"
    (8, 0xFE, 0xD5),
    (32767, 0x80, 0xAA),
    (-32768, 0x00, 0x2A),
    (1000, 0xCE, 0xFA),
    (-1000, 0x4E, 0x7A),
]


@pytest.mark.parametrize(("sample", "ulaw", "alaw"), KNOWN)
def test_known_samples_encode_to_itu_codes(sample: int, ulaw: int, alaw: int) -> None:
    x = np.array([sample], dtype=np.int16)
    assert codes(ulaw_encode(x))[0] == ulaw
    assert codes(alaw_encode(x))[0] == alaw


def test_decode_tables_hit_the_itu_end_points() -> None:
    assert ulaw_decode(b"\xff\x7f\x80\x00").tolist() == [0, 0, 32124, -32124]
    assert alaw_decode(b"\xd5\x55\xaa\x2a").tolist() == [8, -8, 32256, -32256]


def test_every_code_survives_decode_then_encode() -> None:
    u = codes(ulaw_encode(ulaw_decode(ALL_CODES)))
    a = codes(alaw_encode(alaw_decode(ALL_CODES)))
    expected_u = np.arange(256, dtype=np.uint8)
    expected_u[0x7F] = 0xFF  # mu-law has two zeros; both decode to 0, which encodes as +0
    assert np.array_equal(u, expected_u)
    assert np.array_equal(a, np.arange(256, dtype=np.uint8))


def test_negative_samples_mirror_positive_ones_by_ones_complement() -> None:
    negatives = ALL_SAMPLES[ALL_SAMPLES < 0]
    mirrored = ~negatives  # -1 -> 0, -32768 -> 32767
    assert np.array_equal(codes(ulaw_encode(negatives)), codes(ulaw_encode(mirrored)) & 0x7F)
    assert np.array_equal(codes(alaw_encode(negatives)), codes(alaw_encode(mirrored)) ^ 0x80)


def test_encoding_is_monotonic_in_decoded_value() -> None:
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        decoded = decode(encode(ALL_SAMPLES)).astype(np.int32)
        assert np.all(np.diff(decoded) >= 0)
        # the quantisation error never exceeds half the largest step (1024 for both laws)
        assert np.max(np.abs(decoded - ALL_SAMPLES)) <= 1024


@needs_audioop
def test_decoders_match_audioop_for_every_code() -> None:
    assert np.array_equal(ulaw_decode(ALL_CODES), np.frombuffer(audioop.ulaw2lin(ALL_CODES, 2), np.int16))
    assert np.array_equal(alaw_decode(ALL_CODES), np.frombuffer(audioop.alaw2lin(ALL_CODES, 2), np.int16))


@needs_audioop
def test_alaw_encoder_matches_audioop_for_every_sample() -> None:
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES.tobytes(), 2)


@needs_audioop
def test_ulaw_encoder_matches_audioop_except_suns_negative_fold() -> None:
    ours = codes(ulaw_encode(ALL_SAMPLES))
    theirs = codes(audioop.lin2ulaw(ALL_SAMPLES.tobytes(), 2))
    differ = ALL_SAMPLES[ours != theirs]
    # audioop (Sun's g711.c) folds with -x, G.191 with ~x: only 4 negative inputs at
    # each of the 127 decision levels land on the neighbouring code.
    assert np.all(differ < 0)
    assert len(differ) == 4 * 127
    assert np.all(np.abs(ours[ours != theirs].astype(int) - theirs[ours != theirs]) == 1)


def test_payload_has_one_byte_per_sample_and_accepts_any_length() -> None:
    x = np.zeros(161, dtype=np.int16)
    assert len(ulaw_encode(x)) == 161
    assert len(alaw_encode(x[:0])) == 0
    assert ulaw_decode(b"").shape == (0,)
