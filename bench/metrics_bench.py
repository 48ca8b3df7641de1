"""How fast the embedded stats store records samples, how much memory it holds, how fast it
reads a window.

Records a million samples into `RollingWindows`: each one a first response (1 in 5) or a
response (4 in 5), under three dims ("all", an agent of 20, a topic of 5), with `ts`
advancing 1 to 172 ms at random, so the run spans about one simulated day and the 24h
window fills. `prune` runs once per simulated minute, as a stats tick would. The timed run
builds each sample's Figures from pre-drawn values, as the service does per event; VmRSS is
measured around it. tracemalloc slows allocation about fivefold (a traced replay of the
million samples alone would take a minute), so it measures the end state instead: the
store is rebuilt from its snapshot under tracing, which allocates the buckets, dicts and
numbers the run left held (dict sizes may differ a little). Run from a checkout:

    python bench/metrics_bench.py [--samples N] [--seed S]
"""

from __future__ import annotations

import argparse
import functools
import gc
import random
import sys
import time
import tracemalloc
from collections.abc import Sequence

from chat_server.core import metrics
from chat_server.core.metrics import WINDOWS, Figures, RollingWindows

T0 = 1_767_225_600_000
MINUTE_MS = 60_000


def vm_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


Plan = list[tuple[int, bool, float, int]]
"""(ts, is a first response, seconds, dims index) per sample, drawn before timing."""


def build_plan(rng: random.Random, samples: int, dims: int) -> Plan:
    plan = []
    ts = T0
    for _ in range(samples):
        ts += rng.randint(1, 172)
        first = rng.randrange(5) == 0
        seconds = rng.lognormvariate(3.5 if first else 2.5, 1.0)
        plan.append((ts, first, seconds, rng.randrange(dims)))
    return plan


def build_dims() -> list[tuple[str, str, str]]:
    return [
        ("all", f"agent:a_{agent}", f"topic:{topic}")
        for agent in range(20)
        for topic in ("sales", "billing", "support", "returns", "shipping")
    ]


def figures_of(first: bool, seconds: float) -> Figures:
    return metrics.first_response(seconds, 60) if first else metrics.response(seconds)


def run(plan: Plan, dims: Sequence[tuple[str, ...]]) -> RollingWindows:
    windows = RollingWindows()
    next_prune = plan[0][0] + MINUTE_MS
    for ts, first, seconds, dim in plan:
        windows.record(ts, dims[dim], figures_of(first, seconds))
        if ts >= next_prune:
            windows.prune(ts)
            next_prune = ts + MINUTE_MS
    return windows


def time_reads(windows: RollingWindows, now: int, dim: str, repeat: int = 50) -> dict[str, float]:
    """Milliseconds per read of each window (merge of its buckets) plus its `window_view`."""
    out = {}
    for window in WINDOWS:
        started = time.perf_counter()
        for _ in range(repeat):
            metrics.window_view(windows.read(window, now, dim))
        out[window] = (time.perf_counter() - started) / repeat * 1000
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    dims = build_dims()
    plan = build_plan(rng, args.samples, len(dims))
    span_h = (plan[-1][0] - plan[0][0]) / 3_600_000
    distinct_dims = len({d for group in dims for d in group})

    started = time.perf_counter()
    for _, first, seconds, _ in plan[:100_000]:
        figures_of(first, seconds)
    build_us = (time.perf_counter() - started) / min(len(plan), 100_000) * 1e6

    gc.collect()
    rss_before = vm_rss_kib()
    started = time.perf_counter()
    windows = run(plan, dims)
    elapsed = time.perf_counter() - started
    gc.collect()
    rss_after = vm_rss_kib()
    now = plan[-1][0]
    buckets = windows.bucket_count()
    reads_all = time_reads(windows, now, "all")
    reads_agent = time_reads(windows, now, "agent:a_7")
    started = time.perf_counter()
    view = metrics.stats_windows(functools.partial(windows.read, now_ms=now))
    stats_ms = (time.perf_counter() - started) * 1000

    snapshot = windows.snapshot()
    del windows
    gc.collect()
    tracemalloc.start()
    rebuilt = RollingWindows.restore(snapshot)
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rebuilt.bucket_count() == buckets
    del rebuilt, snapshot

    print(f"python {sys.version.split()[0]}, {args.samples:,} samples over {span_h:.1f} h")
    per_sample_us = elapsed / args.samples * 1e6
    print(f"  per sample: {per_sample_us:.2f} us (build its Figures + record + prune each minute)")
    print(f"    of which building the Figures: {build_us:.2f} us")
    print(f"    total {elapsed:.1f} s, {args.samples / elapsed:,.0f} samples/s")
    print(f"  buckets held at the end: {buckets:,}")
    print(f"    ({len(dims[0])} dims per sample, {distinct_dims} dims in all)")
    print(f"  memory: VmRSS delta over the timed run {(rss_after - rss_before) / 1024:.1f} MiB")
    print(
        f"          tracemalloc: end state holds {held / 2**20:.1f} MiB"
        f" (peak {peak / 2**20:.1f} MiB while rebuilt from its snapshot)"
    )
    for dim, reads in (("all", reads_all), ("agent:a_7", reads_agent)):
        cells = ", ".join(f"{w} {ms:.2f} ms" for w, ms in reads.items())
        print(f"  read + window_view, dim {dim}: {cells}")
    print(f"  stats_windows (all three, dim all): {stats_ms:.2f} ms")
    w24 = view["24h"]
    print(
        f"  24h: answered {w24['answered']:,}, frt p50 {w24['frt_s']['p50']} s,"
        f" response n {w24['response_s']['n']:,} p90 {w24['response_s']['p90']} s"
    )
    print(f"reproduce: python bench/metrics_bench.py --samples {args.samples} --seed {args.seed}")


if __name__ == "__main__":
    main()
