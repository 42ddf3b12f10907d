"""Audio helpers for end-to-end tests: write test tones, read recordings, decide whether a tone is there.

A real call adds G.711 quantisation noise (about 38 dB SNR), a short silence while media starts,
jitter-buffer gaps and the silence a phone inserts while it sends RFC 4733 DTMF events.  The tests
therefore never compare samples; they ask "which frequency carries most of the energy?" on the part
of the recording after the first ``skip_seconds``.

Also here: a G.711 mu-law encoder/decoder (ITU-T G.711, the continuous form of the segment table)
and a tiny pcap writer, so sipp's ``play_pcap_audio`` can stream a known tone without scapy.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]

DEFAULT_AMPLITUDE = 10000
_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def sine(freq: float, seconds: float, rate: int = 8000, amplitude: float = DEFAULT_AMPLITUDE) -> Samples:
    """A sine of ``freq`` Hz lasting ``seconds``, as float samples on the int16 scale."""
    t = np.arange(int(round(seconds * rate)), dtype=np.float64) / rate
    result: Samples = amplitude * np.sin(2.0 * np.pi * freq * t)
    return result


def write_wav(path: str | Path, samples: npt.ArrayLike, rate: int, channels: int = 1) -> Path:
    """Write 16-bit PCM (the mono samples copied to every channel); values are clipped to int16."""
    path = Path(path)
    data = np.clip(np.rint(np.asarray(samples, dtype=np.float64)), -32768, 32767).astype("<i2")
    if channels > 1:
        data = np.repeat(data, channels)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return path


def write_tone_wav(
    path: str | Path,
    freq: float,
    seconds: float,
    rate: int = 8000,
    amplitude: float = DEFAULT_AMPLITUDE,
    lead_silence: float = 0.0,
    channels: int = 1,
) -> Path:
    """Write a 16-bit WAV holding a sine (optionally after ``lead_silence`` seconds of silence)."""
    tone = sine(freq, seconds, rate, amplitude)
    if lead_silence > 0:
        tone = np.concatenate([np.zeros(int(lead_silence * rate)), tone])
    return write_wav(path, tone, rate, channels)


def read_wav(path: str | Path) -> tuple[Samples, int]:
    """Read a 16-bit PCM WAV as mono float samples on the int16 scale (channels are averaged)."""
    with wave.open(str(path), "rb") as src:
        width = src.getsampwidth()
        channels = src.getnchannels()
        rate = src.getframerate()
        raw = src.readframes(src.getnframes())
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit WAV, only 16-bit PCM is supported")
    data = np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if channels > 1:
        data = data[: len(data) - len(data) % channels].reshape(-1, channels).mean(axis=1)
    return data, rate


def _tail(samples: Samples, rate: int, skip_seconds: float) -> Samples:
    skip = int(skip_seconds * rate)
    result: Samples = samples[skip:] if len(samples) > skip else samples[:0]
    return result


def rms(samples: Samples) -> float:
    """Root mean square level on the int16 scale (a full-scale 10000 sine gives about 7071)."""
    if len(samples) == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples))))


def _power_spectrum(samples: Samples, rate: int) -> tuple[Samples, Samples]:
    windowed = (samples - samples.mean()) * np.hanning(len(samples))
    power: Samples = (np.abs(np.fft.rfft(windowed)) ** 2).astype(np.float64)
    freqs: Samples = np.fft.rfftfreq(len(samples), 1.0 / rate).astype(np.float64)
    return freqs, power


def band_energy_ratio(
    samples: Samples, rate: int, freq: float, bandwidth: float = 40.0, skip_seconds: float = 0.5
) -> float:
    """Share of the signal's energy (after ``skip_seconds``) within ``freq`` +/- ``bandwidth`` Hz, 0..1."""
    tail = _tail(samples, rate, skip_seconds)
    if len(tail) < 64:
        return 0.0
    freqs, power = _power_spectrum(tail, rate)
    total = float(power[freqs > 20.0].sum())
    if total <= 0.0:
        return 0.0
    band = (freqs >= freq - bandwidth) & (freqs <= freq + bandwidth)
    return float(power[band].sum()) / total


def dominant_frequency(samples: Samples, rate: int, skip_seconds: float = 0.5) -> float:
    """The frequency (Hz) of the strongest spectral peak after ``skip_seconds``; 0.0 for no signal."""
    tail = _tail(samples, rate, skip_seconds)
    if len(tail) < 64 or rms(tail) == 0.0:
        return 0.0
    freqs, power = _power_spectrum(tail, rate)
    power[freqs <= 20.0] = 0.0
    return float(freqs[int(np.argmax(power))])


def tone_present(
    samples: Samples,
    rate: int,
    freq: float,
    *,
    skip_seconds: float = 0.5,
    min_ratio: float = 0.3,
    min_rms: float = 200.0,
    bandwidth: float = 40.0,
) -> bool:
    """True when ``freq`` carries at least ``min_ratio`` of the energy and the signal is not near-silent.

    The default thresholds pass a G.711-coded sine with DTMF or start-up gaps in it and reject a
    recording of silence, comfort noise, or a different tone.
    """
    tail = _tail(samples, rate, skip_seconds)
    if rms(tail) < min_rms:
        return False
    return band_energy_ratio(tail, rate, freq, bandwidth, skip_seconds=0.0) >= min_ratio


def describe(samples: Samples, rate: int, skip_seconds: float = 0.5) -> str:
    """A one-line summary for assertion messages: duration, level and dominant frequency."""
    tail = _tail(samples, rate, skip_seconds)
    return (
        f"{len(samples) / rate:.2f} s at {rate} Hz, rms {rms(tail):.0f}, "
        f"dominant {dominant_frequency(samples, rate, skip_seconds):.0f} Hz"
    )


# --- G.711 mu-law -------------------------------------------------------------------------------


def linear_to_ulaw(samples: npt.ArrayLike) -> bytes:
    """Encode int16-scale samples as G.711 mu-law bytes (ITU-T G.711 table 2a, via its bit form)."""
    pcm = np.clip(np.rint(np.asarray(samples, dtype=np.float64)), -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS
    # exponent = position of the highest set bit among bits 7..14 (the segment number)
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return bytes(code.astype(np.uint8).tobytes())


def ulaw_to_linear(data: bytes) -> Samples:
    """Decode G.711 mu-law bytes to int16-scale float samples."""
    code = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    result: Samples = np.where(code & 0x80, -magnitude, magnitude).astype(np.float64)
    return result


def write_ulaw_tone(
    path: str | Path, freq: float, seconds: float, amplitude: float = DEFAULT_AMPLITUDE
) -> Path:
    """Write a headerless 8 kHz mu-law file (what sipp's ``rtp_stream=file,loops,0`` streams)."""
    path = Path(path)
    path.write_bytes(linear_to_ulaw(sine(freq, seconds, 8000, amplitude)))
    return path


# --- pcap (libpcap classic format, LINKTYPE_ETHERNET) --------------------------------------------


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _udp_frame(src_port: int, dst_port: int, payload: bytes, ident: int) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip_wo_sum = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        ident & 0xFFFF,
        0,
        64,
        17,
        0,
        bytes([127, 0, 0, 1]),
        bytes([127, 0, 0, 1]),
    )
    ip = ip_wo_sum[:10] + struct.pack("!H", _ip_checksum(ip_wo_sum)) + ip_wo_sum[12:]
    ethernet = b"\x00" * 12 + b"\x08\x00"
    return ethernet + ip + udp


def write_pcmu_tone_pcap(
    path: str | Path,
    freq: float = 1000.0,
    seconds: float = 5.0,
    amplitude: float = DEFAULT_AMPLITUDE,
    ptime_ms: int = 20,
    ssrc: int = 0x5EED1234,
) -> Path:
    """Write a pcap of RTP/PCMU packets (RFC 3550 header, payload type 0) carrying a sine.

    sipp's ``<exec play_pcap_audio="..."/>`` replays the UDP payloads with the pcap's timing to the
    port in the peer's SDP ``m=audio`` line, so the addresses here only need to be consistent.
    """
    path = Path(path)
    samples_per_packet = 8 * ptime_ms
    ulaw = linear_to_ulaw(sine(freq, seconds, 8000, amplitude))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for index in range(len(ulaw) // samples_per_packet):
        payload = ulaw[index * samples_per_packet : (index + 1) * samples_per_packet]
        rtp = (
            struct.pack(
                "!BBHII",
                0x80,
                0x80 if index == 0 else 0x00,
                index & 0xFFFF,
                (index * samples_per_packet) & 0xFFFFFFFF,
                ssrc,
            )
            + payload
        )
        frame = _udp_frame(6000, 6000, rtp, index)
        micros = index * ptime_ms * 1000
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path
