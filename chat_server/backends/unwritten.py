"""Figures over time (issue 16) added but not written yet, as both backends hold them
between writes (embedded: until the checkpoint; Redis: `ROLLUP_HOLD_S` from the first of a
group, `backends/redis/figures.py`).

Adding is on the path of every message, so it is one merge, by dimensions and quarter
hour as the figures came; spreading them to each dimension's hour, day and month (a dozen
merges) waits for the write, once for all the messages that share them.
"""

from __future__ import annotations

from chat_server.backends.held import Held
from chat_server.core.metrics import Figures
from chat_server.core.rollups import Bucket, Calendar

QUARTER_MS = 900_000
"""As `Calendar.buckets` caches them: within a quarter hour no zone changes its date, so
the figures of one quarter hour share their hour, day and month."""
Group = tuple[tuple[str, ...], int]
"""Dimensions, quarter hour."""


class Unwritten:
    __slots__ = ("_expiry", "calendar", "groups", "keep_days")

    def __init__(self, calendar: Calendar, keep_days: int) -> None:
        self.calendar = calendar
        self.keep_days = keep_days
        self.groups: Held[Group] = Held()
        self._expiry: dict[Bucket, int] = {}

    def __len__(self) -> int:
        return len(self.groups)

    def expires(self, bucket: Bucket) -> int:
        """When a bucket may go (`Calendar.expires` after `keep_days`), remembered."""
        found = self._expiry.get(bucket)
        if found is None:
            if len(self._expiry) >= 4096:
                self._expiry.clear()
            found = self._expiry[bucket] = self.calendar.expires(bucket, self.keep_days)
        return found

    def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        self.groups.add((dims, ts // QUARTER_MS), figures)

    def take(self) -> dict[Group, Figures]:
        return self.groups.take()

    def put_back(self, taken: dict[Group, Figures]) -> None:
        """A write of `taken` failed: keep it for the next (it is older than what came
        since, which is merged into it)."""
        self.groups.put_back(taken)

    def by_bucket(
        self, now: int, groups: dict[Group, Figures] | None = None
    ) -> dict[tuple[str, Bucket], Figures]:
        """Each dimension's buckets with what was added to them (of `groups`, by default
        all held), leaving out those already past `keep_days` at `now`."""
        out: dict[tuple[str, Bucket], Figures] = {}
        for (dims, quarter), figures in (self.groups.figures if groups is None else groups).items():
            for bucket in self.calendar.buckets(quarter * QUARTER_MS):
                if self.expires(bucket) <= now:
                    continue
                for dim in dims:
                    held = out.get((dim, bucket))
                    if held is None:
                        held = out[(dim, bucket)] = Figures()
                    held.merge(figures)
        return out
