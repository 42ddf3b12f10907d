"""Network-free SIP legs for conference tests and benchmarks: mod_sofia's real `SipMedia` over a stub RTP session.

The leg reads one prepared payload per tick through `SipMedia.read` (the real
decoder, cycling through the payloads) and writes through `SipMedia.write`
(the real pass-through check and encoder).  What it would have put on the wire
is counted in `sent_count`, and kept in `sent` when `keep` (tests decode
exactly what the far end would hear; a benchmark of hundreds of legs only
counts).  Used by tests/modules/mod_conference and bench/bench_conference.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modules.mod_sofia.media import SipMedia
from switchcore.causes import HangupCause
from switchcore.core import Switch
from switchcore.media.codec import CodecSpec, Encoder
from switchcore.media.frame import Frame, Samples
from switchcore.media.negotiate import Negotiated
from switchcore.media.sdp import Direction

__all__ = ["Packet", "StubRtp", "StubSipDriver", "negotiated"]


class Packet:
    """What `SipMedia` reads of a received RTP packet: its payload."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload


class StubRtp:
    """The part of `RtpSession` that `SipMedia` uses on the media path, without a socket."""

    def __init__(self, payloads: Sequence[bytes], keep: bool = True) -> None:
        self.packets = [Packet(p) for p in payloads]  # made once: a benchmark pops millions
        self.index = 0  # packets popped (or skipped) so far
        self.keep = keep
        self.sent: list[bytes] = []
        self.sent_count = 0
        self.lost = 0  # the next pops that find nothing (their packets are skipped)

    def lose(self, count: int = 1) -> None:
        """The next `count` packets never arrive: the jitter buffer has nothing those ticks."""
        self.lost += count

    def pop_packet(self) -> Packet | None:
        packets = self.packets
        if not packets:
            return None
        if self.lost:
            self.lost -= 1
            self.index += 1
            return None
        packet = packets[self.index % len(packets)]
        self.index += 1
        return packet

    def peek_packet(self) -> Packet | None:
        return None

    def send_audio(
        self, payload: bytes, timestamp_increment: int | None = None, marker: bool = False
    ) -> None:
        self.sent_count += 1
        if self.keep:
            self.sent.append(payload)


def negotiated(spec: CodecSpec, fmtp: Mapping[str, str] | None = None, ptime: int = 20) -> Negotiated:
    pt = 96 if spec.static_pt is None else spec.static_pt
    return Negotiated(
        codec=spec,
        pt=pt,
        ptime=ptime,
        fmtp=dict(fmtp or {}),
        dtmf_pt=None,
        remote_addr=("127.0.0.1", 9),
        direction=Direction.SENDRECV,
        recv_pt=pt,
    )


class _CountingEncoder:
    """An encoder that counts its encodes (how many frames a leg encoded itself)."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.count = 0

    def encode(self, samples: Samples) -> bytes:
        self.count += 1
        return self.encoder.encode(samples)


class StubSipDriver:
    """A ChannelDriver shaped like mod_sofia's SipDriver: `media` is a real `SipMedia`.

    `count_encodes` wraps the leg's encoder to count its own encodes (`encodes`);
    a benchmark leaves it off, so the encode path is the endpoint's own.
    """

    def __init__(
        self,
        switch: Switch,
        spec: CodecSpec,
        payloads: Sequence[bytes],
        fmtp: Mapping[str, str] | None = None,
        ptime: int = 20,
        *,
        keep: bool = True,
        count_encodes: bool = True,
    ) -> None:
        self.switch = switch
        self.rtp = StubRtp(payloads, keep)
        self.media = SipMedia(self.rtp, negotiated(spec, fmtp, ptime))  # type: ignore[arg-type]
        self.read_codec = self.write_codec = spec.name
        self.rate = spec.rate
        self._counter: _CountingEncoder | None = None
        if count_encodes:
            self._counter = _CountingEncoder(self.media.encoder)
            self.media.encoder = self._counter

    @property
    def encodes(self) -> int:
        """Frames this leg encoded itself (0 when not counted)."""
        return self._counter.count if self._counter is not None else 0

    @property
    def write_codec_params(self) -> tuple[CodecSpec, Mapping[str, str]] | None:
        return self.media.pass_through_codec  # as SipDriver declares it

    @property
    def sent(self) -> list[bytes]:
        """The payloads written (empty unless `keep`)."""
        return self.rtp.sent

    @property
    def sent_count(self) -> int:
        return self.rtp.sent_count

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
