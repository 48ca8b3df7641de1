"""Chaos scenario 6, the long soak (issue 18): two nodes on one Redis held at half their
clean rate. What a leak would show: node RSS and open files, Redis memory per stored
message, p99, and messages lost, each at the start and at the end.

The load is bench/loadgen.py's (picows clients, open-loop schedule, latency from the send
stamp in the text), run in this process: visitors on node `c % 2`, agents (two
conversations each) on node `a % 2`, so half of the messages cross nodes through Redis.
The hold is a run of windows of `interval_s`; after each one the nodes and Redis are
sampled. The first `warmup_s` of the hold is warm-up (imports, pools, allocator arenas):
"start" is the first window after it, "end" the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import shutil
import sys
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis as RedisClient

from chat_server.backends.redis.keys import Keys
from tests.chaos.figures import Result, at_most, info, zero
from tests.conftest import free_port
from tests.processes import ServerProcess
from tests.redis_server import RedisServer

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
loadgen: Any = importlib.import_module("loadgen")

CI: dict[str, Any] = dict(
    conversations=20, rate=100.0, duration_s=14.0, interval_s=2.0, warmup_s=2.0
)
LONG: dict[str, Any] = dict(
    conversations=100, rate=None, duration_s=3600.0, interval_s=60.0, warmup_s=120.0, search_s=60.0
)

NODES = 2
PER_AGENT = 2
"""Conversations per agent connection: agent `a` has `2a` (visitor on node 0) and `2a+1`
(visitor on node 1), and sits on node `a % 2`."""
CLEAN_P99_MS = 50.0
"""The benchmark's "clean" bound (docs/performance.md)."""
P99_FLOOR_MS = 10.0
"""`p99 end <= 2 x start` is held to at least this: a p99 of a few ms moves by more than
2x with the scheduling of a shared 2-core machine alone (the sender wakes every 1 ms)."""
RSS_SLACK = (0.10, 20 * 1024)
"""Node RSS may grow by 10% or 20 MiB, whichever is larger: CPython keeps freed arenas,
so RSS follows the peak of in-flight work (queued frames, a burst's coroutines), which
moves with scheduling, not with the number of messages served."""
FD_SLACK = 4
BYTES_PER_MESSAGE_SLACK = 1.10
"""Plus the resolution of a stretch: each conversation's stream grows in nodes of up to 4 KB
(docs/operations.md, Memory), so a stretch measures within one node per conversation."""
STREAM_NODE = 4096
STEP_S = 4.0
DRAIN_S = 10.0


@dataclass
class Window:
    """One window of load: what the load side counted."""

    rate: float
    sent: int = 0
    delivered: int = 0
    acked: int = 0
    errors: int = 0
    late: int = 0
    duplicates: int = 0
    achieved: float = 0.0
    lag_ms: float = 0.0
    """How late the sender woke at worst: a stall of the machine (or of this process)."""
    latencies_us: array[int] = field(default_factory=lambda: array("I"))
    """4 bytes each: an hour of windows is kept for the start and end figures."""

    def ms(self, q: float) -> float:
        return pooled_ms([self], q)

    @property
    def clean(self) -> bool:
        return (
            self.sent > 0
            and self.delivered == self.sent == self.acked
            and not self.errors
            and self.ms(0.99) <= CLEAN_P99_MS
            and self.achieved >= 0.97 * self.rate
        )


@dataclass
class Sample:
    """The nodes and Redis after a window."""

    at_s: float
    rss_kib: list[int]
    fds: list[int]
    used_memory: int
    dataset: int
    stored: int
    forks: int
    """Redis forks so far (AOF rewrites): each copies the dataset on another core."""
    window: Window


def pooled_ms(windows: list[Window], q: float) -> float:
    values = sorted(x for w in windows for x in w.latencies_us)
    found = loadgen.percentile(values, q)
    return float("nan") if found is None else found / 1000


def pid_of(node: ServerProcess) -> int:
    assert node.proc is not None
    return node.proc.pid


async def load(worker: Any, rate: float, seconds: float) -> Window:
    r = await worker.run(rate, seconds, time.monotonic(), DRAIN_S)
    return Window(
        rate=rate,
        sent=r["sent"],
        delivered=r["received"],
        acked=r["acked"],
        errors=r["errors"],
        late=r["late"],
        duplicates=r["duplicates"],
        achieved=r["sent"] / r["send_s"] if r["send_s"] else 0.0,
        lag_ms=r["lag_max_ms"],
        latencies_us=array("I", r["latencies_us"]),
    )


async def connect(worker: Any, nodes: list[ServerProcess], made: Any, count: int) -> None:
    """Agents first (hello with their API token), then each visitor with its signed token:
    its conversation is already assigned, so its hello names it."""
    gate = asyncio.Semaphore(16)

    async def opened(node: int, path: str, hello: dict[str, Any], origin: bool) -> Any:
        async with gate:
            client = await loadgen.open_client(
                "ours", nodes[node].ws, path, worker.stats, origin=origin
            )
            worker.idle.append(client)  # closed by close_all, also when a later one fails
            client.hello = await client.request(hello)
            return client

    agents = await asyncio.gather(
        *(
            opened(a % NODES, "/ws/agent", {"t": "hello", "token": token}, False)
            for a, token in enumerate(made.agent_tokens)
        )
    )
    visitors = await asyncio.gather(
        *(
            opened(c % NODES, f"/ws/visitor?site={loadgen.SITE}", {"t": "hello", "token": t}, True)
            for c, t in enumerate(made.visitor_tokens[:count])
        )
    )
    worker.pairs = [
        loadgen.Pair(v, agents[c // PER_AGENT], v.hello["conversation"]["id"])
        for c, v in enumerate(visitors)
    ]
    worker.pad = "x" * 42  # 64 bytes of text, as bench/run sends
    worker.stats.disconnects = 0


async def clean_rate(worker: Any, budget_s: float, say: Callable[[str], None]) -> float:
    """The highest clean rate of steps x1.5 from 200 msgs/s (each tried twice before it
    counts as failed), within `budget_s`: about 25% coarse, enough to hold half of it."""
    started = time.monotonic()
    await load(worker, 50, 2)  # warm-up, not counted
    rate, best, retried = 200.0, 0.0, False
    while time.monotonic() - started + STEP_S + 2 < budget_s:
        w = await load(worker, rate, STEP_S)
        say(
            f"soak search {rate:6.0f}/s: {w.delivered}/{w.sent} delivered, "
            f"p99 {w.ms(0.99):.1f} ms, sent {w.achieved:.0f}/s"
            + ("" if w.clean else "  <- not clean")
        )
        if w.clean:
            best, rate, retried = rate, rate * 1.5, False
        elif retried:
            break
        else:
            retried = True
        await asyncio.sleep(1.0)  # let a backlog drain before the next step
    return best


async def sample(
    at_s: float, nodes: list[ServerProcess], redis: Any, keys: list[str], window: Window
) -> Sample:
    state = await redis.info()  # memory, persistence, stats
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.xlen(key)
    lengths = await pipe.execute()
    return Sample(
        at_s=at_s,
        rss_kib=[loadgen.proc_rss_kib(pid_of(n)) for n in nodes],
        fds=[len(os.listdir(f"/proc/{pid_of(n)}/fd")) for n in nodes],
        used_memory=int(state["used_memory"]),
        dataset=int(state["used_memory_dataset"]),
        stored=sum(int(n) for n in lengths),
        forks=int(state["total_forks"]),
        window=window,
    )


def line(s: Sample, before: Sample, warm: bool) -> str:
    """One sample as it comes (the window's Redis bytes per message: lumpy when a window
    stores few messages per conversation), with what else could explain a slow window:
    the sender's worst lag, Redis forks, the load average."""
    w = s.window
    return (
        f"soak {s.at_s:6.0f}s {w.achieved:5.0f}/s p50 {w.ms(0.5):5.2f} p99 {w.ms(0.99):6.2f} "
        f"max {w.ms(1.0):6.1f} ms delivered {w.delivered}/{w.sent} | lag {w.lag_ms:.0f} ms, "
        f"forks +{s.forks - before.forks}, load {loadgen.loadavg()[0]:.1f} | rss "
        + "/".join(f"{k / 1024:.1f}" for k in s.rss_kib)
        + " MiB fds "
        + "/".join(map(str, s.fds))
        + f" | redis {s.used_memory / 2**20:.1f} MiB, {s.stored} msgs, "
        f"{per_message(before, s):.0f} B/msg" + ("  (warm-up)" if warm else "")
    )


async def run(
    tmp: Path,
    *,
    conversations: int = 100,
    rate: float | None = None,
    duration_s: float = 3600.0,
    interval_s: float = 60.0,
    warmup_s: float = 120.0,
    search_s: float = 60.0,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Hold half the clean rate (measured first when `rate` is None; else `rate` itself)
    for `duration_s`, sampling every `interval_s`."""
    say = progress or (lambda _: None)
    result = Result("soak: 2 nodes at 50% of the clean rate", "bench/chaos --soak")
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("soak: redis-server is not installed")
    redis = RedisServer(binary, tmp / "redis", free_port())
    nodes: list[ServerProcess] = []
    worker = loadgen.Worker("ours", "")
    client: Any = None
    started = time.monotonic()
    try:
        redis.start()
        agents = -(-conversations // PER_AGENT)
        made = await asyncio.to_thread(
            loadgen.setup_ours_store, tmp / "setup", redis.url, agents, 3, conversations, PER_AGENT
        )
        env = loadgen.ours_env(redis.url)
        nodes = [ServerProcess(tmp / f"node{i}", **env) for i in range(NODES)]
        for node in nodes:
            node.start()
        await asyncio.gather(*(node.ready(timeout=60) for node in nodes))
        await connect(worker, nodes, made, conversations)
        prefix = Keys(env["CHAT_REDIS_PREFIX"])
        keys = [prefix.messages(p.key) for p in worker.pairs]
        client = RedisClient.from_url(redis.url)
        samples: list[Sample] = []
        if rate is None:
            clean = await clean_rate(worker, search_s, say)
            result.add(info("clean rate (step search)", clean, "msgs/s"))
            held = max(0.5 * clean, 50.0)
        else:
            held = rate
        before = await sample(0.0, nodes, client, keys, Window(held))
        hold_started = time.monotonic()
        windows = max(3, round(duration_s / interval_s))
        warm = min(windows - 2, max(1, round(warmup_s / interval_s)))
        for k in range(windows):
            w = await load(worker, held, interval_s)
            s = await sample(time.monotonic() - hold_started, nodes, client, keys, w)
            samples.append(s)
            say(line(s, samples[-2] if k else before, k < warm))
        figures(result, samples, warm, held, conversations)
        result.add(info("wall time", time.monotonic() - started, "s"))
        result.add(zero("disconnects", worker.stats.disconnects))
        result.add(zero("tracebacks in the node logs", tracebacks(nodes, result)))
        return result
    finally:
        with contextlib.suppress(Exception):  # the nodes are stopped next whatever happened
            await asyncio.wait_for(worker.close_all(), 10)
        if client is not None:
            await client.aclose()
        for node in nodes:
            node.stop()
        redis.stop()


def per_message(base: Sample, s: Sample) -> float:
    """Redis bytes per message stored from `base` to `s`, of `used_memory_dataset`: without
    client buffers and the AOF buffer, which come and go with the load."""
    stored = s.stored - base.stored
    return (s.dataset - base.dataset) / stored if stored > 0 else float("nan")


def figures(result: Result, samples: list[Sample], warm: int, rate: float, n: int) -> None:
    """RSS and fds: the first window after warm-up against the last. Redis bytes per
    message: the first half of the measured hold against the second (a stream grows in
    nodes of up to 4 KB, and the conversations fill theirs in step: a short stretch
    would measure where they stand in a node). p50/p99: the first and last `edge`
    windows pooled (a tenth of them, at least 3: one stall is not a trend)."""
    base, first, last = samples[warm - 1], samples[warm], samples[-1]
    measured = samples[warm:]
    half = len(measured) // 2
    edge = min(max(3, len(measured) // 10), half)
    mib = 1024.0
    result.add(
        info("conversations", n),
        info("rate held", rate, "msgs/s"),
        info("hold (warm-up included)", last.at_s, "s"),
    )
    for i in range(len(first.rss_kib)):
        start, end = first.rss_kib[i], last.rss_kib[i]
        limit = max(RSS_SLACK[0] * start, RSS_SLACK[1]) / mib
        result.add(
            info(f"node {i + 1} RSS start", start / mib, "MiB"),
            info(f"node {i + 1} RSS end", end / mib, "MiB"),
            at_most(f"node {i + 1} RSS growth", (end - start) / mib, round(limit, 1), "MiB"),
            info(f"node {i + 1} open fds start", first.fds[i]),
            at_most(f"node {i + 1} open fds growth", last.fds[i] - first.fds[i], FD_SLACK),
        )
    mid = samples[warm - 1 + half]
    start_bpm, end_bpm = per_message(base, mid), per_message(samples[-1 - half], last)
    resolution = n * STREAM_NODE / max(1, mid.dataset - base.dataset)
    result.add(
        info("redis used_memory start", first.used_memory / 2**20, "MiB"),
        info("redis used_memory end", last.used_memory / 2**20, "MiB"),
        info("stored messages start", first.stored),
        info("stored messages end", last.stored),
        info("redis B/message 1st half", start_bpm, "B"),
        info("redis B/message 2nd half", end_bpm, "B"),
        at_most(
            "redis B/message 2nd/1st",
            end_bpm / start_bpm,
            round(BYTES_PER_MESSAGE_SLACK + resolution, 2),
        ),
    )
    head = [s.window for s in measured[:edge]]
    tail = [s.window for s in measured[-edge:]]
    p99_start, p99_end = pooled_ms(head, 0.99), pooled_ms(tail, 0.99)
    result.add(
        info("p50 start", pooled_ms(head, 0.5), "ms"),
        info("p50 end", pooled_ms(tail, 0.5), "ms"),
        info("p99 start", p99_start, "ms"),
        at_most("p99 end vs start", p99_end, round(max(2 * p99_start, P99_FLOOR_MS), 2), "ms"),
        at_most("p99 end", p99_end, CLEAN_P99_MS, "ms"),
        info("sender lag max", max(s.window.lag_ms for s in measured), "ms"),
        info("redis forks (AOF rewrites)", last.forks - base.forks),
    )
    for s, prev in zip(measured, samples[warm - 1 :], strict=False):
        if s.window.ms(0.99) > CLEAN_P99_MS:
            result.notes.append(
                f"window ending {s.at_s:.0f}s: p99 {s.window.ms(0.99):.0f} ms, sender lag "
                f"{s.window.lag_ms:.0f} ms, redis forks +{s.forks - prev.forks}"
            )
    all_windows = [s.window for s in samples]
    sent = sum(w.sent for w in all_windows)
    result.add(
        info("messages sent", sent),
        zero("messages lost (sent - delivered)", sent - sum(w.delivered for w in all_windows)),
        zero("messages not acknowledged", sent - sum(w.acked for w in all_windows)),
        zero("error replies", sum(w.errors for w in all_windows)),
        info("delivered twice (dropped by seq)", sum(w.duplicates for w in all_windows)),
    )
    for s in samples:
        w = s.window
        if w.delivered != w.sent or w.acked != w.sent or w.errors:
            result.notes.append(
                f"window ending {s.at_s:.0f}s: {w.delivered}/{w.sent} delivered, "
                f"{w.acked} acked, {w.errors} errors, {w.late} late from the window before"
            )


def tracebacks(nodes: list[ServerProcess], result: Result) -> int:
    count = 0
    for node in nodes:
        log = node.data / "server.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        if "Traceback" in text:
            count += text.count("Traceback")
            result.notes.append(f"{log}: {text[text.index('Traceback') :][:300]!r}")
    return count
