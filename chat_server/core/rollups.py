"""Figures kept over time (issue 16): the hour, day and month buckets every figure is added
to, and which buckets make up a range of days.

Days and months are those of one report time zone (`reports_tz`, UTC by default), so a
report over whole local days reads whole buckets and never splits one: a day bucket is
keyed by its local date (`2026-12-05`), a month by `2026-12`, an hour by the UTC start of
the hour in ms (every zone's offset is a whole number of quarter hours, so an hour bucket
is one local hour too, but in zones with a half-hour offset). Buckets merge by addition
(`metrics.Figures`), so a range is the merge of the months it covers whole and the days at
its edges: at most 12 + 2 * 30 buckets for a year, however many conversations it held.

Pure: the only outside reads are the time zone rules (`zoneinfo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Tier = Literal["hour", "day", "month"]
TIERS: tuple[Tier, ...] = ("hour", "day", "month")
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
KEEP_DAYS = 400
"""How long buckets are kept by default (`rollup_days`): a year and its comparison month."""
_QUARTER_MS = 900_000
_CACHE_MAX = 4096


@dataclass(frozen=True, slots=True)
class Bucket:
    tier: Tier
    key: str
    """hour: the UTC start in ms (decimal); day: the local date `YYYY-MM-DD`; month: `YYYY-MM`."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


class Calendar:
    """The report time zone's hours, days and months, for instants in ms."""

    __slots__ = ("_cache", "tz", "tz_name")

    def __init__(self, tz: str = "UTC") -> None:
        self.tz_name = tz
        self.tz = zone(tz)
        self._cache: dict[int, tuple[Bucket, Bucket, Bucket]] = {}

    def local(self, ts: int) -> datetime:
        return datetime.fromtimestamp(ts / 1000, UTC).astimezone(self.tz)

    def day_of(self, ts: int) -> date:
        """The local date of an instant."""
        return self.local(ts).date()

    def buckets(self, ts: int) -> tuple[Bucket, Bucket, Bucket]:
        """The hour, day and month that `ts` counts in (on every recorded event: cached by
        quarter hour, within which no zone changes its date)."""
        quarter = ts // _QUARTER_MS
        found = self._cache.get(quarter)
        if found is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            day = self.day_of(ts)
            found = self._cache[quarter] = (
                Bucket("hour", str(ts - ts % HOUR_MS)),
                Bucket("day", day.isoformat()),
                Bucket("month", day.isoformat()[:7]),
            )
        return found

    def day_start(self, day: date) -> int:
        """The instant (ms) a local day begins."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.tz)
        return int(midnight.timestamp() * 1000)

    def expires(self, bucket: Bucket, keep_days: int) -> int:
        """When a bucket may go (ms): `keep_days` after its end."""
        return self.end(bucket) + keep_days * DAY_MS

    def end(self, bucket: Bucket) -> int:
        """The instant (ms) a bucket ends."""
        if bucket.tier == "hour":
            return int(bucket.key) + HOUR_MS
        if bucket.tier == "day":
            return self.day_start(date.fromisoformat(bucket.key) + timedelta(days=1))
        year, month = (int(part) for part in bucket.key.split("-"))
        return self.day_start(date(year + month // 12, month % 12 + 1, 1))

    def span(self, first: date, last: date) -> list[Bucket]:
        """The fewest buckets covering the local days `first`..`last` (inclusive): the
        months inside whole, the days at either edge."""
        out: list[Bucket] = []
        day = first
        while day <= last:
            month_end = _month_last(day)
            if day.day == 1 and month_end <= last:
                out.append(Bucket("month", day.isoformat()[:7]))
                day = month_end + timedelta(days=1)
            else:
                out.append(Bucket("day", day.isoformat()))
                day += timedelta(days=1)
        return out

    def days(self, first: date, last: date) -> list[Bucket]:
        """One bucket per local day, `first`..`last` (a trend's points)."""
        count = (last - first).days + 1
        return [Bucket("day", (first + timedelta(days=i)).isoformat()) for i in range(count)]

    def hours(self, first: date, last: date) -> list[Bucket]:
        """One bucket per hour from the start of local day `first` to the end of `last`
        (a short range's points; in a zone with a half-hour offset, from the hour before)."""
        start = self.day_start(first)
        end = self.day_start(last + timedelta(days=1))
        start -= start % HOUR_MS
        return [Bucket("hour", str(t)) for t in range(start, end, HOUR_MS)]


def _month_last(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)
