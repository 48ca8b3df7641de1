"""Figures kept over time in the embedded store (issue 16).

`add` is on the message path, so it only merges into memory (`backends/unwritten.py`);
the figures checkpoint (every few seconds, and at stop) flushes what was added into the
`rollups` table, one row per dimension and bucket (hour, day, month of `reports_tz`),
packed (`backends/packed.py`: a year of buckets sums in tens of milliseconds, where flat
JSON summed by SQLite's `json_each` took twice as long). Reads merge the table with what
is not flushed yet; flushes and reads take turns, so neither misses nor counts twice what
a flush moves. Reads decode and sum in the reader thread.

Visits: the day of each visitor's last visit (`visit_last`) and per dimension and day the
visits by days since the previous one (`visit_gaps`, gap 0: a first visit ever), written
by `visit` through the write queue (a conversation start is not the message path). Both are
kept twice `rollup_days`: a report's previous period reaches back that far.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.packed import Sum, pack, unpack
from chat_server.backends.unwritten import Unwritten
from chat_server.core.clock import Clock
from chat_server.core.metrics import Figures
from chat_server.core.rollups import Bucket, Calendar, Tier

log = logging.getLogger(__name__)
Row = tuple[str, Tier, str, int, Figures]
"""What a flush writes: dimension, tier, bucket, when it may go, what to add."""

VISITED = """
INSERT INTO visit_gaps (dim, day, gap, count) VALUES (?, ?, ?, 1)
ON CONFLICT (dim, day, gap) DO UPDATE SET count = count + 1
"""


class EmbeddedRollups:
    def __init__(self, db: Database, clock: Clock, calendar: Calendar, keep_days: int) -> None:
        self._db = db
        self._clock = clock
        self.calendar = calendar
        self.keep_days = keep_days
        self._unwritten = Unwritten(calendar, keep_days)
        self._turn = asyncio.Lock()
        """Held by a flush while its rows commit, and by a read while it reads the table."""

    async def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        self._unwritten.add(ts, dims, figures)

    async def flush(self) -> None:
        """Add what memory holds to the table (the figures checkpoint). When the write
        fails, memory keeps it for the next flush."""
        async with self._turn:
            taken = self._unwritten.take()
            if not taken:
                return
            now = self._clock.now_ms()
            rows: list[Row] = [
                (dim, b.tier, b.key, self._unwritten.expires(b), figures)
                for (dim, b), figures in self._unwritten.by_bucket(now, taken).items()
            ]
            try:
                await durable.write(self._db, lambda c: _upsert(c, rows))
            except Exception:
                self._unwritten.put_back(taken)
                raise

    async def read(self, dim: str, buckets: Sequence[Bucket]) -> list[Figures]:
        tiers: dict[Tier, list[str]] = {}
        for bucket in buckets:
            tiers.setdefault(bucket.tier, []).append(bucket.key)

        def op(c: sqlite3.Connection) -> dict[Bucket, Figures]:
            found: dict[Bucket, Figures] = {}
            for tier, keys in tiers.items():
                for chunk in _chunks(keys):
                    marks = ",".join("?" * len(chunk))
                    for key, blob in c.execute(
                        "SELECT bucket, fields FROM rollups WHERE dim = ? AND tier = ? "
                        f"AND bucket IN ({marks})",
                        (dim, tier, *chunk),
                    ):
                        found[Bucket(tier, key)] = unpack(blob)
            return found

        async with self._turn:
            found = await self._db.read(op) if tiers else {}
            unwritten = self._unwritten.by_bucket(self._clock.now_ms())
            for (pending_dim, bucket), figures in unwritten.items():
                if pending_dim != dim:
                    continue
                if bucket in found:
                    found[bucket].merge(figures)
                elif bucket.key in tiers.get(bucket.tier, ()):
                    found[bucket] = _copy(figures)
        out: list[Figures] = []
        given: set[Bucket] = set()
        for bucket in buckets:  # a bucket asked for twice is two copies
            kept = found.get(bucket)
            out.append(Figures() if kept is None else _copy(kept) if bucket in given else kept)
            given.add(bucket)
        return out

    async def total(self, dims: Sequence[str], buckets: Sequence[Bucket]) -> dict[str, Figures]:
        wanted = list(dict.fromkeys(dims))
        tiers: dict[Tier, list[str]] = {}
        for bucket in buckets:
            tiers.setdefault(bucket.tier, []).append(bucket.key)

        def op(c: sqlite3.Connection) -> dict[str, Sum]:
            sums: dict[str, Sum] = {}
            for dim in wanted:
                total = sums[dim] = Sum()
                for tier, keys in tiers.items():
                    for chunk in _chunks(keys):
                        marks = ",".join("?" * len(chunk))
                        for (blob,) in c.execute(
                            "SELECT fields FROM rollups WHERE dim = ? AND tier = ? "
                            f"AND bucket IN ({marks})",
                            (dim, tier, *chunk),
                        ):
                            total.add_packed(blob)
            return sums

        async with self._turn:
            sums = await self._db.read(op) if tiers else {dim: Sum() for dim in wanted}
            want = set(buckets)
            unwritten = self._unwritten.by_bucket(self._clock.now_ms())
            for (dim, bucket), figures in unwritten.items():
                if dim in sums and bucket in want:
                    sums[dim].add(figures)
        return {dim: total.figures() for dim, total in sums.items()}

    async def visit(self, visitor_id: str, dims: tuple[str, ...], ts: int) -> None:
        day = self.calendar.day_of(ts).toordinal()

        def op(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT day FROM visit_last WHERE visitor_id = ?", (visitor_id,)
            ).fetchone()
            if row is not None and row[0] >= day:
                return  # came today already (or later: a clock stepped back)
            c.execute("INSERT OR REPLACE INTO visit_last VALUES (?, ?)", (visitor_id, day))
            gap = 0 if row is None else day - row[0]
            c.executemany(VISITED, [(dim, day, gap) for dim in dims])

        try:
            await durable.write(self._db, op)
        except Exception as exc:  # statistics: a visit lost is logged, the start goes on
            log.warning("visit not recorded: %s", exc)

    async def visits(
        self, dim: str, first: int, last: int, since: Sequence[int]
    ) -> tuple[int, tuple[int, ...]]:
        backs = "".join(
            ", COALESCE(SUM(CASE WHEN gap > day - ? AND gap <= day - ? THEN count END), 0)"
            for _ in since
        )
        params: list[Any] = [p for s in since for p in (first, s)]
        sql = (
            f"SELECT COALESCE(SUM(CASE WHEN gap = 0 THEN count END), 0){backs} "
            "FROM visit_gaps WHERE dim = ? AND day BETWEEN ? AND ?"
        )
        row = await self._db.read(lambda c: c.execute(sql, (*params, dim, first, last)).fetchone())
        return int(row[0]), tuple(int(v) for v in row[1:])

    async def forget_visitor(self, visitor_id: str) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute("DELETE FROM visit_last WHERE visitor_id = ?", (visitor_id,)),
        )

    async def prune(self, now: int) -> int:
        oldest_day = self.calendar.day_of(now).toordinal() - 2 * self.keep_days

        def op(c: sqlite3.Connection) -> int:
            removed = c.execute("DELETE FROM rollups WHERE expires <= ?", (now,)).rowcount
            removed += c.execute("DELETE FROM visit_gaps WHERE day < ?", (oldest_day,)).rowcount
            c.execute("DELETE FROM visit_last WHERE day < ?", (oldest_day,))
            return int(removed)

        async with self._turn:
            return await durable.write(self._db, op)


def _upsert(c: sqlite3.Connection, rows: list[Row]) -> None:
    """Add each row's figures to its bucket (read, merge, write: a handful of buckets per
    flush, those of the last few seconds)."""
    for dim, tier, key, expires, figures in rows:
        found = c.execute(
            "SELECT fields FROM rollups WHERE dim = ? AND tier = ? AND bucket = ?",
            (dim, tier, key),
        ).fetchone()
        if found is not None:
            kept = unpack(found[0])
            kept.merge(figures)
            figures = kept
        c.execute(
            "INSERT OR REPLACE INTO rollups (dim, tier, bucket, expires, fields) "
            "VALUES (?, ?, ?, ?, ?)",
            (dim, tier, key, expires, pack(figures)),
        )


def _chunks(keys: list[str], size: int = 500) -> Iterator[list[str]]:
    """SQLite binds a bounded number of parameters per statement."""
    for i in range(0, len(keys), size):
        yield keys[i : i + size]


def _copy(figures: Figures) -> Figures:
    out = Figures()
    out.merge(figures)
    return out
