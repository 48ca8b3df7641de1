"""A failed write leaves the embedded store's memory exactly as a fresh load of its disk
(issue 21, flaw 2): failures of every type, injected inside the SQLite transaction, at the
commit, before the submission, and as cancellation of the waiting task."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Draft, Kind
from tests import write_failure_contract as contract
from tests.write_failure_contract import visitor

FAILURES = [*contract.FAILURES, sqlite3.OperationalError("disk I/O error")]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path, LocalBus(), clock)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def failing_ops(store: EmbeddedStore) -> contract.FailNext:
    """The next write's SQL raises inside its transaction (its savepoint rolls it back)."""

    @contextlib.contextmanager
    def fail_next(injected: BaseException) -> Iterator[None]:
        real = store.db.submit
        armed = [True]

        def submit(op: Any, *args: Any, **kwargs: Any) -> Any:
            if armed[0]:
                armed[0] = False

                def failing(conn: sqlite3.Connection) -> Any:
                    op(conn)  # the write's SQL runs, then fails before its savepoint ends
                    raise injected

                return real(failing, *args, **kwargs)
            return real(op, *args, **kwargs)

        store.db.submit = submit  # type: ignore[method-assign]
        try:
            yield
        finally:
            store.db.submit = real  # type: ignore[method-assign]
        assert not armed[0], "no write was attempted"

    return fail_next


async def reloaded(path: Path, clock: ManualClock) -> dict[str, Any]:
    """What a fresh start on the same data sees."""
    fresh = EmbeddedStore(path, LocalBus(), clock)
    await fresh.start()
    try:
        return await contract.snapshot(fresh, last_assigned=False)
    finally:
        await fresh.stop()


async def assert_memory_is_disk(store: EmbeddedStore, path: Path, clock: ManualClock) -> None:
    assert await contract.snapshot(store, last_assigned=False) == await reloaded(path, clock)


# --- the contract, on the embedded store ------------------------------------------------


@pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("write", list(contract.WRITES))
async def test_a_failed_write_changes_nothing(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock, write: str, injected: BaseException
) -> None:
    await contract.failed_write_changes_nothing(store, clock, failing_ops(store), write, injected)
    await assert_memory_is_disk(store, tmp_path, clock)
    assert await store.ready()


async def test_append_after_a_failed_append_takes_the_next_seq(
    store: EmbeddedStore, clock: ManualClock
) -> None:
    await contract.append_after_a_failed_append_takes_the_next_seq(store, clock, failing_ops(store))


async def test_a_failed_start_leaves_nothing_to_claim(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    await contract.failed_start_leaves_nothing_to_claim(store, clock, failing_ops(store))
    await assert_memory_is_disk(store, tmp_path, clock)


@pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)
async def test_failed_simple_writes_change_nothing(
    store: EmbeddedStore, clock: ManualClock, injected: BaseException
) -> None:
    await contract.failed_simple_writes_change_nothing(store, clock, failing_ops(store), injected)


async def test_an_unstorable_text_uses_no_seq(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    await contract.unstorable_text_uses_no_seq(store, clock)
    await assert_memory_is_disk(store, tmp_path, clock)


# --- the embedded store's own cases ------------------------------------------------------


class CommitFails:
    """The writer's connection, except that COMMIT raises (what a full disk looks like)."""

    def __init__(self, conn: sqlite3.Connection, injected: BaseException) -> None:
        self.conn = conn
        self.injected = injected

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            raise self.injected
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


@pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)
async def test_a_failed_commit_steps_every_write_back_and_stops_writes(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock, injected: BaseException
) -> None:
    """Every write of the batch is undone, and the store refuses writes from then on: after a
    failed COMMIT nobody knows for sure what is on disk (docs/architecture.md Durability)."""
    await contract.scene(store, clock)
    before = await contract.snapshot(store)
    real = store.db._wconn
    assert real is not None
    store.db._wconn = CommitFails(real, injected)  # type: ignore[assignment]
    try:
        results = await asyncio.gather(
            contract.append(store, clock),
            contract.claim(store, clock),
            contract.start(store, clock),
            return_exceptions=True,
        )
    finally:
        store.db._wconn = real
    for result in results:
        assert isinstance(result, ChatError | type(injected)), result
    assert await contract.snapshot(store) == before
    assert await store.ready() is False
    for write in contract.WRITES.values():
        with pytest.raises(ChatError) as info:
            await write(store, clock)
        assert info.value.code is ErrorCode.UNAVAILABLE
    assert await contract.snapshot(store) == before
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_later_writes_built_on_a_failed_one_fail_with_it(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """Three appends in one batch, the first fails: the two after it were given seqs 5 and 6
    on top of its 4, so they fail too (no gap on disk); another conversation's write commits."""
    await contract.scene(store, clock)
    before = await contract.snapshot(store)
    with failing_ops(store)(RuntimeError("injected")):
        results = await asyncio.gather(
            store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "a", "x-1")),
            store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "b", "x-2")),
            store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "c")),
            store.append("c_queued", Draft(Kind.TEXT, visitor("v_queued"), "d")),
            return_exceptions=True,
        )
    first, second, third, other = results
    assert isinstance(first, RuntimeError)
    for dependent in (second, third):
        assert isinstance(dependent, ChatError) and dependent.code is ErrorCode.UNAVAILABLE
    assert not isinstance(other, BaseException) and other.message.seq == 2
    after = await contract.snapshot(store)
    assert after["transcripts"]["c_active"] == before["transcripts"]["c_active"]
    assert after["conversations"]["c_active"] == before["conversations"]["c_active"]
    again = await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "b", "x-2"))
    assert (again.created, again.message.seq) == (True, 4)
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_close_that_fails_takes_the_next_start_of_its_visitor_with_it(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """A start after a close (same visitor, same batch) was only allowed by that close."""
    await contract.scene(store, clock)
    before = await contract.snapshot(store)
    conv = flow.open_conversation("c_new", "shop", "v_active", None, clock.now_ms())
    with failing_ops(store)(ValueError("injected")):
        # both decided on one loop turn, the close first: the batch holds both
        closing = asyncio.ensure_future(contract.close(store, clock))
        opening = asyncio.ensure_future(
            store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_active"), "x"), None)
        )
        results = await asyncio.gather(closing, opening, return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert isinstance(results[1], ChatError) and results[1].code is ErrorCode.UNAVAILABLE
    assert await contract.snapshot(store) == before
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_write_is_never_decided_on_the_disks_copy(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """A transfer decided while a close is on its way: the conversation is gone from memory
    but still open on disk. The transfer is refused (`closed`), it does not reopen it."""
    await contract.scene(store, clock)
    closing = asyncio.ensure_future(contract.close(store, clock))
    moving = asyncio.ensure_future(contract.transfer(store, clock))
    closed, moved = await asyncio.gather(closing, moving, return_exceptions=True)
    assert closed is None
    assert isinstance(moved, ChatError) and moved.code is ErrorCode.CLOSED
    conv = await store.conversation("c_active")
    assert conv is not None and conv.state.value == "closed"
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_cancelled_waiter_does_not_stop_its_write(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """Cancelling the task that waits for a write does not cancel the write: it commits, and
    a resend of its cmid gets its seq."""
    await contract.scene(store, clock)
    draft = Draft(Kind.TEXT, visitor("v_active"), "sent", "c-1")
    waiter = asyncio.ensure_future(store.append("c_active", draft))
    await asyncio.sleep(0)  # decided and submitted: the write is on its way
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    again = await store.append("c_active", draft)
    assert (again.created, again.message.seq) == (False, 4)
    assert await contract.seqs(store, "c_active") == [1, 2, 3, 4]
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_cancelled_waiter_of_a_failing_write_still_steps_back(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """Nobody is left waiting to step memory back: the database does it, not the waiter."""
    await contract.scene(store, clock)
    before = await contract.snapshot(store)
    with failing_ops(store)(RuntimeError("injected")):
        waiters = [
            asyncio.ensure_future(contract.start(store, clock)),
            asyncio.ensure_future(contract.append(store, clock)),
            asyncio.ensure_future(contract.close(store, clock)),
        ]
        await asyncio.sleep(0)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    await store.db.write(lambda conn: None)  # the batch has run
    after = await contract.snapshot(store)
    # the start failed; the append and the close built on nothing that failed
    assert after["conversations"]["c_new"] is None
    assert after["open_of"]["v_new"] is None
    assert after["waiting"] == before["waiting"]
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_failed_submission_steps_back(store: EmbeddedStore, clock: ManualClock) -> None:
    """A failure after memory changed but before the write was queued undoes the change."""
    await contract.scene(store, clock)
    before = await contract.snapshot(store)
    real = store.db.submit

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    store.db.submit = broken  # type: ignore[method-assign]
    try:
        for write in contract.WRITES.values():
            with pytest.raises(MemoryError):
                await write(store, clock)
    finally:
        store.db.submit = real  # type: ignore[method-assign]
    assert await contract.snapshot(store) == before


async def test_a_failing_publication_does_not_stop_the_writer(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """The write committed; a bus handler that raises loses that event, not the store."""
    await contract.scene(store, clock)
    calls: list[str] = []

    def handler(channel: str, event: Any) -> None:
        calls.append(channel)
        raise RuntimeError("a subscriber failed")

    store.bus.set_handler(handler)
    appended = await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "x"))
    assert appended.message.seq == 4 and calls
    store.bus.set_handler(lambda channel, event: None)
    assert (
        await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "y"))
    ).message.seq == 5
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_with_commits_in_the_writer_thread_queued_dependents_fail_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    """synchronous=FULL commits in a thread while the loop goes on: an append queued behind a
    failing one (for the next batch) was given its seq on top of it, and fails with it."""
    store = EmbeddedStore(tmp_path, LocalBus(), clock, synchronous="FULL")
    await store.start()
    try:
        await contract.scene(store, clock)
        before = await contract.snapshot(store)
        in_batch, release = threading.Event(), threading.Event()
        real = store.db.submit
        armed = [True]

        def submit(op: Any, *args: Any, **kwargs: Any) -> Any:
            if not armed[0]:
                return real(op, *args, **kwargs)
            armed[0] = False

            def held(conn: sqlite3.Connection) -> None:
                op(conn)
                in_batch.set()
                release.wait(5)
                raise KeyError("injected")

            return real(held, *args, **kwargs)

        store.db.submit = submit  # type: ignore[method-assign]
        first = asyncio.ensure_future(contract.append(store, clock))
        await asyncio.to_thread(in_batch.wait, 5)
        second = asyncio.ensure_future(
            store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "next", "n-1"))
        )
        other = asyncio.ensure_future(
            store.append("c_queued", Draft(Kind.TEXT, visitor("v_queued"), "elsewhere"))
        )
        await asyncio.sleep(0.01)
        release.set()
        store.db.submit = real  # type: ignore[method-assign]
        results = await asyncio.gather(first, second, other, return_exceptions=True)
        assert isinstance(results[0], KeyError)
        assert isinstance(results[1], ChatError) and results[1].code is ErrorCode.UNAVAILABLE
        assert not isinstance(results[2], BaseException) and results[2].message.seq == 2
        after = await contract.snapshot(store)
        assert after["transcripts"]["c_active"] == before["transcripts"]["c_active"]
        assert after["conversations"]["c_active"] == before["conversations"]["c_active"]
        assert (
            await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "z"))
        ).message.seq == 4
        await assert_memory_is_disk(store, tmp_path, clock)
    finally:
        await store.stop()


# --- any interleaving of writes and failures -----------------------------------------------

Step = tuple[str, int, int, bool]
"""(write kind, conversation or visitor index, agent index, fails)."""

steps = st.tuples(
    st.sampled_from(["start", "append", "claim", "transfer", "requeue", "close"]),
    st.integers(0, 1),
    st.integers(0, 1),
    st.booleans(),
)


async def run_batches(path: Path, batches: list[list[Step]], synchronous: str) -> None:
    """Each batch's writes are decided on one loop turn (so they share a commit); those
    marked fail raise inside the transaction. After each: no gap, one open conversation
    per visitor at most; at the end memory is what a fresh load of the disk gives."""
    clock = ManualClock()
    store = EmbeddedStore(path, LocalBus(), clock, synchronous=synchronous)
    await store.start()
    agents = [contract.ANN, contract.BOB]
    for agent in agents:
        await store.add_agent(agent)
    plan: list[bool] = []
    real = store.db.submit

    def submit(op: Any, *args: Any, **kwargs: Any) -> Any:
        if plan and plan.pop(0):

            def failing(conn: sqlite3.Connection) -> Any:
                op(conn)
                raise RuntimeError("injected")

            return real(failing, *args, **kwargs)
        return real(op, *args, **kwargs)

    store.db.submit = submit  # type: ignore[method-assign]
    started = 0
    try:
        for batch in batches:
            plan[:] = [fails for *_, fails in batch]
            calls = []
            for step in batch:
                started += step[0] == "start"
                calls.append(asyncio.ensure_future(await one_write(store, step, started)))
            await asyncio.gather(*calls, return_exceptions=True)
            clock.advance(1)
            for conv in await store.conversations(limit=1000):
                numbers = [
                    m.seq for m in (await store.messages_after(conv.id, 0, 1000, notes=True))[0]
                ]
                assert numbers == list(range(1, conv.last_seq + 1)), (conv.id, numbers)
            open_ones = [c.visitor_id for c in await store.conversations(limit=1000) if c.is_open]
            assert len(open_ones) == len(set(open_ones))
        store.db.submit = real  # type: ignore[method-assign]
        mine = await everything(store)
    finally:
        await store.stop()
    fresh = EmbeddedStore(path, LocalBus(), clock)
    await fresh.start()
    try:
        assert await everything(fresh) == mine
    finally:
        await fresh.stop()


async def one_write(store: EmbeddedStore, step: Step, started: int) -> Coroutine[Any, Any, Any]:
    """The write a step asks for, on the visitor's open conversation (or a missing one)."""
    kind, index, agent_index, _ = step
    agent, now, vid = (contract.ANN, contract.BOB)[agent_index], store.clock.now_ms(), f"v_{index}"
    open_conv = await store.open_conversation_of(vid)
    cid = open_conv.id if open_conv else f"c_{index}_none"
    if kind == "start":
        conv = flow.open_conversation(f"c_{index}_{started}", "shop", vid, None, now)
        return store.open_conversation(conv, Draft(Kind.TEXT, visitor(vid), "hi"), None)
    if kind == "append":
        return store.append(cid, Draft(Kind.TEXT, visitor(vid), "m", f"m{started}"))
    if kind in ("claim", "transfer"):
        return store.assign(cid, agent, now, reassign=kind == "transfer", enforce_capacity=True)
    if kind == "requeue":
        return store.requeue(cid, now, reason="r", front=True)
    return store.close(cid, now, by="agent", reason="done", resolved=None)


async def everything(store: EmbeddedStore) -> dict[str, Any]:
    convs = await store.conversations(limit=1000)
    return {
        "conversations": sorted(convs, key=lambda c: c.id),
        "open_of": {c.visitor_id: await store.open_conversation_of(c.visitor_id) for c in convs},
        "waiting": [c.id for c in await store.waiting()],
        "active": {
            a.id: [c.id for c in await store.active_of(a.id)] for a in (contract.ANN, contract.BOB)
        },
        "loads": {aid: load.active for aid, load in (await store.loads()).items() if load.active},
        "cmids": {c.id: await cmids_of(store, c.id) for c in convs if c.is_open},
    }


async def cmids_of(store: EmbeddedStore, cid: str) -> dict[str, int]:
    """Each cmid of the conversation as a resend sees it: the seq it is answered with."""
    messages, _ = await store.messages_after(cid, 0, 1000, notes=True)
    found: dict[str, int] = {}
    for m in messages:
        if m.cmid is not None:
            again = await store.append(cid, Draft(m.kind, m.sender, m.text, m.cmid))
            assert again.created is False
            found[m.cmid] = again.message.seq
    return found


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_any_interleaving_of_writes_and_failures_keeps_memory_equal_to_disk(
    tmp_path_factory: pytest.TempPathFactory, synchronous: str
) -> None:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.lists(steps, min_size=1, max_size=6), min_size=2, max_size=8))
    def check(batches: list[list[Step]]) -> None:
        asyncio.run(run_batches(tmp_path_factory.mktemp("any"), batches, synchronous))

    check()
