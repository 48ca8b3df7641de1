"""How fast a report over a year answers (issue 16: under 200 ms at 1,000,000 conversations,
embedded and Redis).

Fills a store (embedded: a SQLite data directory; Redis: a redis-server of its own on a
free 127.0.0.1 port, in a temporary directory, AOF off) with one year of conversations
(`bench/year_fill.py`: 20 agents, 8 topics, 2 sites, ~2,740 conversations a day with a
daily and weekly rhythm, ~300,000 visitors who come back). What each conversation records
is computed by `core/measure.py` and added through the store's role, as `Node.record` does
(`store.rollups.add`, `store.rollups.visit`), in time order on a ManualClock moved through
the year, yielding to the event loop every 250 conversations (the Redis buffer writes once
per loop turn) and checkpointing the figures every 5,000 (embedded: the server's sweeper
does it every few seconds). The conversations themselves are stored too, so the storage
has its real size: written in bulk straight into the `conversations` and `ratings` tables
(embedded) or as the conversation's JSON, live hash, index entries and rating (Redis),
not through the conversation role, which would take hours. Messages are not stored: a
report reads none. The rolling windows (`store.figures.record`) are not fed either.

Then it starts the real server (`chat-server serve`, uvicorn, 127.0.0.1, a free port) on
that storage and times `GET /api/reports` as a supervisor (API token): the last 365 days
with the comparison (two years read), the last 30 days, today (hourly), and the 365-day
agents table as CSV, each 20 times after a first call reported apart. Before the server,
the service call (`service/reports.report`) is timed in-process on the store as the server
opens it, and profiled.

    python bench/reports_bench.py --backend both --conversations 1000000
    python bench/reports_bench.py --backend embedded --conversations 20000   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report_timing
import resp
import year_feed
import year_fill
from report_timing import HEADER, Server, Timing
from storage_rows import EmbeddedRows, RedisRows, Rows, redis_row

from chat_server.app import open_backends
from chat_server.backends.base import Store
from chat_server.backends.redis.keys import Keys
from chat_server.config import Settings
from chat_server.core import tokens
from chat_server.core.clock import ManualClock
from chat_server.core.model import Agent, AgentRole
from chat_server.core.rollups import Bucket, Calendar
from chat_server.service.reports import Query
from tests.redis_server import RedisServer

YIELD_EVERY = 250
CHECKPOINT_EVERY = 5_000
PROGRESS_EVERY = 100_000


@dataclass(slots=True)
class Result:
    backend: str
    conversations: int
    fill_s: float = 0.0
    visitors: int = 0
    events: int = 0
    add_calls: int = 0
    storage: list[str] = field(default_factory=list)
    ready_s: float = 0.0
    opened_s: float = 0.0
    timings: list[Timing] = field(default_factory=list)
    profile: str = ""
    check: str = ""


async def provision(store: Store) -> str:
    """The sites, the team, and a supervisor with an API token (returned)."""
    for site in year_fill.sites():
        await store.directory.put_site(site)
    for agent in year_fill.agents():
        await store.directory.add_agent(agent)
    boss = Agent("a_5c000000000000ff", "boss@bench.test", "Boss", AgentRole.SUPERVISOR, 0)
    await store.directory.add_agent(boss)
    token = tokens.new_secret_token("cat")
    await store.directory.add_credential(tokens.hash_secret(token), boss.id, "token", None)
    return token


async def fill(
    store: Store,
    clock: ManualClock,
    rows: Rows,
    feed: year_feed.Feed,
    result: Result,
    today: date,
    bulk: resp.BulkVisits | None,
) -> None:
    """The year, batch after batch: the clock moved to each batch's time, its figure events
    added, its visits recorded, its rows stored; the server's checkpoint now and then."""
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    done = checkpointed = progressed = 0
    while (batch := await loop.run_in_executor(None, feed.next)) is not None:
        if batch.now > clock.now_ms():
            clock.advance((batch.now - clock.now_ms()) / 1000)
        for ts, dims, figures in batch.adds:
            await store.rollups.add(ts, dims, figures)
        await visit(store, batch.visits)
        if bulk is not None:
            await bulk.send()
        for row in batch.rows:
            rows.add(row)
        await asyncio.sleep(0)  # the Redis buffer writes on its loop turn
        done += batch.conversations
        result.events += batch.events
        result.add_calls += len(batch.adds)
        result.visitors = batch.visitors
        if done - checkpointed >= CHECKPOINT_EVERY:
            checkpointed = done
            await checkpoint(store, clock, today)
            await rows.flush()
        if done - progressed >= PROGRESS_EVERY:
            progressed = done
            spent = time.perf_counter() - began
            eta = spent / done * (result.conversations - done)
            rate = done / spent
            print(
                f"  {done:>9,} conversations, {spent:.0f} s, {rate:,.0f}/s, eta {eta:.0f} s",
                flush=True,
            )
    await checkpoint(store, clock, today)
    await rows.flush()
    result.fill_s = time.perf_counter() - began


async def visit(store: Store, visits: list[year_feed.Visit]) -> None:
    """Concurrently (embedded: one group commit; Redis: the pool's connections), each
    visitor's in order: a visitor seen twice waits for the first to be recorded."""
    pending: dict[str, tuple[tuple[str, ...], int]] = {}
    for visitor, dims, ts in visits:
        if visitor in pending:
            await _visit_all(store, pending)
        pending[visitor] = (dims, ts)
    await _visit_all(store, pending)


async def _visit_all(store: Store, pending: dict[str, tuple[tuple[str, ...], int]]) -> None:
    calls = [store.rollups.visit(v, dims, ts) for v, (dims, ts) in pending.items()]
    pending.clear()
    await asyncio.gather(*calls)


async def checkpoint(store: Store, clock: ManualClock, today: date) -> None:
    """What the server's sweeper does: the figures checkpoint (embedded: what `add` held in
    memory goes to the `rollups` table; every few seconds in a server) and the rollups'
    prune (Redis: seals the finished buckets this node wrote; hourly in a server). Then a
    one-bucket read, which waits for the Redis buffer's writes: the bench makes figures
    far faster than a server would."""
    await store.figures.checkpoint()
    await store.rollups.prune(clock.now_ms())
    await store.rollups.read("all", [Bucket("day", today.isoformat())])


async def fill_backend(settings: Settings, args: Any, result: Result, today: date) -> str:
    calendar = Calendar(args.tz)
    first, _ = year_fill.year_days(calendar, today)
    clock = ManualClock(calendar.day_start(first))
    row_of: year_feed.RowOf = (
        functools.partial(redis_row, Keys(settings.redis_prefix))
        if settings.redis_url
        else EmbeddedRows.row
    )
    plan = year_feed.Plan(args.conversations, args.seed, args.tz, today, args.merge)
    feed = year_feed.Feed(plan, row_of, separate=args.separate)  # forked before any thread
    store, _ = open_backends(settings, clock)
    await store.start()
    visits: resp.BulkVisits | None = None
    try:
        token = await provision(store)
        rows: Rows
        if settings.redis_url:
            rows = RedisRows(store, settings.redis_url, args.conversations, args.max_redis_gb)
            visits = await resp.BulkVisits.attach(store, settings.redis_url)
        else:
            rows = EmbeddedRows(store)
        await fill(store, clock, rows, feed, result, today, visits)
        result.storage = await rows.describe()
    finally:
        feed.close()
        if visits is not None:
            await visits.raw.close()
        await store.stop()
    return token


def queries(today: date) -> list[tuple[str, dict[str, str]]]:
    year_from = (today - timedelta(days=364)).isoformat()
    month_from = (today - timedelta(days=29)).isoformat()
    to = today.isoformat()
    return [
        ("GET 365 days + previous (JSON)", {"from": year_from, "to": to}),
        ("GET 30 days + previous (JSON)", {"from": month_from, "to": to}),
        ("GET today, hourly + previous (JSON)", {"from": to, "to": to}),
        (
            "GET 365 days, agents table (CSV)",
            {"from": year_from, "to": to, "format": "csv", "table": "agents"},
        ),
    ]


FILLED = ("fill_s", "events", "add_calls", "visitors", "storage")


def fill_or_reuse(settings: Settings, args: Any, result: Result, saved: Path) -> str:
    """Fill, and say so in `saved`; with `--reuse` (embedded, `--keep`), time what an
    earlier run of the same size filled there instead."""
    if args.reuse and saved.exists() and not settings.redis_url:
        kept = json.loads(saved.read_text())
        if kept["conversations"] == args.conversations:
            for name in FILLED:
                setattr(result, name, kept[name])
            print(f"[{result.backend}] reusing the year filled in {saved.parent}", flush=True)
            return str(kept["token"])
    if not settings.redis_url and (saved.parent / "chat.sqlite3").exists():
        raise SystemExit(f"{saved.parent} holds a store already: an empty --keep, or --reuse")
    print(f"[{result.backend}] filling a year of {args.conversations:,} conversations", flush=True)
    today = Calendar(args.tz).day_of(time.time_ns() // 1_000_000)
    token = asyncio.run(fill_backend(settings, args, result, today))
    print(
        f"[{result.backend}] filled in {result.fill_s:.0f} s; {'; '.join(result.storage)}",
        flush=True,
    )
    kept = {name: getattr(result, name) for name in FILLED}
    saved.write_text(json.dumps({**kept, "conversations": args.conversations, "token": token}))
    return token


def run_backend(backend: str, args: Any, work: Path) -> Result:
    result = Result(backend, args.conversations)
    data = work / backend
    data.mkdir(parents=True, exist_ok=True)
    redis: RedisServer | None = None
    env = {"CHAT_REPORTS_TZ": args.tz}
    overrides: dict[str, Any] = {"data": data, "reports_tz": args.tz}
    try:
        if backend == "redis":
            redis = RedisServer(
                args.redis_server, work / "redis", report_timing.free_port(), appendonly=False
            )
            redis.start()
            overrides["redis_url"] = redis.url
        settings = Settings.load(overrides)
        token = fill_or_reuse(settings, args, result, data / "bench-fill.json")
        calendar = Calendar(args.tz)
        today = calendar.day_of(time.time_ns() // 1_000_000)
        asked = queries(today)
        query = Query(start=asked[0][1]["from"], end=asked[0][1]["to"])
        timing, result.profile, result.opened_s = asyncio.run(
            report_timing.time_in_process(settings, query, args.repeat)
        )
        server = Server(data, settings.redis_url, env)
        server.start()
        try:
            result.ready_s = server.ready_s
            result.timings, report = report_timing.time_http(server.base, token, asked, args.repeat)
        finally:
            server.stop()
        result.timings.append(timing)
        result.check = check(report, result)
    finally:
        if redis is not None:
            redis.stop()
    return result


def check(report: dict[str, Any], result: Result) -> str:
    """The 365-day report against what was filled: every conversation started in it."""
    current = report["summary"]["current"]
    seen = report["visitors"]["current"]
    ok = current["started"] == result.conversations
    return (
        f"365-day report: started {current['started']:,} "
        f"({'= filled' if ok else f'!= {result.conversations:,} filled'}), answered "
        f"{current['answered']:,}, closed {current['closed']:,}, visitors {seen['visitors']:,} "
        f"({result.visitors:,} filled), returning {seen['returning']:,}, "
        f"{len(report['series'])} daily points, {len(report['agents'])} agent rows"
    )


def show(result: Result, command: str) -> None:
    print(f"\n== {result.backend}: {result.conversations:,} conversations")
    print(
        f"  fill: {result.fill_s:.0f} s, {result.events:,} figure events, "
        f"{result.visitors:,} visitors"
    )
    for line in result.storage:
        print(f"  storage: {line}")
    print(
        f"  store opened in-process in {result.opened_s:.2f} s; "
        f"server ready in {result.ready_s:.1f} s"
    )
    print(f"  check: {result.check}")
    print(f"  {HEADER}")
    for t in result.timings:
        print(f"  {t.name:44} {t.cells()}")
    print("  profile of the in-process 365-day report (own time, top functions):")
    print(result.profile)
    print(f"reproduce: {command}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["embedded", "redis", "both"], default="both")
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--tz", default="UTC", help="the report time zone (CHAT_REPORTS_TZ)")
    parser.add_argument(
        "--merge",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="merge an hour's events per buckets and dimensions before adding (default)",
    )
    parser.add_argument(
        "--separate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="compute the year in a second process (default)",
    )
    parser.add_argument("--max-redis-gb", type=float, default=6.0)
    parser.add_argument("--redis-server", default=shutil.which("redis-server") or "")
    parser.add_argument("--keep", type=Path, help="fill here and keep it (default: a temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="embedded: time what --keep DIR already holds"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    backends = ["embedded", "redis"] if args.backend == "both" else [args.backend]
    if "redis" in backends and not args.redis_server:
        print("redis-server not found (apt-get install redis-server)", file=sys.stderr)
        return 2
    command = (
        f"python bench/reports_bench.py --backend {args.backend} "
        f"--conversations {args.conversations} --seed {args.seed} --tz {args.tz}"
        + ("" if args.merge else " --no-merge")
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="reports-bench-") as tmp:
        work = args.keep or Path(tmp)
        for backend in backends:
            results.append(run_backend(backend, args, work))
    for result in results:
        show(result, command)
    if args.json:
        args.json.write_text(json.dumps([_as_json(r) for r in results], indent=1))
    year = [t for r in results for t in r.timings if t.name.startswith("GET 365 days +")]
    return 0 if all(t.quantile(0.5) < 200 for t in year) else 1


def _as_json(result: Result) -> dict[str, Any]:
    return {
        "backend": result.backend,
        "conversations": result.conversations,
        "fill_s": result.fill_s,
        "storage": result.storage,
        "timings": [
            {"name": t.name, "cold_ms": t.cold_ms, "runs_ms": t.runs_ms, "bytes": t.size}
            for t in result.timings
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
