"""Scenario 5 of issue 18: slow and broken networks.

The load of scenario 1 (`load.py`: three nodes on one redis-server, one conversation per
visitor, both parties sending, clients resuming as the widget does), with every client
behind a seeded TCP proxy in front of each node (`proxy.py`): every chunk is delayed by a
latency plus jitter, and at random moments a connection is stalled (nothing forwarded for
a while) or cut (reset on both sides). A few node kills too, as in scenario 1. Then the
same check against the stored history: the same four figures at 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

from tests.chaos.figures import Result, info
from tests.chaos.load import (
    Cluster,
    Verdict,
    cluster,
    populate,
    report,
    settle,
    start_talking,
    verify,
)
from tests.chaos.proxy import Proxy

CI: dict[str, Any] = {
    "duration_s": 15.0,
    "kills": 2,
    "conversations": 50,
    "agents": 25,
    "rate": 3.0,
    "latency_s": 0.02,
    "jitter_s": 0.05,
    "cuts_per_s": 0.5,
    "stalls_per_s": 1.0,
    "stall_s": 6.0,
    "scale": 0.2,
    "seed": 5,
}
LONG: dict[str, Any] = {**CI, "duration_s": 120.0, "kills": 10}


async def kill_now_and_then(c: Cluster, kills: int, duration_s: float, rng: random.Random) -> int:
    """`kills` node restarts (SIGKILL) spread over the fault window."""
    done = 0
    for _ in range(kills):
        await asyncio.sleep(duration_s / (kills + 1))
        await c.restart(rng.randrange(len(c.nodes)))
        done += 1
    return done


async def run(
    tmp: Path,
    *,
    duration_s: float,
    kills: int,
    conversations: int,
    agents: int,
    rate: float,
    latency_s: float,
    jitter_s: float,
    cuts_per_s: float,
    stalls_per_s: float,
    stall_s: float,
    scale: float,
    seed: int,
    nodes: int = 3,
    settle_s: float = 20.0,
) -> Result:
    """`cuts_per_s` and `stalls_per_s` are per proxy (one per node); a stall lasts 0.2 to
    1 times `stall_s`, the longest past the clients' 5 s answer timeout (they drop and resume)."""
    began = time.monotonic()
    result = Result("slow and broken networks", "bench/chaos --only flaky_network")
    rng = random.Random(seed)
    proxies: list[Proxy] = []
    done = 0
    settled = 0.0
    async with cluster(tmp, nodes) as c:
        try:
            for node in c.nodes:
                proxy = Proxy(
                    node.port, random.Random(rng.random()), latency_s=latency_s, jitter_s=jitter_s
                )
                await proxy.start()
                proxies.append(proxy)
            urls = [proxy.ws for proxy in proxies]
            crowd = await populate(
                c, urls, conversations=conversations, agents=agents, scale=scale, seed=seed
            )
            try:
                start_talking(crowd, rate, seed)
                faults = [
                    p.faults(
                        duration_s,
                        cuts_per_s=cuts_per_s,
                        stalls_per_s=stalls_per_s,
                        stall_s=stall_s,
                    )
                    for p in proxies
                ]
                killing = asyncio.create_task(kill_now_and_then(c, kills, duration_s, rng))
                try:
                    await asyncio.gather(*faults)
                    done = await killing
                finally:
                    killing.cancel()
                await crowd.quiet()
                settled = await settle(crowd, c.store, settle_s)
                verdict: Verdict = await verify(crowd, c.store)
            finally:
                await crowd.stop()
        finally:
            for proxy in proxies:
                with contextlib.suppress(Exception):
                    await proxy.stop()
    report(result, crowd, verdict)
    chunks = sum(p.stats.chunks for p in proxies)
    latency_ms = 1000 * sum(p.stats.delay_s for p in proxies) / max(1, chunks)
    result.add(
        info("nodes", nodes),
        info("proxied connections", sum(p.stats.connections for p in proxies)),
        info("cuts", sum(p.stats.cuts for p in proxies)),
        info("stalls", sum(p.stats.stalls for p in proxies)),
        info("time stalled, all stalls", sum(p.stats.stalled_s for p in proxies), "s"),
        info("mean added latency", latency_ms, "ms"),
        info("chunks delivered after their sender left", sum(p.stats.late for p in proxies)),
        info("kills (SIGKILL, then restart)", done),
        info("settle time after the faults", settled, "s"),
        info("wall time", time.monotonic() - began, "s"),
    )
    return result
