"""The jitter buffer: ordering, loss, lateness, wrap-around, resync and bounded latency."""

from __future__ import annotations

import pytest

from switchcore.media.jitter import JitterBuffer
from switchcore.media.rtp import RtpPacket


def pkt(seq: int, ssrc: int = 1, ts: int | None = None) -> RtpPacket:
    """Packet `seq` (wrapped to 16 bits) with a timestamp following the unwrapped count."""
    timestamp = (ts if ts is not None else seq * 160) % (1 << 32)
    seq %= 65536
    return RtpPacket(0, seq, timestamp, ssrc, payload=seq.to_bytes(2, "big"))


def seqs(packets: list[RtpPacket | None]) -> list[int | None]:
    return [p.sequence if p is not None else None for p in packets]


def test_primes_to_target_depth_then_plays_in_order() -> None:
    jb = JitterBuffer(depth=2)
    assert jb.pop() is None  # nothing yet
    jb.push(pkt(10), 0.00)
    assert jb.pop() is None and not jb.primed  # one packet is not enough
    jb.push(pkt(11), 0.02)
    played = [jb.pop()]
    for seq in range(12, 16):
        jb.push(pkt(seq), 0.02 * (seq - 10))
        played.append(jb.pop())
    assert seqs(played) == [10, 11, 12, 13, 14]
    assert jb.stats.played == 5 and jb.stats.lost == 0


def test_reordered_packets_come_out_in_sequence() -> None:
    jb = JitterBuffer(depth=3)
    for seq in (1, 3, 2, 5, 4, 6):
        jb.push(pkt(seq))
    assert seqs([jb.pop() for _ in range(6)]) == [1, 2, 3, 4, 5, 6]


def test_first_packets_out_of_order_while_priming_start_at_the_earliest() -> None:
    jb = JitterBuffer(depth=2)
    jb.push(pkt(21))
    jb.push(pkt(20))
    assert seqs([jb.pop(), jb.pop()]) == [20, 21]


def test_missing_packet_pops_none_and_peek_shows_the_next_for_fec() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (1, 2, 4, 5):
        jb.push(pkt(seq))
    assert seqs([jb.pop(), jb.pop()]) == [1, 2]
    assert jb.pop() is None  # 3 is lost
    peeked = jb.peek()
    assert peeked is not None and peeked.sequence == 4
    assert seqs([jb.pop(), jb.pop()]) == [4, 5]
    assert jb.stats.lost == 1


def test_packet_after_its_turn_is_late_and_dropped() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (1, 2, 4):
        jb.push(pkt(seq))
    assert seqs([jb.pop(), jb.pop(), jb.pop()]) == [1, 2, None]
    assert not jb.push(pkt(3))
    assert jb.stats.late == 1
    assert seqs([jb.pop()]) == [4]


def test_duplicates_are_dropped() -> None:
    jb = JitterBuffer(depth=2)
    assert jb.push(pkt(1)) and jb.push(pkt(2))
    assert not jb.push(pkt(2))
    assert seqs([jb.pop(), jb.pop(), jb.pop()]) == [1, 2, None]
    assert not jb.push(pkt(1))  # already played
    assert jb.stats.duplicates == 1 and jb.stats.late == 1


def test_sequence_wrap_around_with_reordering() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (65533, 65534, 65536, 65535, 65537, 65538):
        jb.push(pkt(seq))
    assert seqs([jb.pop() for _ in range(6)]) == [65533, 65534, 65535, 0, 1, 2]
    assert jb.stats.lost == 0 and jb.stats.timestamp_jumps == 0


def test_underrun_reprimes_without_skipping_a_merely_late_packet() -> None:
    jb = JitterBuffer(depth=2)
    jb.push(pkt(1))
    jb.push(pkt(2))
    assert seqs([jb.pop(), jb.pop()]) == [1, 2]
    assert jb.pop() is None  # dry: underrun, 3 is not yet lost
    assert jb.stats.underruns == 1 and jb.stats.lost == 0
    jb.push(pkt(3))
    assert jb.pop() is None  # priming again
    jb.push(pkt(4))
    assert seqs([jb.pop(), jb.pop()]) == [3, 4]
    assert not jb.push(pkt(2))  # a stray copy of a played packet stays late while priming


def test_after_a_pause_playout_resumes_at_the_first_new_packet() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (1, 2):
        jb.push(pkt(seq))
    jb.pop(), jb.pop(), jb.pop()
    for seq in (9, 10):  # 3..8 never came (silence suppression)
        jb.push(pkt(seq))
    assert seqs([jb.pop(), jb.pop()]) == [9, 10]
    assert jb.stats.lost == 0


def test_new_ssrc_flushes_and_primes_again() -> None:
    jb = JitterBuffer(depth=2)
    for seq in (1, 2, 3):
        jb.push(pkt(seq, ssrc=1))
    assert seqs([jb.pop()]) == [1]
    jb.push(pkt(500, ssrc=2))
    assert jb.pop() is None  # old stream gone, new one priming
    jb.push(pkt(501, ssrc=2))
    assert seqs([jb.pop(), jb.pop()]) == [500, 501]
    assert jb.stats.resyncs == 1


def test_large_sequence_jump_is_a_resync_not_a_burst_of_loss() -> None:
    jb = JitterBuffer(depth=1)
    jb.push(pkt(1))
    assert seqs([jb.pop()]) == [1]
    jb.push(pkt(30000))
    assert seqs([jb.pop()]) == [30000]
    assert jb.stats.resyncs == 1 and jb.stats.lost == 0


def test_timestamp_jump_with_consecutive_sequence_keeps_order_and_is_counted() -> None:
    jb = JitterBuffer(depth=2)
    jb.push(pkt(1, ts=160))
    jb.push(pkt(2, ts=320))
    jb.push(pkt(3, ts=320 + 8000 * 60))  # a relayed source switch: a minute later
    jb.push(pkt(4, ts=320 + 8000 * 60 + 160))
    assert seqs([jb.pop() for _ in range(4)]) == [1, 2, 3, 4]
    assert jb.stats.timestamp_jumps == 1 and jb.stats.resyncs == 0


def test_burst_after_a_stall_is_trimmed_to_the_target_depth() -> None:
    jb = JitterBuffer(depth=2, slack=4)
    for seq in range(1, 11):
        jb.push(pkt(seq))
    assert jb.stats.overflow == 5  # at 7 buffered (> 2 + 4) it kept the newest 2
    assert seqs([jb.pop() for _ in range(6)]) == [6, 7, 8, 9, 10, None]


def test_adaptive_target_grows_on_underrun_and_shrinks_when_steady() -> None:
    jb = JitterBuffer(depth=1, max_depth=3, shrink_after=5)
    jb.push(pkt(1))
    assert seqs([jb.pop(), jb.pop()]) == [1, None]
    assert jb.target == 2
    seq = 2
    for _ in range(2):
        jb.push(pkt(seq))
        seq += 1
    assert jb.pop() is not None
    assert jb.pop() is not None
    assert jb.pop() is None
    assert jb.target == 3
    for _ in range(4):
        jb.push(pkt(seq))
        seq += 1
    played = 0
    for _ in range(12):  # steady: one in, one out, with 3 or more buffered
        jb.push(pkt(seq))
        seq += 1
        played += jb.pop() is not None
    assert jb.target < 3
    assert played == 12


def test_depth_must_be_between_one_and_max_depth() -> None:
    with pytest.raises(ValueError, match="depth must be at least 1"):
        JitterBuffer(depth=0)
    with pytest.raises(ValueError):
        JitterBuffer(depth=3, max_depth=2)


def test_interarrival_jitter_is_reported() -> None:
    jb = JitterBuffer(depth=1, clock_rate=8000)
    for seq in range(100):
        jb.push(pkt(seq), 0.02 * seq + (0.004 if seq % 2 else 0.0))
        jb.pop()
    assert jb.stats.jitter_ms == pytest.approx(4.0, rel=0.1)
    jb.reset()
    assert len(jb) == 0 and jb.pop() is None and jb.stats.jitter_ms == 0.0
