"""`core/rollups.py`: the hour, day and month buckets of the report time zone, and the
buckets that make up a range of days, across DST, half-hour zones, month ends and leap
years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_server.core import rollups
from chat_server.core.rollups import DAY_MS, HOUR_MS, KEEP_DAYS, TIERS, Bucket, Calendar

ZONES = (
    "UTC",
    "America/Los_Angeles",
    "Europe/Paris",
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # DST moves the clock by half an hour
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",  # DST changes at local midnight
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """A UTC instant in ms."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def day(text: str) -> Bucket:
    return Bucket("day", text)


def month(text: str) -> Bucket:
    return Bucket("month", text)


def day_length_h(cal: Calendar, d: date) -> float:
    return (cal.end(day(d.isoformat())) - cal.day_start(d)) / HOUR_MS


# --- zones -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Nope/Zone", "", "../etc/passwd", "/etc/localtime", "utc"])
def test_an_unknown_zone_is_a_value_error(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        rollups.zone(name)
    with pytest.raises(ValueError, match="unknown time zone"):
        Calendar(name)


def test_the_default_calendar_is_utc() -> None:
    cal = Calendar()
    assert (cal.tz_name, str(cal.tz)) == ("UTC", "UTC")
    assert TIERS == ("hour", "day", "month") and KEEP_DAYS == 400


# --- which buckets an instant counts in ------------------------------------------------------


def test_an_instant_counts_in_its_utc_hour_and_its_local_day_and_month() -> None:
    ts = ms(2026, 12, 31, 23, 30)
    assert Calendar().buckets(ts) == (
        Bucket("hour", str(ms(2026, 12, 31, 23))),
        day("2026-12-31"),
        month("2026-12"),
    )
    # in Paris it is already 00:30 on New Year's Day
    assert Calendar("Europe/Paris").buckets(ts)[1:] == (day("2027-01-01"), month("2027-01"))
    # in Los Angeles, 15:30 the same day
    assert Calendar("America/Los_Angeles").buckets(ts)[1] == day("2026-12-31")


def test_local_midnight_splits_the_days_in_a_half_hour_zone() -> None:
    kolkata = Calendar("Asia/Kolkata")
    midnight = ms(2026, 1, 9, 18, 30)  # 2026-01-10 00:00 +05:30
    assert kolkata.buckets(midnight - 1)[1] == day("2026-01-09")
    assert kolkata.buckets(midnight)[1] == day("2026-01-10")
    # one UTC hour bucket holds the last half hour of one day and the first of the next
    assert kolkata.buckets(midnight - 1)[0] == kolkata.buckets(midnight)[0]
    assert kolkata.day_start(date(2026, 1, 10)) == midnight


def test_a_cached_quarter_hour_reads_the_same_buckets() -> None:
    cal = Calendar("Asia/Kathmandu")
    ts = ms(2026, 5, 1, 18, 15)  # 00:00 local (+05:45): the start of a quarter hour
    assert cal.buckets(ts) is cal.buckets(ts + 899_999)
    assert cal.buckets(ts - 1)[1] == day("2026-05-01")
    assert cal.buckets(ts)[1] == day("2026-05-02")


def test_the_cache_stays_bounded() -> None:
    cal = Calendar("Europe/Paris")
    start = ms(2026, 1, 1)
    quarters = rollups._CACHE_MAX + 10
    for i in range(quarters):
        ts = start + i * 900_000
        assert cal.buckets(ts)[1] == day(cal.day_of(ts).isoformat())
    assert len(cal._cache) <= rollups._CACHE_MAX


@given(
    st.sampled_from(ZONES),
    st.integers(min_value=ms(1990, 1, 1), max_value=ms(2100, 1, 1)),
)
def test_an_instant_lies_inside_each_of_its_buckets(name: str, ts: int) -> None:
    cal = Calendar(name)
    hour, d, m = cal.buckets(ts)
    assert int(hour.key) <= ts < cal.end(hour)
    local = cal.day_of(ts)
    assert d.key == local.isoformat() and m.key == d.key[:7]
    assert cal.day_start(local) <= ts < cal.end(d)
    assert cal.day_start(date(local.year, local.month, 1)) <= ts < cal.end(m)
    assert Calendar(name).buckets(ts) == cal.buckets(ts)  # cached or not
    assert cal.local(ts).date() == local


@given(
    st.sampled_from(ZONES),
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
)
def test_a_local_day_starts_at_its_first_instant(name: str, d: date) -> None:
    cal = Calendar(name)
    start = cal.day_start(d)
    assert cal.day_of(start) == d
    assert cal.day_of(start - 1) == d - timedelta(days=1)
    assert cal.end(day(d.isoformat())) == cal.day_start(d + timedelta(days=1))


# --- DST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "short", "long"),
    [
        ("America/Los_Angeles", date(2026, 3, 8), date(2026, 11, 1)),
        ("Europe/Paris", date(2026, 3, 29), date(2026, 10, 25)),
    ],
)
def test_dst_days_are_23_and_25_hours(name: str, short: date, long: date) -> None:
    cal = Calendar(name)
    assert day_length_h(cal, short) == 23
    assert day_length_h(cal, long) == 25
    assert day_length_h(cal, short + timedelta(days=1)) == 24
    assert len(cal.hours(short, short)) == 23
    assert len(cal.hours(long, long)) == 25
    assert len(cal.hours(short - timedelta(days=1), short)) == 47


def test_dst_day_starts_in_los_angeles_and_paris() -> None:
    la = Calendar("America/Los_Angeles")
    assert la.day_start(date(2026, 3, 8)) == ms(2026, 3, 8, 8)  # PST, -08:00
    assert la.day_start(date(2026, 3, 9)) == ms(2026, 3, 9, 7)  # PDT, -07:00
    assert la.day_start(date(2026, 11, 2)) == ms(2026, 11, 2, 8)
    paris = Calendar("Europe/Paris")
    assert paris.day_start(date(2026, 3, 29)) == ms(2026, 3, 28, 23)
    assert paris.day_start(date(2026, 3, 30)) == ms(2026, 3, 29, 22)
    # the repeated hour (02:00-03:00 twice) counts in the same local day
    assert paris.day_of(ms(2026, 10, 25, 0, 30)) == paris.day_of(ms(2026, 10, 25, 1, 30))


def test_a_day_whose_midnight_is_skipped_starts_when_the_clock_jumps() -> None:
    santiago = Calendar("America/Santiago")  # 2026-09-06 00:00 -04 jumps to 01:00 -03
    start = santiago.day_start(date(2026, 9, 6))
    assert start == ms(2026, 9, 6, 4)
    assert santiago.local(start).hour == 1
    assert day_length_h(santiago, date(2026, 9, 6)) == 23


def test_a_day_a_zone_skipped_is_empty() -> None:
    apia = Calendar("Pacific/Apia")  # Samoa crossed the date line: no 2011-12-30
    assert day_length_h(apia, date(2011, 12, 30)) == 0
    assert apia.day_of(apia.day_start(date(2011, 12, 31)) - 1) == date(2011, 12, 29)
    assert len(apia.days(date(2011, 12, 29), date(2011, 12, 31))) == 3


# --- ends and expiry ------------------------------------------------------------------------


def test_bucket_ends() -> None:
    utc = Calendar()
    assert utc.end(Bucket("hour", str(ms(2026, 5, 1, 13)))) == ms(2026, 5, 1, 14)
    assert utc.end(day("2026-05-31")) == ms(2026, 6, 1)
    assert utc.end(month("2026-11")) == ms(2026, 12, 1)
    assert utc.end(month("2026-12")) == ms(2027, 1, 1)
    assert utc.end(month("2028-02")) == ms(2028, 3, 1)
    paris = Calendar("Europe/Paris")
    assert paris.end(month("2026-03")) == ms(2026, 3, 31, 22)  # April starts in CEST
    assert paris.end(month("2026-12")) == ms(2026, 12, 31, 23)


def test_a_bucket_expires_keep_days_after_its_end() -> None:
    cal = Calendar("America/Los_Angeles")
    bucket = day("2026-03-08")
    assert cal.expires(bucket, 400) == cal.end(bucket) + 400 * DAY_MS
    assert cal.expires(month("2026-12"), 1) == cal.day_start(date(2027, 1, 1)) + DAY_MS


# --- ranges -----------------------------------------------------------------------------------


def test_a_year_reads_twelve_months() -> None:
    span = Calendar().span(date(2026, 1, 1), date(2026, 12, 31))
    assert span == [month(f"2026-{m:02d}") for m in range(1, 13)]


def test_a_span_reads_whole_months_inside_and_days_at_the_edges() -> None:
    span = Calendar().span(date(2026, 1, 30), date(2026, 3, 2))
    assert span == [
        day("2026-01-30"),
        day("2026-01-31"),
        month("2026-02"),
        day("2026-03-01"),
        day("2026-03-02"),
    ]
    across_the_year = Calendar().span(date(2026, 12, 1), date(2027, 1, 1))
    assert across_the_year == [month("2026-12"), day("2027-01-01")]


def test_a_span_in_february_of_a_leap_year() -> None:
    cal = Calendar("Europe/Paris")
    assert cal.span(date(2028, 2, 1), date(2028, 2, 29)) == [month("2028-02")]
    short = cal.span(date(2028, 2, 1), date(2028, 2, 28))
    assert short == [day(f"2028-02-{d:02d}") for d in range(1, 29)]
    assert cal.span(date(2027, 2, 1), date(2027, 2, 28)) == [month("2027-02")]
    assert cal.span(date(2028, 2, 29), date(2028, 3, 1)) == [
        day("2028-02-29"),
        day("2028-03-01"),
    ]


def test_a_year_is_at_most_twelve_months_and_sixty_days() -> None:
    for offset in range(0, 366, 7):
        first = date(2026, 1, 1) + timedelta(days=offset)
        span = Calendar().span(first, first + timedelta(days=364))
        assert len(span) <= 12 + 2 * 30


@given(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=800),
)
def test_a_span_covers_each_day_once(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    covered: list[date] = []
    for bucket in Calendar().span(first, last):
        if bucket.tier == "day":
            covered.append(date.fromisoformat(bucket.key))
        else:
            start = date.fromisoformat(bucket.key + "-01")
            d = start
            while d.month == start.month:
                covered.append(d)
                d += timedelta(days=1)
    assert covered == [first + timedelta(days=i) for i in range(length + 1)]


def test_ranges_that_end_before_they_start_are_empty() -> None:
    cal = Calendar()
    first, last = date(2026, 5, 2), date(2026, 5, 1)
    assert cal.span(first, last) == cal.days(first, last) == cal.hours(first, last) == []


def test_days_are_one_bucket_per_local_day() -> None:
    cal = Calendar("America/Los_Angeles")
    days = cal.days(date(2026, 2, 27), date(2026, 3, 1))
    assert days == [day("2026-02-27"), day("2026-02-28"), day("2026-03-01")]
    assert cal.days(date(2028, 2, 28), date(2028, 3, 1))[1] == day("2028-02-29")
    assert len(cal.days(date(2026, 1, 1), date(2026, 12, 31))) == 365


def test_hours_cover_the_days_one_utc_hour_each() -> None:
    utc = Calendar()
    hours = utc.hours(date(2026, 5, 1), date(2026, 5, 2))
    assert len(hours) == 48
    assert hours[0] == Bucket("hour", str(ms(2026, 5, 1)))
    assert hours[-1] == Bucket("hour", str(ms(2026, 5, 2, 23)))


def test_hours_of_a_half_hour_zone_start_the_hour_before() -> None:
    kolkata = Calendar("Asia/Kolkata")
    hours = kolkata.hours(date(2026, 1, 10), date(2026, 1, 10))
    # 2026-01-10 runs 18:30Z..18:30Z: 25 UTC hours touch it, half of the first and last
    assert len(hours) == 25
    assert hours[0] == Bucket("hour", str(ms(2026, 1, 9, 18)))
    assert hours[-1] == Bucket("hour", str(ms(2026, 1, 10, 18)))
    every_minute = range(kolkata.day_start(date(2026, 1, 10)), ms(2026, 1, 10, 18, 30), 60_000)
    starts = {int(b.key) for b in hours}
    assert all(ts - ts % HOUR_MS in starts for ts in every_minute)
