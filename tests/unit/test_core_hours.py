"""`core/hours.py`: business hours in a site's time zone, across DST, midnight, holidays."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chat_server.core import hours as h
from chat_server.core.model import Hours


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """A UTC instant in ms."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def utc(when: int | None) -> datetime:
    assert when is not None
    return datetime.fromtimestamp(when / 1000, UTC)


def paris(weekly: dict[str, Any], holidays: list[str] | None = None) -> Hours:
    hours = h.hours_from_json({"tz": "Europe/Paris", "weekly": weekly, "holidays": holidays or []})
    assert hours is not None
    return hours


OFFICE = paris(
    {d: [["09:00", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}, ["2026-12-25"]
)


def test_no_hours_is_always_open_and_never_changes() -> None:
    assert h.is_open(None, 0)
    assert h.next_change(None, 0) is None


def test_open_within_an_interval_in_local_time() -> None:
    # Monday 2026-01-05: Paris is UTC+1 in winter
    assert not h.is_open(OFFICE, ms(2026, 1, 5, 7, 59))
    assert h.is_open(OFFICE, ms(2026, 1, 5, 8, 0))
    assert h.is_open(OFFICE, ms(2026, 1, 5, 16, 29))
    assert not h.is_open(OFFICE, ms(2026, 1, 5, 16, 30))  # [start, end)
    assert not h.is_open(OFFICE, ms(2026, 1, 10, 10, 0))  # Saturday


def test_daylight_saving_keeps_the_local_opening() -> None:
    # Monday 2026-03-30, after the spring change: UTC+2, 09:00 local is 07:00 UTC
    assert h.is_open(OFFICE, ms(2026, 3, 30, 7, 0))
    assert not h.is_open(OFFICE, ms(2026, 3, 30, 6, 59))
    # Friday 2026-03-27 (UTC+1) closes 16:30 UTC; the next opening is Monday 07:00 UTC
    assert utc(h.next_change(OFFICE, ms(2026, 3, 27, 17, 0))) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )
    # the autumn change: Monday 2026-10-26 is UTC+1 again
    assert utc(h.next_change(OFFICE, ms(2026, 10, 24, 12, 0))) == datetime(
        2026, 10, 26, 8, 0, tzinfo=UTC
    )


def test_other_zones() -> None:
    ny = h.hours_from_json({"tz": "America/New_York", "weekly": {"mon": [["09:00", "17:00"]]}})
    assert h.is_open(ny, ms(2026, 1, 5, 14, 0))  # 09:00 EST
    assert not h.is_open(ny, ms(2026, 1, 5, 13, 59))


def test_next_change_when_open_is_the_closing() -> None:
    assert utc(h.next_change(OFFICE, ms(2026, 1, 5, 10, 0))) == datetime(
        2026, 1, 5, 16, 30, tzinfo=UTC
    )


def test_overnight_intervals_join_across_midnight() -> None:
    late = paris({"fri": [["22:00", "24:00"]], "sat": [["00:00", "02:00"]]})
    friday_night = ms(2026, 1, 9, 22, 30)  # 23:30 local
    assert h.is_open(late, friday_night)
    assert h.is_open(late, ms(2026, 1, 9, 23, 30))  # 00:30 Saturday local
    # midnight is not a change: the next one is the 02:00 closing
    assert utc(h.next_change(late, friday_night)) == datetime(2026, 1, 10, 1, 0, tzinfo=UTC)
    assert not h.is_open(late, ms(2026, 1, 10, 1, 0))
    assert utc(h.next_change(late, ms(2026, 1, 10, 1, 0))) == datetime(
        2026, 1, 16, 21, 0, tzinfo=UTC
    )


def test_a_holiday_is_closed_all_day() -> None:
    christmas = ms(2026, 12, 25, 10, 0)  # a Friday
    assert not h.is_open(OFFICE, christmas)
    assert utc(h.next_change(OFFICE, christmas)) == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)
    # the day before closes as usual
    assert utc(h.next_change(OFFICE, ms(2026, 12, 24, 10, 0))) == datetime(
        2026, 12, 24, 16, 30, tzinfo=UTC
    )


def test_a_holiday_begins_at_local_midnight() -> None:
    all_day = paris({d: [["00:00", "24:00"]] for d in h.DAYS}, ["2026-12-25"])
    assert utc(h.next_change(all_day, ms(2026, 12, 24, 12, 0))) == datetime(
        2026, 12, 24, 23, 0, tzinfo=UTC
    )


def test_never_changing_schedules() -> None:
    never = paris({})
    assert not h.is_open(never, ms(2026, 1, 5, 10, 0))
    assert h.next_change(never, ms(2026, 1, 5, 10, 0)) is None
    always = paris({d: [["00:00", "24:00"]] for d in h.DAYS})
    assert h.is_open(always, ms(2026, 1, 5, 10, 0))
    assert h.next_change(always, ms(2026, 1, 5, 10, 0)) is None


def test_a_change_past_the_scan_is_not_found() -> None:
    from datetime import date, timedelta

    mondays = [(date(2026, 1, 5) + timedelta(weeks=w)).isoformat() for w in range(60)]
    rare = paris({"mon": [["09:00", "17:00"]]}, mondays)
    assert h.next_change(rare, ms(2026, 1, 5, 10, 0)) is None
    assert not h.is_open(rare, ms(2026, 1, 5, 10, 0))


def test_several_intervals_a_day() -> None:
    split = paris({"tue": [["13:00", "17:00"], ["09:00", "12:00"]]})
    assert split.weekly[1] == ((540, 720), (780, 1020))
    assert h.is_open(split, ms(2026, 1, 6, 8, 0))
    assert not h.is_open(split, ms(2026, 1, 6, 11, 30))
    assert h.is_open(split, ms(2026, 1, 6, 12, 0))


def test_round_trip() -> None:
    data = h.hours_to_json(OFFICE)
    assert data is not None
    assert data["weekly"]["mon"] == [["09:00", "17:30"]]
    assert data["weekly"]["sat"] == []
    assert data["holidays"] == ["2026-12-25"]
    assert h.hours_from_json(data) == OFFICE
    assert h.hours_to_json(None) is None
    assert h.hours_from_json(None) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a map"),
        ({"weekly": {}}, "must name a time zone"),
        ({"tz": "Mars/Olympus"}, "unknown time zone"),
        ({"tz": "../etc/passwd"}, "unknown time zone"),
        ({"tz": "UTC", "weekly": {"monday": []}}, "maps days"),
        ({"tz": "UTC", "weekly": []}, "maps days"),
        ({"tz": "UTC", "holidays": "2026-12-25"}, "list of at most"),
        ({"tz": "UTC", "holidays": ["25/12/2026"]}, "not a date"),
        ({"tz": "UTC", "holidays": [20261225]}, "not a date"),
        ({"tz": "UTC", "weekly": {"mon": "09:00-17:00"}}, "a list of at most"),
        ({"tz": "UTC", "weekly": {"mon": [["09:00"]]}}, "each interval is"),
        ({"tz": "UTC", "weekly": {"mon": ["09:00-17:00"]}}, "each interval is"),
        ({"tz": "UTC", "weekly": {"mon": [["9h", "17:00"]]}}, "not a time"),
        ({"tz": "UTC", "weekly": {"mon": [[9, "17:00"]]}}, "not a time"),
        ({"tz": "UTC", "weekly": {"mon": [["09:00", "24:30"]]}}, "past 24:00"),
        ({"tz": "UTC", "weekly": {"mon": [["17:00", "09:00"]]}}, "ends before"),
        ({"tz": "UTC", "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "overlap"),
    ],
)
def test_bad_hours_are_refused(data: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        h.hours_from_json(data)


def test_time_forms() -> None:
    assert h.parse_time("24:00") == 1440
    assert h.format_time(1050) == "17:30"
    assert h.parse_holiday("2026-12-25") == "2026-12-25"
    assert h.parse_holiday("nope") == ""
