"""The figures kept over time (issue 16), on both backends: what is added is read back per
bucket and summed over a range as the merge of the figures; buckets are the report time
zone's hours, days and months, across midnight and daylight saving; another store on the
same storage sees the same; visits count once per local day under the gap since the
previous one; old buckets go (embedded: `prune`; Redis: their TTL); recording never fails
the event, even with Redis down."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.redis.spread_store import SpreadStore
from chat_server.backends.redis.store import RedisStore
from chat_server.config import Settings
from chat_server.core import conversation as flow
from chat_server.core import samples
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.metrics import Figures
from chat_server.core.rollups import DAY_MS, HOUR_MS, Bucket, Calendar
from chat_server.service.hub import Hub
from chat_server.service.node import Node
from tests.conftest import free_port, require_tool
from tests.contract.conftest import Storage
from tests.contract.seams import failing_sql
from tests.contract.support import agent, speaker, text, visitor
from tests.redis_server import RedisServer
from tests.unit.fake_node import Bus as NoBus

PARIS = "Europe/Paris"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def same(a: Figures, b: Figures) -> bool:
    return (a.counters, a.histograms) == (b.counters, b.histograms)


def merged(*parts: Figures) -> Figures:
    total = Figures()
    for part in parts:
        total.merge(part)
    return total


@contextlib.asynccontextmanager
async def started(storage: Storage, **options: Any) -> AsyncIterator[Store]:
    store = storage.make(**options)
    await store.start()
    try:
        yield store
    finally:
        await store.stop()


async def test_added_figures_are_read_per_bucket_and_summed_over_a_range(
    store: Store, clock: ManualClock
) -> None:
    cal = Calendar()
    day1 = utc(2026, 1, 5, 10, 15)
    day2 = utc(2026, 1, 6, 23, 59)
    answered = samples.first_response(12.5, 30)
    closed = samples.closed(resolved=True, resolution_s=300.0, abandoned=False)
    await store.rollups.add(day1, ("all", "agent:a_ann", "site:shop"), samples.started())
    await store.rollups.add(day1 + 60_000, ("all", "agent:a_ann"), answered)
    await store.figures.checkpoint()  # embedded: some in the table, the rest in memory
    await store.rollups.add(day2, ("all", "topic:billing"), closed)
    await store.rollups.add(day2, ("all", "topic:billing"), samples.recontacted())

    days = await store.rollups.read("all", cal.days(date(2026, 1, 4), date(2026, 1, 6)))
    expected = [
        Figures(),
        merged(samples.started(), answered),
        merged(closed, samples.recontacted()),
    ]
    assert [same(d, e) for d, e in zip(days, expected, strict=True)] == [True, True, True]
    hour = Bucket("hour", str(day1 - day1 % HOUR_MS))
    by_agent = await store.rollups.read("agent:a_ann", [hour])
    assert same(by_agent[0], merged(samples.started(), answered))
    month = await store.rollups.read("all", [Bucket("month", "2026-01")])
    everything = merged(samples.started(), answered, closed, samples.recontacted())
    assert same(month[0], everything)

    span = cal.span(date(2026, 1, 1), date(2026, 1, 31))
    assert span == [Bucket("month", "2026-01")]
    totals = await store.rollups.total(
        ["all", "agent:a_ann", "topic:billing", "site:shop", "agent:a_bob"], span
    )
    assert same(totals["all"], everything)
    assert same(totals["agent:a_ann"], merged(samples.started(), answered))
    assert same(totals["topic:billing"], merged(closed, samples.recontacted()))
    assert totals["topic:billing"].counters["fcr_ok"] == 0
    assert same(totals["site:shop"], samples.started())
    assert same(totals["agent:a_bob"], Figures())
    edge = await store.rollups.total(["all"], cal.span(date(2026, 1, 6), date(2026, 1, 20)))
    assert same(edge["all"], merged(closed, samples.recontacted()))
    assert (await store.rollups.total(["all"], []))["all"] == Figures()
    assert await store.rollups.read("all", []) == []


async def test_sums_keep_fractions_and_large_counts(store: Store) -> None:
    """Redis sums in Lua: a total must come back whole, not truncated to an integer."""
    at = utc(2026, 1, 5, 10)
    for _ in range(3):
        await store.rollups.add(at, ("all",), samples.response(0.25))
    await store.rollups.add(at, ("all",), Figures({"started": 123_456_789}))
    total = (await store.rollups.total(["all"], [Bucket("day", "2026-01-05")]))["all"]
    assert total.counters["sum:response_s"] == pytest.approx(0.75)
    assert total.counters["started"] == 123_456_789
    assert total.count("response_s") == 3


async def test_finished_buckets_read_the_same(store: Store, clock: ManualClock) -> None:
    """Redis seals a finished bucket into its packed form when it is read (and `prune`
    seals those the node wrote); a late figure still counts."""
    at = clock.now_ms() + 1000  # 2026-01-01 00:00:01 UTC
    dims = ("all", "agent:a_ann")
    parts = [
        samples.started(),
        samples.first_response(12.5, 30),
        samples.response(0.25),
        samples.response(700.0),
        samples.closed(resolved=True, resolution_s=300.0, abandoned=False),
        samples.recontacted(),
        samples.rated(csat=4, nps=None, ces=None, frt_s=12.5),
    ]
    for part in parts:
        await store.rollups.add(at, dims, part)
    await store.figures.checkpoint()
    buckets = [*Calendar().buckets(at)]
    span = [Bucket("month", "2026-01")]
    expected = merged(*parts)

    async def check(want: Figures) -> None:
        for found in await store.rollups.read("agent:a_ann", buckets):
            assert same(found, want)
        totals = await store.rollups.total(["all", "agent:a_ann"], span)
        assert same(totals["all"], want) and same(totals["agent:a_ann"], want)

    await check(expected)
    written_at = clock.now_ms()  # Redis TTLs count from there (Redis keeps its own time)
    clock.advance(3 * 86_400)  # the hour and the day are finished; the month is not
    await check(expected)
    day_key = ("agent:a_ann", "day", "2026-01-01")
    if isinstance(store, RedisStore):
        assert not await store.redis.exists(store.keys.rollup(*day_key))
        packed = store.keys.rollup_packed(*day_key)
        expires = Calendar().expires(Bucket("day", "2026-01-01"), 400)
        assert await store.redis.pttl(packed) == pytest.approx(expires - written_at, abs=5_000)
    late = samples.response(0.1)
    await store.rollups.add(at, dims, late)  # e.g. a correction for a close a day ago
    await store.figures.checkpoint()
    await check(merged(expected, late))
    later = samples.recontacted()
    await store.rollups.add(at, dims, later)
    await store.figures.checkpoint()
    if isinstance(store, RedisStore):
        assert await store.redis.exists(store.keys.rollup(*day_key))
    assert await store.rollups.prune(clock.now_ms()) == 0  # nothing is that old
    if isinstance(store, RedisStore):
        assert not await store.redis.exists(store.keys.rollup(*day_key))  # sealed again
    await check(merged(expected, late, later))


async def test_buckets_are_the_report_zones_days_across_midnight_and_dst(
    storage: Storage, clock: ManualClock
) -> None:
    cal = Calendar(PARIS)
    clock.advance((utc(2026, 4, 2) - clock.now_ms()) / 1000)
    # Paris moves from UTC+1 to UTC+2 at 01:00 UTC on 2026-03-29: that day has 23 hours
    events = {
        utc(2026, 3, 28, 22, 30): "2026-03-28",  # 23:30 local
        utc(2026, 3, 28, 23, 30): "2026-03-29",  # 00:30 local, the next day already
        utc(2026, 3, 29, 1, 30): "2026-03-29",  # 03:30 local, just after the change
        utc(2026, 3, 29, 21, 30): "2026-03-29",  # 23:30 local (summer time)
        utc(2026, 3, 29, 22, 30): "2026-03-30",  # 00:30 local
        utc(2026, 3, 31, 22, 30): "2026-04-01",  # 00:30 local: April's bucket
    }
    async with started(storage, calendar=cal) as store:
        for ts in events:
            await store.rollups.add(ts, ("all",), samples.started())

        async def count(buckets: list[Bucket]) -> list[float]:
            return [f.counters.get("started", 0) for f in await store.rollups.read("all", buckets)]

        assert await count(cal.days(date(2026, 3, 28), date(2026, 4, 1))) == [1, 3, 1, 0, 1]
        hours = cal.hours(date(2026, 3, 29), date(2026, 3, 29))
        assert len(hours) == 23
        assert sum(await count(hours)) == 3
        assert await count([Bucket("month", "2026-03"), Bucket("month", "2026-04")]) == [5, 1]
        march = await store.rollups.total(["all"], cal.span(date(2026, 3, 1), date(2026, 3, 31)))
        assert march["all"].counters["started"] == 5
    async with started(storage, calendar=Calendar("UTC")) as utc_store:
        # another zone reads other days: the buckets are those of the zone they were added in
        found = await utc_store.rollups.read("all", [Bucket("day", "2026-03-29")])
        assert found[0].counters.get("started", 0) == 3


async def test_another_store_sees_the_same(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    at = clock.now_ms()
    await store.rollups.add(at, ("all", "site:shop"), samples.started())
    await store.rollups.add(at, ("all",), samples.rated(csat=5, nps=9, ces=2, frt_s=20.0))
    await store.rollups.visit("v_1", ("all", "site:shop"), at)
    await store.figures.checkpoint()  # embedded: what another process would load
    span = Calendar().span(date(2026, 1, 1), date(2026, 1, 31))
    mine = await store.rollups.total(["all", "site:shop"], span)
    async with storage.another() as other:
        theirs = await other.rollups.total(["all", "site:shop"], span)
        assert same(theirs["all"], mine["all"]) and same(theirs["site:shop"], mine["site:shop"])
        day = Calendar().day_of(at).toordinal()
        assert await other.rollups.visits("site:shop", day, day, [0]) == (1, (0,))
        await other.rollups.add(at, ("all",), samples.started())
        await other.figures.checkpoint()
    again = await store.rollups.total(["all"], span)
    assert again["all"].counters["started"] == 2


async def test_stop_keeps_what_was_not_flushed(storage: Storage, clock: ManualClock) -> None:
    async with started(storage) as store:
        await store.rollups.add(clock.now_ms(), ("all",), samples.started())
    async with started(storage) as store:
        found = await store.rollups.read("all", [Bucket("day", "2026-01-01")])
        assert found[0].counters == {"started": 1}


async def test_the_node_records_under_the_conversations_site(
    store: Store, clock: ManualClock
) -> None:
    """`Node.record` adds every figure to the rollups under its site too (a message's from
    the `Timing` the store hands back), and a start is a visit of the site."""
    node = Node(Settings(survey=("csat",)), store, Hub(NoBus()), clock, b"s")  # type: ignore[arg-type]
    ann = agent()
    conv = flow.open_conversation("c_1", "shop", "v_1", "billing", clock.now_ms())
    await store.conversations.open(conv, text(visitor("v_1"), "hi"), None)
    await node.measure_opened(conv)
    clock.advance(30)
    await node.measure_transition(await store.conversations.claim("c_1", ann, clock.now_ms()))
    clock.advance(12)
    appended = await store.conversations.append("c_1", text(speaker(ann), "hello"))
    assert appended.timing is not None and appended.timing.site == "shop"
    await node.measure_message(appended)
    closed = await store.conversations.close(
        "c_1", clock.now_ms(), by="agent", reason="resolved", resolved=True
    )
    await node.measure_transition(closed)
    await store.figures.checkpoint()

    span = [Bucket("month", "2026-01")]
    totals = await store.rollups.total(["all", "site:shop", "site:other", "agent:a_ann"], span)
    for dim in ("all", "site:shop"):
        c = totals[dim].counters
        assert (c["started"], c["answered"], c["closed"], c["survey_shown"]) == (1, 1, 1, 1)
        assert totals[dim].count("frt_s") == 1
    assert totals["site:other"] == Figures()
    assert totals["agent:a_ann"].counters["answered"] == 1
    day = Calendar().day_of(conv.created).toordinal()
    assert await store.rollups.visits("site:shop", day, day, [0]) == (1, (0,))
    assert await store.rollups.visits("all", day, day, [0]) == (1, (0,))


async def test_visits_count_once_a_day_under_the_gap(store: Store, clock: ManualClock) -> None:
    cal = Calendar()
    d0 = date(2026, 1, 10)

    async def visit(vid: str, day: int, site: str = "shop", hour: int = 9) -> None:
        ts = cal.day_start(d0 + timedelta(days=day)) + hour * HOUR_MS
        clock.advance((ts - clock.now_ms()) / 1000)  # a start is a visit now
        await store.rollups.visit(vid, ("all", f"site:{site}"), ts)

    await visit("v_1", 0)
    await visit("v_2", 0)
    await visit("v_1", 0, hour=18)  # the same day: one visit
    await visit("v_1", 2)
    await visit("v_4", 2, site="other")
    await visit("v_3", 5)
    await visit("v_1", 9)
    await visit("v_2", 9)
    day = [(d0 + timedelta(days=i)).toordinal() for i in range(13)]
    visits = store.rollups.visits

    assert await visits("all", day[0], day[0], [0]) == (2, (0,))
    # P = days 5..9, Q = days 0..4: v_3 is new, v_1 and v_2 came back from Q; v_4 churned
    assert await visits("all", day[5], day[9], [0, day[0], day[1], day[5]]) == (1, (2, 2, 1, 0))
    assert await visits("all", day[0], day[4], [0]) == (3, (0,))  # visitors of Q: 3
    assert await visits("site:shop", day[0], day[4], [0]) == (2, (0,))
    assert await visits("site:other", day[0], day[9], [0]) == (1, (0,))
    assert await visits("site:nobody", day[0], day[9], [0]) == (0, (0,))
    assert await visits("all", day[2], day[2], [0, day[1]]) == (1, (1, 0))
    assert await visits("all", day[9], day[2], [0]) == (0, (0,))  # an empty range

    await store.rollups.forget_visitor("v_1")
    await store.rollups.forget_visitor("v_nobody")
    await visit("v_1", 12)  # erased: they come back as new
    assert await visits("all", day[12], day[12], [0]) == (1, (0,))
    assert await visits("all", day[5], day[9], [0]) == (1, (2,))  # the counts stay
    assert await visits("all", 1, day[12] + 100_000, [0]) == (5, (0,))  # any range


async def test_a_visit_from_a_clock_behind_counts_nothing(store: Store, clock: ManualClock) -> None:
    cal = Calendar()
    later = cal.day_start(date(2026, 1, 12)) + HOUR_MS
    clock.advance((later - clock.now_ms()) / 1000)
    await store.rollups.visit("v_1", ("all",), later)
    await store.rollups.visit("v_1", ("all",), later - 2 * DAY_MS)
    first = date(2026, 1, 1).toordinal()
    assert await store.rollups.visits("all", first, first + 30, [0]) == (1, (0,))


async def test_old_buckets_go(storage: Storage, clock: ManualClock) -> None:
    cal = Calendar()
    async with started(storage, rollup_days=3) as store:
        old = clock.now_ms()  # 2026-01-01 00:00 UTC
        await store.rollups.add(old, ("all",), samples.started())
        await store.rollups.visit("v_1", ("all",), old)
        await store.figures.checkpoint()
        if isinstance(store, SpreadStore):
            store = store.base  # reports are partition 0's
        if isinstance(store, RedisStore):  # every key expires by itself
            now = clock.now_ms()
            keys = store.keys
            day = Bucket("day", "2026-01-01")
            pttl = await store.redis.pttl(keys.rollup("all", "day", "2026-01-01"))
            assert pttl == pytest.approx(cal.expires(day, 3) - now, abs=5_000)
            hour = await store.redis.pttl(keys.rollup("all", "hour", str(old)))
            assert hour == pytest.approx(HOUR_MS + 3 * DAY_MS, abs=5_000)
            month = await store.redis.pttl(keys.rollup("all", "month", "2026-01"))
            assert month == pytest.approx(
                cal.expires(Bucket("month", "2026-01"), 3) - now, abs=5_000
            )
            last = await store.redis.pttl(keys.last_visit("v_1"))
            assert last == pytest.approx(6 * DAY_MS, abs=5_000)
            gaps = await store.redis.pttl(keys.visits("all", "2026-01-01"))
            assert gaps == pytest.approx(cal.expires(day, 6) - now, abs=5_000)
            assert await store.rollups.prune(now) == 0
            return
        clock.advance(3 * 86_400 + 3600)  # the hour went; its day and month are kept
        assert await store.rollups.prune(clock.now_ms()) == 1
        assert await store.rollups.read("all", [Bucket("hour", str(old))]) == [Figures()]
        clock.advance(86_400)  # and the day
        assert await store.rollups.prune(clock.now_ms()) == 1
        # a figure for a bucket already gone is not kept
        await store.rollups.add(old, ("all",), samples.started())
        await store.figures.checkpoint()
        assert await store.rollups.read("all", [Bucket("day", "2026-01-01")]) == [Figures()]
        month = await store.rollups.read("all", [Bucket("month", "2026-01")])
        assert month[0].counters == {"started": 2}
        clock.advance(40 * 86_400)  # the month, and the visit (kept twice rollup_days)
        assert await store.rollups.prune(clock.now_ms()) == 2
        first = date(2026, 1, 1).toordinal()
        assert await store.rollups.visits("all", first, first, [0]) == (0, (0,))
        await store.rollups.visit("v_1", ("all",), clock.now_ms())  # forgotten: new
        today = cal.day_of(clock.now_ms()).toordinal()
        assert await store.rollups.visits("all", today, today, [0]) == (1, (0,))


@pytest.mark.parametrize("backend", ["embedded"])
async def test_a_failed_flush_keeps_the_figures_for_the_next(
    store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = clock.now_ms()
    await store.rollups.add(at, ("all",), samples.started())
    fail_next = failing_sql(store, monkeypatch)
    with fail_next(sqlite3.OperationalError("disk I/O error")), pytest.raises(ChatError):
        await store.figures.checkpoint()
    await store.rollups.add(at, ("all",), samples.started())
    day = Bucket("day", "2026-01-01")
    assert (await store.rollups.read("all", [day]))[0].counters == {"started": 2}
    await store.figures.checkpoint()
    assert (await store.rollups.read("all", [day]))[0].counters == {"started": 2}


@pytest.mark.parametrize("backend", ["embedded"])
async def test_recording_never_fails_after_a_failed_commit(
    store: Store, clock: ManualClock
) -> None:
    assert isinstance(store, EmbeddedStore)
    store.db.failed = sqlite3.OperationalError("disk I/O error")
    await store.rollups.add(clock.now_ms(), ("all",), samples.started())
    await store.rollups.visit("v_1", ("all",), clock.now_ms())
    with pytest.raises(ChatError) as info:
        await store.rollups.forget_visitor("v_1")
    assert info.value.code is ErrorCode.UNAVAILABLE


async def test_recording_never_fails_with_redis_down(tmp_path: Path, clock: ManualClock) -> None:
    binary = require_tool("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, tmp_path / "redis", free_port())
    server.start()
    store = RedisStore(server.url, clock, prefix="down")
    try:
        await store.start()
        server.stop()
        await store.rollups.add(clock.now_ms(), ("all",), samples.started())
        await store.rollups.visit("v_1", ("all",), clock.now_ms())
        await asyncio.sleep(0.05)  # the queued write fails, logged
        with pytest.raises(ChatError) as info:
            await store.rollups.total(["all"], [Bucket("day", "2026-01-01")])
        assert info.value.code is ErrorCode.UNAVAILABLE
        server.start()
        for _ in range(100):  # the pool and the wire connect again by themselves
            if await store.ready():
                break
            await asyncio.sleep(0.05)
        await store.rollups.add(clock.now_ms(), ("all",), samples.started())
        found = await store.rollups.read("all", [Bucket("day", "2026-01-01")])
        assert found[0].counters == {"started": 1}
    finally:
        await store.stop()
        server.stop()
