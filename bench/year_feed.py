"""The year of `year_fill.py` as batches ready for the store, computed in a second process
(the machine has two cores): the conversations in start order, their figure events put
back in time order (a heap), the stored rows built. `bench/reports_bench.py` only hands
each batch to the store.

An event is added when its time comes, as a server records it. With `merge` (the default)
the events of one hour that fall in the same buckets under the same dimensions are merged
first and handed over once the hour is over: the same sums land in the same buckets (the
stores merge what they hold by dimensions and quarter hour before they write anyway), in
about a quarter of the `Rollups.add` calls.
"""

from __future__ import annotations

import heapq
import multiprocessing
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import year_fill
from year_fill import Event, Synthetic

from chat_server.core.metrics import Figures
from chat_server.core.rollups import HOUR_MS, Bucket, Calendar

BATCH = 250
"""Conversations per batch: the store's process yields to its event loop after each (the
Redis buffer writes once per loop turn)."""

Visit = tuple[str, tuple[str, ...], int]
RowOf = Callable[[Synthetic], tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    conversations: int
    seed: int
    tz: str
    today: date
    merge: bool = True


@dataclass(slots=True)
class Batch:
    now: int = 0
    """Where the clock is: the newest event handed over so far."""
    adds: list[Event] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    conversations: int = 0
    events: int = 0
    """Figure events before merging."""
    visitors: int = 0
    """Distinct visitors so far."""


class Merger:
    """Figure events back in time order, merged per hour (with `merge`)."""

    def __init__(self, calendar: Calendar, merge: bool) -> None:
        self.calendar = calendar
        self.merge = merge
        self.heap: list[tuple[int, int, tuple[str, ...], Figures]] = []
        self.order = 0
        self.merged: dict[tuple[tuple[Bucket, ...], tuple[str, ...]], Event] = {}
        self.hour_end = 0
        self.now = 0

    def push(self, events: list[Event]) -> None:
        for ts, dims, figures in events:
            self.order += 1
            heapq.heappush(self.heap, (ts, self.order, dims, figures))

    def until(self, until: int, out: list[Event]) -> None:
        """Every event up to `until`, into `out` (merged: once its hour is over)."""
        heap = self.heap
        while heap and heap[0][0] <= until:
            ts, _, dims, figures = heapq.heappop(heap)
            self.now = max(self.now, ts)
            if not self.merge:
                out.append((ts, dims, figures))
                continue
            if ts >= self.hour_end:
                self.release(out)
                self.hour_end = ts - ts % HOUR_MS + HOUR_MS
            key = (self.calendar.buckets(ts), dims)
            found = self.merged.get(key)
            if found is None:
                self.merged[key] = (ts, dims, figures)  # each event's figures are its own
            else:
                found[2].merge(figures)

    def release(self, out: list[Event]) -> None:
        out += self.merged.values()
        self.merged = {}


def batches(plan: Plan, row_of: RowOf) -> Iterator[Batch]:
    calendar = Calendar(plan.tz)
    first, last = year_fill.year_days(calendar, plan.today)
    rng = random.Random(plan.seed)
    starts = year_fill.start_times(rng, plan.conversations, calendar, first, last)
    year = year_fill.Year(rng, year_fill.agents())
    merger = Merger(calendar, plan.merge)
    batch = Batch()
    for i, created in enumerate(starts, 1):
        merger.until(created, batch.adds)
        synthetic = year.conversation(created)
        batch.visits.append(synthetic.visit)
        merger.push(synthetic.events)
        batch.events += len(synthetic.events)
        batch.rows.append(row_of(synthetic))
        batch.conversations += 1
        if i % BATCH == 0 or i == len(starts):
            if i == len(starts):
                merger.until(2**62, batch.adds)
                merger.release(batch.adds)
            batch.now = max(merger.now, created)
            batch.visitors = len(year.visitors)
            yield batch
            batch = Batch()


def _produce(plan: Plan, row_of: RowOf, queue: Any) -> None:
    for batch in batches(plan, row_of):
        queue.put(batch)
    queue.put(None)


class Feed:
    """The batches from a second process (or this one, `separate=False`), in order."""

    def __init__(self, plan: Plan, row_of: RowOf, *, separate: bool = True) -> None:
        self.local = None if separate else batches(plan, row_of)
        self.process: Any = None
        if separate:
            context = multiprocessing.get_context("fork")  # before any thread is started
            self.queue: Any = context.Queue(maxsize=16)
            self.process = context.Process(
                target=_produce, args=(plan, row_of, self.queue), daemon=True
            )
            self.process.start()

    def next(self) -> Batch | None:
        """The next batch (blocks until it is ready), None at the end."""
        if self.local is not None:
            return next(self.local, None)
        batch: Batch | None = self.queue.get(timeout=600)
        return batch

    def close(self) -> None:
        if self.process is not None:
            self.process.join(10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(10)
