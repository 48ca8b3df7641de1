"""The timing half of `bench/reports_bench.py`: the real server (`chat-server serve`, uvicorn
on 127.0.0.1) on the filled storage, `GET /api/reports` timed over HTTP; and the service
call timed in-process (`service/reports.report`), with its cProfile."""

from __future__ import annotations

import cProfile
import io
import math
import os
import pstats
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from chat_server.app import open_backends
from chat_server.config import Settings
from chat_server.core import reports as core_reports
from chat_server.core.clock import SystemClock
from chat_server.core.metrics import window_view
from chat_server.core.rollups import Calendar
from chat_server.service import reports
from chat_server.service.hub import Hub
from chat_server.service.node import Node


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(slots=True)
class Timing:
    name: str
    cold_ms: float
    runs_ms: list[float]
    size: int = 0
    """Bytes of the answer (as sent: gzipped over HTTP)."""

    def quantile(self, q: float) -> float:
        ordered = sorted(self.runs_ms)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    def cells(self) -> str:
        return (
            f"{self.cold_ms:8.1f} {self.quantile(0.5):8.1f} {self.quantile(0.95):8.1f} "
            f"{max(self.runs_ms):8.1f} {self.size:>9,}"
        )


HEADER = f"{'':44} {'cold':>8} {'p50':>8} {'p95':>8} {'max':>8} {'bytes':>9}  (ms)"


class Server:
    """`python -m chat_server serve` on a free loopback port, on the filled storage."""

    def __init__(self, data: Path, redis_url: str | None, env: dict[str, str]) -> None:
        self.data = data
        self.port = free_port()
        self.redis_url = redis_url
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_s = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 300) -> None:
        command = [sys.executable, "-m", "chat_server", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--data", str(self.data)]
        if self.redis_url:
            command += ["--redis", self.redis_url]
        env = {**os.environ, "CHAT_LOG_LEVEL": "warning", **self.env}
        started = time.perf_counter()
        with open(self.data / "server.log", "ab") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited; see {self.data / 'server.log'}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    self.ready_s = time.perf_counter() - started
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the server was not ready within {timeout_s} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def time_http(
    base: str, token: str, queries: list[tuple[str, dict[str, str]]], repeat: int
) -> tuple[list[Timing], dict[str, Any]]:
    """Each query once (cold: the first call since the server started, for the first
    query), then `repeat` times; and the 365-day report's JSON, to check its figures."""
    out: list[Timing] = []
    first_json: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for name, params in queries:
            runs: list[float] = []
            size = 0
            for _ in range(repeat + 1):
                started = time.perf_counter()
                response = http.get("/api/reports", params=params)
                body = response.content
                runs.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: HTTP {response.status_code}: {body[:300]!r}")
                size = response.num_bytes_downloaded
                if not first_json and params.get("format") != "csv":
                    first_json = response.json()
            out.append(Timing(name, runs[0], runs[1:], size))
    return out, first_json


async def time_in_process(
    settings: Settings, query: reports.Query, repeat: int, profile_runs: int = 5
) -> tuple[Timing, str, float]:
    """`service.reports.report` on the store as the server opens it, no HTTP: cold, then
    `repeat` runs; then `profile_runs` under cProfile, with what the store did meanwhile
    (embedded: each SQLite read, timed in the reader thread, which cProfile does not see;
    Redis: its own `INFO commandstats`). Also how long opening the store took (s)."""
    clock = SystemClock()
    started = time.perf_counter()
    store, bus = open_backends(settings, clock)
    await store.start()
    opened_s = time.perf_counter() - started
    try:
        node = Node(settings, store, Hub(bus), clock, b"bench")
        runs: list[float] = []
        for _ in range(repeat + 1):
            began = time.perf_counter()
            await reports.report(node, query)
            runs.append((time.perf_counter() - began) * 1000)
        side = StoreSide(store)
        await side.start()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(profile_runs):
            await reports.report(node, query)
        profiler.disable()
        store_text = await side.stop(profile_runs)
        store_text += "\n" + await breakdown(node, query)
    finally:
        await store.stop()
    timing = Timing("in-process service call, 365 days + previous", runs[0], runs[1:])
    return timing, profile_text(profiler, profile_runs) + "\n" + store_text, opened_s


async def breakdown(node: Node, query: reports.Query, runs: int = 5) -> str:
    """The 365-day report's parts one at a time (median ms of `runs`): each store read it
    makes (which `report` runs at once, with `asyncio.gather`) and the building of its
    JSON from what they return. Mirrors `service/reports.report` as it is written."""
    calendar = Calendar(node.settings.reports_tz)
    assert query.start is not None and query.end is not None
    period = core_reports.Range(date.fromisoformat(query.start), date.fromisoformat(query.end))
    previous = period.previous()
    rollups, directory = node.store.rollups, node.store.directory
    agents = await directory.agents()
    sites = await directory.sites()
    topics = sorted({t.id for s in sites for t in s.topics} | {t for a in agents for t in a.topics})
    dims = ["all", *(f"agent:{a.id}" for a in agents), *(f"topic:{t}" for t in topics)]
    span, before = (
        calendar.span(period.first, period.last),
        calendar.span(previous.first, previous.last),
    )
    days = [bucket for bucket, _, _ in core_reports.timeline(calendar, period)]
    first, length = period.first.toordinal(), period.days
    out: list[str] = []

    async def timed(name: str, make: Callable[[], Awaitable[Any]]) -> Any:
        spent, result = [], None
        for _ in range(runs):
            began = time.perf_counter()
            result = await make()
            spent.append((time.perf_counter() - began) * 1000)
        out.append(f"  {sorted(spent)[runs // 2]:8.1f} ms  {name}")
        return result

    totals = await timed(
        f"rollups.total: {len(dims)} dims x {len(span)} buckets (the period)",
        lambda: rollups.total(dims, span),
    )
    await timed(
        f"rollups.total: 1 dim x {len(before)} buckets (the previous period)",
        lambda: rollups.total(["all"], before),
    )
    series = await timed(
        f"rollups.read: {len(days)} day buckets (the series)", lambda: rollups.read("all", days)
    )
    for start in (first, first - length, first - 2 * length):

        def visits(start: int = start) -> Awaitable[Any]:
            return rollups.visits("all", start, start + length - 1, (0, start - length))

        await timed(f"rollups.visits over {length} days from {date.fromordinal(start)}", visits)

    async def build() -> None:
        window_view(totals["all"])
        for figures in series:
            core_reports.point(0, "", figures)
        for dim in dims[1:]:
            core_reports.row(dim, dim, totals[dim])

    await timed(f"building: summary + {len(series)} points + {len(dims) - 1} rows (pure)", build)

    async def points() -> None:
        for figures in series:
            core_reports.point(0, "", figures)

    await timed(f"  of which the {len(series)} points", points)
    return "  the parts one at a time (median ms):\n" + "\n".join(out)


class StoreSide:
    """What the store spends on a report where cProfile cannot see it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.db = getattr(store, "db", None)
        self.reads: dict[str, list[float]] = {}
        self.before: dict[str, dict[str, float]] = {}

    async def start(self) -> None:
        if self.db is None:
            self.before = await self.store.redis.info("commandstats")
            return
        db, reads, plain = self.db, self.reads, self.db.read

        async def timed_read(op: Callable[[Any], Any]) -> Any:
            def run(conn: Any) -> Any:
                began = time.perf_counter()
                try:
                    return op(conn)
                finally:
                    reads.setdefault(op.__qualname__, []).append(time.perf_counter() - began)

            return await plain(run)

        db.read = timed_read

    async def stop(self, calls: int) -> str:
        if self.db is None:
            return _commandstats(self.before, await self.store.redis.info("commandstats"), calls)
        del self.db.read  # back to the class's
        total = sum(sum(v) for v in self.reads.values())
        out = [f"  SQLite reads (reader thread, one at a time): {total / calls * 1000:.1f} ms"]
        for name, times in sorted(self.reads.items(), key=lambda kv: -sum(kv[1])):
            out.append(f"  {sum(times) / calls * 1000:8.2f} ms {len(times) // calls:>5} x  {name}")
        return "\n".join(out)


def _commandstats(before: dict[str, Any], after: dict[str, Any], calls: int) -> str:
    """Redis's own time per report, by command (`usec` inside Redis, scripts included)."""
    rows = []
    for name, stats in after.items():
        old = before.get(name, {"calls": 0, "usec": 0})
        count = int(stats["calls"]) - int(old["calls"])
        usec = int(stats["usec"]) - int(old["usec"])
        if count:
            rows.append((usec, count, name.removeprefix("cmdstat_")))
    rows.sort(reverse=True)
    out = [
        "  Redis's own time per report (INFO commandstats; what a script runs counts both "
        "in evalsha and under its own name):"
    ]
    for usec, count, name in rows[:8]:
        out.append(f"  {usec / calls / 1000:8.2f} ms {count // calls:>5} x  {name}")
    return "\n".join(out)


def profile_text(profiler: cProfile.Profile, calls: int, top: int = 18) -> str:
    """The functions that cost the most of their own time, per report call."""
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    rows = []
    for (path, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, ncalls, _where(path, line, func)))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    out = [f"  per call: {total / calls * 1000:.1f} ms of profiled time (profiling slows it)"]
    out.append(f"  {'own ms':>8} {'cum ms':>8} {'calls':>9}  function")
    for tottime, cumtime, ncalls, where in rows[:top]:
        out.append(
            f"  {tottime / calls * 1000:8.2f} {cumtime / calls * 1000:8.2f} "
            f"{ncalls // calls:>9,}  {where}"
        )
    return "\n".join(out)


def _where(path: str, line: int, func: str) -> str:
    if path == "~":
        return func
    short = path.split("site-packages/")[-1].split("/work/main/")[-1]
    return f"{short}:{line}({func})"
