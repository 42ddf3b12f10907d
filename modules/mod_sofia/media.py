"""A SIP leg's media: its RTP stream, codec and the channel driver the session reads and writes.

Reading is paced by the switch's media clock: every tick one packet is taken
from the jitter buffer and decoded (a missing one is concealed), so a leg with
no incoming audio still yields a frame every 20 ms; G.711 is decoded only when
something looks at the samples.  Writing encodes the L16 frame, unless the
frame carries a payload of our codec already (a bridge between two legs with
the same codec passes it through untouched).  Two bridged legs with the same
codec relay RTP between themselves (the core's `RtpRelay`, see `SipDriver`)
instead of moving frames at all.  While the
far end holds a bridged call, what we read is music on hold, which is what the
bridged partner then hears (FreeSWITCH plays `hold_music` to the partner).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from switchcore.causes import HangupCause
from switchcore.media.builtin_codecs import G711Decoder
from switchcore.media.codec import CodecSpec, Decoder, Encoder
from switchcore.media.frame import Encoded, Frame, FrameFlag, Samples
from switchcore.media.g711 import alaw_decode, ulaw_decode
from switchcore.media.negotiate import Negotiated
from switchcore.media.relay import RelayWatch, RtpRelay
from switchcore.media.rtp import DtmfDigit
from switchcore.media.rtp_session import MAX_DATAGRAM, NoFreePort, PortAllocator, RtpConfig, RtpSession
from switchcore.media.sdp import Direction
from switchcore.media.sources import FrameSource, SourceError
from switchcore.store.records import MediaQuality

if TYPE_CHECKING:
    from .calls import SipCall

log = logging.getLogger("mod_sofia.media")

_EMPTY: Samples = np.zeros(0, dtype=np.int16)  # shared, never written: buffers start empty
_STATELESS: dict[str, Callable[[bytes], Samples]] = {"PCMU": ulaw_decode, "PCMA": alaw_decode}


def _not_attached(data: bytes, addr: tuple[str, int]) -> None:
    return  # nothing attached yet: offer/answer has not settled


class _Endpoint(asyncio.DatagramProtocol):
    """The socket's protocol; `datagram_received` is rebound to the current RtpSession's own method.

    It is a slot (see `switchcore.media.rtp_session._Datagrams`): the event loop
    finds it on the type, not in a dict of each socket's protocol.
    """

    __slots__ = ("datagram_received",)

    def __init__(self) -> None:
        self.datagram_received = _not_attached  # type: ignore[method-assign]

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)  # ICMP port unreachable while the far end sets up


class _Borrowed:
    """A transport lent to one RtpSession: it may send and ask its address, but not close it.

    `sendto` and `get_extra_info` are the real transport's own bound methods, so
    lending costs nothing per packet.
    """

    __slots__ = ("get_extra_info", "sendto")

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self.sendto = transport.sendto
        self.get_extra_info = transport.get_extra_info

    def close(self) -> None:
        return  # the RtpSocket closes the real one when the call ends


class _RtcpPort:
    """The RTCP socket: a plain non-blocking socket read with `add_reader`.

    RTCP is a packet every few seconds, so it gets no transport of its own
    (half the cost of binding a leg); it looks enough like one for `RtpSession`:
    `sendto`, `get_extra_info("sockname")` and a `close` that leaves it to us.
    """

    __slots__ = ("_loop", "_receive", "sock")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        self.sock = sock
        self._loop = loop
        self._receive: Any = None

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:  # ICMP errors, a full buffer: RTCP is best effort
            log.debug("RTCP send to %s failed: %s", addr, exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock.getsockname() if name == "sockname" else default

    def close(self) -> None:
        return  # the RtpSocket closes it when the call ends

    def start(self, receive: Any) -> None:
        if self._receive is None:
            self._loop.add_reader(self.sock.fileno(), self._readable)
        self._receive = receive

    def _readable(self) -> None:
        for _ in range(16):
            try:
                data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("RTCP receive failed: %s", exc)
                return
            self._receive(data, addr)

    def shutdown(self) -> None:
        if self._receive is not None:
            self._loop.remove_reader(self.sock.fileno())
            self._receive = None
        self.sock.close()


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class RtpSocket:
    """A call leg's RTP and RTCP ports, bound before our SDP names them and kept for the whole call.

    Binding first means the port in our offer or answer is ours (a port another
    process holds is skipped, not discovered when media starts), and a
    re-INVITE that changes the codec attaches a new `RtpSession` to the same
    sockets (RFC 3264 8.3.1: the address may stay while the codec changes).
    """

    def __init__(
        self,
        port: int,
        ports: PortAllocator,
        rtp: tuple[asyncio.DatagramTransport, _Endpoint],
        rtcp: _RtcpPort,
    ) -> None:
        self.port = port
        self._ports = ports
        self._rtp, self._rtcp = rtp, rtcp
        self.closed = False
        self._session: RtpSession | None = None  # the session attached now

    @classmethod
    async def bind(cls, host: str, ports: PortAllocator, attempts: int = 16) -> RtpSocket:
        """An even port and the odd one above it (RFC 3550 11), skipping pairs in use elsewhere."""
        loop = asyncio.get_running_loop()
        for _ in range(attempts):
            port = ports.allocate()
            try:
                rtp_sock = _bound(host, port)
            except OSError as exc:
                ports.release(port)
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            try:
                rtcp_sock = _bound(host, port + 1)
            except OSError:
                rtp_sock.close()
                ports.release(port)
                continue
            try:
                rtp = await loop.create_datagram_endpoint(_Endpoint, sock=rtp_sock)
            except BaseException:
                rtp_sock.close()
                rtcp_sock.close()
                ports.release(port)
                raise
            if hasattr(rtp[0], "max_size"):  # see rtp_session.MAX_DATAGRAM
                setattr(rtp[0], "max_size", MAX_DATAGRAM)  # noqa: B010
            return cls(port, ports, rtp, _RtcpPort(rtcp_sock, loop))
        raise NoFreePort(f"no bindable RTP port pair on {host} after {attempts} attempts")

    def attach(self, session: RtpSession, rtcp_mux: bool) -> None:
        """Hand received datagrams to `session` from now on, and let it send through our sockets.

        The session may route them elsewhere (a relay's fast path, `RtpSession.divert`):
        the protocol's `datagram_received` is rebound to the receiver, so the
        socket calls it with nothing in between.
        """
        protocol = self._rtp[1]
        self._session = session

        def route(receiver: Callable[[bytes, tuple[str, int]], None] | None) -> None:
            if self.closed or self._session is not session:  # (a relay stopping after a re-INVITE)
                return
            protocol.datagram_received = receiver or session.datagram_received  # type: ignore[method-assign,assignment]

        route(None)
        self._rtcp.start(session.rtcp_received)
        session.attach(_Borrowed(self._rtp[0]), None if rtcp_mux else self._rtcp, route=route)  # type: ignore[arg-type]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._rtp[0].close()
        self._rtcp.shutdown()
        self._ports.release(self.port)


class SipMedia:
    """The RTP stream of one call leg once offer/answer has settled.

    Frames handed to the core are mono at the codec's PCM rate (a stereo Opus
    stream is mixed down; what we send is duplicated up to it).  For a codec
    whose decoder can rebuild a lost packet from the next one (`decode_fec`,
    Opus in-band FEC, RFC 6716 2.1.7), a gap with the next packet already in the
    jitter buffer is rebuilt rather than concealed.
    """

    def __init__(self, rtp: RtpSession, negotiated: Negotiated) -> None:
        self.rtp = rtp
        self.negotiated = negotiated
        spec: CodecSpec = negotiated.codec
        self.spec = spec
        self.encoder: Encoder = spec.make_encoder(dict(negotiated.fmtp))
        self.decoder: Decoder = spec.make_decoder(dict(negotiated.fmtp))
        self.channels = spec.channels
        self.frame_samples = spec.rate * 20 // 1000  # mono samples in one 20 ms core frame
        self.packet_samples = spec.rate * negotiated.ptime // 1000  # per channel in one packet
        self.samples_per_frame = self.frame_samples * spec.channels
        self.samples_per_packet = self.packet_samples * spec.channels
        self.passes_through = self.samples_per_packet == self.samples_per_frame
        self._out: Samples = _EMPTY
        self._in: Samples = _EMPTY
        self.heard_audio = False
        self.plc_frames = 0
        self.fec_frames = 0
        self._fec = getattr(self.decoder, "decode_fec", None)
        self.adaptive = hasattr(self.encoder, "on_loss_report")
        self._last_report: object = None
        # G.711 decodes on demand (`Frame.on_demand`); the concealer still learns the last packet heard.
        self._lazy = (
            _STATELESS.get(spec.name)
            if isinstance(self.decoder, G711Decoder) and spec.channels == 1
            else None
        )
        self._undecoded: bytes | None = None
        # May we send?  (Not while the far end holds with sendonly/inactive, RFC 3264 8.4.)
        self.sending = negotiated.direction.sends and negotiated.remote_addr is not None

    def update(self, negotiated: Negotiated) -> None:
        """A re-INVITE changed direction or address (same codec): follow it."""
        self.negotiated = negotiated
        self.sending = negotiated.direction.sends and negotiated.remote_addr is not None
        if negotiated.remote_addr is not None:
            self.rtp.set_remote(negotiated.remote_addr, negotiated.remote_rtcp_addr)

    def read(self) -> Frame:
        """One 20 ms frame: decoded, rebuilt (FEC), concealed, or silence when nothing has come yet."""
        rate = self.spec.rate
        if len(self._in) >= self.samples_per_frame:
            samples, self._in = self._in[: self.samples_per_frame], self._in[self.samples_per_frame :]
            return Frame(self._mono(samples), rate)
        packet = self.rtp.pop_packet()
        if packet is None:
            if not self.heard_audio:
                return Frame.silence(rate)
            self._catch_up()
            return self._lost()
        self.heard_audio = True
        lazy = self._lazy
        if lazy is not None and len(packet.payload) == self.samples_per_frame and not len(self._in):
            self._undecoded = packet.payload
            return Frame.on_demand(Encoded(self.spec.name, rate, packet.payload), lazy, rate)
        self._catch_up()
        try:
            pcm = self.decoder.decode(packet.payload)
        except Exception:  # a corrupt payload is concealed, never raised into the call
            return self._conceal()
        if len(pcm) == self.samples_per_frame and not len(self._in):
            return Frame(self._mono(pcm), rate, encoded=Encoded(self.spec.name, rate, packet.payload))
        return self._queue(pcm, FrameFlag.NONE)

    def _catch_up(self) -> None:
        """Let the decoder see the last packet handed out undecoded (its concealment repeats it)."""
        if self._undecoded is not None:
            self.decoder.decode(self._undecoded)
            self._undecoded = None

    def _lost(self) -> Frame:
        # The jitter buffer moved past a gap; the packet after it may already be here.
        if self._fec is not None:
            following = self.rtp.peek_packet()
            if following is not None:
                try:
                    pcm = self._fec(following.payload, self.packet_samples)
                except Exception:
                    return self._conceal()
                if getattr(self.decoder, "last_flag", FrameFlag.FEC) & FrameFlag.FEC:
                    self.fec_frames += 1
                    return self._queue(pcm, FrameFlag.FEC)
                self.plc_frames += 1
                return self._queue(pcm, FrameFlag.PLC)
        return self._conceal()

    def _conceal(self) -> Frame:
        self.plc_frames += 1
        return self._queue(self.decoder.conceal(self.packet_samples), FrameFlag.PLC)

    def _queue(self, pcm: Samples, flags: FrameFlag) -> Frame:
        """Hand out what a packet of another ptime decoded to, 20 ms at a time."""
        self._in = np.concatenate((self._in, pcm)) if len(self._in) else pcm
        if len(self._in) < self.samples_per_frame:
            return Frame.silence(self.spec.rate)
        samples, self._in = self._in[: self.samples_per_frame], self._in[self.samples_per_frame :]
        return Frame(self._mono(samples), self.spec.rate, flags=flags)

    def _mono(self, samples: Samples) -> Samples:
        if self.channels == 1:
            return samples
        mixed: Samples = samples.reshape(-1, self.channels).mean(axis=1).astype(np.int16)
        return mixed

    @property
    def pass_through_codec(self) -> tuple[CodecSpec, Mapping[str, str]] | None:
        """The codec and fmtp a frame's `encoded` payload must have for `write` to send it as it is
        (None while one packet is not one frame: then every frame is encoded here)."""
        return (self.spec, self.negotiated.fmtp) if self.passes_through else None

    def write(self, frame: Frame) -> None:
        if not self.sending:
            return
        encoded = frame.encoded
        if (
            encoded is not None
            and self.passes_through
            and encoded.codec == self.spec.name
            and encoded.rate == self.spec.rate
        ):
            self.rtp.send_audio(encoded.payload)
            return
        samples = frame.samples
        if self.channels != 1:
            samples = np.repeat(samples, self.channels)
        if len(samples) == self.samples_per_packet and not len(self._out):
            self.rtp.send_audio(self.encoder.encode(samples))
            return
        self._out = np.concatenate((self._out, samples))
        while len(self._out) >= self.samples_per_packet:
            chunk, self._out = self._out[: self.samples_per_packet], self._out[self.samples_per_packet :]
            self.rtp.send_audio(self.encoder.encode(chunk))

    def codec_stats(self) -> object | None:
        """The decoder's own counters (mod_opus: `OpusStats`), if it keeps any."""
        return getattr(self.decoder, "stats", None)

    def variables(self) -> dict[str, str]:
        """Channel variables for `uuid_dump` and the CDR: RTP counters, and the codec's own."""
        stats = self.rtp.stats
        out = {
            "rtp_audio_in_packet_count": str(stats.packets_received),
            "rtp_audio_out_packet_count": str(stats.packets_sent),
            "rtp_audio_in_skip_packet_count": str(stats.lost),
            "rtp_audio_in_jitter_ms": f"{stats.jitter_ms:.3f}",
            "rtp_audio_in_plc_frames": str(self.plc_frames),
            "rtp_audio_in_fec_frames": str(self.fec_frames),
        }
        codec = self.codec_stats()
        to_variables = getattr(codec, "variables", None)
        if callable(to_variables):
            out.update(to_variables())
        bitrate = getattr(self.encoder, "bitrate", None)
        if isinstance(bitrate, int):
            out["rtp_audio_out_bitrate"] = str(bitrate)
        return out

    def quality(self) -> MediaQuality:
        stats = self.rtp.stats
        return MediaQuality(
            packets_in=stats.packets_received,
            packets_out=stats.packets_sent,
            packets_lost=stats.lost,
            jitter_ms=round(stats.jitter_ms, 3),
            plc_frames=self.plc_frames,
            fec_frames=self.fec_frames,
        )

    def on_rtcp(self, packets: list[Any]) -> None:
        """RTCP from the far end: a report on our stream tells an adaptive encoder about loss (O5)."""
        if not self.adaptive:
            return
        report = self.rtp.stats.remote_report
        if report is not None and report is not self._last_report:
            self._last_report = report
            new_bitrate = self.encoder.on_loss_report(report.fraction_lost, time.monotonic())  # type: ignore[attr-defined]
            if new_bitrate is not None:
                log.info("opus bitrate now %s bps (far end lost %d/256)", new_bitrate, report.fraction_lost)

    def close(self) -> None:
        self.rtp.sync()  # what a relay sent on our stream counts
        if not self.rtp.sender.packets_sent:
            # RFC 3550 6.3.7: a participant that never sent RTP (or RTCP) must not send a BYE.
            self.rtp.remote_rtcp_address = None
        self.rtp.close()


RELAY_RECHECK_TICKS = 12  # a leg on frames looks for a relay partner every ~240 ms (or when told)
_OFF = ("false", "no", "off", "0")


def _pass_through_allowed(variables: dict[str, str]) -> bool:
    """The channel variable `rtp_pass_through=false` keeps a leg on frames."""
    value = variables.get("rtp_pass_through")
    return value is None or value.lower() not in _OFF


class SipDriver:
    """The ChannelDriver of a SIP leg: media from `SipMedia`, signalling through its `SipCall`.

    RTP relay: when the leg is bridged to another SIP leg with the same codec
    and packet time, neither on hold and no media tap on either session, the
    packets we receive go straight out on the partner's stream (only sequence,
    timestamp and SSRC rewritten, `RtpSession.pass_through`) instead of through
    the jitter buffer, a decode and the bridge's pump on every tick (once both
    far ends have sent audio; until then the frames we send keep each stream
    alive, as a phone behind NAT may wait for ours).  The relay itself is the
    core's `RtpRelay`; the pump waits inside `read_frame` meanwhile, and goes
    back to frames as soon as a tap, a hold, a re-INVITE, a hangup or the end
    of the bridge says so (checked when they happen, and at every sweep of the
    loop's `RelayWatch`, one timer for all relays).  A leg on frames looks for
    a partner to relay with when something changes and every
    `RELAY_RECHECK_TICKS`.  The channel variable `rtp_pass_through=false`
    keeps a leg on frames.
    """

    def __init__(self, call: SipCall, rate: int = 8000) -> None:
        self.call = call
        self.media: SipMedia | None = None
        self._rate = rate
        self.held = False  # the far end put us on hold
        self._music: FrameSource | None = None
        self.relaying = False
        self._relay_now: tuple[RtpRelay, SipMedia] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._recheck = True  # look for a relay partner at the next tick
        self._next_check = 0

    @property
    def rate(self) -> int:
        return self.media.spec.rate if self.media is not None else self._rate

    @property
    def read_codec(self) -> str:
        return self.media.spec.name if self.media is not None else "PCMU"

    @property
    def write_codec(self) -> str:
        return self.read_codec

    @property
    def write_codec_params(self) -> tuple[CodecSpec, Mapping[str, str]] | None:
        """switchcore.driver.EncodedWriter: see `SipMedia.pass_through_codec`."""
        return self.media.pass_through_codec if self.media is not None else None

    def attach(self, media: SipMedia) -> None:
        if self.media is not None and self.media is not media:
            self.media.close()
        self.media = media
        self._rate = media.spec.rate
        self.media_changed()

    async def read_frame(self) -> Frame:
        tick = await self.call.switch.clock.tick()
        media = self.media
        if media is None:
            return Frame.silence(self._rate)
        if self._recheck or tick >= self._next_check:
            self._recheck = False
            self._next_check = tick + RELAY_RECHECK_TICKS
            partner = self._relay_partner(media)
            if partner is not None:
                await self._relay(media, partner)
                return Frame.silence(self._rate)
        frame = media.read()
        if self.held and self._bridged():
            # FreeSWITCH plays hold music to a held leg's bridged partner; a conference or an
            # application is no partner, and hears what the held phone sends (or nothing).
            return self._hold_music(frame)
        return frame

    def _bridged(self) -> bool:
        session = self.call.session
        return session is not None and session.partner is not None

    # ---- RTP relay between two SIP legs (see the class docstring) ----------------------------

    def _relay_partner(self, media: SipMedia) -> SipDriver | None:
        session = self.call.session
        if session is None or session.partner is None or self.held or session.hungup:
            return None
        partner = session.partner
        other = partner.driver
        if not isinstance(other, SipDriver) or other.held or other.media is None or partner.hungup:
            return None
        sink = other.media
        if (
            sink.spec.key != media.spec.key
            or not media.heard_audio  # until both ends send, our silence keeps each stream alive
            or not sink.heard_audio
            or not media.passes_through
            or not sink.passes_through
            or session.read_taps
            or session.write_taps
            or partner.read_taps
            or partner.write_taps
            or not _pass_through_allowed(session.variables)
        ):
            return None
        return other

    async def _relay(self, media: SipMedia, partner: SipDriver) -> None:
        sink = partner.media
        assert sink is not None

        def still_right() -> bool:
            return self.media is media and partner.media is sink and self._relay_partner(media) is partner

        session, other = self.call.session, partner.call.session
        assert session is not None and other is not None

        def still_wanted() -> bool:
            """The periodic look: what changes without telling us (taps, variables).

            Holds, re-INVITEs, hangups and the end of the bridge wake the relay
            themselves (`media_changed`, cancellation), and `still_right` runs then.
            """
            return not (
                session.read_taps
                or session.write_taps
                or other.read_taps
                or other.write_taps
                or session.partner is not other
                or not _pass_through_allowed(session.variables)
            )

        relay = RtpRelay(media.rtp, sink.rtp, sending=sink.sending)
        self._relay_now = relay, sink
        self.relaying = True
        watch = RelayWatch.for_loop()
        try:
            while True:
                self._wake = watch.watch(still_wanted)
                await self._wake
                if not still_right():
                    return
                relay.refresh(sink.sending)
        finally:
            self.relaying = False
            self._wake = self._relay_now = None
            relay.stop()
            self._recheck = True

    def _wake_relay(self) -> None:
        self._recheck = True
        if self._relay_now is not None:  # at once: the sink may have to stop sending now (a hold)
            relay, sink = self._relay_now
            relay.refresh(sink.sending)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _partner_driver(self) -> SipDriver | None:
        session = self.call.session
        partner = session.partner if session is not None else None
        driver = partner.driver if partner is not None else None
        return driver if isinstance(driver, SipDriver) else None

    def media_changed(self) -> None:
        """Something changed on this leg: both ends of a relay look again."""
        self._wake_relay()
        partner = self._partner_driver()
        if partner is not None:
            partner._wake_relay()

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
        self.media_changed()

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
        self.media_changed()
        try:
            await self.call.hangup(cause)
        finally:
            if self._music is not None:
                self._music.close()
            media = self.media
            if media is not None:
                self._report(media)
                media.close()
            self.call.close_media()

    def _report(self, media: SipMedia) -> None:
        """The leg's media counters become channel variables (and so reach the CDR)."""
        session = self.call.session
        if session is None:
            return
        try:
            session.variables.update(media.variables())
        except Exception:  # figures are a nicety; a hangup must not fail for them
            log.exception("[%s] could not read the media counters", self.call.uuid)
            return
        codec = media.codec_stats()
        if codec is not None:
            log.info("[%s] %s %s", self.call.uuid, media.spec.name, codec)

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
