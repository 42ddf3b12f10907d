"""A SIP leg's media: loss rebuilt from Opus FEC or concealed, counters for the CDR, RTCP loss to the encoder."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from modules.mod_opus import EncoderConfig, OpusEncoder
from modules.mod_opus.specs import OpusCodecs
from modules.mod_sofia.media import RtpSocket, SipMedia
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.codec import CodecSpec
from switchcore.media.frame import Frame, FrameFlag, Samples
from switchcore.media.g711 import ulaw_decode, ulaw_encode
from switchcore.media.negotiate import Negotiated
from switchcore.media.rtp import RtpPacket
from switchcore.media.rtp_session import PortAllocator, RtpConfig, RtpSession
from switchcore.media.sdp import Direction
from tests.modules.mod_opus.signals import frames, speech_like

OPUS_PT = 111
LOST_EVERY = 5


def _negotiated(spec: CodecSpec, pt: int, remote: tuple[str, int] | None = None) -> Negotiated:
    return Negotiated(
        codec=spec,
        pt=pt,
        ptime=20,
        fmtp={},
        dtmf_pt=None,
        remote_addr=remote,
        direction=Direction.SENDRECV,
        recv_pt=pt,
    )


def _media(spec: CodecSpec, pt: int) -> SipMedia:
    rtp = RtpSession(RtpConfig(payload_type=pt, clock_rate=spec.clock_rate, dtmf_pt=None))
    return SipMedia(rtp, _negotiated(spec, pt))


def _play(media: SipMedia, payloads: list[bytes], lost: set[int], step: int) -> list[Frame]:
    """Feed packets two ahead of the reader (a steady jitter buffer), leaving out `lost`; read one frame a tick."""
    jitter = media.rtp.jitter

    def push(index: int) -> None:
        if index < len(payloads) and index not in lost:
            jitter.push(RtpPacket(media.negotiated.recv_pt, index, index * step, 0x1234, payloads[index]))

    push(0)
    push(1)
    out = []
    for index in range(len(payloads) - 2):
        push(index + 2)
        out.append(media.read())
    return out


def test_a_lost_opus_packet_is_rebuilt_from_the_next_packets_fec() -> None:
    spec = OpusCodecs().find(16000, 1)
    encoder = OpusEncoder(EncoderConfig(rate=16000, bitrate=20000, fec=True, packet_loss_percent=20))
    payloads = [encoder.encode(f) for f in frames(speech_like(16000, 3.0), 320)]
    lost = {i for i in range(len(payloads)) if i % LOST_EVERY == 2}
    media = _media(spec, OPUS_PT)
    played = _play(media, payloads, lost, 960)
    assert all(len(f.samples) == 320 and f.rate == 16000 for f in played)
    flags = [f.flags for f in played]
    assert flags.count(FrameFlag.FEC) >= 0.6 * len(lost)
    assert media.fec_frames == flags.count(FrameFlag.FEC)
    assert media.fec_frames + media.plc_frames == len(lost)
    variables = media.variables()
    assert variables["rtp_audio_in_opus_fec"] == str(media.fec_frames)
    assert variables["rtp_audio_in_opus_frames"] == str(len(played) - len(lost))
    assert media.quality().fec_frames == media.fec_frames


def test_a_lost_pcmu_packet_is_concealed() -> None:
    spec = next(s for s in builtin_codecs() if s.name == "PCMU")
    payloads = [bytes([0xFF]) * 160 for _ in range(20)]
    media = _media(spec, 0)
    played = _play(media, payloads, {5, 11}, 160)
    assert [f.flags for f in played].count(FrameFlag.PLC) == 2
    assert media.plc_frames == 2 and media.fec_frames == 0
    assert "rtp_audio_in_opus_frames" not in media.variables()


def test_a_same_codec_bridge_passes_g711_through_without_decoding() -> None:
    spec = next(s for s in builtin_codecs() if s.name == "PCMU")
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160 * 12) / 8000)).astype(np.int16)
    payloads = [ulaw_encode(tone[i * 160 : (i + 1) * 160]) for i in range(12)]
    reader, writer = _media(spec, 0), _media(spec, 0)
    decoded: list[bytes] = []
    lazy = reader._lazy
    assert lazy is not None

    def counting(payload: bytes) -> Samples:
        decoded.append(payload)
        return lazy(payload)

    reader._lazy = counting
    sent: list[bytes] = []
    writer.rtp.send_audio = lambda payload, *a, **k: sent.append(payload)  # type: ignore[method-assign]
    writer.update(_negotiated(spec, 0, ("127.0.0.1", 9)))
    played = _play(reader, payloads, set(), 160)
    for frame in played:
        writer.write(frame)  # what a bridge's pump does
    assert sent == payloads[: len(played)] and decoded == []
    # Whoever looks at the samples (a tap, a conference) gets them decoded, once.
    assert np.array_equal(played[3].samples, ulaw_decode(payloads[3])) and decoded == [payloads[3]]
    assert played[3].samples is played[3].samples and decoded == [payloads[3]]


def test_a_lost_g711_packet_after_undecoded_frames_repeats_the_last_one_heard() -> None:
    spec = next(s for s in builtin_codecs() if s.name == "PCMU")
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160 * 8) / 8000)).astype(np.int16)
    payloads = [ulaw_encode(tone[i * 160 : (i + 1) * 160]) for i in range(8)]
    media = _media(spec, 0)
    played = _play(media, payloads, {5}, 160)
    concealed = played[5]
    assert concealed.flags == FrameFlag.PLC and concealed.encoded is None
    # Repeat-and-fade starts from the packet before the gap, which was never decoded for itself.
    heard = ulaw_decode(payloads[4])[:80].astype(float)
    assert np.abs(concealed.samples[:80]).max() > 4000
    assert np.corrcoef(concealed.samples[:80].astype(float), heard)[0, 1] > 0.95


def test_a_stereo_opus_stream_is_mono_inside_and_stereo_on_the_wire() -> None:
    spec = OpusCodecs().find(48000, 2)
    encoder = OpusEncoder(EncoderConfig(rate=48000, channels=2, bitrate=40000))
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(960) / 48000)).astype(np.int16)
    payloads = [encoder.encode(np.repeat(tone, 2)) for _ in range(10)]
    media = _media(spec, OPUS_PT)
    played = _play(media, payloads, set(), 960)
    assert all(f.channels == 1 and len(f.samples) == 960 for f in played)
    sent: list[bytes] = []
    media.rtp.send_audio = lambda payload, *a, **k: sent.append(payload)  # type: ignore[method-assign]
    media.update(_negotiated(spec, OPUS_PT, ("127.0.0.1", 9)))
    media.write(Frame(tone, 48000))
    assert len(sent) == 1 and sent[0]


def test_rtcp_loss_reports_reach_an_adaptive_encoder() -> None:
    spec = OpusCodecs().find(48000, 1)
    media = _media(spec, OPUS_PT)
    assert media.adaptive  # mod_opus's encoder takes loss reports
    seen: list[int] = []

    class Encoder:
        def encode(self, samples: object) -> bytes:
            return b""

        def on_loss_report(self, fraction: int, now: float) -> None:
            seen.append(fraction)

    media.encoder = Encoder()

    class Report:
        fraction_lost = 64

    media.rtp._remote_report = Report()  # type: ignore[assignment]
    media.on_rtcp([])
    media.on_rtcp([])  # the same report is not applied twice
    assert seen == [64]


@pytest.mark.parametrize("busy", [True, False])
async def test_rtp_socket_skips_a_port_pair_someone_else_holds(busy: bool) -> None:
    ports = PortAllocator(42900, 42911)
    loop = asyncio.get_running_loop()
    held = None
    if busy:
        held, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 42900)
        )
    try:
        sock = await RtpSocket.bind("127.0.0.1", ports)
        assert sock.port == (42902 if busy else 42900)
        assert ports.in_use == 1
        sock.close()
        assert ports.in_use == 0
    finally:
        if held is not None:
            held.close()
