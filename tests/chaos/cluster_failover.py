"""Chaos scenario 4c (issue 19): a Redis Cluster primary SIGKILLed under load, its replica
promoted by the cluster itself, the nodes finding the slot's new primary.

A cluster of 3 primaries with a replica each (`tests/redis_cluster.py`, cluster-node-timeout
2 s), and one more replica for the primary killed: with `replicas_ack` 1 the promoted
replica needs one of its own to acknowledge anything (the Sentinel scenario has two
replicas for the same reason), and the cluster makes the other replica follow it. Two
installations, each under its own key prefix and spread over the three primaries
(`?partitions=3`, `backends/redis/partitions.py`): each one's partition 0 is in the first
third of the slots, so one primary serves both, and one kill hits both (a third of each
one's conversations, and the rest go on). Each has two `chat-server serve` nodes given the
`redis+cluster://` URL and its crowd of resilient visitors and agents (`load.py`), one
with `CHAT_REDIS_REPLICAS_ACK=1` (held to the figures), one with the default 0 (shown for
comparison). That primary is SIGKILLed; between failovers (the long version) the killed
server is started again on its config and rejoins as a replica of the new primary.

Figures, as `failover.py` (whose installation, serving, settling and figures this reuses):
from the kill to every node answering an `ok` again (the cluster's failure detection of
node-timeout to twice that, the election, the nodes' next connect: about 3-5 s, held to
10 s); `ok`s answered while no primary served the slot (before the replica logged
winning the election: `elected_at` says why not `ROLE`); then nothing acknowledged lost,
nothing stored twice, no gap seen live, everything received, the last two outside the
conversations where a client saw a message the failover lost (`failover_tally.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.spread_store import redis_store
from chat_server.core import ids
from chat_server.core.clock import SystemClock
from chat_server.core.model import Site
from tests.chaos.failover import Installation, conclude, figures, serving, talking
from tests.chaos.failover_tally import Round
from tests.chaos.figures import Result, info
from tests.chaos.load import NODE_ENV
from tests.chaos.resilient import ORIGIN
from tests.processes import ServerProcess
from tests.redis_cluster import NODE_TIMEOUT_MS, RedisCluster, cluster_ports
from tests.redis_sentinel import command, role
from tests.redis_server import RedisServer

ELECTED = "Failover election won"
"""What a replica logs (at `notice`) as it takes over its failed primary's slots."""

CI: dict[str, Any] = {
    "conversations": 20,
    "agents": 10,
    "rate": 3.0,
    "failovers": 1,
    "warm_s": 2.0,
    "after_s": 2.0,
    "scale": 0.2,
    "seed": 19,
}
LONG: dict[str, Any] = {**CI, "conversations": 50, "agents": 25, "failovers": 5, "after_s": 4.0}


PARTITIONS = 3
SPREAD = Partitions("any", PARTITIONS)
"""Which partition a conversation is in does not depend on the installation's prefix."""


def spread(url: str) -> str:
    return f"{url}?partitions={PARTITIONS}"


def partition_of(cid: str) -> int:
    return SPREAD.of(cid)


def first_partition(prefix: str) -> str:
    """The key prefix of an installation's partition 0: in the first third of the slots,
    so on the primary that serves them, whatever the installation."""
    return Partitions(prefix, PARTITIONS).prefixes[0]


def replicas(cluster: RedisCluster, primary: int) -> list[int]:
    """The running nodes that replicate the primary (linked or still syncing)."""
    found = []
    for port in cluster.running():
        link = command(port, "ROLE")
        if isinstance(link, list) and link[0] == b"slave" and link[2] == primary:
            found.append(port)
    return found


def add_replica(cluster: RedisCluster, primary: int, timeout: float = 20) -> int:
    """One more node, made a replica of the primary; its port once the cluster is ok."""
    taken = set(cluster.procs)
    port = next(p for p in cluster_ports(len(taken) + 1) if p not in taken)
    cluster.start_node(port)
    command(port, "CLUSTER", "MEET", "127.0.0.1", str(primary))
    node_id = command(primary, "CLUSTER", "MYID")
    assert isinstance(node_id, bytes)
    deadline = time.monotonic() + timeout
    while node_id not in command(port, "CLUSTER", "NODES"):  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{port} never learnt of {primary}")
        time.sleep(0.05)
    reply = command(port, "CLUSTER", "REPLICATE", node_id.decode())
    if reply != b"OK":
        raise RuntimeError(f"CLUSTER REPLICATE on {port}: {reply!r}")
    cluster.wait_ok(timeout)
    return port


@contextlib.asynccontextmanager
async def installation(
    tmp: Path, url: str, prefix: str, replicas_ack: int
) -> AsyncIterator[Installation]:
    """`failover.installation`, spread over the cluster's primaries."""
    env = {
        **NODE_ENV,
        "CHAT_REDIS_URL": spread(url),
        "CHAT_REDIS_PREFIX": prefix,
        "CHAT_REDIS_REPLICAS_ACK": str(replicas_ack),
    }
    nodes = [ServerProcess(tmp / f"ack{replicas_ack}-node{i}", **env) for i in range(2)]
    store = redis_store(spread(url), SystemClock(), prefix=prefix)  # the test's own
    try:
        for node in nodes:
            node.start()
        await asyncio.gather(*(node.ready(timeout=30) for node in nodes))
        await store.start()
        await store.directory.put_site(Site("shop", (ORIGIN,)))
        yield Installation(replicas_ack, nodes, store)
    finally:
        for node in nodes:
            node.stop()
        with contextlib.suppress(Exception):
            await store.stop()


def promoted(candidates: list[int], timeout: float = 30) -> tuple[int, float]:
    """Which of the killed primary's replicas first says it is the primary, and when
    (polled in a thread: the event loop, busy with the crowd, would see it late)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for port in candidates:
            if role(port) == "master":
                return port, time.time()
        time.sleep(0.01)
    return 0, float("inf")


def elected_at(cluster: RedisCluster, port: int, since: float) -> float | None:
    """When the node logged winning the election after `since` (to the millisecond, just
    before it made itself the primary): the nodes find the new primary within
    milliseconds, so a poll of `ROLE`, however quick, notices it after their first `ok`s.
    Needs its `loglevel notice`."""
    log = cluster.directory / str(port) / "redis.log"
    found = None
    for line in log.read_text(errors="replace").splitlines():
        if ELECTED not in line:
            continue
        # "1234:S 06 Dec 2026 06:14:21.123 * Failover election won. ..."
        day, month, year, clock = line.split()[1:5]
        whole, _, ms = clock.partition(".")
        parsed = time.strptime(f"{day} {month} {year} {whole}", "%d %b %Y %H:%M:%S")
        at = time.mktime(parsed) + int(ms) / 1000
        if at > since:
            found = at
    return found


async def fail_over(
    cluster: RedisCluster, prefix: str, insts: list[Installation], logged: list[bool]
) -> Round:
    """SIGKILL the slots' primary, then wait for the promotion and for every node to serve."""
    killed = await asyncio.to_thread(cluster.primary_of, prefix)
    candidates = await asyncio.to_thread(replicas, cluster, killed)
    for port in candidates:
        await asyncio.to_thread(command, port, "CONFIG", "SET", "loglevel", "notice")
    r = Round(killed, time.time())
    watching = asyncio.create_task(asyncio.to_thread(promoted, candidates))
    await asyncio.to_thread(cluster.kill, killed)
    winner, r.promoted_at = await watching
    if winner:
        at = await asyncio.to_thread(elected_at, cluster, winner, r.killed_at)
        logged.append(at is not None)
        r.promoted_at = min(r.promoted_at, at or r.promoted_at)
    await asyncio.gather(*(serving(r, inst) for inst in insts))
    return r


async def run(
    tmp: Path,
    *,
    conversations: int,
    agents: int,
    rate: float,
    failovers: int,
    warm_s: float,
    after_s: float,
    scale: float,
    seed: int,
    settle_s: float = 20.0,
) -> Result:
    """`rate`: messages a second per conversation (both parties); `scale`: the widget's
    reconnect backoff times this."""
    began = time.monotonic()
    result = Result(
        "Redis Cluster failover (the cluster promotes a replica)",
        "bench/chaos --only cluster_failover",
    )
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    cluster = RedisCluster(binary, cli, tmp / "redis")
    rounds: list[Round] = []
    rejoin_s: list[float] = []
    shard: list[int] = []
    logged: list[bool] = []
    try:
        await asyncio.to_thread(cluster.start)
        prefixes = [ids.new_id("cf"), ids.new_id("cf")]
        target = first_partition(prefixes[0])  # the kill's: partition 0 of both
        primary = await asyncio.to_thread(cluster.primary_of, target)
        assert primary == await asyncio.to_thread(cluster.primary_of, first_partition(prefixes[1]))
        await asyncio.to_thread(add_replica, cluster, primary)
        handle = RedisServer(binary, cluster.directory / str(primary), primary)
        async with (
            installation(tmp, cluster.url, prefixes[0], 1) as held,
            installation(tmp, cluster.url, prefixes[1], 0) as shown,
        ):
            insts = [held, shown]
            sizes = {"conversations": conversations, "agents": agents, "scale": scale}
            async with talking(insts, handle, rate, seed, **sizes):
                await asyncio.sleep(warm_s)
                for _ in range(failovers):
                    if rounds:  # the killed server back, as a replica of the new primary
                        began_rejoin = time.monotonic()
                        await asyncio.to_thread(cluster.start_node, rounds[-1].killed)
                        await asyncio.to_thread(cluster.wait_ok, 30)
                        rejoin_s.append(time.monotonic() - began_rejoin)
                    now = await asyncio.to_thread(cluster.primary_of, target)
                    shard.append(len(await asyncio.to_thread(replicas, cluster, now)))
                    rounds.append(await fail_over(cluster, target, insts, logged))
                    await asyncio.sleep(after_s)
                await asyncio.gather(*(conclude(inst, settle_s) for inst in insts))
    finally:
        await asyncio.to_thread(cluster.stop)
    # the killed primary served partition 0 of both installations (and only that: three
    # partitions on three primaries): `ok`s of the other partitions' chats went on
    figures(result, held, shown, rounds, struck=lambda cid: partition_of(cid) == 0)
    went_on = [
        ack
        for inst in (held, shown)
        for ack in inst.acks
        for r in rounds
        if r.killed_at < ack.at < r.promoted_at and partition_of(ack.cid) != 0
    ]
    result.add(
        info("cluster-node-timeout", NODE_TIMEOUT_MS, "ms"),
        info("failovers (SIGKILL of the slots' primary)", len(rounds)),
        info("oks of the other partitions' chats meanwhile", len(went_on)),
        info("promotions timed by the replica's log (else by ROLE)", sum(logged)),
        info("replicas of the primary before each kill (min)", min(shard, default=0)),
        info(
            "rejoin as a replica and cluster ok between failovers (max)",
            max(rejoin_s, default=0),
            "s",
        ),
        info("wall time", time.monotonic() - began, "s"),
    )
    return result
