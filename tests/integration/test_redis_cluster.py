"""The server on a real Redis Cluster (`redis+cluster://`, `backends/redis/cluster.py`):
it chats end to end, keeps every key of an installation in one slot (or, spread, each
partition's in one), and follows its slot to the promoted replica after a failover."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chat_server.backends.redis import cluster
from chat_server.backends.redis.bus import RedisBus
from chat_server.backends.redis.cluster import key_slot
from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.store import RedisStore
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError
from tests.conftest import CLUSTER_PARTITIONS, Live, ServerFactory
from tests.contract.support import open_conv, text, visitor
from tests.redis_cluster import RedisCluster
from tests.redis_sentinel import command

CLUSTER = pytest.mark.parametrize("backend", ["cluster"])


async def chat(live: Live) -> str:
    """A visitor and an agent talk; the conversation's id."""
    agent = await live.agent()
    vera = await live.visitor()
    cid: str = (await vera.request("start", text="hello from the cluster"))["conversation"]["id"]
    assert (await agent.event("assigned"))["conversation"]["id"] == cid
    await agent.request("msg", cid=cid, text="hi Vera", cmid="a1")
    assert (await vera.event("msg", cid=cid, text="hi Vera"))["seq"] == 3
    await vera.request("msg", cid=cid, text="thanks", cmid="v1")
    assert (await agent.event("msg", cid=cid, text="thanks"))["seq"] == 4
    return cid


@CLUSTER
async def test_the_server_chats_on_a_cluster(start_server: ServerFactory) -> None:
    """Two nodes of one installation on the cluster: a visitor on one, the agent on the
    other (sharded pub/sub between them)."""
    first = await start_server()
    second = await start_server()
    agent = await second.agent()
    vera = await first.visitor()
    cid = (await vera.request("start", text="hi"))["conversation"]["id"]
    assert (await agent.event("assigned"))["conversation"]["id"] == cid
    await agent.request("msg", cid=cid, text="hello across nodes", cmid="a0")
    assert await vera.event("msg", cid=cid, text="hello across nodes")
    assert await chat(first)


def keys_at(port: int, tag: str) -> list[bytes]:
    """Every key at `port` whose hash tag is `tag` (`{tag}:...`)."""
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = command(port, "SCAN", cursor, "MATCH", "{" + tag + "}*", "COUNT", 1000)  # type: ignore[misc]
        found += batch
        if cursor == b"0":
            return found


@CLUSTER
async def test_every_key_of_an_installation_is_in_one_slot(
    start_server: ServerFactory, redis_cluster: RedisCluster
) -> None:
    """Without `partitions`: one slot, served by one primary, as a single Redis."""
    live = await start_server(redis_url=redis_cluster.url)
    await chat(live)
    tag = live.settings.redis_prefix
    owner = redis_cluster.primary_of(tag)
    found = keys_at(owner, tag)
    assert len(found) > 10, found  # the chat wrote conversations, indexes, presence...
    slots = {command(owner, "CLUSTER", "KEYSLOT", key) for key in found}
    assert slots == {key_slot(tag)}
    for port in redis_cluster.running():
        if port != owner and command(port, "ROLE")[0] == b"master":  # type: ignore[index]
            assert command(port, "DBSIZE") == 0 or not _keys(port, "{" + tag + "}")


@CLUSTER
async def test_a_spread_installation_keeps_each_conversation_in_its_partition(
    start_server: ServerFactory, redis_cluster: RedisCluster
) -> None:
    """With `partitions=3` (the cluster backend's URL): each partition's keys in its own
    slot, the three slots on the cluster's three primaries, and each conversation whole in
    the partition of its visitor; what belongs to no conversation (the directory,
    presence) under the installation's own tag."""
    first, second = await start_server(), await start_server()
    assert cluster.partitions(first.settings.redis_url) == CLUSTER_PARTITIONS == 3
    agent = await second.agent(max_chats=20)
    cids: list[str] = []
    for _ in range(12):  # all 12 in one partition: 3 * (1/3) ** 12, about 6 in a million
        vera = await first.visitor()
        cid = (await vera.request("start", text="hello"))["conversation"]["id"]
        assert (await agent.event("assigned"))["conversation"]["id"] == cid
        await agent.request("msg", cid=cid, text="hi", cmid=f"a-{cid}")
        assert (await vera.event("msg", cid=cid, text="hi"))["seq"] == 3
        assert cid[-4:] == vera.hello["visitor"]["id"][-4:]
        cids.append(cid)
    where = Partitions(first.settings.redis_prefix, 3)
    owners = [redis_cluster.primary_of(p) for p in where.prefixes]
    assert len(set(owners)) == 3
    held: set[str] = set()
    for p, (prefix, owner) in enumerate(zip(where.prefixes, owners, strict=True)):
        found = keys_at(owner, prefix)
        assert {command(owner, "CLUSTER", "KEYSLOT", key) for key in found} <= {key_slot(prefix)}
        mine = {cid for cid in cids if where.of(cid) == p}
        named = {cid for cid in cids if any(cid.encode() in key for key in found)}
        assert named == mine, p
        held |= named
    assert held == set(cids)
    assert len({where.of(cid) for cid in cids}) >= 2
    base = keys_at(
        redis_cluster.primary_of(first.settings.redis_prefix), first.settings.redis_prefix
    )
    assert not [key for key in base if any(cid.encode() in key for cid in cids)]
    assert any(b":agent:" in key for key in base)


def _keys(port: int, prefix: str) -> list[bytes]:
    reply = command(port, "KEYS", prefix + "*")
    assert isinstance(reply, list)
    return reply


async def test_a_failover_is_followed(redis_cluster: RedisCluster) -> None:
    """A clean `CLUSTER FAILOVER` of the slot's primary while a store is connected: the
    old primary answers `MOVED` (or drops its subscribers), and the store's connections
    find the promoted replica; messages succeed again within a few seconds."""
    clock = ManualClock()
    prefix = ids.new_id("fo")
    store = RedisStore(redis_cluster.url, clock, prefix=prefix)
    await store.start()
    bus = RedisBus(redis_cluster.url, prefix=prefix)
    heard: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    bus.set_handler(lambda channel, event: heard.put_nowait((channel, event)))
    await bus.start()
    try:
        await bus.subscribe("conv:c_1")
        await bus.publish("conv:c_1", {"n": 1})
        assert await asyncio.wait_for(heard.get(), 5) == ("conv:c_1", {"n": 1})
        await open_conv(store, clock, "c_1", "v_1")
        await store.conversations.append("c_1", text(visitor(), "before"))
        owner = redis_cluster.primary_of(prefix)
        promoted = await asyncio.to_thread(redis_cluster.failover, owner)
        assert redis_cluster.primary_of(prefix) == promoted
        started = time.monotonic()
        sent = None
        while time.monotonic() - started < 10:
            try:
                sent = await store.conversations.append("c_1", text(visitor(), "after"))
                break
            except ChatError:
                await asyncio.sleep(0.1)
        assert sent is not None, "no message went through within 10 s of the failover"
        assert sent.message.seq == 3
        history, _ = await store.conversations.history("c_1", 0, 10, notes=True)
        assert [m.text for m in history] == ["first", "before", "after"]
        assert await store.conversations.get("c_1") is not None  # redis-py's pool too
        for _ in range(100):  # the slot moved: Redis dropped the subscriptions, the bus
            if bus.ready():  # subscribed again at the promoted replica
                break
            await asyncio.sleep(0.1)
        assert bus.ready()
        while not heard.empty():  # "after", unless published while the bus reconnected
            heard.get_nowait()
        await bus.publish("conv:c_1", {"n": 2})
        assert await asyncio.wait_for(heard.get(), 5) == ("conv:c_1", {"n": 2})
    finally:
        await bus.stop()
        await store.stop()


async def test_replicas_ack_on_a_cluster(redis_cluster: RedisCluster) -> None:
    """`CHAT_REDIS_REPLICAS_ACK` waits for the slot's replica: the scripts' `WAIT`, and
    `replicated()`, whose mark is a write there (a cluster does not replicate publishes)."""
    clock = ManualClock()
    store = RedisStore(redis_cluster.url, clock, prefix=ids.new_id("ra"), replicas_ack=1)
    await store.start()
    try:
        await open_conv(store, clock, "c_1", "v_1")
        sent = await store.conversations.append("c_1", text(visitor(), "acked"))
        assert sent.message.seq == 2
        await store.client.replicated()
    finally:
        await store.stop()
