"""A Verto call's media: one aiortc RTCPeerConnection, and the channel driver the session reads and writes.

The browser's WebRTC session ends here (ICE, DTLS-SRTP, Opus or G.711): the
SDP travels inside the JSON-RPC messages (`verto.invite`, `verto.answer`,
`verto.media`, `verto.attach`), and the audio meets the core as L16 at the
channel's rate (48 kHz for Opus, 8 kHz for PCMU/PCMA).

Timing: the switch's media clock paces both directions.  `read_frame` waits
for a tick and hands out one 20 ms frame of what the browser sent (silence when
nothing came), and the track aiortc sends from (`SwitchTrack.recv`) also waits
for a tick and takes the next frame the session wrote.  What the browser sends
is decoded by aiortc's receiver thread; a reader task cuts it into 20 ms frames
and keeps at most `INBOX_FRAMES` of them, so a late reader loses the oldest
audio rather than growing a backlog.

DTMF: RFC 4733 telephone-event packets are taken off the receive path before
aiortc's decoder sees them and fed to the core's `DtmfReceiver`; `verto.info`
digits arrive through calls.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from switchcore.causes import HangupCause
from switchcore.media.clock import ClockStopped, MediaClock
from switchcore.media.convert import FrameConverter
from switchcore.media.frame import Frame, Samples
from switchcore.media.rtp import DtmfReceiver, RtpError, RtpPacket
from switchcore.media.sources import FrameSource, SourceError

from .ice import TELEPHONE_EVENT, announce_address, audio_codecs, filter_candidates, first_codec

log = logging.getLogger("mod_verto.media")

INBOX_FRAMES = 8  # 160 ms of what the browser sent, at most
OUTBOX_FRAMES = 8  # 160 ms of what we send, at most
CODEC_RATES = {"OPUS": 48000, "PCMU": 8000, "PCMA": 8000}


class MediaError(Exception):
    """The browser's SDP cannot be used (no common codec, unparsable): the call cannot have media."""


@dataclass(frozen=True, slots=True)
class WebRtcPolicy:
    """What a profile allows: the address ICE uses and announces, and codecs in preference order."""

    rtp_ip: str = "127.0.0.1"
    ext_rtp_ip: str = ""
    codecs: tuple[str, ...] = ("OPUS", "PCMU", "PCMA")


def _preferences(codecs: tuple[str, ...]) -> list[Any]:
    capabilities = RTCRtpSender.getCapabilities("audio").codecs
    wanted = [c for name in codecs for c in capabilities if c.mimeType.lower() == f"audio/{name.lower()}"]
    wanted += [c for c in capabilities if c.mimeType.lower() == TELEPHONE_EVENT]
    return wanted


def to_mono(frame: av.AudioFrame) -> tuple[Samples, int]:
    """A decoded frame's samples as mono int16, and its rate."""
    if frame.format.name != "s16":
        frame = av.AudioResampler(format="s16", layout="mono", rate=frame.sample_rate).resample(frame)[0]
    samples = frame.to_ndarray().reshape(-1)
    channels = len(frame.layout.channels)
    if channels == 2:
        mixed = (samples[0::2].astype(np.int32) + samples[1::2].astype(np.int32)) >> 1
        samples = mixed.astype(np.int16)
    elif channels > 2:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return samples.astype(np.int16, copy=False), frame.sample_rate


class SwitchTrack(MediaStreamTrack):
    """The audio we send the browser: one frame per clock tick, what the session wrote or silence."""

    kind = "audio"

    def __init__(self, clock: MediaClock, rate: int) -> None:
        super().__init__()
        self.clock = clock
        self.rate = rate
        self.queue: deque[Samples] = deque(maxlen=OUTBOX_FRAMES)
        self._pts = 0
        self.frames_sent = 0

    def set_rate(self, rate: int) -> None:
        if rate != self.rate:
            self.rate = rate
            self.queue.clear()

    def push(self, samples: Samples) -> None:
        self.queue.append(samples)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            await self.clock.tick()
        except ClockStopped:
            self.stop()
            raise MediaStreamError from None
        n = self.rate // 50
        samples = self.queue.popleft() if self.queue else np.zeros(n, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.rate)
        self._pts += len(samples)
        self.frames_sent += 1
        return frame


class VertoMedia:
    """One RTCPeerConnection and the PCM on both sides of it."""

    def __init__(
        self,
        policy: WebRtcPolicy,
        clock: MediaClock,
        on_dtmf: Callable[[str, int], None] | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.on_dtmf = on_dtmf
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.codec = policy.codecs[0]
        self.rate = CODEC_RATES[self.codec]
        self.track = SwitchTrack(clock, self.rate)
        self.transceiver: RTCRtpTransceiver | None = None
        self.local_sdp = ""
        self.remote_sdp = ""
        self.frames_in = 0
        self.frames_dropped = 0
        self.dtmf_digits = 0
        self._inbox: deque[Frame] = deque(maxlen=INBOX_FRAMES)
        self._pending = np.zeros(0, dtype=np.int16)
        self._converters: dict[tuple[int, int], FrameConverter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dtmf: dict[int, DtmfReceiver] = {}
        self._closed = False
        self.pc.on("track", self._on_track)

    # ---- offer / answer ----------------------------------------------------------------------

    def _add_transceiver(self) -> RTCRtpTransceiver:
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(_preferences(self.policy.codecs))
        self.transceiver = transceiver
        return transceiver

    async def answer(self, offer_sdp: str) -> str:
        """Answer the browser's offer (verto.invite); returns our answer SDP."""
        self._add_transceiver()
        self.remote_sdp = filter_candidates(offer_sdp, self.policy.rtp_ip)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(self.remote_sdp, "offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as exc:  # aiortc raises ValueError/OperationError/InvalidStateError
            raise MediaError(f"cannot answer the offer: {exc}") from exc
        self.local_sdp = announce_address(
            self.pc.localDescription.sdp, self.policy.rtp_ip, self.policy.ext_rtp_ip
        )
        self._negotiated(self.local_sdp)
        return self.local_sdp

    async def offer(self) -> str:
        """Our offer (verto.invite to a browser, verto.attach after a reconnect)."""
        self._add_transceiver()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.local_sdp = announce_address(
            self.pc.localDescription.sdp, self.policy.rtp_ip, self.policy.ext_rtp_ip
        )
        return self.local_sdp

    async def accept(self, answer_sdp: str) -> None:
        """Take the browser's answer to our offer."""
        self.remote_sdp = filter_candidates(answer_sdp, self.policy.rtp_ip)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(self.remote_sdp, "answer"))
        except Exception as exc:
            raise MediaError(f"cannot use the answer: {exc}") from exc
        self._negotiated(self.remote_sdp)

    def _negotiated(self, answer_sdp: str) -> None:
        chosen = first_codec(answer_sdp)
        if chosen is None or chosen[0] not in CODEC_RATES:
            raise MediaError("no common audio codec")
        self.codec = chosen[0]
        self.rate = CODEC_RATES[self.codec]
        self.track.set_rate(self.rate)
        self._watch_dtmf()

    def _watch_dtmf(self) -> None:
        """Take RFC 4733 packets off the receive path (aiortc would hand them to a decoder)."""
        transceiver = self.transceiver
        if transceiver is None:
            return
        for sdp in (self.local_sdp, self.remote_sdp):
            for pt, name, rate in audio_codecs(sdp):
                if name == "TELEPHONE-EVENT" and pt not in self._dtmf:
                    self._dtmf[pt] = DtmfReceiver(rate)
        if not self._dtmf:
            return
        receiver = transceiver.receiver
        original = receiver._handle_rtp_packet
        receivers = self._dtmf

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            dtmf = receivers.get(packet.payload_type)
            if dtmf is None:
                await original(packet, arrival_time_ms)
                return
            self._on_event_packet(dtmf, packet)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def _on_event_packet(self, dtmf: DtmfReceiver, packet: Any) -> None:
        ours = RtpPacket(
            packet.payload_type,
            packet.sequence_number,
            packet.timestamp,
            packet.ssrc,
            packet.payload,
            packet.marker,
        )
        try:
            digits = dtmf.receive(ours, time.monotonic())
        except (RtpError, ValueError):
            return
        for digit in digits:
            self.dtmf_digits += 1
            if self.on_dtmf is not None:
                self.on_dtmf(digit.digit, digit.duration_ms)

    # ---- audio -------------------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        reader = self._read_audio(track) if track.kind == "audio" else self._drain(track)
        self._spawn(reader)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, track: MediaStreamTrack) -> None:
        """Video (or anything but audio) is not used; read it so aiortc's queue cannot grow."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                decoded = await track.recv()
                assert isinstance(decoded, av.AudioFrame)
                self._take(*to_mono(decoded))

    def _take(self, samples: Samples, rate: int) -> None:
        if rate != self.rate:
            key = (rate, self.rate)
            converter = self._converters.get(key)
            if converter is None:
                converter = self._converters[key] = FrameConverter(rate, 1, self.rate, 1)
            samples = converter(Frame(samples, rate)).samples
        n = self.rate // 50
        if not len(self._pending) and len(samples) == n:
            self._push(samples)
            return
        pending = np.concatenate((self._pending, samples))
        while len(pending) >= n:
            self._push(pending[:n])
            pending = pending[n:]
        self._pending = pending

    def _push(self, samples: Samples) -> None:
        if len(self._inbox) == self._inbox.maxlen:
            self.frames_dropped += 1
        self._inbox.append(Frame(samples, self.rate))
        self.frames_in += 1

    def read(self) -> Frame | None:
        """The next 20 ms the browser sent, or None when nothing is waiting."""
        return self._inbox.popleft() if self._inbox else None

    def write(self, frame: Frame) -> None:
        if self._closed:
            return
        if frame.rate != self.rate or frame.channels != 1:
            key = (frame.rate * 10 + frame.channels, self.rate)
            converter = self._converters.get(key)
            if converter is None:
                converter = self._converters[key] = FrameConverter(frame.rate, frame.channels, self.rate, 1)
            frame = converter(frame)
        self.track.push(frame.samples)

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.track.stop()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)


class CallSignals(Protocol):
    """What the driver asks of its call: signalling to the browser, and hold music."""

    async def answer(self) -> None: ...

    async def pre_answer(self) -> None: ...

    async def ring_ready(self) -> None: ...

    async def send_dtmf(self, digits: str, duration_ms: int) -> None: ...

    async def hangup(self, cause: HangupCause) -> None: ...

    def open_hold_music(self, rate: int) -> FrameSource: ...


class VertoDriver:
    """The ChannelDriver of a Verto leg: frames from `VertoMedia`, signalling through its call.

    The media may be swapped (`attach`) when a reconnected browser re-attaches;
    in between, and while the browser holds the call, the session reads
    silence or hold music and what it writes goes nowhere.
    """

    def __init__(self, call: CallSignals, clock: MediaClock, rate: int, codec: str) -> None:
        self.call = call
        self.clock = clock
        self.media: VertoMedia | None = None
        self._rate = rate
        self._codec = codec
        self.held = False
        self._music: FrameSource | None = None

    @property
    def rate(self) -> int:
        return self.media.rate if self.media is not None else self._rate

    @property
    def read_codec(self) -> str:
        return self.media.codec if self.media is not None else self._codec

    @property
    def write_codec(self) -> str:
        return self.read_codec

    def attach(self, media: VertoMedia) -> VertoMedia | None:
        """Use `media` from now on; returns the one it replaces (for the caller to close)."""
        old, self.media = self.media, media
        self._rate, self._codec = media.rate, media.codec
        return old if old is not media else None

    def detach(self) -> VertoMedia | None:
        old, self.media = self.media, None
        return old

    async def read_frame(self) -> Frame:
        await self.clock.tick()
        if self.held:
            return self._hold_music()
        media = self.media
        frame = media.read() if media is not None else None
        return frame if frame is not None else Frame.silence(self.rate)

    def _hold_music(self) -> Frame:
        if self._music is None:
            try:
                self._music = self.call.open_hold_music(self.rate)
            except SourceError as exc:
                log.warning("no hold music: %s", exc)
                return Frame.silence(self.rate)
        frame = self._music.read_frame()
        if frame is None:  # the source ended: start it again
            self._music.close()
            self._music = None
            return Frame.silence(self.rate)
        return frame

    def set_held(self, held: bool) -> None:
        self.held = held
        if not held and self._music is not None:
            self._music.close()
            self._music = None

    async def write_frame(self, frame: Frame) -> None:
        media = self.media
        if media is not None and not self.held:
            media.write(frame)

    async def answer(self) -> None:
        await self.call.answer()

    async def pre_answer(self) -> None:
        await self.call.pre_answer()

    async def ring_ready(self) -> None:
        await self.call.ring_ready()

    async def send_dtmf(self, digits: str, duration_ms: int) -> None:
        await self.call.send_dtmf(digits, duration_ms)

    async def hangup(self, cause: HangupCause) -> None:
        try:
            await self.call.hangup(cause)
        finally:
            self.set_held(False)
            media = self.detach()
            if media is not None:
                await media.close()
