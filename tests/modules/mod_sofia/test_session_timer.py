"""RFC 4028 session timer negotiation: the UAS answer (§9), the UAC side (§7) and the deadlines (§10)."""

from __future__ import annotations

import pytest

from modules.mod_sofia.session_timer import (
    Accept,
    EndSession,
    Refresher,
    Refuse,
    Renewed,
    RetryRefresh,
    SessionExpires,
    SessionTimer,
    TimerHeaderError,
    TimerPolicy,
    answer_request,
    interval_after_422,
    offer_headers,
    parse_min_se,
    read_answer,
    refresh_headers,
    refresh_outcome,
    supported_tags,
)

POLICY = TimerPolicy(enabled=True, session_expires=1800, min_se=120)


def answer(
    session_expires: str | None = None,
    min_se: str | None = None,
    supported: tuple[str, ...] = ("timer",),
    require: tuple[str, ...] = (),
    policy: TimerPolicy = POLICY,
) -> Accept | Refuse:
    return answer_request(
        policy, session_expires=session_expires, min_se=min_se, supported=supported, require=require
    )


def test_policy_reads_freeswitch_param_names_and_defaults() -> None:
    assert TimerPolicy.from_params({}) == TimerPolicy(True, 1800, 120)
    policy = TimerPolicy.from_params(
        {"enable-timer": "false", "session-timeout": "600", "minimum-session-expires": "90"}
    )
    assert policy == TimerPolicy(False, 600, 90)
    assert not policy.active


def test_policy_never_goes_below_the_rfc_minimum_of_90_seconds() -> None:
    policy = TimerPolicy.from_params({"session-timeout": "30", "minimum-session-expires": "10"})
    assert policy.min_se == 90
    assert policy.session_expires == 90


def test_session_timeout_zero_turns_timers_off() -> None:
    policy = TimerPolicy.from_params({"session-timeout": "0"})
    assert not policy.active
    assert supported_tags(policy) == ()
    assert supported_tags(POLICY) == ("timer",)


def test_session_expires_parses_and_prints_with_its_refresher() -> None:
    value = SessionExpires.parse("1800 ; Refresher=UAS;x=y")
    assert value == SessionExpires(1800, Refresher.UAS)
    assert str(value) == "1800;refresher=uas"
    assert str(SessionExpires(600)) == "600"
    assert parse_min_se("90;foo=bar") == 90


@pytest.mark.parametrize("bad", ["", "abc", "-5", "18.5", "1800;refresher=both", "99999999999"])
def test_malformed_session_expires_is_a_header_error(bad: str) -> None:
    with pytest.raises(TimerHeaderError):
        SessionExpires.parse(bad)


def test_uac_that_asks_gets_its_interval_and_refreshes_itself_with_require_timer() -> None:
    result = answer("1800")
    assert isinstance(result, Accept)
    assert result.headers == (("Session-Expires", "1800;refresher=uac"), ("Require", "timer"))
    assert result.timer == SessionTimer(1800, we_refresh=False)


def test_a_refresher_chosen_by_the_uac_is_kept() -> None:
    result = answer("900;refresher=uas")
    assert isinstance(result, Accept)
    assert result.headers == (("Session-Expires", "900;refresher=uas"),)
    assert result.timer == SessionTimer(900, we_refresh=True)


def test_a_longer_interval_than_ours_is_lowered_to_ours() -> None:
    result = answer("7200")
    assert isinstance(result, Accept) and result.timer is not None
    assert result.timer.interval == 1800


def test_too_short_an_interval_from_a_timer_aware_uac_gets_422_with_our_minimum() -> None:
    result = answer("60")
    assert result == Refuse(422, "Session Interval Too Small", (("Min-SE", "120"),))


def test_too_short_an_interval_from_an_unaware_uac_is_raised_instead_errata_1687() -> None:
    result = answer("100", supported=())
    assert isinstance(result, Accept)
    assert result.timer == SessionTimer(120, we_refresh=True)
    assert result.headers == (("Session-Expires", "120;refresher=uas"),)


def test_uac_without_timer_support_leaves_the_refreshing_to_us_and_gets_no_require() -> None:
    result = answer(None, supported=())
    assert isinstance(result, Accept)
    assert result.headers == (("Session-Expires", "1800;refresher=uas"),)
    assert result.timer == SessionTimer(1800, we_refresh=True)


def test_the_requests_min_se_is_never_undercut() -> None:
    result = answer(None, min_se="3600")
    assert isinstance(result, Accept) and result.timer is not None
    assert result.timer.interval == 3600


def test_disabled_timers_answer_plainly_but_refuse_require_timer_with_420() -> None:
    off = TimerPolicy(enabled=False)
    assert answer("1800", policy=off) == Accept(None)
    assert answer("1800", require=("timer",), policy=off) == Refuse(
        420, "Bad Extension", (("Unsupported", "timer"),)
    )


def test_deadlines_follow_section_10() -> None:
    timer = SessionTimer(1800, we_refresh=True)
    assert timer.refresh_after == 900
    assert timer.expire_after == 1800 - 32
    assert SessionTimer(90, we_refresh=False).expire_after == 60


def test_uac_side_offers_its_interval_and_reads_the_refresher_from_the_2xx() -> None:
    assert offer_headers(POLICY) == (("Session-Expires", "1800"), ("Min-SE", "120"))
    assert offer_headers(TimerPolicy(enabled=False)) == ()
    assert read_answer(POLICY, "1200;refresher=uac") == SessionTimer(1200, we_refresh=True)
    assert read_answer(POLICY, "1200;refresher=uas") == SessionTimer(1200, we_refresh=False)
    assert read_answer(POLICY, None) is None


def test_a_2xx_from_a_uas_that_does_not_know_timers_leaves_us_refreshing_at_our_interval() -> None:
    assert read_answer(POLICY, None, supported=()) == SessionTimer(1800, we_refresh=True)
    assert read_answer(POLICY, None, supported=("timer",)) is None
    assert read_answer(TimerPolicy(enabled=False), None, supported=()) is None


def test_our_refresh_names_us_the_refresher_with_the_current_interval() -> None:
    assert refresh_headers(POLICY, 300) == (("Session-Expires", "300;refresher=uac"), ("Min-SE", "120"))


def outcome(status: int, method: str = "UPDATE", **headers: str | None) -> object:
    return refresh_outcome(
        POLICY,
        600,
        method=method,
        status=status,
        session_expires=headers.get("session_expires"),
        min_se=headers.get("min_se"),
        supported=("timer",),
    )


def test_a_2xx_to_our_refresh_renews_the_timer_it_names() -> None:
    assert outcome(200, session_expires="600;refresher=uac") == Renewed(SessionTimer(600, True))
    # The peer takes the refreshing over (§7.2: refresher=uas is the UAS of our refresh).
    assert outcome(200, session_expires="600;refresher=uas") == Renewed(SessionTimer(600, False))
    assert outcome(200, session_expires=None) == Renewed(None)  # §7.2, from a UAS that knows timers
    assert outcome(200, session_expires="garbage") == Renewed(SessionTimer(600, True))


@pytest.mark.parametrize("status", [408, 481])
def test_408_or_481_to_our_refresh_ends_the_session(status: int) -> None:
    assert outcome(status) == EndSession(status)


def test_422_to_our_refresh_retries_at_once_with_the_larger_interval() -> None:
    assert outcome(422, min_se="900") == RetryRefresh(900, at_once=True, use_invite=False)
    assert outcome(422, "INVITE", min_se="90") == RetryRefresh(600, at_once=True, use_invite=True)


def test_update_refused_as_unknown_falls_back_to_reinvite_and_other_failures_wait() -> None:
    assert outcome(501) == RetryRefresh(600, at_once=True, use_invite=True)
    assert outcome(405) == RetryRefresh(600, at_once=True, use_invite=True)
    assert outcome(491, "INVITE") == RetryRefresh(600, at_once=False, use_invite=True)
    assert outcome(503) == RetryRefresh(600, at_once=False, use_invite=False)


def test_a_2xx_to_our_refresh_from_a_peer_unaware_of_timers_keeps_our_current_interval() -> None:
    result = refresh_outcome(
        POLICY, 600, method="UPDATE", status=200, session_expires=None, min_se=None, supported=()
    )
    assert result == Renewed(SessionTimer(600, we_refresh=True))


def test_after_422_our_invite_asks_again_for_the_min_se_only_when_that_raises_it() -> None:
    assert interval_after_422(POLICY, 1800, "3600") == 3600
    assert interval_after_422(POLICY, 1800, "1800") is None  # the same request would fail again
    assert interval_after_422(POLICY, 1800, None) is None
    assert interval_after_422(POLICY, 1800, "soon") is None
    assert interval_after_422(TimerPolicy(enabled=False), 1800, "3600") is None
