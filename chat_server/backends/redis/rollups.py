"""Figures kept over time on Redis (issue 16): one hash per dimension and bucket (hour, day,
month of `reports_tz`), like the rolling windows' and written by the same `FigureBuffer`
call, each expiring `rollup_days` after its bucket ends (so `prune` removes nothing).

A finished bucket is sealed into its packed form (`backends/packed.py`) by
`rollup_read.lua`: by the first read that finds it, and by `prune` (hourly) for the buckets
this node wrote; a bucket still written to is read packed the same way. Summing a year is
then a few dozen strings per dimension, added up here (`packed.Sum`): summed by Lua from
the hashes, 30 dimensions of a year held Redis for over 200 ms, and read as fields they
cost as much in Python.
Every dimension's keys share its hash tag, so one script reads a range of them.

Visits: the day of each visitor's last visit, and per dimension and day a hash of "days
since the previous visit" -> count, moved by `visit.lua` in one step and read by
`visits.lua`. Both are kept twice `rollup_days`: a report's previous period reaches back
that far.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from chat_server.backends.packed import Sum, unpack
from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.figures import FigureBuffer
from chat_server.core.metrics import Figures
from chat_server.core.rollups import DAY_MS, HOUR_MS, Bucket, Calendar

log = logging.getLogger(__name__)
SEAL_AFTER_MS = HOUR_MS
"""When a bucket counts as finished. Figures come at the time of their event (give or take
the nodes' clocks), but for the correction of a close's first-contact resolution, up to
`fcr_hours` later: that one goes to the hash again, read along and sealed in its turn."""
Found = tuple[bytes, bytes]
"""A bucket as read: its sealed form, its hash's figures packed the same way (b"": none)."""


class RedisRollups:
    def __init__(self, client: Client, buffer: FigureBuffer) -> None:
        self.client = client
        self.keys = client.keys
        self.redis = client.redis
        self.buffer = buffer
        self.calendar: Calendar = buffer.calendar
        self.keep_days = buffer.keep_days
        self._read = client.redis.register_script(lua("rollup_read.lua"))
        self._ends: dict[Bucket, int] = {}
        self._visit = client.redis.register_script(lua("visit.lua"))
        self._visits = client.redis.register_script(lua("visits.lua"))

    async def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """With the rolling figures of this loop turn, in the same script call."""
        self.buffer.add_rollup(ts, dims, figures)

    async def read(self, dim: str, buckets: Sequence[Bucket]) -> list[Figures]:
        found = (await self._fetch([dim], buckets))[0] if buckets else []
        out = []
        for sealed, live in found:
            figures = unpack(sealed) if sealed else Figures()
            if live:
                figures.merge(unpack(live))
            out.append(figures)
        return out

    async def total(self, dims: Sequence[str], buckets: Sequence[Bucket]) -> dict[str, Figures]:
        wanted = list(dict.fromkeys(dims))
        found = await self._fetch(wanted, buckets) if buckets else [[] for _ in wanted]
        out = {}
        for dim, parts in zip(wanted, found, strict=True):
            total = Sum()
            for sealed, live in parts:
                if sealed:
                    total.add_packed(sealed)
                if live:
                    total.add_packed(live)
            out[dim] = total.figures()
        return out

    async def _fetch(self, dims: list[str], buckets: Sequence[Bucket]) -> list[list[Found]]:
        """Each dimension's buckets as stored, sealing the finished ones: one script call
        per dimension, all in one round trip."""
        await self.buffer.settled()  # this node's own figures are in what it reads
        now = self.client.clock.now_ms()
        flags = ["1" if self._finished(b, now) else "0" for b in buckets]
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for dim in dims:
                await self._read(keys=self._pairs(dim, buckets), args=["read", *flags], client=pipe)
            replies: list[list[list[bytes]]] = await pipe.execute()
        return [[(sealed, live) for sealed, live in reply] for reply in replies]

    def _pairs(self, dim: str, buckets: Sequence[Bucket]) -> list[str]:
        keys = self.keys
        return [
            key
            for b in buckets
            for key in (keys.rollup(dim, b.tier, b.key), keys.rollup_packed(dim, b.tier, b.key))
        ]

    def _finished(self, bucket: Bucket, now: int) -> bool:
        end = self._ends.get(bucket)
        if end is None:
            if len(self._ends) >= 4096:
                self._ends.clear()
            end = self._ends[bucket] = self.calendar.end(bucket)
        return end + SEAL_AFTER_MS <= now

    async def visit(self, visitor_id: str, dims: tuple[str, ...], ts: int) -> None:
        day = self.calendar.day_of(ts)
        now = self.client.clock.now_ms()
        keep = 2 * self.keep_days
        kept_until = self.calendar.expires(Bucket("day", day.isoformat()), keep)
        keys = [
            self.keys.last_visit(visitor_id),
            *(self.keys.visits(dim, day.isoformat()) for dim in dims),
        ]
        try:
            await self._visit(
                keys=keys,
                args=[day.toordinal(), keep * DAY_MS, max(1, kept_until - now)],
            )
        except Exception as exc:  # statistics: a visit lost is logged, the start goes on
            log.warning("visit not recorded: %s", exc)

    async def visits(
        self, dim: str, first: int, last: int, since: Sequence[int]
    ) -> tuple[int, tuple[int, ...]]:
        # only the days that can hold visits: kept twice `rollup_days`, none to come
        today = self.calendar.day_of(self.client.clock.now_ms()).toordinal()
        start, end = max(first, today - 2 * self.keep_days - 1), min(last, today + 1)
        if end < start:
            return 0, tuple(0 for _ in since)
        keys = [
            self.keys.visits(dim, date.fromordinal(day).isoformat())
            for day in range(start, end + 1)
        ]
        async with redis_errors():
            reply = await self._visits(keys=keys, args=[first, start, *since])
        counts = [int(decoded(v)) for v in reply]
        return counts[0], tuple(counts[1:])

    async def forget_visitor(self, visitor_id: str) -> None:
        async with redis_errors():
            await self.redis.delete(self.keys.last_visit(visitor_id))

    async def prune(self, now: int) -> int:
        """Nothing to remove (every key expires by itself): seal the finished buckets this
        node wrote, so that they take less memory and are quick to read. 0."""
        written = self.buffer.rollups_written
        finished: dict[str, list[Bucket]] = {}
        for dim, bucket in list(written):
            if self._finished(bucket, now):
                finished.setdefault(dim, []).append(bucket)
        if not finished:
            return 0
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for dim, buckets in finished.items():
                flags = ["1"] * len(buckets)
                await self._read(keys=self._pairs(dim, buckets), args=["seal", *flags], client=pipe)
            await pipe.execute()
        for dim, buckets in finished.items():
            for bucket in buckets:
                written.pop((dim, bucket), None)
        return 0
