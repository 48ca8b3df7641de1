"""Scenario 1 of issue 18: node crashes under load.

Three `chat-server serve` nodes on one redis-server (AOF everysec), one conversation per
visitor with both parties sending steadily, every client on a node of its own choosing and
resuming as the widget does (`resilient.py`). Every ~2 s one node, picked at random, is
SIGKILLed and started again on its port and data. Once the last kill is over, everyone
settles and what each client holds is checked against the stored history (`load.py`):
nothing acknowledged is lost, nothing is stored twice, no connection sees a gap, and every
party ends with every message of its conversation.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from tests.chaos.figures import Result, info
from tests.chaos.load import Verdict, cluster, populate, report, settle, start_talking, verify

CI: dict[str, Any] = {
    "kills": 10,
    "conversations": 50,
    "agents": 25,
    "rate": 3.0,
    "interval_s": 2.0,
    "scale": 0.2,
    "seed": 18,
}
LONG: dict[str, Any] = {**CI, "kills": 50}


async def run(
    tmp: Path,
    *,
    kills: int,
    conversations: int,
    agents: int,
    rate: float,
    interval_s: float,
    scale: float,
    seed: int,
    nodes: int = 3,
    settle_s: float = 20.0,
) -> Result:
    """`rate`: messages a second per conversation, both parties together; `scale`: the
    widget's reconnect backoff times this."""
    began = time.monotonic()
    result = Result("node crashes under load", "bench/chaos --only node_crashes")
    rng = random.Random(seed)
    done = 0
    settled = 0.0
    async with cluster(tmp, nodes) as c:
        urls = [node.ws for node in c.nodes]
        crowd = await populate(
            c, urls, conversations=conversations, agents=agents, scale=scale, seed=seed
        )
        try:
            start_talking(crowd, rate, seed)
            await asyncio.sleep(interval_s)
            for _ in range(kills):
                at = time.monotonic()
                await c.restart(rng.randrange(nodes))
                done += 1
                wait = interval_s * rng.uniform(0.75, 1.25) - (time.monotonic() - at)
                await asyncio.sleep(max(0.0, wait))
            await crowd.quiet()
            settled = await settle(crowd, c.store, settle_s)
            verdict: Verdict = await verify(crowd, c.store)
        finally:
            await crowd.stop()
    report(result, crowd, verdict)
    result.add(
        info("nodes", nodes),
        info("kills (SIGKILL, then restart)", done),
        info("settle time after the last kill", settled, "s"),
        info("wall time", time.monotonic() - began, "s"),
    )
    return result
