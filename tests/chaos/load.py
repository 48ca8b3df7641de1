"""The load of the node-crash and flaky-network scenarios, and its check against the store.

A cluster (one redis-server with AOF everysec, N `chat-server serve` nodes), a crowd of
resilient visitors and agents (`resilient.py`) with one conversation per visitor, both
parties sending steadily; then, once the faults are over, everyone settles and what each
client holds is compared with the stored history. The four figures, each held to 0:

- acknowledged messages missing from the history (the cmid at the seq its `ok` gave);
- messages stored twice (one sender's cmid twice in one conversation);
- seq gaps or reorderings among the live `msg` events of one connection;
- messages a client never received, live or by resync (or received as something else).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from chat_server.backends.redis.store import RedisStore
from chat_server.core import ids, tokens
from chat_server.core.clock import SystemClock
from chat_server.core.model import Agent, AgentRole, Kind, Message, Site
from tests.chaos.figures import Result, info, zero
from tests.chaos.link import ORIGIN, Codec
from tests.chaos.resilient import ResilientAgent, ResilientClient, ResilientVisitor
from tests.conftest import free_port, password_hash
from tests.processes import ServerProcess
from tests.redis_server import RedisServer

NODE_ENV = {
    # the default, as a deployment keeps it: an agent back within 30 s keeps its chats
    "CHAT_AGENT_GRACE_S": "30",
    # every client here comes from 127.0.0.1; real visitors come from many addresses
    "CHAT_NEW_VISITOR_RATE": "10000",
    "CHAT_NEW_VISITOR_BURST": "10000",
    "CHAT_HANDSHAKE_RATE": "1000",
    "CHAT_HANDSHAKE_BURST": "1000",
}


@dataclass
class Cluster:
    redis: RedisServer
    nodes: list[ServerProcess]
    store: RedisStore

    async def restart(self, index: int, *, kill: bool = True) -> None:
        """SIGKILL (or SIGTERM) a node and start it again on its port and data."""
        node = self.nodes[index]
        if kill:
            node.kill()
        else:
            node.stop()
        node.start()
        await node.ready(timeout=20)


@contextlib.asynccontextmanager
async def cluster(tmp: Path, nodes: int) -> AsyncIterator[Cluster]:
    """Redis and the nodes, all stopped on the way out (also on failure)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    redis = RedisServer(binary, tmp / "redis", free_port())
    prefix = ids.new_id("k")
    env = {"CHAT_REDIS_URL": "", "CHAT_REDIS_PREFIX": prefix, **NODE_ENV}
    processes = [ServerProcess(tmp / f"node{i}", **env) for i in range(nodes)]
    store: RedisStore | None = None
    try:
        redis.start()
        for node in processes:
            node.env["CHAT_REDIS_URL"] = redis.url
            node.start()
        await asyncio.gather(*(node.ready(timeout=30) for node in processes))
        store = RedisStore(redis.url, SystemClock(), prefix=prefix)
        await store.directory.put_site(Site("shop", (ORIGIN,)))
        yield Cluster(redis, processes, store)
    finally:
        for node in processes:
            node.stop()
        if store is not None:
            with contextlib.suppress(Exception):
                await store.stop()
        redis.stop(kill=True)


@dataclass
class Crowd:
    visitors: list[ResilientVisitor]
    agents: list[ResilientAgent]
    owner: dict[str, str] = field(default_factory=dict)
    """cid -> the agent id that held it once everyone was assigned."""
    talking: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def clients(self) -> list[ResilientClient]:
        return [*self.visitors, *self.agents]

    async def stop(self) -> None:
        await self.quiet()
        for client in self.clients:
            await client.stop()

    async def quiet(self) -> None:
        """No new messages from now (those not acknowledged yet are still resent)."""
        for task in self.talking:
            task.cancel()
        for task in self.talking:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.talking.clear()


async def add_agent(store: RedisStore, name: str, max_chats: int) -> tuple[str, str]:
    agent = Agent(
        id=ids.agent_id(),
        email=f"{name.lower()}-{ids.new_id('x')}@x.example",
        name=name,
        role=AgentRole.AGENT,
        max_chats=max_chats,
        password_hash=password_hash(),
    )
    await store.directory.add_agent(agent)
    token = tokens.new_secret_token("cat")
    await store.directory.add_credential(tokens.hash_secret(token), agent.id, "token", None)
    return agent.id, token


async def populate(
    c: Cluster, urls: list[str], *, conversations: int, agents: int, scale: float, seed: int
) -> Crowd:
    """Agents online (max_chats 2 to 4), then one visitor per conversation, each started
    and assigned, every client on a node of its own choosing."""
    rng = random.Random(seed)
    caps = [2 + i % 3 for i in range(agents)]
    if sum(caps) < conversations:
        raise ValueError(f"{agents} agents hold {sum(caps)} conversations, not {conversations}")
    codecs: list[Codec] = ["chat.v1.json", "chat.v1.msgpack"]
    crowd = Crowd([], [])
    for i, cap in enumerate(caps):
        _, token = await add_agent(c.store, f"Agent{i}", cap)
        agent = ResilientAgent(
            f"a{i}", urls, random.Random(rng.random()), token=token, scale=scale,
            codec=codecs[i % 2],
        )  # fmt: skip
        crowd.agents.append(agent)
        agent.start()
    try:
        await asyncio.gather(*(a.call("status", state="online") for a in crowd.agents))
        for i in range(conversations):
            visitor = ResilientVisitor(
                f"v{i}", urls, random.Random(rng.random()), scale=scale, codec=codecs[i % 2]
            )
            crowd.visitors.append(visitor)
            visitor.start()
        await asyncio.gather(*(v.open(f"hello from {v.name}") for v in crowd.visitors))
        async with asyncio.timeout(30):
            await asyncio.gather(*(v.assigned.wait() for v in crowd.visitors))
            while sum(len(a.held) for a in crowd.agents) < conversations:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except BaseException:
        await crowd.stop()
        raise
    for agent in crowd.agents:
        for cid in agent.held:
            assert agent.id is not None
            crowd.owner[cid] = agent.id
    return crowd


async def talk(client: ResilientClient, cid: str, interval: float, rng: random.Random) -> None:
    n = 0
    while True:
        await asyncio.sleep(interval * rng.uniform(0.5, 1.5))
        n += 1
        await client.say(cid, f"{client.name} {n}")


def start_talking(crowd: Crowd, rate: float, seed: int) -> None:
    """Both parties of every conversation send, `rate` messages a second in all, each
    waiting for its previous message's `ok` (resent across drops) before the next."""
    rng = random.Random(seed)
    interval = 2 / rate
    for visitor in crowd.visitors:
        assert visitor.cid is not None
        rngv = random.Random(rng.random())
        crowd.talking.append(asyncio.create_task(talk(visitor, visitor.cid, interval, rngv)))
    for agent in crowd.agents:
        for cid in agent.held:
            rnga = random.Random(rng.random())
            crowd.talking.append(asyncio.create_task(talk(agent, cid, interval, rnga)))


async def histories(store: RedisStore, cids: list[str]) -> dict[str, list[Message]]:
    out: dict[str, list[Message]] = {}
    for cid in cids:
        messages: list[Message] = []
        more = True
        while more:
            after = messages[-1].seq if messages else 0
            page, more = await store.conversations.history(cid, after, 200, notes=True)
            messages += page
            more = more and bool(page)
        out[cid] = messages
    return out


def visible(client: ResilientClient, message: Message) -> bool:
    return client.role == "agent" or message.kind is not Kind.NOTE


def followed(client: ResilientClient) -> list[str]:
    if isinstance(client, ResilientVisitor):
        return [client.cid] if client.cid else []
    assert isinstance(client, ResilientAgent)
    return list(client.held)


def unreceived(client: ResilientClient, stored: dict[str, list[Message]]) -> list[str]:
    """What the client should hold and does not (or holds as another message)."""
    problems: list[str] = []
    for cid in followed(client):
        had = client.had.get(cid, {})
        missing = [m.seq for m in stored[cid] if visible(client, m) and m.seq not in had]
        if missing:
            problems.append(f"{client.name} never got {cid} seqs {missing[:8]}")
        by_seq = {m.seq: m for m in stored[cid]}
        for seq, cmid in client.cmid_at.get(cid, {}).items():
            if seq not in by_seq or by_seq[seq].cmid != cmid:
                problems.append(f"{client.name} got {cmid} as {cid} seq {seq}")
    return problems


async def settle(crowd: Crowd, store: RedisStore, timeout: float) -> float:
    """Wait (bounded) until every client is connected, has no message left to resend,
    and holds every message it should; how long that took."""
    started = time.monotonic()
    cids = [v.cid for v in crowd.visitors if v.cid]
    while time.monotonic() - started < timeout:
        if all(c.ready.is_set() and not c.pending for c in crowd.clients):
            stored = await histories(store, cids)
            if not any(unreceived(c, stored) for c in crowd.clients):
                break
        await asyncio.sleep(0.3)
    return time.monotonic() - started


@dataclass
class Verdict:
    lost: int = 0
    twice: int = 0
    gaps: int = 0
    unreceived: int = 0
    moved: int = 0
    unjudged: int = 0
    """Live events on connections whose `hello` answer never came (timed out, node
    killed): without the seq the server started them after, they cannot be judged."""
    notes: list[str] = field(default_factory=list)


Index = dict[str, dict[int, Message]]
"""cid -> seq -> the stored message."""


def live_gaps(client: ResilientClient, index: Index, v: Verdict) -> None:
    """Each connection's live seqs, per conversation, must follow its base one by one,
    skipping only what the client sent itself (never echoed) and what its role never sees."""
    own: dict[str, set[int]] = {}
    for cid, seq in client.acked.values():
        own.setdefault(cid, set()).add(seq)
    for link in client.links:
        prev: dict[str, int] = {}
        for cid, seq, assigned in link.live:
            if cid not in index:
                continue
            if not link.greeted:  # its `hello` answer never came: nothing to go by
                v.unjudged += 1
                continue
            if assigned:  # the history came with it: live ones go on after it
                prev[cid] = max(seq, prev.get(cid, link.base.get(cid, 0)))
                continue
            if cid not in link.base and cid not in prev:
                v.gaps += 1
                v.notes.append(f"{client.name} link {link.number}: live {cid} {seq}, no base")
                prev[cid] = seq
                continue
            last = prev.get(cid, link.base.get(cid, 0))
            if seq <= last:
                v.gaps += 1
                v.notes.append(f"{client.name} link {link.number}: {cid} {seq} after {last}")
                continue
            at = index[cid]
            skipped = [
                s
                for s in range(last + 1, seq)
                if s in at and visible(client, at[s]) and s not in own.get(cid, set())
            ]
            if skipped:
                v.gaps += 1
                v.notes.append(
                    f"{client.name} link {link.number}: {cid} {seq} after {last}, "
                    f"skipping {skipped[:5]}"
                )
            prev[cid] = seq


async def verify(crowd: Crowd, store: RedisStore) -> Verdict:
    v = Verdict()
    cids = [c for c in (v_.cid for v_ in crowd.visitors) if c]
    stored = await histories(store, cids)
    index: Index = {cid: {m.seq: m for m in messages} for cid, messages in stored.items()}
    for cid, messages in stored.items():
        counts = Counter((m.sender.id, m.cmid) for m in messages if m.cmid is not None)
        for (sender, cmid), n in counts.items():
            if n > 1:
                v.twice += n - 1
                v.notes.append(f"{cid}: {cmid} of {sender} stored {n} times")
        conv = await store.conversations.get(cid)
        holder = conv.agent.id if conv is not None and conv.agent is not None else None
        if holder != crowd.owner.get(cid):
            v.moved += 1
            v.notes.append(f"{cid}: held by {holder}, was {crowd.owner.get(cid)}")
    for client in crowd.clients:
        for cmid, (cid, seq) in client.acked.items():
            at = index.get(cid, {}).get(seq)
            if at is None or at.cmid != cmid or at.sender.id != client.id:
                v.lost += 1
                v.notes.append(f"{client.name}: acked {cmid} as {cid} seq {seq}, stored {at}")
        live_gaps(client, index, v)
        problems = unreceived(client, stored)
        v.unreceived += len(problems)
        v.notes += problems
        v.notes += client.notes
    return v


def report(result: Result, crowd: Crowd, verdict: Verdict) -> None:
    """The four figures held to 0, then what the load was."""
    clients = crowd.clients
    result.add(
        zero("acknowledged messages missing from the history", verdict.lost),
        zero("messages stored twice", verdict.twice),
        zero("seq gaps or reorderings seen live", verdict.gaps),
        zero("messages a client never received", verdict.unreceived),
        zero("conversations taken from their agent", verdict.moved),
        info("conversations", len(crowd.visitors)),
        info("agents", len(crowd.agents)),
        info("messages sent", sum(c.stats.sent for c in clients)),
        info("messages acknowledged", sum(len(c.acked) for c in clients)),
        info("resends", sum(c.stats.resends for c in clients)),
        info("reconnects", sum(c.stats.reconnects for c in clients)),
        info("failed connects or hellos", sum(c.stats.refused for c in clients)),
        info("live events on connections never greeted", verdict.unjudged),
        info("state frames (a node's pub/sub had a gap)", sum(c.stats.states for c in clients)),
    )
    errors: Counter[str] = Counter()
    for client in clients:
        errors.update(client.stats.errors)
    if errors:
        result.notes.append("errors answered: " + ", ".join(f"{k} {n}" for k, n in errors.items()))
    result.notes.extend(verdict.notes)
