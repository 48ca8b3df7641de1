"""Chaos scenario 4b (issue 18): the Redis primary SIGKILLed under load, a replica promoted
by Sentinel, the nodes finding it by themselves.

A primary, two replicas and three Sentinels (`tests/redis_sentinel.py`; down-after 2 s: at
1 s, a loaded 2-core machine made the Sentinels fail over a primary that was only slow, 1
run in 3, and that split brain is another scenario, see docs/operations.md).
Two installations share them, each under its own key prefix, each two `chat-server serve`
nodes given the `redis+sentinel://` URL, with its crowd of resilient visitors and agents
(`load.py`, `resilient.py`: one conversation per visitor, both parties sending, resuming as
docs/protocol.md §6 says): one with `CHAT_REDIS_REPLICAS_ACK=1` (held to the figures), one
with the default 0 (shown for comparison). Two replicas, because with `replicas_ack` 1 the
promoted replica needs one of its own to acknowledge anything. The primary is SIGKILLed;
between failovers (the long version) the killed server comes back as a replica.

Figures: from the kill to every node answering an `ok` again (Sentinel's down-after 2 s,
its failover of about 1-2 s, the switch once the other replica follows the new primary,
then the nodes' next connect: about 3.5-5 s, held to 10 s on a loaded machine); `ok`s
answered while no data node was writable (none may be: a write acknowledged then went
nowhere); then the figures of `load.py` (nothing acknowledged lost, nothing stored twice,
no gap seen live, everything received live or by resync), the last two outside the
conversations where a client saw a message the failover then lost (`failover_tally.py`
says why those are counted apart, and counts them).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chat_server.backends.redis.store import RedisStore
from chat_server.core import ids
from chat_server.core.clock import SystemClock
from chat_server.core.model import Message, Site
from tests.chaos.failover_tally import (
    IN_FLIGHT_S,
    Ack,
    Round,
    Tally,
    oks_without_primary,
    rewritten,
    serving_figure,
    without,
)
from tests.chaos.figures import Result, info, zero
from tests.chaos.load import (
    NODE_ENV,
    Cluster,
    Crowd,
    Verdict,
    histories,
    populate,
    start_talking,
    unreceived,
    verify,
)
from tests.chaos.resilient import ORIGIN, Pending, ResilientClient
from tests.processes import ServerProcess
from tests.redis_sentinel import SentinelSet, role
from tests.redis_server import RedisServer

CI: dict[str, Any] = {
    "conversations": 20,
    "agents": 10,
    "rate": 3.0,
    "failovers": 1,
    "warm_s": 2.0,
    "after_s": 2.0,
    "scale": 0.2,
    "seed": 4,
    "down_after_ms": 2000,
}
LONG: dict[str, Any] = {**CI, "conversations": 50, "agents": 25, "failovers": 5, "after_s": 4.0}


@dataclass
class Installation:
    """Two nodes with their prefix and `replicas_ack`, their store, crowd and `ok`s."""

    replicas_ack: int
    nodes: list[ServerProcess]
    store: RedisStore
    crowd: Crowd | None = None
    acks: list[Ack] = field(default_factory=list)
    verdict: Verdict | None = None
    others: Verdict | None = None
    """`verdict` without the rewritten conversations (`failover_tally.py`)."""
    lost_seen: dict[str, set[int]] = field(default_factory=dict)
    stored: dict[str, list[Message]] = field(default_factory=dict)
    settled_s: float = 0.0

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]


def stamp(client: ResilientClient, acks: list[Ack]) -> None:
    """Note every `ok` this client gets: when, from which node."""
    real = client._acknowledged

    def acknowledged(pending: Pending, seq: int) -> None:
        link = client.link
        port = link.ws.remote_address[1] if link is not None else 0
        acks.append(Ack(time.time(), port, pending.cid, seq))
        real(pending, seq)

    client._acknowledged = acknowledged  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def installation(tmp: Path, url: str, replicas_ack: int) -> Any:
    prefix = ids.new_id("f")
    env = {
        **NODE_ENV,
        "CHAT_REDIS_URL": url,
        "CHAT_REDIS_PREFIX": prefix,
        "CHAT_REDIS_REPLICAS_ACK": str(replicas_ack),
    }
    nodes = [ServerProcess(tmp / f"ack{replicas_ack}-node{i}", **env) for i in range(2)]
    store = RedisStore(url, SystemClock(), prefix=prefix)  # the test's own, through Sentinel
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


async def promoted(sentinels: SentinelSet, killed: int, timeout: float = 30) -> float:
    """When a replica first says it is the primary."""
    others = [s.port for s in sentinels.servers if s.port != killed]
    deadline = time.time() + timeout
    while time.time() < deadline:
        for port in others:
            if await asyncio.to_thread(role, port) == "master":
                return time.time()
        await asyncio.sleep(0.02)
    return float("inf")


async def serving(rounds: Round, inst: Installation, timeout: float = 30) -> None:
    """Wait (bounded) until each node answered an `ok` after the promotion."""
    deadline = time.time() + timeout
    since = max(rounds.promoted_at, rounds.killed_at + IN_FLIGHT_S)
    while time.time() < deadline:
        for ack in inst.acks:
            if ack.at > since and ack.port not in rounds.serving_at:
                rounds.serving_at[ack.port] = ack.at
        if all(p in rounds.serving_at for p in inst.ports):
            return
        await asyncio.sleep(0.05)


async def fail_over(sentinels: SentinelSet, insts: list[Installation]) -> Round:
    """SIGKILL the primary, then wait for the promotion and for every node to serve."""
    killed = sentinels.primary_port()
    assert killed is not None
    r = Round(killed, time.time())
    sentinels.kill_primary()
    r.promoted_at = await promoted(sentinels, killed)
    await asyncio.gather(*(serving(r, inst) for inst in insts))
    return r


async def settle(crowd: Crowd, store: RedisStore, timeout: float) -> float:
    """`load.settle`, but a conversation rewritten by the failover (`failover_tally.py`)
    cannot settle: wait (bounded) for the others only. How long it took."""
    started = time.monotonic()
    cids = [v.cid for v in crowd.visitors if v.cid]
    while time.monotonic() - started < timeout:
        if all(c.ready.is_set() and not c.pending for c in crowd.clients):
            stored = await histories(store, cids)
            others = without(crowd, set(rewritten(crowd, stored)))
            if not any(unreceived(c, stored) for c in others.clients):
                break
        await asyncio.sleep(0.3)
    return time.monotonic() - started


async def conclude(inst: Installation, settle_s: float) -> None:
    """Quiet, settled, then checked: every conversation, and those not rewritten."""
    assert inst.crowd is not None
    await inst.crowd.quiet()
    inst.settled_s = await settle(inst.crowd, inst.store, settle_s)
    cids = [v.cid for v in inst.crowd.visitors if v.cid]
    inst.stored = await histories(inst.store, cids)
    inst.lost_seen = rewritten(inst.crowd, inst.stored)
    inst.verdict = await verify(inst.crowd, inst.store)
    inst.others = await verify(without(inst.crowd, set(inst.lost_seen)), inst.store)


@contextlib.asynccontextmanager
async def talking(
    insts: list[Installation], redis: RedisServer, rate: float, seed: int, **sizes: Any
) -> AsyncIterator[None]:
    """Each installation's crowd (`populate`'s `sizes`) in place, every `ok` stamped, and
    talking at `rate` inside the block; every crowd stopped after it. `redis` is a handle
    on the primary (`load.Cluster` wants one; only the installation's store is used)."""
    try:
        for i, inst in enumerate(insts):
            urls = [node.ws for node in inst.nodes]
            cluster = Cluster(redis, inst.nodes, inst.store)
            inst.crowd = await populate(cluster, urls, seed=seed + i, **sizes)
            for client in inst.crowd.clients:
                stamp(client, inst.acks)
        for i, inst in enumerate(insts):
            assert inst.crowd is not None
            start_talking(inst.crowd, rate, seed + i)
        yield
    finally:
        for inst in insts:
            if inst.crowd is not None:
                await inst.crowd.stop()


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
    down_after_ms: int,
    settle_s: float = 20.0,
) -> Result:
    """`rate`: messages a second per conversation (both parties); `scale`: the widget's
    reconnect backoff times this; `down_after_ms`: the Sentinels' down-after-milliseconds."""
    began = time.monotonic()
    result = Result("Redis failover (Sentinel promotes a replica)", "bench/chaos --only failover")
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    sentinels = SentinelSet(binary, tmp / "redis", replicas=2, down_after_ms=down_after_ms)
    rounds: list[Round] = []
    rejoin_s: list[float] = []
    try:
        await asyncio.to_thread(sentinels.start)
        async with (
            installation(tmp, sentinels.url, 1) as held,
            installation(tmp, sentinels.url, 0) as shown,
        ):
            insts = [held, shown]
            sizes = {"conversations": conversations, "agents": agents, "scale": scale}
            async with talking(insts, sentinels.servers[0], rate, seed, **sizes):
                await asyncio.sleep(warm_s)
                for _ in range(failovers):
                    if rounds:  # the killed server back as a replica, and Sentinel knowing it
                        began_rejoin = time.monotonic()
                        back = sentinels.server(rounds[-1].killed)
                        await asyncio.to_thread(sentinels.rejoin, back)
                        await asyncio.to_thread(sentinels.wait_settled, 30)
                        rejoin_s.append(time.monotonic() - began_rejoin)
                    rounds.append(await fail_over(sentinels, insts))
                    await asyncio.sleep(after_s)
                await asyncio.gather(*(conclude(inst, settle_s) for inst in insts))
    finally:
        await asyncio.to_thread(sentinels.stop)
    figures(result, held, shown, rounds)
    switches = sentinels.switches()
    if switches != len(rounds):
        result.notes.append(
            f"Sentinel failed over {switches} times for {len(rounds)} kills: a primary "
            "was slow past down-after-milliseconds and was failed over alive (split brain: "
            "see docs/operations.md, Replicas and Sentinel)"
        )
    result.add(
        info("Sentinel down-after-milliseconds", down_after_ms, "ms"),
        info("failovers (SIGKILL of the primary)", len(rounds)),
        info("failovers Sentinel made (+switch-master)", switches),
        info("rejoin and Sentinel settle between failovers (max)", max(rejoin_s, default=0), "s"),
        info("wall time", time.monotonic() - began, "s"),
    )
    return result


def figures(
    result: Result,
    held: Installation,
    shown: Installation,
    rounds: list[Round],
    struck: Callable[[str], bool] = lambda cid: True,
) -> None:
    """The held installation's figures, then the default's for comparison. `struck`: the
    conversations the kill left without a primary (on a spread cluster, those of the
    partitions it served; the others went on)."""
    without_primary = [
        note
        for inst in (held, shown)
        for note in oks_without_primary(
            [a for a in inst.acks if struck(a.cid)], inst.stored, rounds
        )
    ]
    result.add(
        serving_figure(rounds, held.ports + shown.ports),
        zero("oks answered while no primary was writable", len(without_primary)),
        info("kill to promotion (max)", max(r.promoted_at - r.killed_at for r in rounds), "s"),
    )
    result.notes.extend(without_primary)
    kept, compared = tallied(held), tallied(shown)
    result.add(*kept.held(), info("settle time after the last failover", held.settled_s, "s"))
    result.notes.extend(kept.notes())
    result.add(*compared.shown("replicas_ack=0"))


def tallied(inst: Installation) -> Tally:
    assert inst.crowd is not None and inst.verdict is not None and inst.others is not None
    return Tally(inst.verdict, inst.others, inst.crowd, inst.lost_seen)
