"""The Redis store's own failures, beyond the contract (`tests/contract/`), on a real
redis-server: replies lost after Redis ran the write (the retry recognises its own write),
and a redis-server stopped mid-conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from chat_server.backends.redis import figures
from chat_server.backends.redis.store import RedisStore
from chat_server.core import conversation as flow
from chat_server.core import ids, samples
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Draft, Kind, Site
from chat_server.core.rollups import Calendar
from tests.conftest import free_port, require_tool
from tests.contract import writes
from tests.contract.support import seqs
from tests.contract.writes import ANN, snapshot, visitor
from tests.redis_server import RedisServer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(redis_server: RedisServer, clock: ManualClock) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_server.url, clock, prefix=ids.new_id("rs"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def lose_next_exec_reply(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """EXEC runs, then its reply is lost: what redis-py reports as `WatchError` (the watch
    died with the connection). Returns the flag that says it has not happened yet."""
    real = store.client.execute
    lost = [True]

    async def execute(pipe: Any) -> None:
        await real(pipe)
        if lost[0]:
            lost[0] = False
            raise WatchError("A ConnectionError occurred while watching one or more keys")

    monkeypatch.setattr(store.client, "execute", execute)
    return lost


def lose_next_script_reply(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch, how: str
) -> list[bool]:
    """A transition's script runs, then its reply is lost ("lost": the connection dropped)
    or is that of a copy redis-py sent again, which the script's guard refused ("resent")."""
    conversations: Any = store.conversations
    transitions = conversations.transitions
    real = transitions.run
    pending = [True]

    async def run(script: Any, keys: list[str], args: Any) -> Any:
        reply = await real(script, keys, args)
        if not pending[0]:
            return reply
        pending[0] = False
        if how == "lost":
            raise RedisConnectionError("Connection closed by server.")
        return await real(script, keys, args)

    monkeypatch.setattr(transitions, "run", run)
    return pending


async def test_a_lost_append_reply_is_unavailable_and_the_cmid_retry_gets_its_seq(
    store: RedisStore, clock: ManualClock
) -> None:
    """The script ran, the connection dropped before its reply was read: the client hears
    `unavailable`; a resend with the same cmid is told the seq the message got."""
    await writes.scene(store, clock)  # the append script is loaded by now
    wire: Any = store.wire
    real = wire.data_received

    def drop(data: bytes) -> None:
        wire.data_received = real
        wire._transport.abort()

    wire.data_received = drop
    draft = Draft(Kind.TEXT, visitor("v_active"), "did it arrive?", "lost-1")
    with pytest.raises(ChatError) as info:
        await store.conversations.append("c_active", draft, guarded=True)
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert await seqs(store, "c_active") == [1, 2, 3, 4]  # it was stored
    again = await store.conversations.append("c_active", draft, guarded=True)
    assert (again.created, again.message.seq, again.message.text) == (False, 4, "did it arrive?")
    after = await store.conversations.append(
        "c_active", Draft(Kind.TEXT, visitor("v_active"), "next")
    )
    assert after.message.seq == 5


@pytest.mark.parametrize("how", ["lost", "resent"])
@pytest.mark.parametrize("write", ["start", "claim", "transfer", "requeue", "close"])
async def test_a_lost_script_reply_is_recognised_as_our_own_write(
    store: RedisStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, write: str, how: str
) -> None:
    """The write's script ran but its reply was lost, and the write is decided again on the
    new state. That state is our own write: it is returned as done, not refused as a
    conflict, and written once."""
    await writes.scene(store, clock)
    before = await snapshot(store)
    pending = lose_next_script_reply(store, monkeypatch, how)
    await writes.WRITES[write](store, clock)
    assert not pending[0]
    await writes.assert_gap_free(store)
    after = await snapshot(store)
    added = {
        cid: len(after["transcripts"][cid]) - len(before["transcripts"][cid]) for cid in writes.CIDS
    }
    assert sorted(added.values()) == [0, 0, 1]  # one line, or the opening message


async def test_a_lost_add_agent_reply_is_recognised(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost = lose_next_exec_reply(store, monkeypatch)
    await store.directory.add_agent(ANN)
    assert not lost[0]
    assert await store.directory.agent_by_email(ANN.email) == ANN


async def test_a_stopped_redis_refuses_writes_and_leaves_the_transcript_whole(
    tmp_path: Path, clock: ManualClock
) -> None:
    binary = require_tool("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, tmp_path / "redis", free_port())
    server.start()
    store = RedisStore(server.url, clock, prefix="down")
    try:
        await store.start()
        await writes.scene(store, clock)
        before = await snapshot(store)
        server.stop()
        for write in writes.WRITES.values():
            with pytest.raises(ChatError) as info:
                await write(store, clock)
            assert info.value.code is ErrorCode.UNAVAILABLE
        server.start()
        for _ in range(100):  # the pool and the wire connect again by themselves
            if await store.ready():
                break
            await asyncio.sleep(0.05)
        assert await snapshot(store) == before
        appended = await store.conversations.append(
            "c_active", Draft(Kind.TEXT, visitor("v_active"), "back")
        )
        assert appended.message.seq == 4
        conv = flow.open_conversation("c_new", "shop", "v_new", None, clock.now_ms())
        await store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_new"), "hi"), None)
    finally:
        await store.stop()
        server.stop()


async def test_sites_stored_before_the_sites_set_are_listed_after_a_start(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    """A version before the `sites` set stored each site under its key alone: a start
    adopts them once, and a prefix with glob characters matches only its own keys."""
    base = ids.new_id("rs")
    prefix = base + "[x]*"
    first = RedisStore(redis_server.url, clock, prefix=prefix)
    await first.start()
    try:
        await first.directory.put_site(Site("shop", ("https://shop.example",)))
        await first.directory.put_site(Site("docs:eu", ("https://docs.example",)))
        await first.redis.delete(first.keys.sites())  # as the earlier version left it
        # another prefix's, which the pattern would match if not escaped
        await first.redis.set(f"{base}xyz:site:stranger", b"{}")
        assert await first.directory.sites() == []
    finally:
        await first.stop()
    again = RedisStore(redis_server.url, clock, prefix=prefix)
    await again.start()
    try:
        assert [s.id for s in await again.directory.sites()] == ["docs:eu", "shop"]
    finally:
        await again.stop()


def count_writes(store: RedisStore) -> list[list[str]]:
    """The keys of each `record_figures.lua` call the store sends from now on."""
    script = store.figures.buffer._script  # type: ignore[attr-defined]
    writes: list[list[str]] = []
    real_send = script.send

    def send(keys: list[str], args: list[Any]) -> Any:
        writes.append(keys)
        return real_send(keys, args)

    script.send = send
    return writes


async def test_figures_of_many_loop_turns_reach_redis_in_one_write(
    store: RedisStore, redis_server: RedisServer, clock: ManualClock
) -> None:
    """Figures are statistics: held `FLUSH_S` and written together, one script call for
    many event-loop turns (not one a turn: that was half of Redis's work under load). Their
    own node reads them at once; another node once they are written."""
    other = RedisStore(redis_server.url, clock, prefix=store.keys.prefix)
    await other.start()
    writes = count_writes(store)
    try:
        now = clock.now_ms()
        for _ in range(20):  # twenty loop turns
            await store.figures.record(now, ("all",), samples.response(1.0))
            await asyncio.sleep(0)
        assert writes == []
        assert (await other.figures.read("5m", now, "all")).count("response_s") == 0
        await asyncio.sleep(figures.FLUSH_S * 1.5)
        assert len(writes) == 1
        assert (await other.figures.read("5m", now, "all")).count("response_s") == 20

        await store.figures.record(now, ("all",), samples.response(1.0))
        assert (await store.figures.read("5m", now, "all")).count("response_s") == 21
        assert len(writes) == 2  # the read wrote it first
    finally:
        await other.stop()


async def test_agents_buckets_wait_unless_read_on_their_node(
    store: RedisStore,
    redis_server: RedisServer,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An agent's rolling buckets wait `AGENT_HOLD_S` (one dimension per agent: written
    each second, 1,000 agents made a burst that the messages waited behind). Another node
    reads the team's after `FLUSH_S` and the agent's once due; their own node reads them
    at once, and its reads of the team's and its periodic checkpoint leave them held."""
    monkeypatch.setattr(figures, "AGENT_HOLD_S", 2.0)
    other = RedisStore(redis_server.url, clock, prefix=store.keys.prefix)
    await other.start()
    now = clock.now_ms()

    async def there(dim: str) -> float:
        return (await other.figures.read("5m", now, dim)).count("response_s")

    try:
        await store.figures.record(now, ("all", "agent:a_1"), samples.response(1.0))
        await asyncio.sleep(figures.FLUSH_S * 1.5)
        await store.figures.checkpoint(periodic=True)
        assert (await there("all"), await there("agent:a_1")) == (1, 0)
        await asyncio.sleep(2.0)
        assert await there("agent:a_1") == 1

        await store.figures.record(now, ("all", "agent:a_1"), samples.response(1.0))
        assert (await store.figures.read("5m", now, "all")).count("response_s") == 2
        assert await there("agent:a_1") == 1
        assert (await store.figures.read("5m", now, "agent:a_1")).count("response_s") == 2
        assert await there("agent:a_1") == 2  # the read wrote them first
    finally:
        await other.stop()


async def test_figures_over_time_wait_unless_read_or_stopped(
    store: RedisStore, redis_server: RedisServer, clock: ManualClock
) -> None:
    """Figures over time wait `ROLLUP_HOLD_S` (a minute): another node's report may miss
    them meanwhile; the node's own report reads them, and a stop writes them all."""
    writer = RedisStore(redis_server.url, clock, prefix=store.keys.prefix)
    await writer.start()
    now = clock.now_ms()
    hour = next(b for b in Calendar().buckets(now) if b.tier == "hour")

    async def started(node: RedisStore) -> float:
        return (await node.rollups.read("all", [hour]))[0].counters.get("started", 0)

    try:
        await writer.rollups.add(now, ("all",), samples.started())
        await asyncio.sleep(figures.FLUSH_S * 1.5)
        await writer.figures.checkpoint(periodic=True)
        assert await started(store) == 0
        assert await started(writer) == 1  # its own report wrote them first
        assert await started(store) == 1
        await writer.rollups.add(now, ("all",), samples.started())
    finally:
        await writer.stop()
    assert await started(store) == 2


@pytest.mark.parametrize(("behind", "most_out"), [(False, 1), (True, figures.IN_FLIGHT)])
async def test_many_buckets_go_in_calls_of_at_most_a_chunk(
    store: RedisStore, redis_server: RedisServer, clock: ManualClock, behind: bool, most_out: int
) -> None:
    """A second of a busy node is thousands of buckets (a dimension per agent): a call each
    `CHUNK` of them, made up as it goes, one unanswered at a time, so no message waits in
    Redis behind more than one short script; a few at a time when a whole write waits."""
    writes = count_writes(store)
    buffer = store.figures.buffer  # type: ignore[attr-defined]
    out: list[int] = []
    count_send = buffer._script.send

    def send(keys: list[str], args: list[Any]) -> Any:
        out.append(len(buffer._in_flight) + 1)  # unanswered once this one goes
        return count_send(keys, args)

    buffer._script.send = send
    now = clock.now_ms()
    agents = [f"agent:a_{i}" for i in range(200)]
    for n, agent in enumerate(agents):  # 3 windows each, and 3 of figures over time
        await store.figures.record(now, (agent,), samples.response(2.0))
        await store.rollups.add(now, (agent,), samples.response(2.0))
        if behind and n == 99:
            buffer._write(agents=True, rollups=True)  # all so far: the next comes before it is out
    await store.figures.checkpoint()
    assert sum(len(keys) for keys in writes) == 200 * 6
    assert all(len(keys) <= figures.CHUNK for keys in writes)
    assert len(writes) <= -(-200 * 6 // figures.CHUNK) + (2 if behind else 1)
    assert max(out) == most_out
    for agent in agents:
        assert (await store.figures.read("1h", now, agent)).count("response_s") == 1
