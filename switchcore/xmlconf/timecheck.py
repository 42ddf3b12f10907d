"""Date/time conditions of the XML dialplan (FreeSWITCH `switch_xml_std_datetime_check`).

Attributes and the value each is compared with (FreeSWITCH switch_xml.c):

    year           calendar year                 mon      month 1-12
    yday           day of year 1-366             mday     day of month 1-31
    week           week of year, yday0 / 7 + 1   mweek    week of month 1-6 (weeks start Sunday)
    wday           day of week 1-7, Sunday = 1 (or sun..sat)
    hour, minute   0-23, 0-59                    minute-of-day   hour * 60 + minute + 1
    time-of-day    "hh:mm[:ss]-hh:mm[:ss]" ranges, end inclusive
    date-time      "YYYY-MM-DD hh:mm[:ss]~YYYY-MM-DD hh:mm[:ss]" ranges, end inclusive
    tz-offset      matches when the effective UTC offset (hours) equals it
    dst            matches when daylight saving time is (true) / is not (false) in effect

Numbers take comma-separated values and `a-b` ranges; a range whose start is
above its end wraps around (`mon="10-2"`, `hour="22-6"`, `time-of-day="17:00-07:00"`),
as FreeSWITCH documents.  `wday` ranges do not wrap (switch_dow_cmp); one that
would is refused at load time instead of silently never matching.

The effective time is `now` moved to the channel's `tod_tz_offset` (hours) or
`timezone` (an IANA name), like FreeSWITCH's `check_tz()`; otherwise `now` as given.
Values are parsed once, at load time; malformed ones raise ValueError there.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .params import parse_bool

TIME_ATTRIBUTES = (
    "date-time",
    "year",
    "yday",
    "mon",
    "mday",
    "week",
    "mweek",
    "wday",
    "hour",
    "minute",
    "minute-of-day",
    "time-of-day",
    "tz-offset",
    "dst",
)
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_Ranges = tuple[tuple[int, int], ...]


def _in_ranges(ranges: _Ranges, value: int) -> bool:
    for low, high in ranges:
        if low <= high:
            if low <= value <= high:
                return True
        elif value >= low or value <= high:  # wraps around
            return True
    return False


def _int(text: str, attr: str, whole: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f'{attr}="{whole}": "{text.strip()}" is not a number') from None


def parse_numbers(attr: str, text: str) -> _Ranges:
    """ "1,3,5-7" -> ((1, 1), (3, 3), (5, 7)); "10-2" wraps."""
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        if not item.strip():
            raise ValueError(f'{attr}="{text}": empty item')
        low, sep, high = item.strip().partition("-")
        start = _int(low, attr, text)
        ranges.append((start, _int(high, attr, text) if sep else start))
    return tuple(ranges)


def _day(token: str, attr: str, whole: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and 1 <= int(token) <= 7:
        return int(token)
    for names in (_DOW, _DAYS):
        if token in names:
            return names.index(token) + 1
    raise ValueError(f'{attr}="{whole}": "{token}" is not a day (1-7 or sun..sat)')


def parse_weekdays(text: str) -> _Ranges:
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        low, sep, high = item.partition("-")
        start = _day(low, "wday", text)
        end = _day(high, "wday", text) if sep else start
        if end < start:
            first, last = low.strip(), high.strip()
            named = first.isalpha()
            raise ValueError(
                f'wday="{text}": range {first}-{last} does not wrap in FreeSWITCH and never matches; '
                f"write {first}-{'sat' if named else 7},{'sun' if named else 1}-{last}"
            )
        ranges.append((start, end))
    return tuple(ranges)


def _seconds(text: str, whole: str) -> int:
    parts = text.strip().split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f'time-of-day="{whole}": "{text.strip()}" is not hh:mm or hh:mm:ss')
    hours, minutes, seconds = (_int(p, "time-of-day", whole) for p in (*parts, "0")[:3])
    return hours * 3600 + minutes * 60 + seconds


def parse_time_of_day(text: str) -> _Ranges:
    ranges: list[tuple[int, int]] = []
    for item in text.split(","):
        start, sep, end = item.partition("-")
        if not sep:
            raise ValueError(f'time-of-day="{text}": "{item.strip()}" is not a range hh:mm-hh:mm')
        ranges.append((_seconds(start, text), _seconds(end, text)))
    return tuple(ranges)


def _stamp(text: str, whole: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(f'date-time="{whole}": "{text.strip()}" is not YYYY-MM-DD hh:mm[:ss]')


def parse_date_time(text: str) -> tuple[tuple[datetime, datetime], ...]:
    spans: list[tuple[datetime, datetime]] = []
    for item in text.split(","):
        start, sep, end = item.partition("~")
        if not sep:
            raise ValueError(f'date-time="{text}": "{item.strip()}" needs start~end')
        spans.append((_stamp(start, text), _stamp(end, text)))
    return tuple(spans)


def _mweek(tm: datetime) -> int:
    wday = (tm.weekday() + 1) % 7  # C tm_wday: Sunday = 0
    diff = tm.day - (wday + 1)
    c_mod = diff - 7 * math.trunc(diff / 7)  # C's % truncates toward zero
    first_dow = (7 - c_mod) % 7
    return math.ceil((tm.day + first_dow) / 7.0)


_VALUES: dict[str, Callable[[datetime], int]] = {
    "year": lambda tm: tm.year,
    "yday": lambda tm: tm.timetuple().tm_yday,
    "mon": lambda tm: tm.month,
    "mday": lambda tm: tm.day,
    "week": lambda tm: (tm.timetuple().tm_yday - 1) // 7 + 1,
    "mweek": _mweek,
    "wday": lambda tm: (tm.weekday() + 1) % 7 + 1,
    "hour": lambda tm: tm.hour,
    "minute": lambda tm: tm.minute,
    "minute-of-day": lambda tm: tm.hour * 60 + tm.minute + 1,
    "time-of-day": lambda tm: tm.hour * 3600 + tm.minute * 60 + tm.second,
}


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """The parsed time attributes of one `<condition>` or `<regex>`."""

    ranges: tuple[tuple[str, str, _Ranges], ...]
    date_time: tuple[tuple[datetime, datetime], ...] | None = None
    date_time_text: str = ""
    tz_offset: int | None = None
    dst: bool | None = None

    def check(self, tm: datetime) -> tuple[bool, list[str]]:
        """(matches, explanation lines) for the effective local time `tm`; stops at the first miss."""
        notes: list[str] = []
        if self.tz_offset is not None:
            offset = tm.utcoffset()
            hours = int(offset.total_seconds() // 3600) if offset is not None else 0
            ok = hours == self.tz_offset
            notes.append(f"tz-offset[{hours}] == {self.tz_offset} {'PASS' if ok else 'FAIL'}")
            if not ok:
                return False, notes
        if self.dst is not None:
            in_dst = _is_dst(tm)
            ok = in_dst == self.dst
            notes.append(f"dst[{str(in_dst).lower()}] == {str(self.dst).lower()} {'PASS' if ok else 'FAIL'}")
            if not ok:
                return False, notes
        if self.date_time is not None:
            naive = tm.replace(tzinfo=None)
            ok = any(start <= naive <= end for start, end in self.date_time)
            notes.append(
                f"date-time[{naive:%Y-%m-%d %H:%M:%S}] =~ {self.date_time_text} {'PASS' if ok else 'FAIL'}"
            )
            if not ok:
                return False, notes
        for attr, text, ranges in self.ranges:
            value = _VALUES[attr](tm)
            ok = _in_ranges(ranges, value)
            shown = f"{tm:%H:%M:%S}" if attr == "time-of-day" else str(value)
            notes.append(f"{attr}[{shown}] =~ {text} {'PASS' if ok else 'FAIL'}")
            if not ok:
                return False, notes
        return True, notes


def _is_dst(tm: datetime) -> bool:
    if tm.tzinfo is not None:
        delta = tm.dst()
        return bool(delta)
    return _time.localtime(tm.timestamp()).tm_isdst > 0


def parse_time_spec(attributes: Mapping[str, str]) -> TimeSpec | None:
    """The TimeSpec of an element's attributes, None when it has no time attribute."""
    if not any(name in attributes for name in TIME_ATTRIBUTES):
        return None
    ranges: list[tuple[str, str, _Ranges]] = []
    for attr in TIME_ATTRIBUTES:
        text = attributes.get(attr)
        if text is None or attr in ("date-time", "tz-offset", "dst"):
            continue
        if attr == "wday":
            parsed = parse_weekdays(text)
        elif attr == "time-of-day":
            parsed = parse_time_of_day(text)
        else:
            parsed = parse_numbers(attr, text)
        ranges.append((attr, text, parsed))
    date_time = parse_date_time(attributes["date-time"]) if "date-time" in attributes else None
    tz_text = attributes.get("tz-offset")
    tz_offset = _int(tz_text, "tz-offset", tz_text) if tz_text is not None else None
    dst_text = attributes.get("dst")
    dst = parse_bool(dst_text) if dst_text is not None else None
    return TimeSpec(tuple(ranges), date_time, attributes.get("date-time", ""), tz_offset, dst)


def effective_time(now: datetime, get_var: Callable[[str], str | None]) -> datetime:
    """`now` in the channel's time zone: `tod_tz_offset` (hours) first, then `timezone`."""
    offset = get_var("tod_tz_offset")
    if offset:
        try:
            hours = int(offset)
        except ValueError:
            hours = None
        if hours is not None:
            return (now if now.tzinfo else now.astimezone()).astimezone(timezone(timedelta(hours=hours)))
    name = get_var("timezone")
    if name:
        try:
            zone_info = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return now
        return (now if now.tzinfo else now.astimezone()).astimezone(zone_info)
    return now
