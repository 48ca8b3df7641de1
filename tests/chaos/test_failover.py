"""Chaos scenario 4b at CI size (issue 18): the Redis primary SIGKILLed under load and a
replica promoted by Sentinel (`tests/chaos/failover.py`); and the two mechanisms it rests
on, each on its own: `replicas_ack` (`WAIT`) and a demoted primary never written."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from chat_server.backends.redis.store import RedisStore
from chat_server.backends.redis.wire import WAIT_MS
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Draft, Kind
from tests.chaos import failover
from tests.conftest import require_tool
from tests.contract import writes
from tests.contract.support import seqs
from tests.redis_sentinel import MASTER, SentinelSet, command, role
from tests.redis_server import RedisServer


@pytest.mark.slow
async def test_failover(tmp_path: Path) -> None:
    require_tool("redis-server", "apt-get install redis-server")
    result = await failover.run(tmp_path, **failover.CI)
    print(result.render())
    assert result.holds, result.render()


@contextlib.asynccontextmanager
async def replicated(tmp: Path, **options: Any) -> AsyncIterator[SentinelSet]:
    binary = require_tool("redis-server", "apt-get install redis-server")
    servers = SentinelSet(binary, tmp / "redis", **options)
    try:
        await asyncio.to_thread(servers.start)
        yield servers
    finally:
        servers.stop()


@contextlib.asynccontextmanager
async def stopped(server: RedisServer) -> AsyncIterator[None]:
    """The server frozen (SIGSTOP): connected, but acknowledging nothing."""
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.proc.send_signal(signal.SIGCONT)


async def unavailable(write: Awaitable[Any]) -> float:
    """The write is refused `unavailable`; how long that took."""
    began = time.monotonic()
    with pytest.raises(ChatError) as refused:
        await write
    assert refused.value.code is ErrorCode.UNAVAILABLE
    return time.monotonic() - began


@pytest.mark.slow
async def test_replicas_ack_refuses_what_no_replica_confirmed(tmp_path: Path) -> None:
    """With `replicas_ack` 1 and the replica frozen, a message (the lean wire's script) and
    conversation changes (redis-py's) are done on the primary but refused after `WAIT_MS`;
    a resend of the message with its cmid is refused too while no replica has it (also on
    another node's connection), and gets the stored seq once one has. With the default 0
    nothing waits."""
    clock = ManualClock()
    async with replicated(tmp_path, replicas=1, sentinels=0) as servers:
        prefix = ids.new_id("ra")
        store = RedisStore(servers.direct_url, clock, prefix=prefix, replicas_ack=1)
        other = RedisStore(servers.direct_url, clock, prefix=prefix, replicas_ack=1)  # a node
        eager = RedisStore(servers.direct_url, clock, prefix=ids.new_id("r0"))
        try:
            await store.start()
            await other.start()
            await eager.start()
            await writes.scene(store, clock)
            await writes.scene(eager, clock)
            draft = Draft(Kind.TEXT, writes.visitor("v_active"), "replicated?", "r-1")
            async with stopped(servers.servers[1]):
                took = await unavailable(store.conversations.append("c_active", draft))
                assert took >= WAIT_MS / 1000 * 0.9
                assert await seqs(store, "c_active") == [1, 2, 3, 4]  # on the primary
                await unavailable(store.conversations.append("c_active", draft))
                # on another connection, whose own writes the replica has
                await unavailable(other.conversations.append("c_active", draft))
                await unavailable(writes.claim(store, clock))
                await unavailable(writes.start(store, clock))
                began = time.monotonic()
                await eager.conversations.append("c_active", draft)
                await writes.claim(eager, clock)
                assert time.monotonic() - began < WAIT_MS / 1000
            again = await store.conversations.append("c_active", draft)
            assert (again.created, again.message.seq) == (False, 4)
            claimed = await store.conversations.get("c_queued")
            assert claimed is not None and claimed.agent is not None  # refused, but done
            assert claimed.agent.id == writes.BOB.id
        finally:
            await store.stop()
            await other.stop()
            await eager.stop()


@pytest.mark.slow
async def test_a_demoted_primary_is_never_written(tmp_path: Path) -> None:
    """The primary turned replica under the nodes' open connections (as a partition healed
    late would): the next message hits `READONLY`, which drops the lean wire's connection;
    the reconnect asks the Sentinels, who still name the old primary, and `ROLE` says it is
    not one: `unavailable`, never an `ok` from a replica (not even for a resend, which a
    replica could answer). Once the Sentinels follow, the writes go to the new primary."""
    clock = ManualClock()
    async with replicated(tmp_path, replicas=1) as servers:
        store = RedisStore(servers.url, clock, prefix=ids.new_id("rd"))
        try:
            await store.start()
            await writes.scene(store, clock)
            old, new = (s.port for s in servers.servers)
            command(new, "REPLICAOF", "NO", "ONE")
            command(old, "REPLICAOF", "127.0.0.1", str(new))
            draft = Draft(Kind.TEXT, writes.visitor("v_active"), "where to?", "d-1")
            await unavailable(store.conversations.append("c_active", draft))
            assert not store.wire.connected  # READONLY dropped it
            # a resend of a stored message: the old primary (now a replica, still named by
            # the Sentinels) would find it, but `ROLE` keeps the wire off it
            resent = Draft(Kind.TEXT, writes.agent_sender(writes.ANN), "hello", "ann-1")
            await unavailable(store.conversations.append("c_active", resent))
            assert await asyncio.to_thread(role, old) == "slave"
            command(servers.sentinel_ports[0], "SENTINEL", "FAILOVER", MASTER)
            deadline = time.monotonic() + 30
            while True:  # the Sentinels find the new primary (a forced failover, or theirs)
                try:
                    written = await store.conversations.append("c_active", draft)
                    break
                except ChatError:
                    assert time.monotonic() < deadline, "no primary found again"
                    await asyncio.sleep(0.1)
            assert written.message.seq == 4
            found = await store.conversations.append("c_active", resent)
            assert (found.created, found.message.seq) == (False, 3)
            assert await asyncio.to_thread(servers.primary_port) is not None
        finally:
            await store.stop()
