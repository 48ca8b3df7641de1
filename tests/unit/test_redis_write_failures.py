"""A failed write leaves nothing of itself in Redis (issue 21, flaw 2), on a real
redis-server: failures injected in our Python layer (the row builders, the queued
transaction, the append script's call), replies lost after Redis ran the write, and a
redis-server stopped mid-conversation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.exceptions import WatchError

from chat_server.backends.redis import store as redis_store
from chat_server.backends.redis.store import RedisStore
from chat_server.core import conversation as flow
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Draft, Kind
from tests import write_failure_contract as contract
from tests.conftest import free_port, require_tool
from tests.redis_server import RedisServer
from tests.write_failure_contract import ANN, visitor

FAILURES = [*contract.FAILURES, RedisConnectionError("injected"), RedisTimeoutError("injected")]
ROW_BUILDERS = ("_json", "_spliced_row", "_spliced_event", "_event")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(redis_server: RedisServer, clock: ManualClock) -> AsyncIterator[RedisStore]:
    s = RedisStore(redis_server.url, clock, prefix=ids.new_id("wf"))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def failing_rows(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> contract.FailNext:
    """The next row built for Redis (conversation, message, event, agent) raises."""

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        armed = [True]

        def once(real: Callable[..., Any]) -> Callable[..., Any]:
            def builder(*args: Any, **kwargs: Any) -> Any:
                if armed[0]:
                    armed[0] = False
                    raise injected
                return real(*args, **kwargs)

            return builder

        with monkeypatch.context() as patch:
            for name in ROW_BUILDERS:
                patch.setattr(redis_store, name, once(getattr(redis_store, name)))
            yield
        assert not armed[0], "no row was built"

    return fail_next


def failing_sends(store: RedisStore, monkeypatch: pytest.MonkeyPatch) -> contract.FailNext:
    """The next transaction fails once all of it is queued, just before EXEC; the next
    append fails just before its script is sent."""

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        armed = [True]
        real_write, real_script = store._write, store._append_script

        def write(*args: Any, **kwargs: Any) -> None:
            real_write(*args, **kwargs)
            if armed[0]:
                armed[0] = False
                raise injected

        async def script(*args: Any, **kwargs: Any) -> Any:
            if armed[0]:
                armed[0] = False
                raise injected
            return await real_script(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(store, "_write", write)
            patch.setattr(store, "_append_script", script)
            yield
        assert not armed[0], "no write was attempted"

    return fail_next


SEAMS = {"row": failing_rows, "queued": failing_sends}


# --- the contract, on the Redis store ------------------------------------------------------


@pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("write", list(contract.WRITES))
@pytest.mark.parametrize("seam", list(SEAMS))
async def test_a_failed_write_changes_nothing(
    store: RedisStore,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    seam: str,
    write: str,
    injected: BaseException,
) -> None:
    fail_next = SEAMS[seam](store, monkeypatch)
    await contract.failed_write_changes_nothing(store, clock, fail_next, write, injected)


@pytest.mark.parametrize("seam", list(SEAMS))
async def test_append_after_a_failed_append_takes_the_next_seq(
    store: RedisStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, seam: str
) -> None:
    await contract.append_after_a_failed_append_takes_the_next_seq(
        store, clock, SEAMS[seam](store, monkeypatch)
    )


@pytest.mark.parametrize("seam", list(SEAMS))
async def test_a_failed_start_leaves_nothing_to_claim(
    store: RedisStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, seam: str
) -> None:
    await contract.failed_start_leaves_nothing_to_claim(
        store, clock, SEAMS[seam](store, monkeypatch)
    )


@pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)
async def test_failed_simple_writes_change_nothing(
    store: RedisStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, injected: BaseException
) -> None:
    """The agent's row fails to build after its email was reserved: the email stays free."""
    await contract.failed_simple_writes_change_nothing(
        store, clock, failing_rows(store, monkeypatch), injected
    )


async def test_an_unstorable_text_uses_no_seq(store: RedisStore, clock: ManualClock) -> None:
    await contract.unstorable_text_uses_no_seq(store, clock)


# --- replies lost after Redis ran the write -----------------------------------------------


async def test_a_lost_append_reply_is_unavailable_and_the_cmid_retry_gets_its_seq(
    store: RedisStore, clock: ManualClock
) -> None:
    """The script ran, the connection dropped before its reply was read: the client hears
    `unavailable`; a resend with the same cmid is told the seq the message got."""
    await contract.scene(store, clock)  # the append script is loaded by now
    wire: Any = store.wire
    real = wire.data_received

    def drop(data: bytes) -> None:
        wire.data_received = real
        wire._transport.abort()

    wire.data_received = drop
    draft = Draft(Kind.TEXT, visitor("v_active"), "did it arrive?", "lost-1")
    with pytest.raises(ChatError) as info:
        await store.append("c_active", draft, guarded=True)
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert await contract.seqs(store, "c_active") == [1, 2, 3, 4]  # it was stored
    again = await store.append("c_active", draft, guarded=True)
    assert (again.created, again.message.seq, again.message.text) == (False, 4, "did it arrive?")
    after = await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "next"))
    assert after.message.seq == 5


@pytest.mark.parametrize("write", ["start", "claim", "transfer", "requeue", "close"])
async def test_a_lost_exec_reply_is_recognised_as_our_own_write(
    store: RedisStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """EXEC ran but its reply was lost: redis-py reports that as `WatchError` (the watch
    died with the connection), and the transaction is decided again on the new state. That
    state is our own write: it is returned as done, not refused as a conflict."""
    await contract.scene(store, clock)
    real = store._execute
    lost = [True]

    async def execute(pipe: Any) -> None:
        await real(pipe)
        if lost[0]:
            lost[0] = False
            raise WatchError("A ConnectionError occurred while watching one or more keys")

    monkeypatch.setattr(store, "_execute", execute)
    await contract.WRITES[write](store, clock)
    assert not lost[0]
    for cid in contract.CIDS:
        numbers = await contract.seqs(store, cid)
        assert numbers == list(range(1, len(numbers) + 1))


async def test_a_lost_add_agent_reply_is_recognised(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store._execute
    lost = [True]

    async def execute(pipe: Any) -> None:
        await real(pipe)
        if lost[0]:
            lost[0] = False
            raise WatchError("A ConnectionError occurred while watching one or more keys")

    monkeypatch.setattr(store, "_execute", execute)
    await store.add_agent(ANN)
    assert await store.agent_by_email(ANN.email) == ANN


# --- Redis itself goes away mid-conversation -----------------------------------------------


async def test_a_stopped_redis_refuses_writes_and_leaves_the_transcript_whole(
    tmp_path: Path, clock: ManualClock
) -> None:
    binary = require_tool("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, tmp_path / "redis", free_port())
    server.start()
    store = RedisStore(server.url, clock, prefix="down")
    try:
        await store.start()
        await contract.scene(store, clock)
        before = await contract.snapshot(store)
        server.stop()
        for write in contract.WRITES.values():
            with pytest.raises(ChatError) as info:
                await write(store, clock)
            assert info.value.code is ErrorCode.UNAVAILABLE
        server.start()
        for _ in range(100):  # the pool and the wire connect again by themselves
            if await store.ready():
                break
            await asyncio.sleep(0.05)
        assert await contract.snapshot(store) == before
        appended = await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "back"))
        assert appended.message.seq == 4
        conv = flow.open_conversation("c_new", "shop", "v_new", None, clock.now_ms())
        await store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_new"), "hi"), None)
    finally:
        await store.stop()
        server.stop()
