"""Time conditions: FreeSWITCH's switch_xml_std_datetime_check values, ranges and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from switchcore.xmlconf.timecheck import effective_time, parse_time_spec


def matches(attributes: dict[str, str], when: datetime) -> bool:
    spec = parse_time_spec(attributes)
    assert spec is not None
    return spec.check(when)[0]


def test_no_time_attribute_means_no_spec() -> None:
    assert parse_time_spec({"field": "destination_number"}) is None


@pytest.mark.parametrize(
    ("attributes", "when", "expected"),
    [
        ({"wday": "1"}, datetime(2024, 6, 2), True),  # Sunday is 1
        ({"wday": "mon-fri"}, datetime(2024, 6, 8), False),  # Saturday
        ({"wday": "2,4,6"}, datetime(2024, 6, 5), True),  # Wednesday
        ({"hour": "22-6"}, datetime(2024, 6, 5, 23), True),  # wraps past midnight
        ({"hour": "22-6"}, datetime(2024, 6, 5, 12), False),
        ({"hour": "9-11,13-16"}, datetime(2024, 6, 5, 12), False),
        ({"hour": "9-11,13-16"}, datetime(2024, 6, 5, 13), True),
        ({"time-of-day": "17:00-07:00"}, datetime(2024, 6, 5, 3), True),
        ({"time-of-day": "08:00-17:00"}, datetime(2024, 6, 5, 17, 0, 0), True),  # end inclusive
        ({"time-of-day": "08:00-17:00"}, datetime(2024, 6, 5, 17, 0, 1), False),
        ({"time-of-day": "08:00-12:00,13:00-17:00"}, datetime(2024, 6, 5, 12, 30), False),
        ({"minute-of-day": "540-1020"}, datetime(2024, 6, 5, 8, 59), True),  # 8*60+59+1 = 540
        ({"minute": "0-14"}, datetime(2024, 6, 5, 8, 15), False),
        ({"yday": "1"}, datetime(2024, 1, 1), True),
        ({"week": "1"}, datetime(2024, 1, 7), True),  # yday 0..6 -> week 1
        ({"week": "2"}, datetime(2024, 1, 8), True),
        ({"mweek": "1"}, datetime(2024, 6, 1), True),  # June 2024 starts on a Saturday
        ({"mweek": "2"}, datetime(2024, 6, 2), True),  # weeks start on Sunday
        ({"mweek": "6"}, datetime(2024, 6, 30), True),
        ({"year": "2023-2025", "mon": "6", "mday": "1-7"}, datetime(2024, 6, 3), True),
        ({"date-time": "2024-06-01 00:00~2024-06-01 23:59:59"}, datetime(2024, 6, 1, 23, 59, 59), True),
        ({"date-time": "2024-06-01 00:00~2024-06-01 23:59"}, datetime(2024, 6, 1, 23, 59, 30), False),
    ],
)
def test_values_and_ranges(attributes: dict[str, str], when: datetime, expected: bool) -> None:
    assert matches(attributes, when) is expected


def test_explanation_names_each_check_and_stops_at_first_miss() -> None:
    spec = parse_time_spec({"wday": "2-6", "hour": "9-17"})
    assert spec is not None
    assert spec.check(datetime(2024, 6, 3, 8))[1] == ["wday[2] =~ 2-6 PASS", "hour[8] =~ 9-17 FAIL"]
    assert spec.check(datetime(2024, 6, 2, 10))[1] == ["wday[1] =~ 2-6 FAIL"]


def test_tz_offset_attribute_compares_the_effective_offset() -> None:
    when = datetime(2024, 6, 3, 10, tzinfo=timezone(timedelta(hours=-5)))
    assert matches({"tz-offset": "-5"}, when)
    assert not matches({"tz-offset": "1"}, when)


def test_dst_attribute() -> None:
    summer = datetime(2024, 7, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    winter = datetime(2024, 1, 1, 12, tzinfo=ZoneInfo("Europe/Berlin"))
    assert matches({"dst": "true"}, summer) and not matches({"dst": "true"}, winter)
    assert matches({"dst": "false"}, winter)


def test_effective_time_prefers_tod_tz_offset_then_timezone() -> None:
    utc = datetime(2024, 6, 3, 7, 30, tzinfo=UTC)
    variables = {"tod_tz_offset": "2", "timezone": "America/New_York"}
    assert effective_time(utc, variables.get).hour == 9
    assert effective_time(utc, {"timezone": "America/New_York"}.get).hour == 3
    assert effective_time(utc, {"timezone": "Not/AZone"}.get) == utc
    assert effective_time(utc, {}.get) is utc
