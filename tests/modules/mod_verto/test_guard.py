"""The failed-login guard: slower answers, then refusal, per address (fake time)."""

from __future__ import annotations

from modules.mod_verto.guard import LoginGuard, Verdict


def test_first_failures_are_answered_at_once_then_ever_slower():
    guard = LoginGuard(delay_after=2, ban_after=0, step=0.5, max_delay=1.2)
    delays = [guard.failed("192.0.2.1", t).delay for t in range(6)]
    assert delays == [0.0, 0.0, 0.5, 1.0, 1.2, 1.2]


def test_enough_failures_ban_the_address_for_a_time():
    guard = LoginGuard(delay_after=100, ban_after=3, ban_seconds=60)
    assert guard.failed("a", 0.0) == Verdict(0.0, False)
    assert not guard.failed("a", 1.0).banned
    assert guard.failed("a", 2.0).banned
    assert guard.refused_for("a", 3.0) == 59.0
    assert guard.refused_for("b", 3.0) == 0.0
    assert guard.refused_for("a", 62.1) == 0.0


def test_a_success_forgets_the_address_and_old_failures_expire():
    guard = LoginGuard(delay_after=1, ban_after=0, window=10)
    guard.failed("a", 0.0)
    assert guard.failed("a", 1.0).delay > 0
    guard.succeeded("a")
    assert guard.failed("a", 2.0).delay == 0.0
    assert guard.failed("a", 100.0).delay == 0.0  # the window passed: counting starts again


def test_memory_is_bounded_however_many_addresses_fail():
    guard = LoginGuard(max_tracked=100)
    for i in range(1000):
        guard.failed(f"10.0.{i // 256}.{i % 256}", float(i))
    assert len(guard) == 100
