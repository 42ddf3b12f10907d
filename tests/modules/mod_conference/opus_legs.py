"""Network-free SIP legs for conference tests: mod_sofia's real `SipMedia` over a stub RTP session.

The leg reads one prepared payload per tick through `SipMedia.read` (the real
decoder) and writes through `SipMedia.write` (the real pass-through check and
encoder); what it would have put on the wire is kept in `sent`, so a test can
decode exactly what the far end would hear.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modules.mod_sofia.media import SipMedia
from switchcore.causes import HangupCause
from switchcore.core import Switch
from switchcore.media.codec import CodecSpec
from switchcore.media.frame import Frame
from switchcore.media.negotiate import Negotiated
from switchcore.media.sdp import Direction


@dataclass(frozen=True, slots=True)
class Packet:
    payload: bytes


class StubRtp:
    """The part of `RtpSession` that `SipMedia` uses on the media path."""

    def __init__(self, payloads: Sequence[bytes]) -> None:
        self.payloads = list(payloads)
        self.index = 0
        self.sent: list[bytes] = []

    def pop_packet(self) -> Packet | None:
        if not self.payloads:
            return None
        payload = self.payloads[self.index % len(self.payloads)]
        self.index += 1
        return Packet(payload)

    def peek_packet(self) -> Packet | None:
        return None

    def send_audio(
        self, payload: bytes, timestamp_increment: int | None = None, marker: bool = False
    ) -> None:
        self.sent.append(payload)


def negotiated(spec: CodecSpec, fmtp: Mapping[str, str] | None = None, ptime: int = 20) -> Negotiated:
    return Negotiated(
        codec=spec,
        pt=96 if spec.static_pt is None else spec.static_pt,
        ptime=ptime,
        fmtp=dict(fmtp or {}),
        dtmf_pt=None,
        remote_addr=("127.0.0.1", 9),
        direction=Direction.SENDRECV,
        recv_pt=96 if spec.static_pt is None else spec.static_pt,
    )


class StubSipDriver:
    """A ChannelDriver shaped like mod_sofia's SipDriver: `media` is a real `SipMedia`."""

    def __init__(
        self,
        switch: Switch,
        spec: CodecSpec,
        payloads: Sequence[bytes],
        fmtp: Mapping[str, str] | None = None,
        ptime: int = 20,
    ) -> None:
        self.switch = switch
        self.rtp = StubRtp(payloads)
        self.media = SipMedia(self.rtp, negotiated(spec, fmtp, ptime))  # type: ignore[arg-type]
        self.encodes = 0
        encoder = self.media.encoder
        real_encode = encoder.encode

        def counting(samples: object) -> bytes:
            self.encodes += 1
            return real_encode(samples)  # type: ignore[arg-type]

        self.media.encoder = type("Counting", (), {"encode": staticmethod(counting)})()

    @property
    def write_codec_params(self) -> tuple[CodecSpec, Mapping[str, str]] | None:
        return self.media.pass_through_codec  # as SipDriver declares it

    @property
    def rate(self) -> int:
        return self.media.spec.rate

    @property
    def read_codec(self) -> str:
        return self.media.spec.name

    @property
    def write_codec(self) -> str:
        return self.media.spec.name

    @property
    def sent(self) -> list[bytes]:
        return self.rtp.sent

    async def read_frame(self) -> Frame:
        await self.switch.clock.tick()
        return self.media.read()

    async def write_frame(self, frame: Frame) -> None:
        self.media.write(frame)

    async def answer(self) -> None:
        return None

    async def pre_answer(self) -> None:
        return None

    async def ring_ready(self) -> None:
        return None

    async def send_dtmf(self, digits: str, duration_ms: int) -> None:
        return None

    async def hangup(self, cause: HangupCause) -> None:
        return None
