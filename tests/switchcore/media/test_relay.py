"""The core RTP relay: header rewrite, what takes the usual way, counters, DTMF numbering, timeout, stop;
and the RelayWatch that sweeps every relay of a loop with one timer."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable

import pytest

from switchcore.media.relay import RelayWatch, RtpRelay
from switchcore.media.rtp import RtcpSrPacket, RtpError, parse_rtcp
from switchcore.media.rtp_session import RtpConfig, RtpSession

A_FAR, B_FAR = ("127.0.0.1", 40000), ("127.0.0.1", 40002)
Address = tuple[str, int]
Receiver = Callable[[bytes, Address], None]


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Address]] = []

    def sendto(self, data: bytes, addr: Address) -> None:
        self.sent.append((data, addr))

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 16000) if name == "sockname" else default

    def close(self) -> None:
        return


class Leg:
    """An RtpSession on a fake socket whose receiver can be routed, as a real one's can."""

    def __init__(
        self, far: Address, pt: int = 0, media_timeout: float | None = 30.0, tick: float = 1.0
    ) -> None:
        config = RtpConfig(
            payload_type=pt, media_timeout=media_timeout, rtcp_interval=None, housekeeping=tick
        )
        self.rtp = RtpSession(config)
        self.transport = FakeTransport()
        self.receiver: Receiver = self.rtp.datagram_received
        self.rtp.attach(self.transport, route=self.route)  # type: ignore[arg-type]
        self.rtp.set_remote(far)

    def route(self, receiver: Receiver | None) -> None:
        self.receiver = receiver or self.rtp.datagram_received

    def sent_to(self, addr: Address) -> list[bytes]:
        return [data for data, to in self.transport.sent if to == addr]


def packet(
    seq: int, ts: int, ssrc: int = 0xABCDEF01, pt: int = 0, marker: bool = False, payload: bytes = b"x" * 160
) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq, ts, ssrc) + payload


def header(data: bytes) -> tuple[int, int, int, int, int]:
    second, seq, ts, ssrc = struct.unpack_from("!xBHII", data)
    return second >> 7, second & 0x7F, seq, ts, ssrc


async def test_packets_go_out_on_the_other_stream_with_its_numbering_and_the_payload_untouched() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR, pt=8)
    b.rtp.sender.sequence, b.rtp.sender.timestamp = 1000, 50000
    RtpRelay(a.rtp, b.rtp)
    assert a.receiver != a.rtp.datagram_received  # the relay took the socket
    a.receiver(packet(7, 960), A_FAR)  # latches (the usual way), then relayed
    a.receiver(packet(8, 1120), A_FAR)
    a.receiver(packet(9, 1280, payload=b"y" * 160), A_FAR)
    sent = b.sent_to(B_FAR)
    ssrc = b.rtp.sender.ssrc
    assert [header(d) for d in sent] == [
        (1, 8, 1000, 50000, ssrc),  # the first relayed packet marks the discontinuity
        (0, 8, 1001, 50160, ssrc),
        (0, 8, 1002, 50320, ssrc),
    ]
    assert sent[2][12:] == b"y" * 160
    b.rtp.sync()  # the relay keeps the sender's numbers until asked
    assert (b.rtp.sender.sequence, b.rtp.sender.timestamp) == (1003, 50480)
    assert b.rtp.sender.packets_sent == 3 and b.rtp.sender.octets_sent == 480
    stats = a.rtp.stats
    assert (stats.packets_received, stats.octets_received, stats.lost) == (3, 480, 0)


async def test_one_payload_type_on_both_streams_passes_packets_through_untouched() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    b.rtp.stats_in.update(0x5150, 1, 160, 0.0)  # what B's far end sends (another SSRC)
    RtpRelay(a.rtp, b.rtp)
    sent_by_a = [packet(seq, seq * 160, payload=bytes([seq]) * 160) for seq in (7, 8, 9)]
    for data in sent_by_a:
        a.receiver(data, A_FAR)
    out = b.sent_to(B_FAR)
    # The first packet marks the new source (RFC 3550 5.1); then the source's own header goes on.
    assert header(out[0]) == (1, 0, 7, 7 * 160, 0xABCDEF01) and out[0][12:] == sent_by_a[0][12:]
    assert out[1:] == sent_by_a[1:]
    b.rtp.sync()  # B's stream is now A's: its sender goes on from there (frames, events, reports)
    sender = b.rtp.sender
    assert (sender.ssrc, sender.sequence, sender.timestamp) == (0xABCDEF01, 10, 10 * 160)
    assert (sender.packets_sent, sender.octets_sent) == (3, 480)


async def test_the_far_ends_own_ssrc_is_never_passed_back_to_it() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    b.rtp.stats_in.update(0xABCDEF01, 1, 160, 0.0)  # B's far end uses the SSRC A's far end uses
    b.rtp.sender.sequence, b.rtp.sender.timestamp = 1000, 50000
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(7, 960), A_FAR)
    a.receiver(packet(8, 1120), A_FAR)
    ssrc = b.rtp.sender.ssrc
    assert ssrc != 0xABCDEF01  # RFC 3550 8.2: it would see its own SSRC come back
    assert [header(d) for d in b.sent_to(B_FAR)] == [(1, 0, 1000, 50000, ssrc), (0, 0, 1001, 50160, ssrc)]


async def test_a_new_source_ssrc_is_marked_and_passed_through() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(100, 16000), A_FAR)
    a.receiver(packet(101, 16160), A_FAR)
    a.receiver(packet(5, 777, ssrc=0x11), A_FAR)  # the far end's source changed (RFC 3550 8.2)
    a.receiver(packet(6, 937, ssrc=0x11), A_FAR)
    assert [header(d) for d in b.sent_to(B_FAR)] == [
        (1, 0, 100, 16000, 0xABCDEF01),
        (0, 0, 101, 16160, 0xABCDEF01),
        (1, 0, 5, 777, 0x11),
        (0, 0, 6, 937, 0x11),
    ]
    assert b.rtp.sender.ssrc == 0x11


async def test_a_new_source_ssrc_reanchors_with_the_marker_bit_when_headers_are_rewritten() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR, pt=8)  # two payload types: every header is rewritten
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(100, 16000), A_FAR)
    a.receiver(packet(5, 777, ssrc=0x11), A_FAR)
    (m1, _, s1, t1, x1), (m2, _, s2, t2, x2) = (header(d) for d in b.sent_to(B_FAR)[-2:])
    assert (m1, m2) == (1, 1) and s2 == s1 + 1 and t2 == t1 + 160
    assert x1 == x2 == b.rtp.sender.ssrc != 0x11


async def test_a_marker_from_the_source_is_relayed_as_it_came() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(1, 160), A_FAR)
    a.receiver(packet(2, 320), A_FAR)
    a.receiver(packet(3, 480, marker=True), A_FAR)  # a talkspurt begins (RFC 3551 4.1)
    assert [header(d)[0] for d in b.sent_to(B_FAR)] == [1, 0, 1]
    assert a.rtp.stats.packets_received == 3


async def test_events_sent_on_the_other_stream_meanwhile_keep_its_sequence_unique() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(1, 160), A_FAR)
    a.receiver(packet(2, 320), A_FAR)
    b.rtp.sync()  # before using the sender by hand, as RtpSession's own senders do
    b.rtp.send_packet(
        b.rtp.sender.packet(101, b"\x05\x0a\x00\xa0", b.rtp.sender.timestamp)
    )  # an RFC 4733 event
    a.receiver(packet(3, 480), A_FAR)
    a.receiver(packet(4, 640), A_FAR)
    seqs = [header(d)[2] for d in b.sent_to(B_FAR)]
    assert len(set(seqs)) == 5
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(5)]
    timestamps = [header(d)[3] for d in b.sent_to(B_FAR) if header(d)[1] == 0]
    assert [t - timestamps[0] for t in timestamps] == [0, 160, 320, 480]


async def test_a_reordered_packet_keeps_its_place_and_never_moves_the_sender_back() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    RtpRelay(a.rtp, b.rtp)
    for seq in (1, 2, 4, 3, 5):
        a.receiver(packet(seq, seq * 160), A_FAR)
    seqs = [header(d)[2] for d in b.sent_to(B_FAR)]
    assert [s - seqs[0] for s in seqs] == [0, 1, 3, 2, 4]
    b.rtp.sync()
    assert b.rtp.sender.sequence == (seqs[0] + 5) & 0xFFFF
    assert a.rtp.stats.lost == 0


async def test_telephone_events_and_strangers_take_the_usual_way() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    digits: list[str] = []
    a.rtp.on_dtmf = lambda digit: digits.append(digit.digit)
    RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(1, 160), A_FAR)
    event = struct.pack("!BBH", 5, 0x80 | 10, 800)  # digit 5, end bit, duration 800
    for seq in (2, 3, 4):
        a.receiver(packet(seq, 320, pt=101, payload=event), A_FAR)
    a.receiver(packet(5, 480), ("127.0.0.1", 49999))  # not the latched far end
    assert digits == ["5"]
    assert len(b.sent_to(B_FAR)) == 1  # only the audio packet from the far end was relayed
    assert a.rtp.stats.foreign_packets == 1


async def test_a_reinvite_to_a_new_address_latches_again_through_the_usual_way() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    relay = RtpRelay(a.rtp, b.rtp)
    a.receiver(packet(1, 160), A_FAR)
    moved = ("127.0.0.1", 41000)
    a.rtp.set_remote(moved)  # re-arms latching
    relay.refresh()
    a.receiver(packet(2, 320), moved)
    a.receiver(packet(3, 480), moved)
    a.receiver(packet(4, 640), A_FAR)  # the old address is now a stranger
    assert len(b.sent_to(B_FAR)) == 3
    assert a.rtp.remote_address == moved and a.rtp.stats.foreign_packets == 1


async def test_nothing_is_sent_while_the_sink_may_not_send_and_stop_gives_the_socket_back() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    relay = RtpRelay(a.rtp, b.rtp)
    relay.refresh(sending=False)  # the far end of B holds the call (sendonly)
    a.receiver(packet(1, 160), A_FAR)
    a.receiver(packet(2, 320), A_FAR)
    assert b.transport.sent == []
    assert a.rtp.stats.packets_received == 2  # but what came in is counted
    relay.stop()
    assert a.receiver == a.rtp.datagram_received
    for seq in (3, 4, 5):  # buffered for frames again, not relayed
        a.receiver(packet(seq, seq * 160, payload=bytes([seq]) * 160), A_FAR)
    assert b.transport.sent == [] and a.rtp.pop_payload() == bytes([3]) * 160
    assert a.rtp.stats.octets_received == 5 * 160


async def test_the_media_timeout_holds_while_relaying() -> None:
    timeouts: list[str] = []
    a, b = Leg(A_FAR, media_timeout=0.15, tick=0.02), Leg(B_FAR)
    a.rtp.on_timeout = lambda: timeouts.append("a")
    RtpRelay(a.rtp, b.rtp)
    for seq in range(1, 6):  # media flows (the short way) for 0.25 s: no timeout
        a.receiver(packet(seq, seq * 160), A_FAR)
        await asyncio.sleep(0.05)
    assert timeouts == []
    await asyncio.sleep(0.3)  # then stops
    assert timeouts == ["a"]


async def test_the_sinks_sender_report_counts_what_was_relayed() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    RtpRelay(a.rtp, b.rtp)
    for seq in range(1, 11):
        a.receiver(packet(seq, seq * 160), A_FAR)
    b.rtp.remote_rtcp_address = ("127.0.0.1", 40003)
    b.rtp._rtcp_transport = b.transport  # type: ignore[assignment]
    b.rtp.send_report()
    sr = parse_rtcp(b.transport.sent[-1][0])[0]
    assert isinstance(sr, RtcpSrPacket)
    assert (sr.sender_info.packet_count, sr.sender_info.octet_count) == (10, 1600)


async def test_a_session_without_a_route_relays_through_its_usual_path() -> None:
    a = RtpSession(RtpConfig(rtcp_interval=None))
    a.attach(FakeTransport())  # type: ignore[arg-type]
    a.set_remote(A_FAR)
    b = Leg(B_FAR)
    assert not a.can_divert
    with pytest.raises(RtpError):
        a.divert(lambda data, addr: None)
    relay = RtpRelay(a, b.rtp)
    a.datagram_received(packet(1, 160), A_FAR)
    a.datagram_received(packet(2, 320), A_FAR)
    assert len(b.sent_to(B_FAR)) == 2 and a.stats.packets_received == 2
    relay.stop()


async def test_the_watch_wakes_only_the_owner_whose_check_fails_and_stops_when_idle() -> None:
    watch = RelayWatch(asyncio.get_running_loop(), interval=0.01)
    keep = {"one": True, "two": True}
    one = watch.watch(lambda: keep["one"])
    two = watch.watch(lambda: keep["two"])
    await asyncio.sleep(0.05)
    assert not one.done() and not two.done() and watch.sweeps >= 2
    keep["two"] = False
    await asyncio.wait_for(two, 1.0)
    assert not one.done()
    one.cancel()  # the owner went away
    await asyncio.sleep(0.03)
    sweeps = watch.sweeps
    await asyncio.sleep(0.05)
    assert len(watch) == 0 and watch.sweeps == sweeps  # no timer runs for nobody


async def test_the_watch_spreads_its_checks_over_the_interval() -> None:
    watch = RelayWatch(asyncio.get_running_loop(), interval=0.05, slices=10)
    steps: list[int] = []  # the step each check ran in
    calls = [0] * 100

    def check(index: int) -> bool:
        calls[index] += 1
        steps.append(watch.sweeps)
        return True

    futures = [watch.watch(lambda i=i: check(i)) for i in range(100)]  # type: ignore[misc]
    await asyncio.sleep(0.2)
    assert min(calls) >= 1  # everyone is looked at every interval ...
    assert max(steps.count(step) for step in set(steps)) <= 10  # ... a tenth of them at a time
    for future in futures:
        future.cancel()


async def test_a_failing_check_ends_only_its_own_watch() -> None:
    watch = RelayWatch(asyncio.get_running_loop(), interval=0.01)

    def broken() -> bool:
        raise ValueError("gone")

    bad, good = watch.watch(broken), watch.watch(lambda: True)
    with pytest.raises(ValueError):
        await asyncio.wait_for(bad, 1.0)
    assert not good.done()
    good.cancel()


async def test_one_watch_per_loop() -> None:
    assert RelayWatch.for_loop() is RelayWatch.for_loop(asyncio.get_running_loop())


async def test_relayed_packets_are_counted_as_the_sessions_own_path_counts_them() -> None:
    relayed, b = Leg(A_FAR), Leg(B_FAR)
    plain = Leg(A_FAR)  # the same packets, the usual way, for comparison
    relay = RtpRelay(relayed.rtp, b.rtp)
    seqs = [65530 + i for i in range(12)]  # across the 16-bit wrap (A.1 cycles)
    del seqs[4]  # one lost
    seqs[6], seqs[7] = seqs[7], seqs[6]  # two swapped
    seqs += [seqs[-1]]  # a duplicate
    pairs = []

    def both(data: bytes) -> None:
        relayed.receiver(data, A_FAR)
        plain.receiver(data, A_FAR)

    for index, seq in enumerate(seqs):
        both(packet(seq & 0xFFFF, (index * 160 + (index % 3) * 40) & 0xFFFFFFFF))
        await asyncio.sleep(0.002 * (index % 4))  # uneven arrivals: some jitter to measure
    pairs.append((relayed.rtp.stats, plain.rtp.stats))
    assert pairs[0][1].jitter_ms > 0.5 and pairs[0][1].expected == 12  # 11 came, one twice
    for seq in (30000, 30001):  # a jump: A.1 calls it bad, then a restart
        both(packet(seq, seq * 160))
    pairs.append((relayed.rtp.stats, plain.rtp.stats))
    for index in range(3):  # a new source
        both(packet(index, index * 160, ssrc=0x77))
    pairs.append((relayed.rtp.stats, plain.rtp.stats))
    for got, expect in pairs:
        assert (got.packets_received, got.expected, got.lost, got.octets_received) == (
            expect.packets_received,
            expect.expected,
            expect.lost,
            expect.octets_received,
        )
        assert abs(got.jitter_ms - expect.jitter_ms) < 0.5
    assert relayed.rtp.stats_in.report().highest_sequence == plain.rtp.stats_in.report().highest_sequence
    relay.stop()


async def test_payloads_of_any_size_are_counted_to_the_octet_both_ways() -> None:
    a, b = Leg(A_FAR), Leg(B_FAR)
    relay = RtpRelay(a.rtp, b.rtp)
    for seq, size in ((1, 160), (2, 80), (3, 240), (4, 160)):
        a.receiver(packet(seq, seq * 160, payload=b"z" * size), A_FAR)
    relay.refresh(sending=False)  # held: counted, not sent
    a.receiver(packet(5, 800, payload=b"z" * 40), A_FAR)
    assert a.rtp.stats.octets_received == 680 and a.rtp.stats.packets_received == 5
    b.rtp.sync()
    assert (b.rtp.sender.packets_sent, b.rtp.sender.octets_sent) == (4, 640)
    relay.stop()
    assert a.rtp.stats.octets_received == 680
