from switchcore.guard import FailureGuard


def test_failures_are_slowed_then_refused_and_success_forgets():
    guard = FailureGuard(delay_after=2, ban_after=4, ban_seconds=60, step=0.5, max_delay=1.0)
    delays = [guard.failure("1.2.3.4", t).delay for t in (0, 1, 2)]
    assert delays == [0.0, 0.0, 0.5]
    verdict = guard.failure("1.2.3.4", 3)
    assert verdict.banned and guard.refused_for("1.2.3.4", 10) == 53
    assert guard.refused_for("5.6.7.8", 10) == 0
    guard.succeeded("1.2.3.4")
    assert guard.refused_for("1.2.3.4", 10) == 0


def test_old_failures_fall_out_of_the_window_and_memory_is_bounded():
    guard = FailureGuard(delay_after=1, ban_after=3, window=10, max_tracked=2)
    guard.failure("a", 0)
    guard.failure("a", 1)
    assert guard.failure("a", 100).delay == 0.0  # the count restarted
    for address in ("b", "c", "d"):
        guard.failure(address, 200)
    assert len(guard._records) == 2
