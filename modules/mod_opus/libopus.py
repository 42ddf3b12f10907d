"""A thin ctypes layer over libopus with buffers allocated once per stream.

opuslib finds and loads the library (Debian's libopus0), but its `decode`
allocates a ctypes PCM buffer and copies through an `array` on every call,
and its `encode` allocates an output buffer per packet.  Here each
`EncoderState` / `DecoderState` owns its buffers for the life of the stream:

- PCM in and out live in one ctypes array each, sized for the longest Opus
  packet (120 ms, RFC 6716 3.2.1), with a numpy view over it, so a frame is
  one `np.copyto` in and one slice copy out;
- libopus gets raw addresses (`c_void_p` argtypes), so no ctypes conversion
  runs per call;
- the function pointers are our own (`CDLL[name]` makes a new one), so their
  argtypes do not disturb opuslib's.

The packet helpers read the TOC byte (RFC 6716 3.1) and the SILK LBRR flags,
which say whether a packet carries in-band FEC for the one before it.
"""

from __future__ import annotations

import ctypes
from typing import Any, Final

import numpy as np
import opuslib
import opuslib.api

from switchcore.media.builtin_codecs import CodecError
from switchcore.media.frame import Samples

__all__ = [
    "APPLICATION_AUDIO",
    "APPLICATION_VOIP",
    "BANDWIDTHS",
    "DecoderState",
    "EncoderState",
    "MAX_PACKET_BYTES",
    "OpusLibraryError",
    "has_fec",
    "library_version",
    "packet_samples",
    "valid_frame_size",
]

APPLICATION_VOIP: Final = int(opuslib.APPLICATION_VOIP)
APPLICATION_AUDIO: Final = int(opuslib.APPLICATION_AUDIO)
OPUS_AUTO: Final = -1000

# opus_defines.h: the request numbers of the encoder/decoder CTLs we use.
_SET_BITRATE: Final = 4002
_GET_BITRATE: Final = 4003
_SET_MAX_BANDWIDTH: Final = 4004
_SET_VBR: Final = 4006
_SET_COMPLEXITY: Final = 4010
_SET_INBAND_FEC: Final = 4012
_SET_PACKET_LOSS_PERC: Final = 4014
_SET_DTX: Final = 4016
_SET_FORCE_CHANNELS: Final = 4022
_SET_SIGNAL: Final = 4024
_GET_LOOKAHEAD: Final = 4027
_GET_LAST_PACKET_DURATION: Final = 4039
_SIGNAL_VOICE: Final = 3001

# opus_defines.h OPUS_BANDWIDTH_*, keyed by the audio rate that needs them (RFC 7587 6.1 maxplaybackrate).
BANDWIDTHS: Final = {8000: 1101, 12000: 1102, 16000: 1103, 24000: 1104, 48000: 1105}

# RFC 6716 3.2.1: a packet carries at most 120 ms; libopus recommends 4000 bytes of output room.
MAX_PACKET_MS: Final = 120
MAX_PACKET_BYTES: Final = 4000
RATES: Final = (8000, 12000, 16000, 24000, 48000)

_lib: Any = opuslib.api.libopus


def _function(name: str, restype: Any, *argtypes: Any) -> Any:
    function = _lib[name]  # a fresh pointer: opuslib's argtypes on `_lib.<name>` stay as they are
    function.restype = restype
    function.argtypes = argtypes
    return function


_vp, _int, _i32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int32
_encoder_create = _function("opus_encoder_create", _vp, _int, _int, _int, ctypes.POINTER(_int))
_encoder_destroy = _function("opus_encoder_destroy", None, _vp)
_encode = _function("opus_encode", _i32, _vp, _vp, _int, _vp, _i32)
_decoder_create = _function("opus_decoder_create", _vp, _i32, _int, ctypes.POINTER(_int))
_decoder_destroy = _function("opus_decoder_destroy", None, _vp)
_decode = _function("opus_decode", _int, _vp, ctypes.c_char_p, _i32, _vp, _int, _int)
_packet_parse = _function("opus_packet_parse", _int, ctypes.c_char_p, _i32, _vp, _vp, _vp, _vp)
_strerror = _function("opus_strerror", ctypes.c_char_p, _int)
_version = _function("opus_get_version_string", ctypes.c_char_p)
# The CTLs are variadic: only the return type is declared, arguments are passed as ctypes ints/pointers.
_encoder_ctl = _lib["opus_encoder_ctl"]
_encoder_ctl.restype = _int
_decoder_ctl = _lib["opus_decoder_ctl"]
_decoder_ctl.restype = _int


class OpusLibraryError(CodecError):
    """libopus refused a call (a bad argument or an unusable state); carries the libopus error code."""

    def __init__(self, what: str, code: int) -> None:
        self.code = code
        super().__init__(f"{what}: {_error_text(code)} ({code})")


def _error_text(code: int) -> str:
    text: bytes | None = _strerror(code)
    return text.decode() if text else "unknown error"


def library_version() -> str:
    """`libopus 1.3.1` or whatever `opus_get_version_string()` says."""
    text: bytes | None = _version()
    return text.decode() if text else "libopus"


def valid_frame_size(rate: int, samples: int) -> bool:
    """RFC 6716 2.1.4: Opus frames are 2.5, 5, 10, 20, 40 or 60 ms; libopus >= 1.2 also encodes 80, 100, 120."""
    return (
        samples > 0
        and samples * 400 % rate == 0
        and samples * 400 // rate in (1, 2, 4, 8, 16, 24, 32, 40, 48)
    )


class EncoderState:
    """One libopus encoder and its reusable buffers.  Not thread-safe (one per stream, as libopus wants)."""

    __slots__ = ("_in", "_in_address", "_in_buffer", "_out", "_out_address", "_state", "channels", "rate")

    def __init__(self, rate: int, channels: int, application: int = APPLICATION_VOIP) -> None:
        if rate not in RATES or channels not in (1, 2):
            raise CodecError(f"Opus cannot encode {rate} Hz with {channels} channels")
        error = _int(0)
        state = _encoder_create(rate, channels, application, ctypes.byref(error))
        if error.value != 0 or not state:
            raise OpusLibraryError("opus_encoder_create", error.value)
        self._state = _vp(state)
        self.rate = rate
        self.channels = channels
        self._in_buffer = (ctypes.c_int16 * (rate * MAX_PACKET_MS // 1000 * channels))()
        self._in: Samples = np.frombuffer(memoryview(self._in_buffer), dtype=np.int16)
        self._in_address = ctypes.addressof(self._in_buffer)
        self._out = (ctypes.c_char * MAX_PACKET_BYTES)()
        self._out_address = ctypes.addressof(self._out)

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None and state.value:
            _encoder_destroy(state)
            state.value = None

    def encode(self, samples: Samples) -> bytes:
        """Interleaved int16 PCM (one Opus frame size per channel) -> one Opus packet."""
        count = len(samples)
        per_channel = count // self.channels
        if count % self.channels or not valid_frame_size(self.rate, per_channel):
            raise CodecError(
                f"Opus encodes 2.5 to 120 ms frames; {count} samples is not one at {self.rate} Hz"
                f" x {self.channels} channels"
            )
        np.copyto(self._in[:count], samples, casting="unsafe")
        length = _encode(self._state, self._in_address, per_channel, self._out_address, MAX_PACKET_BYTES)
        if length < 0:
            raise OpusLibraryError("opus_encode", length)
        return ctypes.string_at(self._out_address, length)

    def _set(self, request: int, value: int) -> None:
        code = _encoder_ctl(self._state, request, _int(value))
        if code != 0:
            raise OpusLibraryError(f"opus_encoder_ctl({request}, {value})", code)

    def _get(self, request: int) -> int:
        value = _i32(0)
        code = _encoder_ctl(self._state, request, ctypes.byref(value))
        if code != 0:
            raise OpusLibraryError(f"opus_encoder_ctl({request})", code)
        return int(value.value)

    def set_bitrate(self, bps: int) -> None:
        self._set(_SET_BITRATE, bps)

    def bitrate(self) -> int:
        return self._get(_GET_BITRATE)

    def set_vbr(self, on: bool) -> None:
        self._set(_SET_VBR, int(on))

    def set_complexity(self, complexity: int) -> None:
        self._set(_SET_COMPLEXITY, complexity)

    def set_inband_fec(self, on: bool) -> None:
        self._set(_SET_INBAND_FEC, int(on))

    def set_packet_loss_percent(self, percent: int) -> None:
        self._set(_SET_PACKET_LOSS_PERC, percent)

    def set_dtx(self, on: bool) -> None:
        self._set(_SET_DTX, int(on))

    def set_force_channels(self, channels: int | None) -> None:
        self._set(_SET_FORCE_CHANNELS, OPUS_AUTO if channels is None else channels)

    def set_max_bandwidth(self, audio_rate: int) -> None:
        """Keep the coded audio band within what `audio_rate` can carry (8000 -> narrowband ...)."""
        fitting = [rate for rate in BANDWIDTHS if rate <= audio_rate] or [8000]
        self._set(_SET_MAX_BANDWIDTH, BANDWIDTHS[max(fitting)])

    def set_voice_signal(self) -> None:
        self._set(_SET_SIGNAL, _SIGNAL_VOICE)

    def lookahead(self) -> int:
        """Samples (per channel, at the encoder's rate) the decoded audio lags the input."""
        return self._get(_GET_LOOKAHEAD)


class DecoderState:
    """One libopus decoder and its reusable PCM buffer.

    `decode` returns a negative libopus error code instead of raising: a bad
    packet from the network is the caller's concealment case, not an error.
    """

    __slots__ = ("_pcm", "_pcm_address", "_pcm_buffer", "_state", "channels", "max_samples", "rate")

    def __init__(self, rate: int, channels: int) -> None:
        if rate not in RATES or channels not in (1, 2):
            raise CodecError(f"Opus cannot decode to {rate} Hz with {channels} channels")
        error = _int(0)
        state = _decoder_create(rate, channels, ctypes.byref(error))
        if error.value != 0 or not state:
            raise OpusLibraryError("opus_decoder_create", error.value)
        self._state = _vp(state)
        self.rate = rate
        self.channels = channels
        self.max_samples = rate * MAX_PACKET_MS // 1000
        self._pcm_buffer = (ctypes.c_int16 * (self.max_samples * channels))()
        self._pcm: Samples = np.frombuffer(memoryview(self._pcm_buffer), dtype=np.int16)
        self._pcm_address = ctypes.addressof(self._pcm_buffer)

    def __del__(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None and state.value:
            _decoder_destroy(state)
            state.value = None

    def decode(self, payload: bytes | None, frame_size: int, fec: bool = False) -> Samples | int:
        """Decode into the shared buffer; a copy of the PCM, or the negative libopus error code.

        `payload` None asks for concealment (PLC) of `frame_size` samples per
        channel, which must be a multiple of 2.5 ms.  With `fec` the payload is
        the packet after a lost one, and its LBRR data rebuilds the lost one.
        """
        frame_size = min(frame_size, self.max_samples)
        length = len(payload) if payload is not None else 0
        count = _decode(self._state, payload, length, self._pcm_address, frame_size, int(fec))
        if count < 0:
            return int(count)
        return self._pcm[: count * self.channels].copy()

    def last_packet_duration(self) -> int:
        """Samples per channel of the last packet decoded or concealed (OPUS_GET_LAST_PACKET_DURATION)."""
        value = _i32(0)
        code = _decoder_ctl(self._state, _GET_LAST_PACKET_DURATION, ctypes.byref(value))
        return int(value.value) if code == 0 else 0


# --- packets (RFC 6716 3.1 and 3.2) -------------------------------------------------------------

# RFC 6716 3.1 table 2: the frame duration of each TOC configuration, in units of 2.5 ms.
_CONFIG_UNITS: Final = (4, 8, 16, 24) * 3 + (4, 8) * 2 + (1, 2, 4, 8) * 4


def packet_samples(payload: bytes, rate: int) -> int:
    """Samples per channel a packet decodes to at `rate`, or 0 if its framing is broken (RFC 6716 3.2)."""
    if not payload:
        return 0
    toc = payload[0]
    code = toc & 0x3
    if code == 0:
        frames = 1
    elif code in (1, 2):
        frames = 2
    elif len(payload) < 2:
        return 0
    else:
        frames = payload[1] & 0x3F
    units = _CONFIG_UNITS[toc >> 3] * frames
    if frames == 0 or units > 48:  # RFC 6716 3.2.5 [R5]: at most 120 ms
        return 0
    return units * rate // 400


def has_fec(payload: bytes) -> bool:
    """Whether the packet carries in-band FEC (SILK LBRR data) for the packet before it.

    CELT-only packets (TOC config >= 16) never do.  In SILK and hybrid packets
    the first range-coded symbols of the first Opus frame are the per-channel
    VAD flags of each SILK frame followed by that channel's LBRR flag, each
    coded with probability 1/2 (RFC 6716 4.2.3 and 4.2.4), so they can be read
    straight off the first payload byte — the way WebRTC's
    `WebRtcOpus_PacketHasFec` does.
    """
    if len(payload) < 2 or payload[0] & 0x80:
        return False
    toc = payload[0]
    config = toc >> 3
    ms_units = _CONFIG_UNITS[config]  # 2.5 ms units of one Opus frame
    silk_frames = {4: 1, 8: 1, 16: 2, 24: 3}.get(ms_units)
    if silk_frames is None:
        return False
    # Allocated per call (only lost packets get here): ctypes drops the GIL, so no shared buffer.
    starts, sizes = (ctypes.c_void_p * 48)(), (ctypes.c_int16 * 48)()
    frames = _packet_parse(
        payload, len(payload), None, ctypes.addressof(starts), ctypes.addressof(sizes), None
    )
    address = starts[0]
    if frames <= 0 or sizes[0] <= 1 or address is None:
        return False
    first = ctypes.string_at(address, 1)[0]
    channels = 2 if toc & 0x4 else 1
    return any(first & (0x80 >> ((n + 1) * (silk_frames + 1) - 1)) for n in range(channels))
