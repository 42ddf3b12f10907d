"""VertoMedia on the short SRTP path against an aiortc "browser" on 127.0.0.1: tones both ways,
comfort silence, RFC 4733 events, and RTCP reports aiortc understands."""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Callable

import numpy as np
import pytest

from modules.mod_opus import OpusCodecs
from modules.mod_verto.aiortc_adapter import nominated_pair, srtp_sessions
from modules.mod_verto.ice import add_telephone_event, restore_host_addresses, restrict_host_addresses
from modules.mod_verto.media import VertoMedia, WebRtcPolicy
from switchcore.media.analysis import dominant_frequency, rms
from switchcore.media.builtin_codecs import builtin_codecs
from switchcore.media.clock import MediaClock
from switchcore.media.codec import CodecSpec
from switchcore.media.frame import Frame
from switchcore.media.rtp import RtcpByePacket, RtcpSrPacket, parse_rtcp

from .verto_client import RtcPeer

SPECS = [*builtin_codecs(), *OpusCodecs().specs]


def find_codec(name: str, rate: int) -> CodecSpec | None:
    return next((s for s in SPECS if s.name == name and s.rate == rate and s.channels == 1), None)


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    restrict_host_addresses("127.0.0.1")
    add_telephone_event()
    clock = MediaClock(20)
    clock.start()
    yield clock
    clock.stop()
    restore_host_addresses()


async def until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


async def connect(media: VertoMedia, peer: RtcPeer) -> None:
    answer = await media.answer(await peer.offer())
    await peer.accept(answer)
    await until(lambda: media.path is not None)


async def echo(media: VertoMedia, clock: MediaClock, heard: list[Frame], seconds: float) -> None:
    """What the echo application does: each tick, read a frame and write it back."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await clock.tick()
        frame = media.read()
        if frame is not None:
            heard.append(frame)
            media.write(frame)


async def test_opus_crosses_the_short_path_both_ways_and_passes_through_untouched(clock):
    media = VertoMedia(WebRtcPolicy(), clock, find_codec)
    peer = RtcPeer(1000.0)
    try:
        await connect(media, peer)
        assert media.codec == "OPUS"
        heard: list[Frame] = []
        await echo(media, clock, heard, 2.0)
        switch_heard = np.concatenate([f.samples for f in heard[-25:]])
        assert abs(dominant_frequency(switch_heard, 48000) - 1000) < 20
        assert abs(dominant_frequency(peer.recent(0.5), peer.rate) - 1000) < 20
        assert media.passthrough_frames > 50  # the browser's Opus went back as it came
        assert media.path is not None and media.path.packets_received >= 75 and media.path.rejected == 0
        assert media.track.frames_sent == media.path.packets_sent >= 75
    finally:
        await media.close()
        await peer.close()


async def test_a_written_tone_is_heard_and_a_call_that_writes_nothing_sends_silence(clock):
    media = VertoMedia(WebRtcPolicy(codecs=("PCMU",)), clock, find_codec)
    peer = RtcPeer(None, codecs=("PCMU",))
    try:
        await connect(media, peer)
        assert (media.codec, media.rate) == ("PCMU", 8000)
        tone = (np.sin(2 * np.pi * 440 * np.arange(160) / 8000) * 8000).astype(np.int16)
        for _ in range(50):
            await clock.tick()
            media.write(Frame(tone, 8000))
        await asyncio.sleep(0.2)
        assert abs(dominant_frequency(peer.recent(0.5), peer.rate) - 440) < 15
        before = peer.frames
        await asyncio.sleep(1.0)  # nobody writes: comfort silence every 20 ms
        assert peer.frames - before >= 40
        assert rms(peer.recent(0.5)) < 50
    finally:
        await media.close()
        await peer.close()


async def test_rfc4733_events_arriving_on_the_short_path_become_one_digit(clock):
    digits: list[tuple[str, int]] = []
    media = VertoMedia(WebRtcPolicy(), clock, find_codec, lambda digit, ms: digits.append((digit, ms)))
    peer = RtcPeer(1000.0)
    try:
        await connect(media, peer)
        pt = next(iter(media._dtmf))
        rate = media._dtmf[pt].clock_rate
        # The browser sends RFC 4733 packets on its own SRTP stream: its sender's session and socket.
        browser = peer.transceiver.sender.transport
        _, tx = srtp_sessions(browser)
        transport, switch_address = nominated_pair(browser)
        for n, (end, duration) in enumerate(((False, 960), (False, 1920), (True, 4800), (True, 4800))):
            event = bytes([7, 0x8A if end else 0x0A]) + duration.to_bytes(2, "big")
            header = struct.pack("!BBHII", 0x80, pt | (0x80 if n == 0 else 0), 40000 + n, 5555, 0xD7)
            transport.sendto(tx.protect(header + event), switch_address)
        await until(lambda: bool(digits), 5.0)
        assert digits == [("7", 4800 * 1000 // rate)]
        assert media.frames_in >= 0 and media.dtmf_digits == 1
    finally:
        await media.close()
        await peer.close()


async def test_the_browser_reads_our_sender_reports_and_report_blocks(clock):
    """RFC 3550 6.4.1: aiortc (as a browser) takes our SR counts and our block on its stream."""
    media = VertoMedia(WebRtcPolicy(), clock, find_codec)
    peer = RtcPeer(1000.0)
    try:
        await connect(media, peer)
        heard: list[Frame] = []
        await echo(media, clock, heard, 3.5)  # aiortc's report timer fires every 0.5-1.5 s
        stats = list((await peer.pc.getStats()).values())
        remote_out = [s for s in stats if s.type == "remote-outbound-rtp"]
        remote_in = [s for s in stats if s.type == "remote-inbound-rtp"]
        assert remote_out and remote_out[0].packetsSent > 50  # our SR's packet count
        assert remote_in and remote_in[0].packetsLost == 0  # our block on what the browser sent
        assert remote_in[0].roundTripTime is not None  # LSR/DLSR came back right
        assert 0 <= remote_in[0].roundTripTime < 0.5
    finally:
        await media.close()
        await peer.close()


async def test_closing_sends_an_rtcp_bye_after_our_report(clock):
    """RFC 3550 6.6: aiortc's BYE still leaves through the short path, behind our SR (6.1 compound)."""
    media = VertoMedia(WebRtcPolicy(), clock, find_codec)
    peer = RtcPeer(1000.0)
    try:
        await connect(media, peer)
        await until(lambda: peer.frames > 10)
        path = media.path
        assert path is not None
        sent: list[bytes] = []
        send_rtcp = path.send_rtcp

        def record(plain: bytes) -> None:
            sent.append(plain)
            send_rtcp(plain)

        path.send_rtcp = record  # type: ignore[method-assign]
        await media.close()
        assert path.closed
        last = parse_rtcp(sent[-1])
        assert isinstance(last[0], RtcpSrPacket) and last[0].ssrc == path.ssrc
        assert isinstance(last[-1], RtcpByePacket) and last[-1].sources == [path.ssrc]
    finally:
        await media.close()
        await peer.close()


async def test_ice_consent_checks_keep_passing_with_the_demultiplexer_in_front(clock, monkeypatch):
    """RFC 7675: both ends keep checking consent through the demultiplexer to aioice; with checks every
    0.1 s and two misses allowed, a lost check would close the connection within the test."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.1)
    monkeypatch.setattr(aioice.ice, "CONSENT_FAILURES", 2)
    media = VertoMedia(WebRtcPolicy(), clock, find_codec)
    peer = RtcPeer(1000.0)
    try:
        await connect(media, peer)
        assert media.path is not None
        heard: list[Frame] = []
        await echo(media, clock, heard, 2.0)
        assert media.connection_state == "connected" and peer.pc.connectionState == "connected"
        assert abs(dominant_frequency(peer.recent(0.5), peer.rate) - 1000) < 20
    finally:
        await media.close()
        await peer.close()
