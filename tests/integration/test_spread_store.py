"""A spread installation's store (`redis+cluster://...?partitions=3`, `SpreadStore`) on a real
Redis Cluster: what crosses partitions. The role contracts run on it as the cluster backend
(tests/contract); here, each conversation is placed in a chosen partition, so that every
case crosses them: an agent's capacity counted over all, lists merged in one order,
webhook deliveries numbered apart, the audit log merged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_server.backends.redis.spread_store import SpreadStore
from chat_server.core import ids
from chat_server.core import webhooks as hooks
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import AuditEntry, Conversation, State
from tests.contract.support import agent, open_conv, speaker, text
from tests.redis_cluster import RedisCluster

PARTITIONS = 3


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(redis_cluster: RedisCluster, clock: ManualClock) -> AsyncIterator[SpreadStore]:
    url = f"{redis_cluster.url}?partitions={PARTITIONS}"
    s = SpreadStore(url, clock, prefix=ids.new_id("sp"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def visitor_in(store: SpreadStore, partition: int) -> str:
    while store.where.of(vid := ids.visitor_id()) != partition:
        pass
    return vid


async def open_in(store: SpreadStore, clock: ManualClock, partition: int) -> str:
    """A conversation (queued) whose visitor, so itself, is in `partition`."""
    vid = visitor_in(store, partition)
    cid = ids.conversation_id(vid)
    await open_conv(store, clock, cid, vid)
    clock.advance(1)
    return cid


async def test_capacity_counts_every_partition(store: SpreadStore, clock: ManualClock) -> None:
    ann = agent(max_chats=2)
    await store.directory.add_agent(ann)
    first, second, third = [await open_in(store, clock, p) for p in range(3)]
    await store.conversations.claim(first, ann, clock.now_ms())
    await store.conversations.claim(second, ann, clock.now_ms())
    with pytest.raises(ChatError) as refused:
        await store.conversations.claim(third, ann, clock.now_ms())
    assert refused.value.code is ErrorCode.CONFLICT
    with pytest.raises(ChatError):
        await store.conversations.transfer(third, ann, clock.now_ms())
    assert (await store.conversations.loads())[ann.id].active == 2
    assert {c.id for c in await store.conversations.active_of(ann.id)} == {first, second}
    # a supervisor's assign goes past the limit, as on one Redis
    await store.conversations.transfer(third, ann, clock.now_ms(), ignore_capacity=True)
    assert (await store.conversations.loads())[ann.id].active == 3
    lock = store.base.keys.capacity_lock(ann.id)
    assert await store.base.redis.exists(lock) == 0  # every claim let it go


async def test_concurrent_claims_over_partitions_stop_at_capacity(
    store: SpreadStore, clock: ManualClock
) -> None:
    ann = agent(max_chats=3)
    await store.directory.add_agent(ann)
    cids = [await open_in(store, clock, p % PARTITIONS) for p in range(9)]

    async def claim(cid: str) -> bool:
        try:
            await store.conversations.claim(cid, ann, clock.now_ms())
        except ChatError as exc:
            assert exc.code is ErrorCode.CONFLICT
            return False
        return True

    taken = await asyncio.gather(*(claim(cid) for cid in cids))
    assert sum(taken) == 3
    assert len(await store.conversations.active_of(ann.id)) == 3


async def test_lists_merge_as_one_partition_orders_them(
    store: SpreadStore, clock: ManualClock
) -> None:
    cids = [await open_in(store, clock, p) for p in (2, 0, 1, 0, 2)]
    assert {store.where.of(c) for c in cids} == {0, 1, 2}
    assert [c.id for c in await store.conversations.waiting()] == cids  # arrival order
    assert [c.id for c in await store.conversations.find(limit=3)] == cids[::-1][:3]
    queued = await store.conversations.find(state=State.QUEUED, limit=10)
    assert [c.id for c in queued] == cids[::-1]
    ann = agent(max_chats=5)
    await store.directory.add_agent(ann)
    for cid in cids[:2]:
        await store.conversations.claim(cid, ann, clock.now_ms())
    await store.conversations.close(cids[0], clock.now_ms(), by="agent", reason="x", resolved=True)
    closed: list[Conversation] = await store.conversations.find(state=State.CLOSED)
    assert [c.id for c in closed] == [cids[0]]
    assert [c.id for c in await store.conversations.find(agent_id=ann.id)] == cids[1::-1]
    found = await store.conversations.find(visitor_id=closed[0].visitor_id)
    assert [c.id for c in found] == [cids[0]]


async def test_webhook_deliveries_are_numbered_apart(
    store: SpreadStore, clock: ManualClock
) -> None:
    endpoint = hooks.Endpoint(
        ids.new_id("we"), "shop", "https://hooks.example/in", "s3cret", (hooks.MESSAGE,), 1
    )
    await store.webhooks.add_endpoint(endpoint)
    wants = hooks.Wants({"shop": frozenset({hooks.MESSAGE})})
    ann = agent()
    cids = [await open_in(store, clock, p) for p in range(3)]
    for cid in cids:
        await store.conversations.claim(cid, ann, clock.now_ms())
        await store.conversations.append(cid, text(speaker(ann), "hello"), webhooks=wants)
        clock.advance(5)
    assert await store.webhooks.fan_out() == 3
    queued = await store.webhooks.queued(endpoint.id, 10)
    assert [d.event.cid for d in queued] == cids  # oldest event first, over partitions
    assert len({d.n for d in queued}) == 3
    await store.webhooks.delivered(queued[1])
    left = await store.webhooks.queued(endpoint.id, 10)
    assert [d.n for d in left] == [queued[0].n, queued[2].n]
    await store.webhooks.park(left[1], "HTTP 500")
    [parked] = await store.webhooks.parked()
    assert (parked.n, parked.event.cid) == (left[1].n, cids[2])
    assert await store.webhooks.replay(parked.n) == 1
    assert [d.n for d in await store.webhooks.queued(endpoint.id, 10)] == [d.n for d in left]


async def test_the_audit_log_merges_every_partition(store: SpreadStore, clock: ManualClock) -> None:
    ann = agent()
    cids = [await open_in(store, clock, p) for p in range(3)]
    for cid in cids:
        await store.conversations.claim(cid, ann, clock.now_ms())
        entry = AuditEntry(clock.now_ms(), ann.id, "msg", cid, "")
        await store.conversations.append(cid, text(speaker(ann), "hi"), audit=entry)
        clock.advance(10)
    await store.audit.record(AuditEntry(clock.now_ms(), ann.id, "view", None, ""))
    log = await store.audit.log(agent_id=ann.id)
    assert [(e.action, e.cid) for e in log] == [("view", None)] + [
        ("msg", cid) for cid in reversed(cids)
    ]
    assert [e.cid for e in await store.audit.log(cid=cids[1])] == [cids[1]]
    assert len(await store.audit.log(limit=2)) == 2


async def test_a_conversation_outside_its_visitors_partition_is_refused(
    store: SpreadStore, clock: ManualClock
) -> None:
    vid = visitor_in(store, 0)
    cid = ids.conversation_id(visitor_in(store, 1))
    with pytest.raises(ValueError, match="not in the partition of its visitor"):
        await open_conv(store, clock, cid, vid)


async def test_the_inactivity_sweep_takes_from_every_partition_in_turn(
    store: SpreadStore, clock: ManualClock
) -> None:
    ann = agent(max_chats=6)
    cids = [await open_in(store, clock, p) for p in (0, 0, 1, 1, 2, 2)]
    for cid in cids:
        await store.conversations.claim(cid, ann, clock.now_ms())
    quiet = await store.conversations.quiet_since(3)
    assert {store.where.of(q.cid) for q in quiet} == {0, 1, 2}
    assert len(await store.conversations.quiet_since(10)) == 6


async def test_an_endpoint_is_removed_from_every_partition(store: SpreadStore) -> None:
    endpoint = hooks.Endpoint(ids.new_id("we"), "shop", "https://h.example/", "s", ("message",), 1)
    await store.webhooks.add_endpoint(endpoint)
    webhooks: Any = store.webhooks
    await webhooks.parts[0].remove_endpoint(endpoint.id)  # as if partition 0's add had failed
    assert await store.webhooks.remove_endpoint(endpoint.id) == endpoint
    for part in webhooks.parts:
        assert await part.endpoints() == []


async def test_a_conversations_entries_of_one_millisecond_keep_their_order(
    store: SpreadStore, clock: ManualClock
) -> None:
    ann = agent()
    cid = await open_in(store, clock, 1)  # not partition 0, where entries of no chat go
    await store.audit.record(AuditEntry(clock.now_ms(), ann.id, "claim", cid, ""))
    await store.conversations.claim(cid, ann, clock.now_ms())
    entry = AuditEntry(clock.now_ms(), ann.id, "msg", cid, "")  # the same millisecond
    await store.conversations.append(cid, text(speaker(ann), "hi"), audit=entry)
    assert [e.action for e in await store.audit.log(cid=cid)] == ["msg", "claim"]
    assert [e.action for e in await store.audit.log(agent_id=ann.id)] == ["msg", "claim"]
