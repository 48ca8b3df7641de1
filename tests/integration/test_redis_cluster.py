"""The server on a real Redis Cluster (`redis+cluster://`, `backends/redis/cluster.py`):
it chats end to end, keeps every key of an installation in one slot, and follows its
slot to the promoted replica after a failover."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from chat_server.backends.redis.bus import RedisBus
from chat_server.backends.redis.cluster import key_slot
from chat_server.backends.redis.store import RedisStore
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError
from tests.conftest import Live, ServerFactory
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


@CLUSTER
async def test_every_key_of_an_installation_is_in_one_slot(
    start_server: ServerFactory, redis_cluster: RedisCluster
) -> None:
    live = await start_server()
    await chat(live)
    prefix = "{" + live.settings.redis_prefix + "}"
    owner = redis_cluster.primary_of(live.settings.redis_prefix)
    found: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = command(owner, "SCAN", cursor, "MATCH", prefix + "*", "COUNT", 1000)  # type: ignore[misc]
        found += batch
        if cursor == b"0":
            break
    assert len(found) > 10, found  # the chat wrote conversations, indexes, presence...
    slots = {command(owner, "CLUSTER", "KEYSLOT", key) for key in found}
    assert slots == {key_slot(live.settings.redis_prefix)}
    for port in redis_cluster.running():
        if port != owner and command(port, "ROLE")[0] == b"master":  # type: ignore[index]
            assert command(port, "DBSIZE") == 0 or not _keys(port, prefix)


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
