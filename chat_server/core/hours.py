"""Business hours: whether a site is open at an instant, and when that next changes.

Pure: the only outside reads are the time zone rules (`zoneinfo`). Intervals are local wall
times, so a 09:00 opening stays 09:00 across daylight saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chat_server.core.model import Hours

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_MINUTES = 1440
MAX_INTERVALS = 8
"""Per day: more is a typo, not a schedule."""
MAX_HOLIDAYS = 400
SCAN_DAYS = MAX_HOLIDAYS + 8
"""How far `next_change` looks ahead: past any run of holidays plus a week."""
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _local(hours: Hours, now_ms: int) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(_zone(hours.tz))


def _open_at(hours: Hours, day: date, minute: int) -> bool:
    if day.isoformat() in hours.holidays:
        return False
    return any(start <= minute < end for start, end in hours.weekly[day.weekday()])


def is_open(hours: Hours | None, now_ms: int) -> bool:
    """Open now (a site without hours is always open)."""
    if hours is None:
        return True
    local = _local(hours, now_ms)
    return _open_at(hours, local.date(), local.hour * 60 + local.minute)


def next_change(hours: Hours | None, now_ms: int) -> int | None:
    """The ms timestamp of the next opening (when closed) or closing (when open); None if
    it never changes (no hours, or never open / always open within the scan)."""
    if hours is None or not any(hours.weekly):
        return None  # no hours, or never open (holidays only ever close)
    if not hours.holidays and all(day == ((0, DAY_MINUTES),) for day in hours.weekly):
        return None  # open around the clock
    zone = _zone(hours.tz)
    now = is_open(hours, now_ms)
    today = _local(hours, now_ms).date()
    for offset in range(SCAN_DAYS + 1):
        day = today + timedelta(days=offset)
        edges = {0} | {m for interval in hours.weekly[day.weekday()] for m in interval}
        for minute in sorted(edges):
            when = _instant(zone, day, minute)
            if when > now_ms and is_open(hours, when) != now:
                return when
    return None


def _instant(zone: ZoneInfo, day: date, minute: int) -> int:
    """The ms timestamp of a local wall time (24:00 is the next midnight)."""
    wall = datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=minute)  # wall-clock
    return int(wall.timestamp() * 1000)


# --- the settings form: {tz, weekly: {"mon": [["09:00", "17:30"]]}, holidays: [...]} -----


def parse_time(text: str) -> int:
    """Minutes of the day of "HH:MM" (up to "24:00")."""
    found = _HHMM.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"{text!r} is not a time like 09:30")
    minutes = int(found[1]) * 60 + int(found[2])
    if minutes > DAY_MINUTES:
        raise ValueError(f"{text!r} is past 24:00")
    return minutes


def format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_day(intervals: Any, day: str) -> tuple[tuple[int, int], ...]:
    """`[["09:00", "12:00"], ...]`: sorted, each start before its end, none overlapping."""
    if not isinstance(intervals, list) or len(intervals) > MAX_INTERVALS:
        raise ValueError(f"{day}: a list of at most {MAX_INTERVALS} [start, end] pairs")
    out: list[tuple[int, int]] = []
    for pair in intervals:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f"{day}: each interval is [start, end]")
        start, end = parse_time(pair[0]), parse_time(pair[1])
        if start >= end:
            raise ValueError(f"{day}: {pair[0]}-{pair[1]} ends before it starts")
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in pairwise(out):
        if start < end:
            raise ValueError(f"{day}: intervals overlap")
    return tuple(out)


def parse_holiday(text: Any) -> str:
    try:
        return date.fromisoformat(text).isoformat() if isinstance(text, str) else ""
    except ValueError:
        return ""


def hours_from_json(data: Any) -> Hours | None:
    """Hours from their settings form (None: always open); ValueError says what is wrong."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ValueError("hours must be a map {tz, weekly, holidays} or null")
    tz = data.get("tz")
    if not isinstance(tz, str) or not tz:
        raise ValueError("hours.tz must name a time zone, e.g. Europe/Paris")
    _zone(tz)
    weekly = data.get("weekly", {})
    if not isinstance(weekly, dict) or set(weekly) - set(DAYS):
        raise ValueError(f"hours.weekly maps days ({', '.join(DAYS)}) to intervals")
    holidays = data.get("holidays", [])
    if not isinstance(holidays, list) or len(holidays) > MAX_HOLIDAYS:
        raise ValueError(f"hours.holidays is a list of at most {MAX_HOLIDAYS} dates")
    days = []
    for text in holidays:
        day = parse_holiday(text)
        if not day:
            raise ValueError(f"{text!r} is not a date like 2026-12-25")
        days.append(day)
    return Hours(
        tz,
        tuple(parse_day(weekly.get(day, []), day) for day in DAYS),
        frozenset(days),
    )


def hours_to_json(hours: Hours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {
        "tz": hours.tz,
        "weekly": {
            day: [[format_time(s), format_time(e)] for s, e in intervals]
            for day, intervals in zip(DAYS, hours.weekly, strict=True)
        },
        "holidays": sorted(hours.holidays),
    }
