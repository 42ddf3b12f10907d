"""The media core: frames, codecs, resampling, files, tones, DTMF, taps, RTP and SDP.

Inside the core every frame is 16-bit linear PCM at the channel's rate, 20 ms
long.  Endpoints decode on read and encode on write; taps see frames without
owning the session; the conference mixes on one shared clock.
"""

from .analysis import dbfs, dominant_frequency, frequencies_present, rms, sine, split_channels, tone_present
from .builtin_codecs import CodecError, builtin_codecs
from .clock import ClockStats, ClockStopped, MediaClock
from .codec import CodecSpec, Decoder, Encoder
from .convert import FrameConverter
from .dtmf import DtmfDetector, detect_dtmf, generate_dtmf
from .frame import Encoded, Frame, FrameFlag, Samples
from .mixer import energies, energy, mix
from .resample import Resampler, convert_channels, resample_buffer, to_mono, to_stereo
from .sources import FrameSource, SourceError, open_source, resolve_sound
from .tap import MediaTap
from .tones import ToneSpecError, parse_silence_stream, parse_tone_stream, tone_source
from .wavfile import CorruptWav, UnsupportedWav, WavError, WavReader, WavWriter, read_wav, write_wav

__all__ = [
    "ClockStats",
    "ClockStopped",
    "CodecError",
    "CodecSpec",
    "CorruptWav",
    "Decoder",
    "DtmfDetector",
    "Encoded",
    "Encoder",
    "Frame",
    "FrameConverter",
    "FrameFlag",
    "FrameSource",
    "MediaClock",
    "MediaTap",
    "Resampler",
    "Samples",
    "SourceError",
    "ToneSpecError",
    "UnsupportedWav",
    "WavError",
    "WavReader",
    "WavWriter",
    "builtin_codecs",
    "convert_channels",
    "dbfs",
    "detect_dtmf",
    "dominant_frequency",
    "energies",
    "energy",
    "frequencies_present",
    "generate_dtmf",
    "mix",
    "open_source",
    "parse_silence_stream",
    "parse_tone_stream",
    "read_wav",
    "resample_buffer",
    "resolve_sound",
    "rms",
    "sine",
    "split_channels",
    "to_mono",
    "to_stereo",
    "tone_present",
    "tone_source",
    "write_wav",
]
