"""Frames: silence, durations, and frames whose samples are decoded only when read (`Frame.on_demand`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from switchcore.media.frame import Encoded, Frame, FrameFlag, Samples
from switchcore.media.g711 import ulaw_decode, ulaw_encode


def test_silence_is_twenty_ms_of_zeros_marked_as_comfort_noise() -> None:
    frame = Frame.silence(16000)
    assert len(frame.samples) == 320 and not frame.samples.any()
    assert frame.flags == FrameFlag.CNG and frame.duration_ms == 20.0 and frame.decoded


def test_an_on_demand_frame_decodes_once_and_only_when_its_samples_are_read() -> None:
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000)).astype(np.int16)
    payload = ulaw_encode(tone)
    decoded: list[bytes] = []

    def decode(data: bytes) -> Samples:
        decoded.append(data)
        return ulaw_decode(data)

    frame = Frame.on_demand(Encoded("PCMU", 8000, payload), decode, 8000, timestamp=320)
    assert isinstance(frame, Frame) and not frame.decoded
    # What a same-codec bridge looks at costs no decode.
    assert frame.encoded == Encoded("PCMU", 8000, payload) and frame.rate == 8000 and frame.timestamp == 320
    assert decoded == []
    samples = frame.samples
    assert frame.decoded and decoded == [payload]
    assert np.array_equal(samples, ulaw_decode(payload)) and np.abs(samples - tone).max() < 300
    assert frame.samples is samples and frame.duration_ms == 20.0 and decoded == [payload]


def test_an_on_demand_frame_is_as_frozen_as_any_other() -> None:
    frame = Frame.on_demand(Encoded("PCMU", 8000, bytes(160)), ulaw_decode, 8000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.rate = 16000  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.samples = np.zeros(160, dtype=np.int16)  # type: ignore[misc]
    assert not frame.decoded


def test_with_samples_drops_the_payload_that_no_longer_matches() -> None:
    frame = Frame.on_demand(Encoded("PCMU", 8000, bytes(160)), ulaw_decode, 8000)
    louder = frame.with_samples(frame.samples * 2)
    assert louder.encoded is None and louder.decoded and type(louder) is Frame
