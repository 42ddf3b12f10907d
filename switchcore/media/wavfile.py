"""WAV files: read any common PCM WAV as 20 ms frames; write 16-bit PCM safely.

Reading parses the RIFF chunks itself rather than using the stdlib `wave`
module, because `wave` on Python 3.11 refuses WAVE_FORMAT_EXTENSIBLE, which
sox and most editors write for 24-bit or multi-channel audio.  Accepted:

- integer PCM of 8 (unsigned), 16, 24 or 32 bits, plain or EXTENSIBLE;
- IEEE float of 32 or 64 bits; G.711 A-law and mu-law (8 bits);
- any rate and channel count; chunks in any order, odd-sized chunks padded;
- a data chunk whose declared size is 0, 0xFFFFFFFF or past the end of the
  file (a recorder that never patched its header): the data runs to EOF;
- a trailing partial sample frame, which is dropped.

Anything else raises `UnsupportedWav` (a real but unhandled format) or
`CorruptWav` (not a WAV, or broken beyond use); both are `WavError`.

`WavReader` yields frames at a requested rate and channel count: it
converts the sample format, down-mixes or duplicates channels, and resamples
with libsoxr in float32 (its streaming buffer adds latency, which does not
matter for a file that is read ahead; float output avoids libsoxr's random
dither on integer output, so a file always reads back the same).

`WavWriter` writes a complete 44-byte header when it opens the file, patches
the sizes every `header_interval_ms` of audio and on close, so a recording
cut short by a crash still opens with (nearly) all of its audio.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Self

import numpy as np
import numpy.typing as npt
import soxr

from ..errors import SwitchError
from .frame import Frame, Samples
from .g711 import alaw_decode, ulaw_decode
from .resample import convert_channels, to_stereo

__all__ = [
    "CorruptWav",
    "UnsupportedWav",
    "WavError",
    "WavInfo",
    "WavReader",
    "WavWriter",
    "read_wav",
    "write_wav",
]

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_ALAW = 0x0006
WAVE_FORMAT_MULAW = 0x0007
WAVE_FORMAT_EXTENSIBLE = 0xFFFE

_ENCODINGS = {
    WAVE_FORMAT_PCM: "pcm",
    WAVE_FORMAT_IEEE_FLOAT: "float",
    WAVE_FORMAT_ALAW: "alaw",
    WAVE_FORMAT_MULAW: "ulaw",
}
_UNKNOWN_SIZE = 0xFFFFFFFF
_MAX_CHANNELS = 32
_MAX_RATE = 384000
_HEADER_SIZE = 44


class WavError(SwitchError):
    """A WAV file could not be read or written."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class CorruptWav(WavError):
    """Not a WAV file, or one broken beyond use."""


class UnsupportedWav(WavError):
    """A well-formed WAV in a format this reader does not decode."""


@dataclass(frozen=True, slots=True)
class WavInfo:
    """What the fmt and data chunks say, after sanity checks."""

    rate: int
    channels: int
    bits: int  # bits per sample as stored (container size)
    encoding: str  # "pcm", "float", "alaw" or "ulaw"
    frames: int  # sample frames in the data chunk (as far as the file really goes)
    data_offset: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frames / self.rate

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8


def _parse_fmt(path: str, body: bytes) -> tuple[int, int, int, int, int]:
    """-> (format tag, channels, rate, block align, container bits)."""
    if len(body) < 16:
        raise CorruptWav(path, f"fmt chunk is {len(body)} bytes, needs at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise CorruptWav(path, "WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes")
        # the SubFormat GUID starts with the classic format tag
        (tag,) = struct.unpack("<H", body[24:26])
    if tag not in _ENCODINGS:
        raise UnsupportedWav(path, f"format tag 0x{tag:04x} is not PCM, float, A-law or mu-law")
    if not 1 <= channels <= _MAX_CHANNELS:
        raise CorruptWav(path, f"{channels} channels")
    if not 1 <= rate <= _MAX_RATE:
        raise CorruptWav(path, f"sample rate {rate}")
    if block_align == 0 or block_align % channels:
        raise CorruptWav(path, f"block align {block_align} does not fit {channels} channels")
    container = 8 * block_align // channels
    if container < bits:
        raise CorruptWav(path, f"{bits}-bit samples in {container}-bit containers")
    allowed = {"pcm": (8, 16, 24, 32), "float": (32, 64), "alaw": (8,), "ulaw": (8,)}[_ENCODINGS[tag]]
    if container not in allowed:
        raise UnsupportedWav(path, f"{container}-bit {_ENCODINGS[tag]} samples")
    return tag, channels, rate, block_align, container


def probe(path: str, handle: BinaryIO) -> WavInfo:
    """Parse the RIFF header and chunk list; leaves the file position unspecified."""
    handle.seek(0, os.SEEK_END)
    file_size = handle.tell()
    handle.seek(0)
    riff = handle.read(12)
    if len(riff) < 12:
        raise CorruptWav(path, "file is too short for a RIFF header")
    if riff[:4] in (b"RIFX", b"RF64"):
        raise UnsupportedWav(path, f"{riff[:4].decode()} files are not supported")
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise CorruptWav(path, "not a RIFF/WAVE file")
    fmt: tuple[int, int, int, int, int] | None = None
    data: tuple[int, int] | None = None  # (offset, size)
    position = 12
    while position + 8 <= file_size:
        handle.seek(position)
        chunk_id, size = struct.unpack("<4sI", handle.read(8))
        body_at = position + 8
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(path, handle.read(min(size, 1024)))
        elif chunk_id == b"data":
            available = file_size - body_at
            unknown = size in (0, _UNKNOWN_SIZE) or size > available
            data = (body_at, available if unknown else size)
            if unknown:
                break  # the data runs to the end of the file
        if fmt is not None and data is not None:
            break
        position = body_at + size + (size & 1)
    if fmt is None:
        raise CorruptWav(path, "no fmt chunk")
    if data is None:
        raise CorruptWav(path, "no data chunk")
    tag, channels, rate, block_align, bits = fmt
    return WavInfo(rate, channels, bits, _ENCODINGS[tag], data[1] // block_align, data[0])


def _decode(raw: bytes, info: WavInfo) -> Samples:
    """Stored samples -> int16, still interleaved."""
    usable = len(raw) - len(raw) % (info.bits // 8)
    raw = raw[:usable]
    if info.encoding == "alaw":
        return alaw_decode(raw)
    if info.encoding == "ulaw":
        return ulaw_decode(raw)
    if info.encoding == "float":
        floats = np.frombuffer(raw, dtype="<f4" if info.bits == 32 else "<f8")
        scaled = np.nan_to_num(floats.astype(np.float64) * 32768.0)
        out: Samples = np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)
        return out
    if info.bits == 8:
        unsigned = np.frombuffer(raw, dtype=np.uint8)
        return ((unsigned.astype(np.int16) - 128) << 8).astype(np.int16)
    if info.bits == 16:
        return np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if info.bits == 24:
        triplets = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        # keep the two most significant bytes (little-endian: bytes 1 and 2)
        top: Samples = np.ascontiguousarray(triplets[:, 1:]).view("<i2").reshape(-1).astype(np.int16)
        return top
    wide = np.frombuffer(raw, dtype="<i4")
    return (wide >> 16).astype(np.int16)


def read_wav(path: str | os.PathLike[str]) -> tuple[Samples, WavInfo]:
    """The whole file as int16 (interleaved) at its own rate and channel count."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            info = probe(name, handle)
            handle.seek(info.data_offset)
            raw = handle.read(info.frames * info.block_align)
    except OSError as exc:
        raise WavError(name, exc.strerror or str(exc)) from exc
    return _decode(raw, info), info


class WavReader:
    """Reads a WAV file as frames of `ptime_ms` at `rate` Hz and `channels` channels.

    `rate` and `channels` default to the file's own.  Every frame is full
    length: the last one is padded with silence.  Iterating yields `Frame`s
    with running timestamps; `read_frame()` returns None at the end.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int | None = None,
        channels: int | None = None,
        ptime_ms: int = 20,
    ) -> None:
        if (rate is not None and rate <= 0) or (channels is not None and channels < 1):
            raise ValueError(f"cannot read as {rate} Hz x{channels}")
        self.path = os.fspath(path)
        try:
            self._handle: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise WavError(self.path, exc.strerror or str(exc)) from exc
        try:
            self.info = probe(self.path, self._handle)
        except BaseException:
            self._handle.close()
            raise
        self.rate = rate or self.info.rate
        self.channels = channels or self.info.channels
        self.ptime_ms = ptime_ms
        self.frame_samples = self.rate * ptime_ms // 1000
        # resample with as few channels as the conversion allows
        self._work_channels = 1 if 1 in (self.channels, self.info.channels) else self.channels
        self._resampler: soxr.ResampleStream | None = None
        if self.rate != self.info.rate:
            # float32 in and out: libsoxr dithers integer output at random, and the
            # same file should always read back as the same samples
            self._resampler = soxr.ResampleStream(
                self.info.rate, self.rate, self._work_channels, dtype="float32", quality="HQ"
            )
        # read about one output frame of source audio per refill
        self._chunk_frames = max(1, self.info.rate * ptime_ms // 1000)
        self._pending = np.zeros(0, dtype=np.int16)  # converted output samples, interleaved
        self._timestamp = 0
        self.rewind()

    def rewind(self) -> None:
        """Start again from the first sample (for looping playback)."""
        self._remaining = self.info.frames
        self._handle.seek(self.info.data_offset)
        self._pending = np.zeros(0, dtype=np.int16)
        self._eof = False
        if self._resampler is not None:
            self._resampler.clear()

    def _refill(self) -> None:
        count = min(self._chunk_frames, self._remaining)
        raw = self._handle.read(count * self.info.block_align) if count else b""
        got = len(raw) // self.info.block_align
        raw = raw[: got * self.info.block_align]  # a truncated file may end mid-frame
        self._remaining = self._remaining - got if got == count else 0
        samples = convert_channels(_decode(raw, self.info), self.info.channels, self._work_channels)
        last = self._remaining == 0
        if self._resampler is not None:
            floats = samples.astype(np.float32)
            shaped = floats.reshape(-1, self._work_channels) if self._work_channels > 1 else floats
            resampled = np.asarray(self._resampler.resample_chunk(shaped, last=last)).reshape(-1)
            samples = np.clip(np.rint(resampled), -32768, 32767).astype(np.int16)
        if self._work_channels != self.channels:
            samples = (
                to_stereo(samples) if self.channels == 2 else convert_channels(samples, 1, self.channels)
            )
        self._pending = np.concatenate((self._pending, samples)) if len(self._pending) else samples
        self._eof = last

    def read_frame(self) -> Frame | None:
        """The next frame, or None once the file is exhausted."""
        want = self.frame_samples * self.channels
        while len(self._pending) < want and not self._eof:
            self._refill()
        if len(self._pending) == 0:
            return None
        samples = self._pending[:want]
        self._pending = self._pending[want:]
        if len(samples) < want:
            samples = np.concatenate((samples, np.zeros(want - len(samples), dtype=np.int16)))
        frame = Frame(samples, self.rate, self.channels, self._timestamp)
        self._timestamp += self.frame_samples
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read_frame()) is not None:
            yield frame

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _header(rate: int, channels: int, data_bytes: int) -> bytes:
    block_align = 2 * channels
    return b"".join(
        (
            struct.pack("<4sI4s", b"RIFF", 36 + data_bytes, b"WAVE"),
            struct.pack(
                "<4sIHHIIHH",
                b"fmt ",
                16,
                WAVE_FORMAT_PCM,
                channels,
                rate,
                rate * block_align,
                block_align,
                16,
            ),
            struct.pack("<4sI", b"data", data_bytes),
        )
    )


class WavWriter:
    """Writes 16-bit PCM WAV (mono or stereo, any rate), crash-tolerant.

    The header is valid from the moment the file is opened, and is rewritten
    with the current sizes every `header_interval_ms` of audio and on
    `close()` (which is idempotent and safe to call from a `finally`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int,
        channels: int = 1,
        header_interval_ms: int = 1000,
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"WavWriter writes mono or stereo, not {channels} channels")
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        self.path = os.fspath(path)
        self.rate = rate
        self.channels = channels
        self._data_bytes = 0
        self._since_header = 0
        self._header_every = max(1, rate * header_interval_ms // 1000) * 2 * channels
        try:
            self._handle: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            self._handle.write(_header(rate, channels, 0))
            self._handle.flush()
        except OSError as exc:
            raise WavError(self.path, exc.strerror or str(exc)) from exc

    @property
    def frames_written(self) -> int:
        return self._data_bytes // (2 * self.channels)

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.frames_written / self.rate

    @property
    def closed(self) -> bool:
        return self._handle is None

    def write(self, samples: npt.ArrayLike) -> None:
        """Append int16 samples (interleaved when stereo)."""
        if self._handle is None:
            raise WavError(self.path, "write after close")
        data = np.asarray(samples, dtype="<i2").reshape(-1)
        if len(data) % self.channels:
            raise ValueError(f"{len(data)} samples do not split into {self.channels} channels")
        raw = data.tobytes()
        try:
            self._handle.write(raw)
            self._data_bytes += len(raw)
            self._since_header += len(raw)
            if self._since_header >= self._header_every:
                self._patch_header()
        except OSError as exc:
            raise WavError(self.path, exc.strerror or str(exc)) from exc

    def write_frame(self, frame: Frame) -> None:
        """Append a frame; its rate and channel count must match the file's."""
        if frame.rate != self.rate or frame.channels != self.channels:
            raise ValueError(
                f"frame is {frame.rate} Hz x{frame.channels}, file is {self.rate} Hz x{self.channels}"
            )
        self.write(frame.samples)

    def _patch_header(self) -> None:
        assert self._handle is not None
        handle = self._handle
        handle.seek(0)
        handle.write(_header(self.rate, self.channels, self._data_bytes))
        handle.seek(0, os.SEEK_END)
        handle.flush()
        self._since_header = 0

    def close(self) -> None:
        """Patch the header and close; calling it again does nothing."""
        handle = self._handle
        if handle is None:
            return
        try:
            self._patch_header()
        except OSError as exc:
            raise WavError(self.path, exc.strerror or str(exc)) from exc
        finally:
            self._handle = None
            handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_wav(path: str | os.PathLike[str], samples: npt.ArrayLike, rate: int, channels: int = 1) -> None:
    """Write a whole buffer as a 16-bit PCM WAV file."""
    with WavWriter(path, rate, channels) as writer:
        writer.write(samples)
