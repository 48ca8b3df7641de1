"""Presence in Redis across nodes, beyond the contract (`tests/contract/test_presence.py`):
two `RedisStore`s on one prefix are two nodes; a dead node's people go after the ttl, a
reaped node writes itself again, the cost does not grow with connections, writes keep
their order, and a leave during an outage is written later. A real redis-server, a manual
clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from chat_server.backends.redis import presence
from chat_server.backends.redis.presence import NodePresence
from chat_server.backends.redis.store import RedisStore
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from tests.conftest import free_port, require_tool
from tests.redis_server import RedisServer

TTL_S = 10.0
Nodes = Callable[[int], list[RedisStore]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def nodes(redis_server: RedisServer, clock: ManualClock) -> AsyncIterator[Nodes]:
    prefix = ids.new_id("p")
    made: list[RedisStore] = []

    def make(n: int) -> list[RedisStore]:
        stores = [
            RedisStore(redis_server.url, clock, prefix=prefix, presence_ttl_s=TTL_S)
            for _ in range(n)
        ]
        made.extend(stores)
        return stores

    yield make
    for store in made:
        await store.stop()


def node(store: RedisStore) -> NodePresence:
    assert isinstance(store.presence, NodePresence)
    return store.presence


async def beat(clock: ManualClock, *stores: RedisStore) -> None:
    for store in stores:
        await store.presence.heartbeat(clock.now_ms())


async def test_gone_only_when_no_node_holds_it(nodes: Nodes) -> None:
    a, b = nodes(2)
    await a.presence.connected("agent", "a_ann", "conn-a", 100)
    await b.presence.connected("agent", "a_ann", "conn-b", 110)
    assert await a.presence.disconnected("agent", "a_ann", "conn-a", 200) == 0
    assert await b.presence.online("agent") == {"a_ann"}
    assert await b.presence.gone_since("agent", 10_000) == []
    await b.presence.disconnected("agent", "a_ann", "conn-b", 300)
    assert await a.presence.online("agent") == set()
    assert await a.presence.gone_since("agent", 10_000) == ["a_ann"]
    assert await a.presence.gone_since("agent", 300) == []  # since b's leave, the last one


async def test_a_dead_nodes_people_go_after_the_ttl(nodes: Nodes, clock: ManualClock) -> None:
    a, b = nodes(2)
    await beat(clock, a, b)
    await a.presence.connected("agent", "a_ann", "conn-1", clock.now_ms())
    await a.presence.connected("visitor", "v_1", "conn-2", clock.now_ms())
    await a.presence.connected("visitor", "v_2", "conn-3", clock.now_ms())
    await b.presence.connected("visitor", "v_2", "conn-4", clock.now_ms())  # on both nodes
    # a dies (stops beating); b goes on
    clock.advance(TTL_S - 1)
    await beat(clock, b)
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == []
    assert await b.presence.online("agent") == {"a_ann"}
    clock.advance(2)
    await beat(clock, b)
    died = clock.now_ms()
    assert await b.presence.gone_since("agent", died + 1) == ["a_ann"]
    assert await b.presence.gone_since("agent", died) == []  # gone since the reap
    assert await b.presence.gone_since("visitor", died + 1) == ["v_1"]
    assert await b.presence.online("agent") == set()
    assert await b.presence.online("visitor") == {"v_2"}
    # the dead node is forgotten once reaped
    assert await b.redis.zrange(b.keys.nodes(), 0, -1) == [node(b).node_id.encode()]
    assert not await b.redis.exists(b.keys.node_present("visitor", node(a).node_id))
    # b's people are unaffected
    await b.presence.disconnected("visitor", "v_2", "conn-4", died + 5)
    assert await b.presence.gone_since("visitor", died + 6) == ["v_1", "v_2"]


async def test_a_reaped_node_that_comes_back_writes_itself_again(
    nodes: Nodes, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = nodes(2)
    await beat(clock, a, b)
    await a.presence.connected("agent", "a_ann", "conn-1", clock.now_ms())
    await a.presence.connected("visitor", "v_1", "conn-2", clock.now_ms())
    clock.advance(TTL_S + 1)  # a stalls
    await beat(clock, b)
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == ["a_ann"]
    # and comes back: the absence is cancelled, and the dispatcher told to route again
    assert await a.presence.heartbeat(clock.now_ms()) is True
    assert "expired" in caplog.text
    assert await a.presence.heartbeat(clock.now_ms()) is False
    assert await b.presence.online("agent") == {"a_ann"}
    assert await b.presence.online("visitor") == {"v_1"}
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == []
    # its presence is whole again: leaving still works
    await a.presence.disconnected("agent", "a_ann", "conn-1", clock.now_ms())
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == ["a_ann"]


async def test_a_reaped_node_notices_at_its_next_write(nodes: Nodes, clock: ManualClock) -> None:
    a, b = nodes(2)
    await beat(clock, a, b)
    await a.presence.connected("agent", "a_ann", "conn-1", clock.now_ms())
    clock.advance(TTL_S + 1)
    await beat(clock, b)
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == ["a_ann"]
    await a.presence.connected("agent", "a_bob", "conn-2", clock.now_ms())  # before a's beat
    assert await b.presence.online("agent") == {"a_ann", "a_bob"}
    assert await b.presence.gone_since("agent", clock.now_ms() + 1) == []


async def test_a_big_dead_node_is_reaped_in_bounded_steps(
    nodes: Nodes, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence, "REAP_BUDGET", 500)
    monkeypatch.setattr(presence, "WRITE_BATCH", 300)
    a, b = nodes(2)
    await beat(clock, a, b)
    visitors = [f"v_{i}" for i in range(2_100)]
    await asyncio.gather(
        *(a.presence.connected("visitor", v, f"conn-{v}", clock.now_ms()) for v in visitors)
    )
    assert len(await b.presence.online("visitor")) == 2_100
    clock.advance(TTL_S + 1)
    await beat(clock, b)
    gone = await b.presence.gone_since("visitor", clock.now_ms() + 1)
    assert sorted(gone) == sorted(visitors)
    assert await b.presence.online("visitor") == set()
    assert await b.redis.zcard(b.keys.nodes()) == 1


async def test_heartbeat_and_sweep_cost_does_not_grow_with_connections(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes(2)

    async def commands_per_second() -> int:
        """Redis commands (those run by scripts too) of a second of sweeping on both nodes."""
        before = await a.redis.info("commandstats")
        clock.advance(1)
        for one in (a, b):
            await one.presence.heartbeat(clock.now_ms())
            await one.presence.gone_since("agent", clock.now_ms())
            await one.presence.gone_since("visitor", clock.now_ms())
        after = await a.redis.info("commandstats")
        return sum(
            int(v["calls"]) - int(before.get(k, {"calls": 0})["calls"]) for k, v in after.items()
        )

    await commands_per_second()  # loads the scripts
    idle = await commands_per_second()
    await asyncio.gather(
        *(
            a.presence.connected("visitor", f"v_{i}", f"conn-{i}", clock.now_ms())
            for i in range(3_000)
        ),
        *(
            a.presence.connected("agent", f"a_{i}", f"conn-a{i}", clock.now_ms())
            for i in range(600)
        ),
    )
    assert await commands_per_second() == idle
    # per node: MULTI ZSCORE ZADD EXEC, and per kind EVALSHA (ZRANGEBYSCORE x2); and INFO
    assert idle == 2 * (4 + 2 * 3) + 1


async def test_connects_and_disconnects_reach_redis_in_order(nodes: Nodes) -> None:
    a, b = nodes(2)

    async def visit(ident: str, conn: str, stay: bool) -> None:
        await a.presence.connected("visitor", ident, conn, 100)
        await asyncio.sleep(0)
        if not stay:
            await a.presence.disconnected("visitor", ident, conn, 200)

    for _ in range(5):
        await asyncio.gather(
            *(visit(f"v_{i % 20}", f"c-{i}", stay=False) for i in range(200)),
            *(visit(f"v_stay{i}", f"s-{i}", stay=True) for i in range(10)),
        )
    assert await b.presence.online("visitor") == {f"v_stay{i}" for i in range(10)}
    assert sorted(await b.presence.gone_since("visitor", 1_000)) == sorted(
        f"v_{i}" for i in range(20)
    )
    assert not node(a)._dirty


async def test_a_failed_connect_leaves_nothing_behind(clock: ManualClock) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", clock)  # nobody listens
    try:
        with pytest.raises(ChatError) as raised:
            await store.presence.connected("agent", "a_ann", "conn-1", 100)
        assert raised.value.code is ErrorCode.UNAVAILABLE
        assert node(store)._conns == {}
    finally:
        await store.stop()


async def test_a_leave_during_a_redis_outage_is_written_later(
    tmp_path: Path, clock: ManualClock
) -> None:
    binary = require_tool("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, tmp_path / "redis", free_port())
    server.start()
    store = RedisStore(server.url, clock, presence_ttl_s=TTL_S)
    try:
        await beat(clock, store)
        await store.presence.connected("agent", "a_ann", "conn-1", clock.now_ms())
        server.stop()
        with pytest.raises(ChatError):
            await store.presence.disconnected("agent", "a_ann", "conn-1", clock.now_ms())
        server.start()
        clock.advance(1)
        await beat(clock, store)  # retries the write
        assert await store.presence.online("agent") == set()
        assert await store.presence.gone_since("agent", clock.now_ms()) == ["a_ann"]
    finally:
        await store.stop()
        server.stop(kill=True)
