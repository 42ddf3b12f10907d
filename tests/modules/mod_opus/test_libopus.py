"""The ctypes layer: packet helpers against real libopus packets, reused buffers, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import opuslib
import pytest

from modules.mod_opus.libopus import (
    DecoderState,
    EncoderState,
    OpusLibraryError,
    has_fec,
    library_version,
    packet_samples,
    valid_frame_size,
)
from switchcore.media.analysis import sine
from switchcore.media.builtin_codecs import CodecError

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "opus"
PACKETS: list[dict[str, Any]] = json.loads((VECTORS / "packets.json").read_text())


@pytest.mark.parametrize("case", PACKETS, ids=[p["name"] for p in PACKETS])
def test_has_fec_matches_libopus_own_fec_decode(case: dict[str, Any]) -> None:
    packet = bytes.fromhex(case["packet"])
    assert has_fec(packet) is case["fec"]


@pytest.mark.parametrize("case", PACKETS, ids=[p["name"] for p in PACKETS])
def test_fec_vectors_really_rebuild_audio_that_plc_does_not(case: dict[str, Any]) -> None:
    """The vector's verdict holds on this machine's libopus: FEC decode differs from PLC exactly when fec."""
    rate, channels = case["rate"], case["channels"]
    previous, packet = bytes.fromhex(case["previous"]), bytes.fromhex(case["packet"])
    lost = packet_samples(previous, rate)
    plc, fec = DecoderState(rate, channels), DecoderState(rate, channels)
    concealed = plc.decode(None, lost)
    rebuilt = fec.decode(packet, lost, fec=True)
    assert isinstance(concealed, np.ndarray) and isinstance(rebuilt, np.ndarray)
    assert (not np.array_equal(concealed, rebuilt)) is case["fec"]


@pytest.mark.parametrize("case", PACKETS, ids=[p["name"] for p in PACKETS])
def test_packet_samples_reads_the_toc(case: dict[str, Any]) -> None:
    packet = bytes.fromhex(case["packet"])
    assert packet_samples(packet, 48000) == case["samples_48k"]
    assert packet_samples(packet, 8000) == case["samples_48k"] // 6
    assert (packet[0] >> 3, bool(packet[0] & 4), packet[0] & 3) == (
        case["config"],
        case["stereo"],
        case["code"],
    )
    decoded = DecoderState(48000, 1).decode(packet, 5760)
    assert isinstance(decoded, np.ndarray) and len(decoded) == case["samples_48k"]


@pytest.mark.parametrize(
    "payload", [b"", b"\x48", b"\xfc", b"\x4b", b"\x4b\x00", b"\x4b\xff", b"\xf8\x01\x02"]
)
def test_has_fec_is_false_for_empty_celt_and_broken_packets(payload: bytes) -> None:
    assert has_fec(payload) is False


def test_packet_samples_is_zero_for_broken_framing() -> None:
    assert packet_samples(b"", 48000) == 0
    assert packet_samples(b"\x03", 48000) == 0  # code 3 without its frame count byte
    assert packet_samples(b"\x03\x00", 48000) == 0  # zero frames (RFC 6716 3.2.5 R5)
    assert packet_samples(b"\x1b\x03", 48000) == 0  # 3 x 60 ms is over 120 ms


@pytest.mark.parametrize(
    ("rate", "ms", "valid"),
    [(48000, 2.5, True), (48000, 20, True), (48000, 60, True), (48000, 120, True), (16000, 10, True)]
    + [(8000, 40, True), (48000, 30, False), (48000, 1, False), (16000, 15, False), (48000, 0, False)]
    + [(48000, 140, False)],
)
def test_valid_frame_sizes(rate: int, ms: float, valid: bool) -> None:
    assert valid_frame_size(rate, int(rate * ms / 1000)) is valid


def test_decoded_arrays_are_copies_not_views_of_the_reused_buffer() -> None:
    encoder, decoder = EncoderState(48000, 1), DecoderState(48000, 1)
    first = decoder.decode(encoder.encode(sine(1000, 20, 48000)), 5760)
    kept = np.array(first, copy=True)
    decoder.decode(encoder.encode(sine(3000, 20, 48000, amplitude=20000)), 5760)
    assert isinstance(first, np.ndarray)
    assert np.array_equal(first, kept)
    assert first.flags.owndata and first.dtype == np.int16


def test_encoder_input_buffer_does_not_hold_on_to_the_callers_array() -> None:
    encoder = EncoderState(16000, 1)
    samples = sine(1000, 20, 16000)
    before = samples.copy()
    encoder.encode(samples)
    assert np.array_equal(samples, before)


@pytest.mark.parametrize("count", [0, 100, 959, 961, 1440])
def test_encoder_refuses_a_length_that_is_not_an_opus_frame(count: int) -> None:
    with pytest.raises(CodecError, match=f"{count} samples is not one at 48000 Hz x 1 channels"):
        EncoderState(48000, 1).encode(np.zeros(count, dtype=np.int16))


def test_stereo_encoder_wants_interleaved_pairs() -> None:
    encoder = EncoderState(48000, 2)
    assert encoder.encode(np.zeros(1920, dtype=np.int16))
    with pytest.raises(CodecError):
        encoder.encode(np.zeros(1921, dtype=np.int16))


def test_bad_ctl_values_raise_with_the_libopus_reason() -> None:
    with pytest.raises(OpusLibraryError, match=r"invalid argument \(-1\)") as info:
        EncoderState(48000, 1).set_complexity(42)
    assert info.value.code == -1


def test_unsupported_rates_and_channels_are_refused() -> None:
    with pytest.raises(CodecError, match="Opus cannot encode 44100 Hz with 1 channels"):
        EncoderState(44100, 1)
    with pytest.raises(CodecError, match="Opus cannot decode to 48000 Hz with 3 channels"):
        DecoderState(48000, 3)


def test_decoder_returns_the_error_code_for_garbage() -> None:
    assert DecoderState(48000, 1).decode(b"\xff\xff\xff", 5760) == -4  # OPUS_INVALID_PACKET


def test_last_packet_duration_follows_the_packets() -> None:
    encoder, decoder = EncoderState(48000, 1), DecoderState(48000, 1)
    decoder.decode(encoder.encode(sine(1000, 40, 48000)), 5760)
    assert decoder.last_packet_duration() == 1920


def test_our_function_pointers_leave_opuslib_working() -> None:
    encoder = opuslib.Encoder(48000, 1, opuslib.APPLICATION_VOIP)
    decoder = opuslib.Decoder(48000, 1)
    packet = encoder.encode(sine(1000, 20, 48000).tobytes(), 960)
    assert len(decoder.decode(packet, 960)) == 1920
    assert EncoderState(48000, 1).encode(sine(1000, 20, 48000))


def test_library_version_names_libopus() -> None:
    assert library_version().startswith("libopus ")
