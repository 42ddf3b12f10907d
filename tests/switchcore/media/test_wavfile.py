"""WAV reading (SoX-written vectors, odd and broken files) and crash-tolerant writing."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from switchcore.media.analysis import dominant_frequency, frequencies_present, rms, sine, split_channels
from switchcore.media.wavfile import (
    CorruptWav,
    UnsupportedWav,
    WavError,
    WavReader,
    WavWriter,
    read_wav,
    write_wav,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "media"
HALF_SCALE_RMS = 16384 / np.sqrt(2)

SOX_FILES = [
    ("sox_s16_mono_8000.wav", 8000, 1, 16, "pcm"),
    ("sox_u8_mono_8000.wav", 8000, 1, 8, "pcm"),
    ("sox_ulaw_mono_8000.wav", 8000, 1, 8, "ulaw"),
    ("sox_alaw_mono_8000.wav", 8000, 1, 8, "alaw"),
    ("sox_f32_mono_16000.wav", 16000, 1, 32, "float"),
    ("sox_s32_mono_48000.wav", 48000, 1, 32, "pcm"),
    ("sox_s24_stereo_44100.wav", 44100, 2, 24, "pcm"),
    ("sox_s16_4ch_22050.wav", 22050, 4, 16, "pcm"),
]


def wav_bytes(chunks: list[tuple[bytes, bytes]], riff_size: int | None = None) -> bytes:
    body = b"".join(
        cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1) for cid, data in chunks
    )
    return b"RIFF" + struct.pack("<I", riff_size if riff_size is not None else 4 + len(body)) + b"WAVE" + body


def fmt_chunk(rate: int = 8000, channels: int = 1, bits: int = 16, tag: int = 1) -> tuple[bytes, bytes]:
    align = channels * bits // 8
    return b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


@pytest.mark.parametrize(("name", "rate", "channels", "bits", "encoding"), SOX_FILES)
def test_sox_files_read_with_their_format_and_tone(
    name: str, rate: int, channels: int, bits: int, encoding: str
) -> None:
    samples, info = read_wav(VECTORS / name)
    assert (info.rate, info.channels, info.bits, info.encoding) == (rate, channels, bits, encoding)
    assert info.frames == rate // 5 and info.duration_ms == pytest.approx(200)
    first = split_channels(samples, channels)[0]
    assert dominant_frequency(first, rate) == pytest.approx(1000, abs=1)
    assert rms(first) == pytest.approx(HALF_SCALE_RMS, rel=0.01)


@pytest.mark.parametrize("name", [f[0] for f in SOX_FILES])
@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (16000, 1), (48000, 2)])
def test_reader_yields_full_20ms_frames_at_the_requested_format(name: str, rate: int, channels: int) -> None:
    with WavReader(VECTORS / name, rate=rate, channels=channels) as reader:
        frames = list(reader)
    assert len(frames) == 10
    assert all(
        f.rate == rate and f.channels == channels and len(f.samples) == rate // 50 * channels for f in frames
    )
    assert [f.timestamp for f in frames] == [i * rate // 50 for i in range(10)]
    audio = split_channels(np.concatenate([f.samples for f in frames]), channels)[0]
    middle = audio[rate // 50 : rate * 9 // 50]
    # the stereo vector down-mixed to mono holds its left 1000 Hz and right 500 Hz equally
    expected = [500, 1000] if name == "sox_s24_stereo_44100.wav" and channels == 1 else [1000]
    assert frequencies_present(middle, rate, [500, 1000]) == expected


def test_stereo_left_and_right_stay_apart_when_kept_stereo() -> None:
    with WavReader(VECTORS / "sox_s24_stereo_44100.wav", rate=16000, channels=2) as reader:
        left, right = split_channels(np.concatenate([f.samples for f in reader]), 2)
    assert dominant_frequency(left[320:2880], 16000) == pytest.approx(1000, abs=2)
    assert dominant_frequency(right[320:2880], 16000) == pytest.approx(500, abs=2)


def test_stereo_is_downmixed_by_averaging() -> None:
    with WavReader(VECTORS / "sox_s24_stereo_44100.wav", channels=1) as reader:
        mono = np.concatenate([f.samples for f in reader])
    assert reader.rate == 44100
    assert rms(mono) == pytest.approx(HALF_SCALE_RMS / np.sqrt(2), rel=0.01)


def test_last_frame_is_padded_with_silence(tmp_path: Path) -> None:
    path = tmp_path / "short.wav"
    write_wav(path, sine(1000, 30, 8000), 8000)
    with WavReader(path) as reader:
        frames = list(reader)
    assert [len(f.samples) for f in frames] == [160, 160]
    assert not np.any(frames[1].samples[80:])


def test_reading_is_deterministic() -> None:
    def read() -> np.ndarray:
        with WavReader(VECTORS / "sox_s24_stereo_44100.wav", rate=8000, channels=1) as reader:
            return np.concatenate([f.samples for f in reader])

    first = read()
    assert all(np.array_equal(first, read()) for _ in range(5))


def test_rewind_plays_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "loop.wav"
    write_wav(path, sine(1000, 40, 8000), 8000)
    with WavReader(path, rate=16000) as reader:
        first = [f.samples for f in reader]
        reader.rewind()
        again = [f.samples for f in reader]
    assert len(first) == len(again) == 2
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_writer_round_trips_mono_and_stereo(tmp_path: Path) -> None:
    mono = sine(440, 100, 16000)
    write_wav(tmp_path / "m.wav", mono, 16000)
    back, info = read_wav(tmp_path / "m.wav")
    assert (info.rate, info.channels, info.bits) == (16000, 1, 16)
    assert np.array_equal(back, mono)
    stereo = np.stack([sine(440, 100, 8000), sine(880, 100, 8000)], axis=1).reshape(-1)
    write_wav(tmp_path / "s.wav", stereo, 8000, channels=2)
    back, info = read_wav(tmp_path / "s.wav")
    assert info.channels == 2 and np.array_equal(back, stereo)


def test_writer_header_is_valid_as_soon_as_the_file_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "rec.wav"
    writer = WavWriter(path, 8000)
    assert path.stat().st_size == 44
    samples, info = read_wav(path)
    assert info.frames == 0 and len(samples) == 0
    writer.close()


def test_abandoned_recording_keeps_the_audio_up_to_the_last_header_patch(tmp_path: Path) -> None:
    path = tmp_path / "crash.wav"
    writer = WavWriter(path, 8000, header_interval_ms=100)
    for _ in range(12):  # 240 ms, header patched at 100 and 200 ms
        writer.write(sine(1000, 20, 8000))
    # the process "dies" here: no close(); what is on disk must still read
    header_frames = struct.unpack("<I", path.read_bytes()[40:44])[0] // 2
    assert header_frames == 1600
    samples, info = read_wav(path)
    assert info.frames >= 1600 and dominant_frequency(samples, 8000) == pytest.approx(1000, abs=1)
    writer.close()
    assert read_wav(path)[1].frames == 1920


def test_close_is_idempotent_and_write_after_close_raises(tmp_path: Path) -> None:
    writer = WavWriter(tmp_path / "x.wav", 8000)
    writer.write(np.zeros(160, np.int16))
    writer.close()
    writer.close()
    assert writer.closed and writer.frames_written == 160
    with pytest.raises(WavError, match="write after close"):
        writer.write(np.zeros(160, np.int16))


def test_write_frame_checks_rate_and_channels(tmp_path: Path) -> None:
    from switchcore.media.frame import Frame

    with WavWriter(tmp_path / "f.wav", 8000) as writer:
        writer.write_frame(Frame(sine(1000, 20, 8000), 8000))
        with pytest.raises(ValueError, match="frame is 16000 Hz x1, file is 8000 Hz x1"):
            writer.write_frame(Frame.silence(16000))
    assert read_wav(tmp_path / "f.wav")[1].frames == 160


def test_data_size_left_at_zero_or_unknown_reads_to_end_of_file(tmp_path: Path) -> None:
    audio = sine(1000, 100, 8000).tobytes()
    for declared in (0, 0xFFFFFFFF, 10**6):
        raw = bytearray(wav_bytes([fmt_chunk(), (b"data", audio)]))
        raw[40:44] = struct.pack("<I", declared)
        path = tmp_path / f"size{declared}.wav"
        path.write_bytes(bytes(raw))
        assert read_wav(path)[1].frames == 800


def test_extra_chunks_odd_sizes_and_a_trailing_half_sample_are_tolerated(tmp_path: Path) -> None:
    audio = sine(1000, 100, 8000).tobytes()
    raw = wav_bytes([(b"LIST", b"INFOabc"), fmt_chunk(), (b"junk", b"x"), (b"data", audio + b"\x01")])
    path = tmp_path / "odd.wav"
    path.write_bytes(raw + b"trailing garbage")
    samples, info = read_wav(path)
    assert info.frames == 800 and np.array_equal(samples, np.frombuffer(audio, np.int16))


def test_truncated_file_reads_what_is_there(tmp_path: Path) -> None:
    whole = (VECTORS / "sox_s24_stereo_44100.wav").read_bytes()
    path = tmp_path / "cut.wav"
    path.write_bytes(whole[: len(whole) // 2 + 1])
    with WavReader(path, rate=8000, channels=1) as reader:
        frames = list(reader)
    assert len(frames) == 5  # 100 ms of the 200 ms survived
    assert all(len(f.samples) == 160 for f in frames)


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", CorruptWav, "too short for a RIFF header"),
        (b"ID3\x03" + b"\0" * 60, CorruptWav, "not a RIFF/WAVE file"),
        (b"RIFX\0\0\0\0WAVE", UnsupportedWav, "RIFX files are not supported"),
        (wav_bytes([(b"data", b"\0\0")]), CorruptWav, "no fmt chunk"),
        (wav_bytes([fmt_chunk()]), CorruptWav, "no data chunk"),
        (wav_bytes([(b"fmt ", b"\1\0"), (b"data", b"")]), CorruptWav, "fmt chunk is 2 bytes"),
        (wav_bytes([fmt_chunk(tag=2), (b"data", b"")]), UnsupportedWav, "format tag 0x0002"),
        (wav_bytes([fmt_chunk(channels=0), (b"data", b"")]), CorruptWav, "0 channels"),
        (wav_bytes([fmt_chunk(rate=0), (b"data", b"")]), CorruptWav, "sample rate 0"),
        (wav_bytes([fmt_chunk(bits=12), (b"data", b"")]), CorruptWav, "does not fit|containers"),
        (wav_bytes([fmt_chunk(bits=40), (b"data", b"")]), UnsupportedWav, "40-bit pcm samples"),
    ],
)
def test_broken_files_raise_typed_errors(
    tmp_path: Path, content: bytes, error: type[WavError], message: str
) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(error, match=message) as caught:
        read_wav(path)
    assert caught.value.path == str(path)
    with pytest.raises(error):
        WavReader(path)


def test_missing_file_raises_wav_error(tmp_path: Path) -> None:
    with pytest.raises(WavError, match="No such file"):
        WavReader(tmp_path / "nope.wav")
    with pytest.raises(WavError, match="No such file"):
        WavWriter(tmp_path / "no" / "dir.wav", 8000)


def test_random_garbage_never_escapes_as_anything_but_wav_error(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = (VECTORS / "sox_s16_4ch_22050.wav").read_bytes()[:200]
    for i in range(200):
        raw = bytearray(base)
        for _ in range(4):
            raw[rng.integers(0, 80)] = rng.integers(0, 256)
        path = tmp_path / f"fuzz{i}.wav"
        path.write_bytes(bytes(raw))
        try:
            with WavReader(path, rate=8000, channels=1) as reader:
                for frame in reader:
                    assert len(frame.samples) == 160
        except WavError:
            pass
