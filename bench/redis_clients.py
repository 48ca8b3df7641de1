#!/usr/bin/env python3
"""The lean RESP client (`backends/redis/wire.py`) against redis-py, on the message path's
own command (issue 20): is the hand-made part still worth keeping?

The command is the real `lua/append.lua` (loaded once, called by EVALSHA): each caller owns
one open conversation (its `:live` hash set up as `open_conversation` leaves it) and sends
a visitor's text message with a fresh cmid per call, the row and the two events packed by
`rows.spliced_row`/`spliced_event` as `Appender` does. So every call runs the script's
whole ok path (HMGET, cmid check, XADD, HSETs, two PUBLISHes), 4 keys and 16 arguments.

Three clients, each driven by C concurrent callers doing K calls (one `await` at a time):

  wire       `Wire` + `wire.Script`, as the server sends it (auto-pipelined per loop turn)
  pipeline   redis-py 8.1 + hiredis, configured as the server's (`client.connect`): the
             EVALSHAs of one event-loop turn collected into one explicit pipeline
             (`transaction=False`), each pipeline on its own pooled connection
  per-call   the same redis-py client, `await r.evalsha(...)` per call through the pool

On uvloop when installed (uvicorn's `loop="auto"` picks it), against a private
redis-server (AOF everysec, `loadgen.Redis`). Per cell: client-side process CPU per call
(what shared-machine noise barely moves), calls/s and p99 latency per call; each cell is
run `--repeat` times (interleaved) and the median shown.

    python bench/redis_clients.py                     # C = 1, 10, 100; about a minute
    python bench/redis_clients.py --calls 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import loadgen  # noqa: E402

from chat_server.backends.redis import lua, rows  # noqa: E402
from chat_server.backends.redis.client import connect  # noqa: E402
from chat_server.backends.redis.wire import Script, Wire  # noqa: E402
from chat_server.core import views  # noqa: E402
from chat_server.core.model import Draft, Kind, Message, Role, Sender  # noqa: E402

CLIENTS = ("wire", "pipeline", "per-call")
PREFIX = "rc"
Call = Callable[[list[str], list[Any]], Awaitable[Any]]


@dataclasses.dataclass
class Caller:
    """One conversation's keys and the append arguments but the cmid."""

    keys: list[str]
    head: list[Any]
    tail: list[Any]
    visitor: str


def callers(count: int) -> list[Caller]:
    """`count` conversations' append calls, packed as `Appender.append` packs them."""
    out = []
    for c in range(count):
        cid, visitor = f"c{c}", f"v{c}"
        sender = Sender(Role.VISITOR, visitor, f"Visitor {c}")
        draft = Draft(Kind.TEXT, sender, "x" * 40, f"m{c}")
        message = Message(cid, 0, 1_700_000_000_000, draft.kind, sender, draft.text, draft.cmid)
        row_head, row_tail = rows.spliced_row(message)
        event_head, event_tail = rows.spliced_event(views.msg_event(message), None)
        seen_head, seen_tail = rows.spliced_event(views.msg_event(message, for_visitor=True), None)
        keys = [f"{PREFIX}:{cid}:live", f"{PREFIX}:{cid}:cmids", f"{PREFIX}:{cid}:m", "rc:audit"]
        head: list[Any] = ["visitor", visitor, 1]
        tail: list[Any] = [
            1_700_000_000_000,
            "text",
            row_head,
            row_tail,
            f"{PREFIX}:ch:c:{cid}",
            event_head,
            event_tail,
            f"{PREFIX}:ch:v:",
            "",
            seen_head,
            seen_tail,
            "",  # no audit entry (a visitor's message)
        ]
        out.append(Caller(keys, head, tail, visitor))
    return out


async def seed(redis: Any, parties: list[Caller]) -> None:
    """Each conversation open, as `open_conversation` and a claim leave its `:live` hash."""
    await redis.flushall()
    async with redis.pipeline(transaction=False) as pipe:
        for i, p in enumerate(parties):
            pipe.hset(
                p.keys[0],
                mapping={
                    "seq": 1,
                    "state": "assigned",
                    "visitor": p.visitor,
                    "agent": f"a{i}",
                    "created": 1_700_000_000_000,
                    "site": "bench",
                },
            )
        await pipe.execute()


class Batched:
    """redis-py with explicit pipelining: the calls of one event-loop turn go out as one
    pipeline (`transaction=False`), as `Wire` batches them, on a pooled connection."""

    def __init__(self, redis: Any, sha: str) -> None:
        self.redis = redis
        self.sha = sha
        self.queued: list[tuple[list[str], list[Any], asyncio.Future[Any]]] = []
        self.running: set[asyncio.Task[None]] = set()
        self.writes = 0

    def __call__(self, keys: list[str], args: list[Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self.queued.append((keys, args, future))
        if len(self.queued) == 1:
            loop.call_soon(self.flush)
        return future

    def flush(self) -> None:
        batch, self.queued = self.queued, []
        self.writes += 1
        task = asyncio.get_running_loop().create_task(self.send(batch))
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def send(self, batch: list[tuple[list[str], list[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for keys, args, _ in batch:
                    pipe.evalsha(self.sha, len(keys), *keys, *args)
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            for _, _, future in batch:
                future.set_exception(exc)
            return
        for (_, _, future), reply in zip(batch, replies, strict=True):
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)


async def drive(call: Call, parties: list[Caller], per_caller: int, tag: str) -> dict[str, Any]:
    """Every caller does `per_caller` appends, one at a time; CPU, wall and latencies."""
    latencies: list[int] = []
    failures = 0

    async def one(p: Caller) -> None:
        nonlocal failures
        for k in range(per_caller):
            args = [*p.head, f"{p.visitor}|{tag}{k}", *p.tail]
            t0 = time.perf_counter_ns()
            reply = await call(p.keys, args)
            latencies.append(time.perf_counter_ns() - t0)
            if reply[0] != b"ok":
                failures += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(p) for p in parties))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    calls = len(latencies)
    latencies.sort()
    return {
        "calls": calls,
        "failures": failures,
        "cpu_us_per_call": cpu / calls * 1e6,
        "calls_per_s": calls / wall,
        "p99_us": loadgen.percentile(latencies, 0.99) / 1000,  # type: ignore[operator]
    }


def redis_py(url: str, bare: bool) -> Any:
    """redis-py as the server configures it (`client.connect`: blocking pool of 64, retry,
    health checks), or with `bare` its defaults."""
    if bare:
        from redis.asyncio import Redis

        return Redis.from_url(url)
    return connect(url)


async def cell(
    client: str, url: str, concurrency: int, total: int, rep: int, bare: bool
) -> dict[str, Any]:
    """One client at one concurrency: a fresh client, a warm-up, the measured calls."""
    parties = callers(concurrency)
    admin = connect(url)
    source = lua("append.lua")
    try:
        await seed(admin, parties)
        sha = str(await admin.script_load(source))  # redis-py decodes it
    finally:
        await admin.aclose()
    closing: Callable[[], Awaitable[None]]
    writes = Writes()
    if client == "wire":
        wire = Wire(url)
        script = Script(wire, source)
        call: Call = script
        writes.count_flushes(wire)

        async def close_wire() -> None:
            wire.close()

        closing = close_wire
    else:
        redis = redis_py(url, bare)
        if client == "pipeline":
            call = batched = Batched(redis, sha)
            writes.read = lambda: batched.writes
        else:

            async def call(keys: list[str], args: list[Any]) -> Any:
                return await redis.evalsha(sha, len(keys), *keys, *args)

        closing = redis.aclose
    try:
        await drive(call, parties, 5, f"w{rep}-")  # connections made, pool filled
        before = writes.read()
        result = await drive(call, parties, max(1, total // concurrency), f"r{rep}-")
        batches = writes.read() - before
    finally:
        await closing()
    result["calls_per_write"] = result["calls"] / batches if batches else 1.0
    return {"client": client, "concurrency": concurrency, **result}


class Writes:
    """How many socket writes (batches of commands) a client made: `Wire`'s flushes that
    carried something, `Batched`'s pipelines; each redis-py call is its own."""

    def __init__(self) -> None:
        self.read: Callable[[], int] = lambda: 0

    def count_flushes(self, wire: Wire) -> None:
        count = 0
        flush = wire.flush

        def counted() -> None:
            nonlocal count
            count += bool(wire._out)
            flush()

        wire.flush = counted  # type: ignore[method-assign]
        self.read = lambda: count


def median_cells(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per client and concurrency, the median of each figure over the repeats."""
    out = []
    keys = sorted({(r["concurrency"], CLIENTS.index(r["client"])) for r in results})
    for concurrency, index in keys:
        runs = [
            r for r in results if r["concurrency"] == concurrency and r["client"] == CLIENTS[index]
        ]
        row = {"client": CLIENTS[index], "concurrency": concurrency, "runs": len(runs)}
        for figure in ("cpu_us_per_call", "calls_per_s", "p99_us", "calls_per_write"):
            row[figure] = statistics.median(r[figure] for r in runs)
        row["failures"] = sum(r["failures"] for r in runs)
        out.append(row)
    wire = {r["concurrency"]: r["cpu_us_per_call"] for r in out if r["client"] == "wire"}
    for row in out:
        row["cpu_vs_wire"] = row["cpu_us_per_call"] / wire[row["concurrency"]]
    return out


COLUMNS = [
    ("concurrency", "C", "{}"),
    ("client", "client", "{}"),
    ("cpu_us_per_call", "CPU us/call", "{:.1f}"),
    ("cpu_vs_wire", "vs wire", "{:.2f}x"),
    ("calls_per_s", "calls/s", "{:,.0f}"),
    ("p99_us", "p99 us", "{:,.0f}"),
    ("calls_per_write", "calls/write", "{:.1f}"),
    ("failures", "failures", "{}"),
]


async def run_all(
    url: str, levels: list[int], total: int, repeat: int, bare: bool
) -> list[dict[str, Any]]:
    results = []
    for rep in range(repeat):  # interleaved: a slow minute of the machine hits every client
        for concurrency in levels:
            for client in CLIENTS:
                results.append(await cell(client, url, concurrency, total, rep, bare))
    return results


def environment() -> dict[str, Any]:
    from importlib.metadata import version
    from importlib.util import find_spec

    import redis.utils

    return {  # loadgen.run_loop, like uvicorn's loop="auto", takes uvloop when installed
        "loop": "uvloop" if find_spec("uvloop") is not None else "asyncio",
        "redis-py": version("redis"),
        "hiredis": version("hiredis"),
        "hiredis_available": redis.utils.HIREDIS_AVAILABLE,
        "python": sys.version.split()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,10,100", help="C values (comma-separated)")
    parser.add_argument("--calls", type=int, default=10000, help="calls per cell (C x K)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median shown)")
    parser.add_argument("--bare", action="store_true", help="redis-py with its defaults")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    env = environment()
    if not env["hiredis_available"]:
        raise SystemExit("redis_clients: redis-py does not see hiredis (pip install hiredis)")
    loadgen.exit_on_sigterm()
    redis = loadgen.Redis().start()
    started = time.monotonic()
    try:
        results = loadgen.run_loop(run_all(redis.url, levels, args.calls, args.repeat, args.bare))
    finally:
        redis.stop()
    rows_ = median_cells(results)
    print(
        f"append.lua by EVALSHA, {args.calls} calls per cell, median of {args.repeat}; "
        f"{env['loop']}, redis-py {env['redis-py']} + hiredis {env['hiredis']}"
        f"{' (its defaults)' if args.bare else ' (as the server configures it)'}, "
        f"Python {env['python']}; {time.monotonic() - started:.0f} s"
    )
    print(loadgen.table(rows_, COLUMNS))
    print("\nreproduce: python bench/redis_clients.py " + " ".join(argv or sys.argv[1:]))
    if args.json:
        loadgen.write_json(args.json, {"environment": env, "cells": rows_, "runs": results})
        print(f"results: {args.json}")
    failed = sum(r["failures"] for r in rows_)
    if failed:
        print(f"{failed} calls did not answer ok", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
