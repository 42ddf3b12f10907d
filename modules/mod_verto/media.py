"""A Verto call's media: one aiortc RTCPeerConnection, and the channel driver the session reads and writes.

The browser's WebRTC session ends here (ICE, DTLS-SRTP, Opus or G.711): the
SDP travels inside the JSON-RPC messages (`verto.invite`, `verto.answer`,
`verto.media`, `verto.attach`), and the audio meets the core as L16 at the
channel's rate (48 kHz for Opus, 8 kHz for PCMU/PCMA).

aiortc sets the call up (ICE, DTLS-SRTP keys, the SDP) and keeps ICE consent,
DTLS and RTCP timing; the RTP itself takes a short path once DTLS is connected
(srtp_path.py): received packets are unprotected straight off the ICE socket
into the core's `JitterBuffer`, and decoded with the registry's codec
(mod_opus, the built-in G.711) when the session reads.  What the session writes
is encoded the same way, or passed through untouched when the frame already
carries a payload of our codec (echo, or a bridge to another Opus leg), and
leaves at once: header, protect, sendto.  aiortc's sender holds a track that
never yields a frame; its receiver sees no packet.

Timing: the switch's media clock paces both directions.  `read_frame` waits
for a tick and decodes one 20 ms packet (concealing a lost one, silence before
the first); a written frame is sent when it is written, and a call that wrote
nothing during a tick sends its codec's silence (silence.py).

DTMF: RFC 4733 telephone-event packets are taken off the same receive path and
fed to the core's `DtmfReceiver`; `verto.info` digits arrive through calls.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDtlsTransport,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError

from switchcore.causes import HangupCause
from switchcore.media.clock import MediaClock
from switchcore.media.codec import CodecSpec, Decoder, Encoder
from switchcore.media.convert import FrameConverter
from switchcore.media.frame import Encoded, Frame, FrameFlag
from switchcore.media.jitter import JitterBuffer
from switchcore.media.rtp import DtmfReceiver, RtcpRrPacket, RtcpSrPacket, RtpError, RtpPacket
from switchcore.media.sources import FrameSource, SourceError

from .aiortc_adapter import (
    AdapterError,
    deliver_rtcp,
    deliver_rtp,
    divert_receiver,
    nominated_pair,
    replace_sender_rtcp,
    sender_ssrc,
    srtp_sessions,
)
from .ice import (
    TELEPHONE_EVENT,
    announce_address,
    audio_codecs,
    filter_candidates,
    first_codec,
    mid_extension_id,
)
from .silence import SilenceFill
from .srtp_path import SrtpPath, attach, mid_extension

log = logging.getLogger("mod_verto.media")

CODEC_RATES = {"OPUS": 48000, "PCMU": 8000, "PCMA": 8000}
CodecFinder = Callable[[str, int], CodecSpec | None]


class MediaError(Exception):
    """The browser's SDP cannot be used (no common codec, unparsable): the call cannot have media."""


@dataclass(frozen=True, slots=True)
class WebRtcPolicy:
    """What a profile allows: the address ICE uses and announces, and codecs in preference order."""

    rtp_ip: str = "127.0.0.1"
    ext_rtp_ip: str = ""
    codecs: tuple[str, ...] = ("OPUS", "PCMU", "PCMA")

    def available(self, find: CodecFinder) -> WebRtcPolicy:
        """Only the codecs the switch has loaded (OPUS needs mod_opus); MediaError when none is."""
        codecs = tuple(c for c in self.codecs if find(c, CODEC_RATES[c]) is not None)
        if not codecs:
            raise MediaError(f"none of {', '.join(self.codecs)} is loaded")
        return WebRtcPolicy(self.rtp_ip, self.ext_rtp_ip, codecs)


def _preferences(codecs: tuple[str, ...]) -> list[Any]:
    capabilities = RTCRtpSender.getCapabilities("audio").codecs
    wanted = [c for name in codecs for c in capabilities if c.mimeType.lower() == f"audio/{name.lower()}"]
    wanted += [c for c in capabilities if c.mimeType.lower() == TELEPHONE_EVENT]
    return wanted


class SenderTrack(MediaStreamTrack):
    """The track aiortc's sender holds: it never yields a frame, as our RTP leaves through
    srtp_path (aiortc still wants a track, for the SDP and to run its RTCP timer).
    `frames_sent` counts the packets the call sent."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames_sent = 0
        self._stopped = asyncio.Event()

    async def recv(self) -> Any:
        await self._stopped.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


class VertoMedia:
    """One RTCPeerConnection and the codec path on both sides of it."""

    def __init__(
        self,
        policy: WebRtcPolicy,
        clock: MediaClock,
        find_codec: CodecFinder,
        on_dtmf: Callable[[str, int], None] | None = None,
    ) -> None:
        self.policy = policy.available(find_codec)
        self.clock = clock
        self.find_codec = find_codec
        self.on_dtmf = on_dtmf
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.codec = self.policy.codecs[0]
        self.rate = CODEC_RATES[self.codec]
        self.spec: CodecSpec | None = None  # the negotiated codec, once there is an answer
        self.track = SenderTrack()
        self.transceiver: RTCRtpTransceiver | None = None
        self.path: SrtpPath | None = None
        self._dtls: RTCDtlsTransport | None = None
        self._send_pt = 0
        self._clock_rate = 48000
        self._silence = b""
        self._extension = b""
        self.local_sdp = ""
        self.remote_sdp = ""
        self.frames_in = 0
        self.frames_out = 0
        self.plc_frames = 0
        self.passthrough_frames = 0
        self.dtmf_digits = 0
        self.heard_audio = False
        self._encoder: Encoder | None = None
        self._decoder: Decoder | None = None
        self._jitter: JitterBuffer | None = None
        self._audio_pts: frozenset[int] = frozenset()
        self._samples = 960  # PCM samples in 20 ms
        self._pcm_in = np.zeros(0, dtype=np.int16)
        self._converters: dict[tuple[int, int], FrameConverter] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dtmf: dict[int, DtmfReceiver] = {}
        self._intercepting = False
        self._closed = False
        self.pc.on("track", self._on_track)

    # ---- offer / answer ----------------------------------------------------------------------

    def _add_transceiver(self) -> RTCRtpTransceiver:
        transceiver = self.pc.addTransceiver(self.track, direction="sendrecv")
        transceiver.setCodecPreferences(_preferences(self.policy.codecs))
        replace_sender_rtcp(transceiver.sender, self._send_rtcp)
        self.transceiver = transceiver
        return transceiver

    async def answer(self, offer_sdp: str) -> str:
        """Answer the browser's offer (verto.invite); returns our answer SDP."""
        self._add_transceiver()
        self.remote_sdp = filter_candidates(offer_sdp, self.policy.rtp_ip)
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(self.remote_sdp, "offer"))
            for transceiver in self.pc.getTransceivers():
                if transceiver.kind != "audio":
                    transceiver.direction = "inactive"  # audio only: video is answered, never flows
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
        spec = self.find_codec(chosen[0], CODEC_RATES[chosen[0]])
        if spec is None:
            raise MediaError(f"codec {chosen[0]} is not loaded")
        self.spec, self.codec, self.rate = spec, spec.name, spec.rate
        self._samples = spec.rate // 50
        self._encoder = spec.make_encoder({})
        self._decoder = spec.make_decoder({})
        self._jitter = JitterBuffer(2, 8, spec.clock_rate // 50, spec.clock_rate)
        self._audio_pts = frozenset(
            pt
            for sdp in (self.local_sdp, self.remote_sdp)
            for pt, name, _ in audio_codecs(sdp)
            if name == spec.name
        )
        for sdp in (self.local_sdp, self.remote_sdp):
            for pt, name, rate in audio_codecs(sdp):
                if name == "TELEPHONE-EVENT" and pt not in self._dtmf:
                    self._dtmf[pt] = DtmfReceiver(rate)
        self._send_pt = next(pt for pt, name, _ in audio_codecs(answer_sdp) if name == spec.name)
        self._clock_rate = spec.clock_rate
        self._silence = self._encoder.encode(np.zeros(self._samples, dtype=np.int16))
        extension = mid_extension_id(answer_sdp)
        self._extension = mid_extension(*extension) if extension is not None else b""
        if self.path is not None:  # a new answer on a running path: its codec from now on
            self.path.payload_type, self.path.clock_rate = self._send_pt, self._clock_rate
            self.path.step = self._clock_rate // 50
        self._intercept()
        self._watch_dtls()

    # ---- the short RTP path (srtp_path.py) ---------------------------------------------------

    def _watch_dtls(self) -> None:
        """Open the path when DTLS connects (its SRTP keys exist from then), close it when DTLS ends."""
        if self.transceiver is None:
            return
        dtls = self.transceiver.sender.transport
        if dtls is self._dtls:
            return
        self._dtls = dtls
        dtls.on("statechange", self._on_dtls_state)
        self._on_dtls_state()

    def _on_dtls_state(self) -> None:
        dtls = self._dtls
        if dtls is None:
            return
        if dtls.state == "connected":
            self._open_path(dtls)
        elif dtls.state in ("closed", "failed") and self.path is not None:
            self.path.close()
            SilenceFill.leave(self.clock, self)

    def _open_path(self, dtls: RTCDtlsTransport) -> None:
        if self._closed or self.path is not None or self.transceiver is None:
            return
        try:
            rx, tx = srtp_sessions(dtls)
            transport, address = nominated_pair(dtls)
            ssrc = sender_ssrc(self.transceiver.sender)
        except AdapterError as exc:
            log.error("no media path (%s): aiortc is not the version mod_verto expects", exc)
            return

        def send(data: bytes) -> None:
            transport.sendto(data, address)

        self.path = SrtpPath(
            rx,
            tx,
            send,
            ssrc,
            self._send_pt,
            self._clock_rate,
            self._on_path_rtp,
            self._on_path_rtcp,
            self._extension,
        )
        attach(transport, self.path)
        SilenceFill.join(self.clock, self)

    def _on_path_rtp(self, packet: RtpPacket, plain: bytes) -> None:
        if not self._on_rtp(packet) and self._dtls is not None:
            # Not ours (another payload type): aiortc's receive path, as before.
            self._spawn(deliver_rtp(self._dtls, plain, int(time.time() * 1000)))

    def _on_path_rtcp(self, plain: bytes) -> None:
        if self._dtls is not None:
            self._spawn(deliver_rtcp(self._dtls, plain))

    async def _send_rtcp(self, packets: list[Any]) -> None:
        """aiortc's sender reports (SR + SDES, or BYE at the end): sent with our SR in front."""
        path = self.path
        if path is None or path.closed:
            return
        rest = b"".join(bytes(p) for p in packets if not isinstance(p, (RtcpSrPacket, RtcpRrPacket)))
        path.send_rtcp(path.report(time.monotonic(), time.time()) + rest)

    @property
    def packets_sent(self) -> int:
        return self.track.frames_sent

    def send_silence(self) -> None:
        self._send(self._silence)

    def _send(self, payload: bytes) -> None:
        path = self.path
        if path is not None and not path.closed:
            path.send_audio(payload, time.monotonic())
            self.track.frames_sent += 1

    def _intercept(self) -> None:
        """Packets that still come through aiortc's receive path (none once the short path is open)
        are handled the same way: ours never reach its jitter buffer and decoder thread."""
        transceiver = self.transceiver
        if transceiver is None or self._intercepting:
            return
        self._intercepting = True
        original = None

        async def handle(packet: Any, arrival_time_ms: int) -> None:
            ours = RtpPacket(
                packet.payload_type,
                packet.sequence_number,
                packet.timestamp,
                packet.ssrc,
                packet.payload,
                bool(packet.marker),
            )
            if not self._on_rtp(ours) and original is not None:
                await original(packet, arrival_time_ms)

        original = divert_receiver(transceiver.receiver, handle)

    def _on_rtp(self, packet: RtpPacket) -> bool:
        """Our codec into the jitter buffer, telephone-events to DTMF; False for anything else."""
        pt = packet.payload_type
        if pt in self._audio_pts:
            jitter = self._jitter
            if jitter is not None and not self._closed and jitter.push(packet, time.monotonic()):
                self.frames_in += 1
            return True
        dtmf = self._dtmf.get(pt)
        if dtmf is None:
            return False
        self._on_event_packet(dtmf, packet)
        return True

    def _on_event_packet(self, dtmf: DtmfReceiver, packet: RtpPacket) -> None:
        try:
            digits = dtmf.receive(packet, time.monotonic())
        except (RtpError, ValueError):
            return
        for digit in digits:
            self.dtmf_digits += 1
            if self.on_dtmf is not None:
                self.on_dtmf(digit.digit, digit.duration_ms)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            # Video (or anything else) is not used; read it so aiortc's queue cannot grow.
            self._spawn(self._drain(track))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    # ---- audio -------------------------------------------------------------------------------

    def read(self) -> Frame | None:
        """The next 20 ms the browser sent (decoded, or concealed when lost); None before the first."""
        jitter, decoder = self._jitter, self._decoder
        if jitter is None or decoder is None:
            return None
        n = self._samples
        if len(self._pcm_in) >= n:
            samples, self._pcm_in = self._pcm_in[:n], self._pcm_in[n:]
            return Frame(samples, self.rate)
        packet = jitter.pop()
        if packet is None:
            if not self.heard_audio:
                return None
            self.plc_frames += 1
            return Frame(decoder.conceal(n), self.rate, flags=FrameFlag.PLC)
        self.heard_audio = True
        pcm = decoder.decode(packet.payload)
        if len(pcm) == n:
            return Frame(pcm, self.rate, encoded=Encoded(self.codec, self.rate, packet.payload))
        self._pcm_in = np.concatenate((self._pcm_in, pcm))  # another ptime: hand out 20 ms at a time
        if len(self._pcm_in) < n:
            return None
        samples, self._pcm_in = self._pcm_in[:n], self._pcm_in[n:]
        return Frame(samples, self.rate)

    def write(self, frame: Frame) -> None:
        encoder = self._encoder
        if self._closed or encoder is None:
            return
        encoded = frame.encoded
        if (
            encoded is not None
            and encoded.codec == self.codec
            and encoded.rate == self.rate
            and len(frame.samples) == self._samples
        ):
            self.passthrough_frames += 1
            self._send(encoded.payload)
            return
        if frame.rate != self.rate or frame.channels != 1:
            key = (frame.rate * 10 + frame.channels, self.rate)
            converter = self._converters.get(key)
            if converter is None:
                converter = self._converters[key] = FrameConverter(frame.rate, frame.channels, self.rate, 1)
            frame = converter(frame)
        if len(frame.samples) != self._samples:
            return  # not 20 ms: the core always writes 20 ms frames
        self.frames_out += 1
        self._send(encoder.encode(frame.samples))

    @property
    def connection_state(self) -> str:
        return str(self.pc.connectionState)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        SilenceFill.leave(self.clock, self)
        self.track.stop()
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pc.close()  # aiortc's sender ends with an RTCP BYE, still through the path
        if self.path is not None:
            self.path.close()
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

    @property
    def write_codec_params(self) -> tuple[CodecSpec, Mapping[str, str]] | None:
        """What a frame's `encoded` payload must be to go out as it is (switchcore.driver.EncodedWriter).

        Our encoders take no fmtp (the browser's decoder reads any Opus packet), so
        a shared encoder built from the bare spec makes payloads we would send alike.
        """
        media = self.media
        if media is None or media.spec is None or self.held:
            return None
        return media.spec, {}

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
