"""A SIP leg's media: its RTP stream, codec and the channel driver the session reads and writes.

Reading is paced by the switch's media clock: every tick one packet is taken
from the jitter buffer and decoded (a missing one is concealed), so a leg with
no incoming audio still yields a frame every 20 ms.  Writing encodes the L16
frame, unless the frame carries a payload of our codec already (a bridge
between two legs with the same codec passes it through untouched).  While the
far end holds the call, what we read is music on hold, which is what the
bridged partner then hears (FreeSWITCH plays `hold_music` to the partner).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from switchcore.causes import HangupCause
from switchcore.media.codec import CodecSpec, Decoder, Encoder
from switchcore.media.frame import Encoded, Frame, FrameFlag
from switchcore.media.negotiate import Negotiated
from switchcore.media.rtp import DtmfDigit
from switchcore.media.rtp_session import RtpConfig, RtpSession
from switchcore.media.sdp import Direction
from switchcore.media.sources import FrameSource, SourceError
from switchcore.store.records import MediaQuality

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.media")


class SipMedia:
    """The RTP stream of one call leg once offer/answer has settled."""

    def __init__(self, rtp: RtpSession, negotiated: Negotiated) -> None:
        self.rtp = rtp
        self.negotiated = negotiated
        spec: CodecSpec = negotiated.codec
        self.spec = spec
        self.encoder: Encoder = spec.make_encoder(dict(negotiated.fmtp))
        self.decoder: Decoder = spec.make_decoder(dict(negotiated.fmtp))
        self.samples_per_frame = spec.rate * spec.channels * 20 // 1000
        self.samples_per_packet = spec.rate * spec.channels * negotiated.ptime // 1000
        self._out = np.zeros(0, dtype=np.int16)
        self._in = np.zeros(0, dtype=np.int16)
        self.heard_audio = False
        self.plc_frames = 0

    def update(self, negotiated: Negotiated) -> None:
        """A re-INVITE changed direction or address (same codec): follow it."""
        self.negotiated = negotiated
        if negotiated.remote_addr is not None:
            self.rtp.set_remote(negotiated.remote_addr, negotiated.remote_rtcp_addr)

    @property
    def sending(self) -> bool:
        return self.negotiated.direction.sends and self.negotiated.remote_addr is not None

    def read(self) -> Frame:
        """One 20 ms frame: decoded, concealed, or silence when nothing has come yet."""
        rate = self.spec.rate
        if len(self._in) >= self.samples_per_frame:
            samples, self._in = self._in[: self.samples_per_frame], self._in[self.samples_per_frame :]
            return Frame(samples, rate)
        packet = self.rtp.pop_packet()
        if packet is None:
            if not self.heard_audio:
                return Frame.silence(rate)
            self.plc_frames += 1
            return Frame(self.decoder.conceal(self.samples_per_frame), rate, flags=FrameFlag.PLC)
        self.heard_audio = True
        try:
            pcm = self.decoder.decode(packet.payload)
        except Exception:  # a corrupt payload is concealed, never raised into the call
            return Frame(self.decoder.conceal(self.samples_per_frame), rate, flags=FrameFlag.PLC)
        if len(pcm) == self.samples_per_frame:
            return Frame(pcm, rate, encoded=Encoded(self.spec.name, rate, packet.payload))
        # ptime other than 20 ms: hand out 20 ms at a time.
        self._in = np.concatenate((self._in, pcm))
        return self.read() if len(self._in) >= self.samples_per_frame else Frame.silence(rate)

    def write(self, frame: Frame) -> None:
        if not self.sending:
            return
        encoded = frame.encoded
        same_codec = (
            encoded is not None
            and encoded.codec == self.spec.name
            and encoded.rate == self.spec.rate
            and self.samples_per_packet == self.samples_per_frame
        )
        if same_codec and encoded is not None:
            self.rtp.send_audio(encoded.payload)
            return
        samples = frame.samples
        if len(samples) == self.samples_per_packet and not len(self._out):
            self.rtp.send_audio(self.encoder.encode(samples))
            return
        self._out = np.concatenate((self._out, samples))
        while len(self._out) >= self.samples_per_packet:
            chunk, self._out = self._out[: self.samples_per_packet], self._out[self.samples_per_packet :]
            self.rtp.send_audio(self.encoder.encode(chunk))

    def quality(self) -> MediaQuality:
        stats = self.rtp.stats
        return MediaQuality(
            packets_in=stats.packets_received,
            packets_out=stats.packets_sent,
            packets_lost=stats.lost,
            jitter_ms=round(stats.jitter_ms, 3),
            plc_frames=self.plc_frames,
        )

    def close(self) -> None:
        self.rtp.close()


class SipDriver:
    """The ChannelDriver of a SIP leg: media from `SipMedia`, signalling through its `SipCall`."""

    def __init__(self, call: SipCall, rate: int = 8000) -> None:
        self.call = call
        self.media: SipMedia | None = None
        self._rate = rate
        self.held = False  # the far end put us on hold
        self._music: FrameSource | None = None

    @property
    def rate(self) -> int:
        return self.media.spec.rate if self.media is not None else self._rate

    @property
    def read_codec(self) -> str:
        return self.media.spec.name if self.media is not None else "PCMU"

    @property
    def write_codec(self) -> str:
        return self.read_codec

    def attach(self, media: SipMedia) -> None:
        if self.media is not None and self.media is not media:
            self.media.close()
        self.media = media
        self._rate = media.spec.rate

    async def read_frame(self) -> Frame:
        await self.call.switch.clock.tick()
        media = self.media
        if media is None:
            return Frame.silence(self._rate)
        frame = media.read()
        if self.held:
            return self._hold_music(frame)
        return frame

    def _hold_music(self, frame: Frame) -> Frame:
        if self._music is None:
            try:
                self._music = self.call.open_hold_music(self.rate)
            except SourceError as exc:
                log.warning("[%s] no hold music: %s", self.call.uuid, exc)
                self._music = None
                return Frame.silence(self.rate)
        music = self._music.read_frame()
        return music if music is not None else Frame.silence(self.rate)

    def set_held(self, held: bool) -> None:
        self.held = held
        if not held and self._music is not None:
            self._music.close()
            self._music = None

    async def write_frame(self, frame: Frame) -> None:
        if self.media is not None:
            self.media.write(frame)

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
            if self._music is not None:
                self._music.close()
            if self.media is not None:
                self.media.close()

    def quality(self) -> MediaQuality:
        return self.media.quality() if self.media is not None else MediaQuality()


def rtp_config(negotiated: Negotiated, rtp_timeout: float | None) -> RtpConfig:
    return RtpConfig.from_negotiated(negotiated, media_timeout=rtp_timeout)


def on_dtmf_for(call: SipCall) -> object:
    def deliver(digit: DtmfDigit) -> None:
        session = call.session
        if session is not None and not session.hungup:
            session.queue_dtmf(digit.digit, "RTP", int(getattr(digit, "duration_ms", 100)))

    return deliver


__all__ = ["Direction", "SipDriver", "SipMedia", "on_dtmf_for", "rtp_config"]
