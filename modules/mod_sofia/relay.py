"""RTP relay between two bridged SIP legs that share a codec: one direction, packet by packet.

Theory of operation.  While a bridge's two legs use the same codec and packet
time (and nothing listens in), a packet from leg A's far end only needs a new
sequence number, timestamp, SSRC and payload type to go out on leg B's stream
(RFC 3550 7.2: a translator that does not change the payload).  `RtpRelay`
takes over A's RTP socket and does exactly that in one small function, the
per-packet path of a call at capacity:

- what is not plain audio from the latched far end (telephone-events, comfort
  noise, RTCP multiplexed on the port, a packet from elsewhere, before
  latching) goes the usual way, through A's `RtpSession.datagram_received`;
- the receive statistics are updated as usual (`ReceiverStats.update`), so
  RTCP reports and the CDR's figures stay right;
- B's sender goes on from where it was: the first packet relayed (and any
  change of source SSRC) anchors the offsets, with the marker bit set (RFC
  3550 5.1), and B's sequence and timestamp follow every packet, so RFC 4733
  events and frames sent later on B continue the same numbering;
- A's media timeout is watched here (its session's own watch is paused), and
  B's packet counts for RTCP sender reports are brought up to date by `sync`.

Measured in a 400-stream relay on loopback (bench/bench_sip.py's set-up): about
6 µs of Python per packet on top of the kernel's send and receive, where the
general `RtpSession` path (`pass_through` + `forward`) costs about 20.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .media import RtpSocket, SipMedia

_SEQ_TS_SSRC = struct.Struct("!HII")
_HEADER = struct.Struct("!BBHII")

Address = tuple[str, int]


class RtpRelay:
    """Relays what `source` receives onto `sink`'s stream until `stop()`; see the module docstring."""

    def __init__(
        self, source: SipMedia, source_socket: RtpSocket, sink: SipMedia, sink_socket: RtpSocket
    ) -> None:
        self.source, self.sink = source, sink
        self._socket = source_socket
        self._route: list[Address | None] = [None]  # where the sink sends, or None: not now
        self._state: list[Any] = []
        self.refresh()
        self._timeout = source.rtp.config.media_timeout
        source.rtp.set_media_timeout(None)  # watched by `timed_out` meanwhile
        self._handler, forward = self._build(sink_socket.sendto)
        source_socket.divert(self._handler)
        # A packet that took the usual way (the first one, which latches) is relayed all the same.
        source.rtp.pass_through(forward)

    def _build(
        self, send: Callable[[bytes, Address], None]
    ) -> tuple[Callable[[bytes, Address], None], Callable[[bytes], None]]:
        rtp = self.source.rtp
        slow = rtp.datagram_received
        latch = rtp.config.latch
        audio_pt = self.source.negotiated.recv_pt
        out_pt = self.sink.negotiated.pt
        sender = self.sink.rtp.sender
        ssrc = sender.ssrc
        samples = self.sink.rtp.config.samples_per_packet
        update = rtp.stats_in.update
        now = asyncio.get_running_loop().time
        unpack, pack = _SEQ_TS_SSRC.unpack_from, _HEADER.pack
        # source SSRC, sequence offset, timestamp offset, packets, octets, last arrival
        state: list[Any] = [-1, 0, 0, 0, 0, now()]
        self._state = state
        route = self._route

        def forward(data: bytes, counted: bool = True) -> None:
            seq, ts, source_ssrc = unpack(data, 2)
            if counted:  # (the usual way already counted it)
                arrival = state[5] = now()
                update(source_ssrc, seq, ts, arrival, True)
            remote = route[0]
            if remote is None:
                return
            marker = data[1] & 0x80
            if source_ssrc != state[0]:
                state[0] = source_ssrc
                state[1] = (sender.sequence - seq) & 0xFFFF
                state[2] = (sender.timestamp - ts) & 0xFFFFFFFF
                marker = 0x80
            out_seq = (seq + state[1]) & 0xFFFF
            out_ts = (ts + state[2]) & 0xFFFFFFFF
            send(pack(data[0], marker | out_pt, out_seq, out_ts, ssrc) + data[12:], remote)
            sender.sequence = (out_seq + 1) & 0xFFFF
            sender.timestamp = (out_ts + samples) & 0xFFFFFFFF
            state[3] += 1
            state[4] += len(data) - 12

        def relay(data: bytes, addr: Address) -> None:
            if (
                len(data) < 12
                or data[1] & 0x7F != audio_pt
                or data[0] & 0xC0 != 0x80
                or addr != rtp.remote_address
                or (latch and not rtp.latched)
            ):
                slow(data, addr)  # telephone-events, CN, RTCP-mux, strangers, latching
                return
            forward(data)

        def forward_taken(data: bytes) -> None:
            state[5] = now()
            forward(data, False)

        return relay, forward_taken

    def refresh(self) -> None:
        """Look again at where the sink sends (a re-INVITE, a hold, the end of the sink's stream)."""
        out = self.sink.rtp
        self._route[0] = out.remote_address if self.sink.sending and not out.closed else None

    def sync(self) -> None:
        """Count what was relayed in the sink's sender (for its RTCP sender reports); look at the route again."""
        sender, state = self.sink.rtp.sender, self._state
        sender.packets_sent += state[3]
        sender.octets_sent += state[4]
        state[3] = state[4] = 0
        self.refresh()

    @property
    def last_packet(self) -> float:
        return float(self._state[5])

    def timed_out(self, now: float) -> bool:
        """No packet for the source's media timeout (RFC 3550 has none; FreeSWITCH's rtp-timeout-sec)."""
        return self._timeout is not None and now - self.last_packet >= self._timeout

    def stop(self) -> None:
        self.sync()
        rtp = self.source.rtp
        rtp.pass_through(None)
        if not rtp.closed:
            self._socket.restore(rtp)
            rtp.set_media_timeout(self._timeout)


__all__ = ["RtpRelay"]
