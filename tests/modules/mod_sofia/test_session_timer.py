"""RFC 4028 session timer negotiation: the UAS answer (§9), the UAC side (§7) and the deadlines (§10)."""

from __future__ import annotations

import pytest

from modules.mod_sofia.session_timer import (
    Accept,
    Refresher,
    Refuse,
    SessionExpires,
    SessionTimer,
    TimerHeaderError,
    TimerPolicy,
    answer_request,
    offer_headers,
    parse_min_se,
    read_answer,
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
    return answer_request(policy, session_expires=session_expires, min_se=min_se, supported=supported, require=require)


def test_policy_reads_freeswitch_param_names_and_defaults() -> None:
    assert TimerPolicy.from_params({}) == TimerPolicy(True, 1800, 120)
    policy = TimerPolicy.from_params({"enable-timer": "false", "session-timeout": "600", "minimum-session-expires": "90"})
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
    assert answer("1800", require=("timer",), policy=off) == Refuse(420, "Bad Extension", (("Unsupported", "timer"),))


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
