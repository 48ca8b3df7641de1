"""The embedded store's own write failures, beyond the contract (`tests/contract/
test_write_failures.py`): its memory stays what a fresh load of its disk gives when a commit
fails (then it refuses writes), when a write of a batch fails and those built on it go
with it, when the waiter is cancelled, when publication fails, with the writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Draft, Kind
from tests.contract import writes
from tests.contract.seams import failing_sql
from tests.contract.support import seqs
from tests.contract.writes import FAILURES, FailNext, snapshot, visitor


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


@pytest.fixture
def fail_next(store: EmbeddedStore, monkeypatch: pytest.MonkeyPatch) -> FailNext:
    return failing_sql(store, monkeypatch)


async def assert_memory_is_disk(store: EmbeddedStore, path: Path, clock: ManualClock) -> None:
    fresh = EmbeddedStore(path, LocalBus(), clock)
    await fresh.start()
    try:
        on_disk = await snapshot(fresh, last_assigned=False)
    finally:
        await fresh.stop()
    assert await snapshot(store, last_assigned=False) == on_disk


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
    await writes.scene(store, clock)
    before = await snapshot(store)
    real = store.db._wconn
    assert real is not None
    store.db._wconn = CommitFails(real, injected)  # type: ignore[assignment]
    try:
        results = await asyncio.gather(
            writes.append(store, clock),
            writes.claim(store, clock),
            writes.start(store, clock),
            return_exceptions=True,
        )
    finally:
        store.db._wconn = real
    for result in results:
        assert isinstance(result, ChatError | type(injected)), result
    assert await snapshot(store) == before
    assert await store.ready() is False
    for write in writes.WRITES.values():
        with pytest.raises(ChatError) as info:
            await write(store, clock)
        assert info.value.code is ErrorCode.UNAVAILABLE
    assert await snapshot(store) == before
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_later_writes_built_on_a_failed_one_fail_with_it(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock, fail_next: FailNext
) -> None:
    """Three appends in one batch, the first fails: the two after it were given seqs 5 and 6
    on top of its 4, so they fail too (no gap on disk); another conversation's write commits."""
    await writes.scene(store, clock)
    before = await snapshot(store)
    with fail_next(RuntimeError("injected")):
        results = await asyncio.gather(
            store.conversations.append(
                "c_active", Draft(Kind.TEXT, visitor("v_active"), "a", "x-1")
            ),
            store.conversations.append(
                "c_active", Draft(Kind.TEXT, visitor("v_active"), "b", "x-2")
            ),
            store.conversations.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "c")),
            store.conversations.append("c_queued", Draft(Kind.TEXT, visitor("v_queued"), "d")),
            return_exceptions=True,
        )
    first, second, third, other = results
    assert isinstance(first, RuntimeError)
    for dependent in (second, third):
        assert isinstance(dependent, ChatError) and dependent.code is ErrorCode.UNAVAILABLE
    assert not isinstance(other, BaseException) and other.message.seq == 2
    after = await snapshot(store)
    assert after["transcripts"]["c_active"] == before["transcripts"]["c_active"]
    assert after["conversations"]["c_active"] == before["conversations"]["c_active"]
    again = await store.conversations.append(
        "c_active", Draft(Kind.TEXT, visitor("v_active"), "b", "x-2")
    )
    assert (again.created, again.message.seq) == (True, 4)
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_close_that_fails_takes_the_next_start_of_its_visitor_with_it(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock, fail_next: FailNext
) -> None:
    """A start after a close (same visitor, same batch) was only allowed by that close."""
    await writes.scene(store, clock)
    before = await snapshot(store)
    conv = flow.open_conversation("c_new", "shop", "v_active", None, clock.now_ms())
    with fail_next(ValueError("injected")):
        # both decided on one loop turn, the close first: the batch holds both
        closing = asyncio.ensure_future(writes.close(store, clock))
        opening = asyncio.ensure_future(
            store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_active"), "x"), None)
        )
        results = await asyncio.gather(closing, opening, return_exceptions=True)
    assert isinstance(results[0], ValueError)
    assert isinstance(results[1], ChatError) and results[1].code is ErrorCode.UNAVAILABLE
    assert await snapshot(store) == before
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_write_is_never_decided_on_the_disks_copy(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """A transfer decided while a close is on its way: the conversation is gone from memory
    but still open on disk. The transfer is refused (`closed`), it does not reopen it."""
    await writes.scene(store, clock)
    closing = asyncio.ensure_future(writes.close(store, clock))
    moving = asyncio.ensure_future(writes.transfer(store, clock))
    closed, moved = await asyncio.gather(closing, moving, return_exceptions=True)
    assert closed is None
    assert isinstance(moved, ChatError) and moved.code is ErrorCode.CLOSED
    conv = await store.conversations.get("c_active")
    assert conv is not None and conv.state.value == "closed"
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_cancelled_waiter_does_not_stop_its_write(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """Cancelling the task that waits for a write does not cancel the write: it commits, and
    a resend of its cmid gets its seq."""
    await writes.scene(store, clock)
    draft = Draft(Kind.TEXT, visitor("v_active"), "sent", "c-1")
    waiter = asyncio.ensure_future(store.conversations.append("c_active", draft))
    await asyncio.sleep(0)  # decided and submitted: the write is on its way
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    again = await store.conversations.append("c_active", draft)
    assert (again.created, again.message.seq) == (False, 4)
    assert await seqs(store, "c_active") == [1, 2, 3, 4]
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_cancelled_waiter_of_a_failing_write_still_steps_back(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock, fail_next: FailNext
) -> None:
    """Nobody is left waiting to step memory back: the database does it, not the waiter."""
    await writes.scene(store, clock)
    before = await snapshot(store)
    with fail_next(RuntimeError("injected")):
        waiters = [
            asyncio.ensure_future(writes.start(store, clock)),
            asyncio.ensure_future(writes.append(store, clock)),
            asyncio.ensure_future(writes.close(store, clock)),
        ]
        await asyncio.sleep(0)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    await store.db.write(lambda conn: None)  # the batch has run
    after = await snapshot(store)
    # the start failed; the append and the close built on nothing that failed
    assert after["conversations"]["c_new"] is None
    assert after["open_of"]["v_new"] is None
    assert after["waiting"] == before["waiting"]
    await assert_memory_is_disk(store, tmp_path, clock)


async def test_a_failed_submission_steps_back(
    store: EmbeddedStore, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after memory changed but before the write was queued undoes the change."""
    await writes.scene(store, clock)
    before = await snapshot(store)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    with monkeypatch.context() as patch:
        patch.setattr(store.db, "submit", broken)
        for write in writes.WRITES.values():
            with pytest.raises(MemoryError):
                await write(store, clock)
    assert await snapshot(store) == before


async def test_a_failing_publication_does_not_stop_the_writer(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    """The write committed; a bus handler that raises loses that event, not the store."""
    await writes.scene(store, clock)
    calls: list[str] = []

    def handler(channel: str, event: Any) -> None:
        calls.append(channel)
        raise RuntimeError("a subscriber failed")

    store.bus.set_handler(handler)
    appended = await store.conversations.append(
        "c_active", Draft(Kind.TEXT, visitor("v_active"), "x")
    )
    assert appended.message.seq == 4 and calls
    store.bus.set_handler(lambda channel, event: None)
    assert (
        await store.conversations.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "y"))
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
        await writes.scene(store, clock)
        before = await snapshot(store)
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
        first = asyncio.ensure_future(writes.append(store, clock))
        await asyncio.to_thread(in_batch.wait, 5)
        second = asyncio.ensure_future(
            store.conversations.append(
                "c_active", Draft(Kind.TEXT, visitor("v_active"), "next", "n-1")
            )
        )
        other = asyncio.ensure_future(
            store.conversations.append(
                "c_queued", Draft(Kind.TEXT, visitor("v_queued"), "elsewhere")
            )
        )
        await asyncio.sleep(0.01)
        release.set()
        store.db.submit = real  # type: ignore[method-assign]
        results = await asyncio.gather(first, second, other, return_exceptions=True)
        assert isinstance(results[0], KeyError)
        assert isinstance(results[1], ChatError) and results[1].code is ErrorCode.UNAVAILABLE
        assert not isinstance(results[2], BaseException) and results[2].message.seq == 2
        after = await snapshot(store)
        assert after["transcripts"]["c_active"] == before["transcripts"]["c_active"]
        assert after["conversations"]["c_active"] == before["conversations"]["c_active"]
        assert (
            await store.conversations.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "z"))
        ).message.seq == 4
        await assert_memory_is_disk(store, tmp_path, clock)
    finally:
        await store.stop()
