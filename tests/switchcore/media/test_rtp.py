"""RTP/RTCP wire objects, RFC 4733 DTMF and receiver statistics, on packets captured from pjsua2."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchcore.media.rtp import (
    DtmfDigit,
    DtmfReceiver,
    DtmfSender,
    ReceiverStats,
    RtcpByePacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpError,
    RtpPacket,
    RtpSender,
    TelephoneEvent,
    build_bye,
    build_report,
    digit_to_event,
    event_to_digit,
    is_rtcp,
    ntp_middle,
    ntp_timestamp,
    parse_rtcp,
    restamp,
    round_trip_time,
    seq_diff,
    ts_diff,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "rtp"


def vector(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


def dtmf_capture() -> list[bytes]:
    return [bytes.fromhex(line) for line in (VECTORS / "pjsua2_dtmf_1_hash.hex").read_text().split()]


# --- RTP header ------------------------------------------------------------


def test_pjsua2_pcmu_packet_parses_and_round_trips() -> None:
    data = vector("pjsua2_pcmu.bin")
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.marker, packet.csrc, packet.extension, packet.padding) == (
        0,
        False,
        (),
        None,
        0,
    )
    assert packet.timestamp == 960
    assert len(packet.payload) == 160
    assert bytes(packet) == data


def test_header_with_csrc_extension_padding_and_marker_round_trips() -> None:
    # RFC 3550 5.1/5.3.1 with an RFC 8285 one-byte extension (0xBEDE) holding an audio level (id 1).
    data = bytes.fromhex(
        "b2e1"
        "0102"
        "00000a00"
        "11223344"  # V=2 P X CC=2, M PT=97, seq 258, ts 2560, ssrc
        "aaaaaaaa"
        "bbbbbbbb"  # two CSRCs
        "bede0001"
        "10ff0000"  # extension: one word
        "deadbeef"  # payload
        "000003"  # padding: 3 octets including the count
    )
    packet = RtpPacket.parse(data)
    assert packet == RtpPacket(
        payload_type=97,
        sequence=258,
        timestamp=2560,
        ssrc=0x11223344,
        payload=bytes.fromhex("deadbeef"),
        marker=True,
        csrc=(0xAAAAAAAA, 0xBBBBBBBB),
        extension=(0xBEDE, bytes.fromhex("10ff0000")),
        padding=3,
    )
    assert bytes(packet) == data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00", "RTP packet is 2 bytes, shorter than the 12-byte header"),
        (bytes.fromhex("400000000000000000000000"), "RTP version 1, expected 2"),
        (bytes.fromhex("820000000000000000000000aaaaaaaa"), "RTP packet is truncated in its CSRC list"),
        (
            bytes.fromhex("900000000000000000000000bede0002"),
            "RTP packet is truncated in its header extension",
        ),
        (bytes.fromhex("a0000000000000000000000000000009"), "RTP padding count 9 is invalid"),
    ],
)
def test_malformed_rtp_raises(data: bytes, message: str) -> None:
    with pytest.raises(RtpError) as info:
        RtpPacket.parse(data)
    assert str(info.value) == message


def test_rtcp_is_told_apart_from_rtp_by_packet_type() -> None:
    assert is_rtcp(vector("pjsua2_rtcp_sr_sdes.bin"))
    assert is_rtcp(vector("pjsua2_rtcp_rr_sdes.bin"))
    assert not is_rtcp(vector("pjsua2_pcmu.bin"))
    assert not is_rtcp(bytes(RtpPacket(127, 1, 1, 1, marker=True)))  # 0xFF is RTP: PT 127 with marker


def test_sequence_and_timestamp_arithmetic_wraps() -> None:
    assert seq_diff(2, 65534) == 4
    assert seq_diff(65534, 2) == -4
    assert ts_diff(10, 0xFFFFFFF0) == 26


def test_restamp_changes_only_seq_ts_ssrc_and_optionally_pt_and_marker() -> None:
    data = vector("pjsua2_pcmu.bin")
    out = restamp(data, 7, 1234, 0xCAFEBABE)
    packet = RtpPacket.parse(out)
    assert (packet.sequence, packet.timestamp, packet.ssrc, packet.payload_type, packet.marker) == (
        7,
        1234,
        0xCAFEBABE,
        0,
        False,
    )
    assert out[12:] == data[12:] and out[:2] == data[:2]
    marked = RtpPacket.parse(restamp(data, 8, 1394, 1, payload_type=8, marker=True))
    assert (marked.payload_type, marked.marker) == (8, True)


# --- the sending side ------------------------------------------------------


def test_sender_advances_sequence_and_timestamp_and_counts() -> None:
    sender = RtpSender(ssrc=0x1234, sequence=65535, timestamp=0xFFFFFF60)
    first = RtpPacket.parse(sender.audio(0, b"\xff" * 160, 160, marker=True))
    second = RtpPacket.parse(sender.audio(0, b"\xff" * 160, 160))
    assert (first.sequence, first.timestamp, first.marker) == (65535, 0xFFFFFF60, True)
    assert (second.sequence, second.timestamp, second.marker) == (0, 0, False)
    assert (sender.packets_sent, sender.octets_sent) == (2, 320)
    assert sender.last_timestamp == 0 and sender.timestamp == 160


def test_forwarding_continues_our_stream_and_reanchors_on_a_new_source() -> None:
    sender = RtpSender(ssrc=0xAAAA, sequence=100, timestamp=16000)
    sender.audio(0, b"x" * 160, 160)  # our own packet: seq 100, ts 16000
    source = RtpSender(ssrc=0xBBBB, sequence=5000, timestamp=900000)
    relayed = [
        RtpPacket.parse(sender.forward(source.audio(8, b"y" * 160, 160), 160, payload_type=0))
        for _ in range(3)
    ]
    assert [(p.sequence, p.timestamp, p.ssrc, p.payload_type) for p in relayed] == [
        (101, 16160, 0xAAAA, 0),
        (102, 16320, 0xAAAA, 0),
        (103, 16480, 0xAAAA, 0),
    ]
    assert [p.marker for p in relayed] == [True, False, False]
    late = restamp(source.packet(8, b"z", 0), 5001, 900160, 0xBBBB)  # a reordered packet keeps its place
    assert RtpPacket.parse(sender.forward(late, 160)).sequence == 102
    assert (sender.sequence, sender.timestamp) == (104, 16640)  # and does not move our counters back
    other = RtpSender(ssrc=0xCCCC, sequence=1, timestamp=5)
    switched = RtpPacket.parse(sender.forward(other.audio(8, b"w", 160), 160))
    assert (switched.sequence, switched.timestamp, switched.marker) == (104, 16640, True)
    assert RtpPacket.parse(sender.audio(0, b"v", 160)).sequence == 105


# --- RFC 4733 --------------------------------------------------------------


def test_digits_map_to_events_and_back() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCDF"] == list(range(17))
    assert digit_to_event("a") == 12
    assert "".join(event_to_digit(e) for e in range(17)) == "0123456789*#ABCDF"
    with pytest.raises(ValueError, match="not a DTMF digit: 'x'"):
        digit_to_event("x")


def test_telephone_event_payload_round_trips() -> None:
    payload = bytes.fromhex("018a0640")  # pjsua2's end packet for "1": E bit, volume 10, 1600 units
    event = TelephoneEvent.parse(payload)
    assert event == TelephoneEvent(1, True, 10, 1600)
    assert bytes(event) == payload


def test_sender_emits_marker_updates_and_three_ends_like_pjsua2() -> None:
    captured = [RtpPacket.parse(d) for d in dtmf_capture() if d[1] & 0x7F == 121]
    first_digit = [TelephoneEvent.parse(p.payload) for p in captured if p.timestamp == captured[0].timestamp]
    steps = DtmfSender(clock_rate=8000, interval_ms=20, volume=10).steps("1", duration_ms=200)
    assert [s.event for s in steps] == first_digit
    assert [s.marker for s in steps] == [True] + [False] * 11
    assert [p.marker for p in captured[:12]] == [s.marker for s in steps]


def test_sender_short_digit_and_48khz_clock() -> None:
    short = DtmfSender().steps("#", duration_ms=20)
    assert [(s.event.end, s.event.duration, s.marker) for s in short] == [
        (True, 160, True),
        (True, 160, False),
        (True, 160, False),
    ]
    wide = DtmfSender(clock_rate=48000).steps("5", duration_ms=100)
    assert [s.event.duration for s in wide] == [960, 1920, 2880, 3840, 4800, 4800, 4800]


def test_receiver_reports_each_captured_digit_once_with_duration() -> None:
    receiver = DtmfReceiver(clock_rate=8000)
    digits: list[DtmfDigit] = []
    for data in dtmf_capture():
        packet = RtpPacket.parse(data)
        if packet.payload_type == 121:
            digits += receiver.receive(packet)
    assert [(d.digit, d.duration_ms) for d in digits] == [("1", 200), ("#", 200)]


def test_receiver_reports_a_digit_whose_end_packets_were_lost() -> None:
    sender = RtpSender(ssrc=9, sequence=0, timestamp=0)
    receiver = DtmfReceiver(timeout=0.5)
    for step in DtmfSender().steps("7", 100)[:4]:  # updates only, no end
        assert (
            receiver.receive(RtpPacket.parse(sender.packet(101, step.payload, 0, step.marker)), now=1.0) == []
        )
    assert receiver.expire(now=1.2) is None
    assert receiver.expire(now=1.6) == DtmfDigit("7", 80, 9, 0)
    late_end = DtmfSender().steps("7", 100)[-1]
    assert receiver.receive(RtpPacket.parse(sender.packet(101, late_end.payload, 0)), now=1.7) == []
    for step in DtmfSender().steps("8", 100)[:2]:
        receiver.receive(RtpPacket.parse(sender.packet(101, step.payload, 800, step.marker)), now=2.0)
    new = DtmfSender().steps("9", 100)[0]
    started = receiver.receive(RtpPacket.parse(sender.packet(101, new.payload, 1600, True)), now=2.1)
    assert started == [DtmfDigit("8", 40, 9, 800)]


# --- receiver statistics ---------------------------------------------------


def test_stats_count_loss_over_a_wrap_and_fraction_per_report() -> None:
    stats = ReceiverStats(clock_rate=8000)
    sequences = [65530 + i for i in range(12)]  # crosses 65535 -> 0
    dropped = {65533, 2}
    for i, seq in enumerate(sequences):
        if seq % 65536 not in dropped:
            assert stats.update(0x55, seq % 65536, 160 * i, arrival=0.02 * i)
    assert (stats.expected, stats.received, stats.lost) == (12, 10, 2)
    assert stats.extended_max == 65536 + 5
    block = stats.report()
    assert (block.ssrc, block.packets_lost, block.fraction_lost, block.highest_sequence) == (
        0x55,
        2,
        42,
        65541,
    )
    for i in range(12, 22):  # a loss-free interval
        stats.update(0x55, (65530 + i) % 65536, 160 * i, arrival=0.02 * i)
    assert stats.report().fraction_lost == 0


def test_stats_jitter_follows_rfc3550_a8() -> None:
    stats = ReceiverStats(clock_rate=8000)
    for i in range(50):
        stats.update(1, i, 160 * i, arrival=0.02 * i)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    bumpy = ReceiverStats(clock_rate=8000)
    for i in range(200):
        bumpy.update(1, i, 160 * i, arrival=0.02 * i + (0.005 if i % 2 else 0.0))
    assert bumpy.jitter_ms == pytest.approx(5.0, rel=0.05)  # |D| is 5 ms on every packet


def test_stats_reordered_and_duplicate_packets_do_not_move_the_highest_sequence() -> None:
    stats = ReceiverStats(clock_rate=8000)
    for seq in (10, 12, 11, 12, 13):
        stats.update(2, seq, seq * 160, arrival=seq * 0.02)
    assert stats.extended_max == 13
    assert (stats.expected, stats.received, stats.lost) == (4, 5, -1)


def test_stats_restart_after_two_sequential_packets_far_away() -> None:
    stats = ReceiverStats(clock_rate=8000)
    for seq in range(5):
        stats.update(3, seq, seq * 160, arrival=0.0)
    assert not stats.update(3, 40000, 0, arrival=0.1)
    assert stats.update(3, 40001, 160, arrival=0.12)
    assert (stats.base_seq, stats.expected, stats.received) == (40001, 1, 1)


def test_stats_new_ssrc_starts_over() -> None:
    stats = ReceiverStats(clock_rate=8000)
    stats.update(1, 100, 0, 0.0)
    stats.update(2, 7, 0, 0.02)
    assert (stats.ssrc, stats.base_seq, stats.received) == (2, 7, 1)


# --- RTCP ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pjsua2_rtcp_sr_sdes.bin", "pjsua2_rtcp_rr_sdes.bin"])
def test_pjsua2_rtcp_compound_packets_round_trip(name: str) -> None:
    data = vector(name)
    packets = parse_rtcp(data)
    assert isinstance(packets[1], RtcpSdesPacket)
    assert packets[1].chunks[0].items == [(1, b"7988b8d26951bc08")]
    assert b"".join(bytes(p) for p in packets) == data


def test_pjsua2_sender_report_fields() -> None:
    sr = parse_rtcp(vector("pjsua2_rtcp_sr_sdes.bin"))[0]
    assert isinstance(sr, RtcpSrPacket)
    assert sr.ssrc == 0x7C10A475
    assert (sr.sender_info.packet_count, sr.sender_info.octet_count) == (262, 38176)
    assert len(sr.reports) == 1


def test_built_reports_parse_back() -> None:
    block = RtcpReceiverInfo(
        ssrc=7, fraction_lost=25, packets_lost=3, highest_sequence=70000, jitter=12, lsr=5, dlsr=6
    )
    sender = RtcpSenderInfo(
        ntp_timestamp=ntp_timestamp(1_700_000_000.5), rtp_timestamp=1, packet_count=2, octet_count=3
    )
    sr, sdes = parse_rtcp(build_report(0x99, "switchcore@127.0.0.1", [block], sender))
    assert isinstance(sr, RtcpSrPacket) and sr.reports == [block] and sr.sender_info == sender
    assert isinstance(sdes, RtcpSdesPacket) and sdes.chunks[0].items == [(1, b"switchcore@127.0.0.1")]
    rr, _, bye = parse_rtcp(build_bye(0x99, "x"))
    assert isinstance(rr, RtcpRrPacket) and rr.reports == []
    assert isinstance(bye, RtcpByePacket) and bye.sources == [0x99]


def test_bad_rtcp_raises_rtp_error() -> None:
    with pytest.raises(RtpError, match="bad RTCP packet"):
        parse_rtcp(bytes.fromhex("81c90007aabbccdd"))


def test_round_trip_time_from_lsr_and_dlsr() -> None:
    sent_at = 1_700_000_000.0
    lsr = ntp_middle(ntp_timestamp(sent_at))
    block = RtcpReceiverInfo(
        ssrc=1, fraction_lost=0, packets_lost=0, highest_sequence=0, jitter=0, lsr=lsr, dlsr=65536 // 10
    )
    assert round_trip_time(block, sent_at + 0.15) == pytest.approx(0.05, abs=1e-3)
    assert round_trip_time(RtcpReceiverInfo(1, 0, 0, 0, 0, 0, 0), sent_at) is None
