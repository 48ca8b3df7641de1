"""The embedded store's own behaviour, beyond the contract (`tests/contract/`): what it
holds in memory comes back from SQLite after a restart (open conversations, cmids, seqs,
assignments, figures), the people of open conversations count as gone from the restart,
and events are delivered on its `LocalBus` before the write returns."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chat_server.backends.embedded import transcript
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.sqlite import SCHEMA
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import samples
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import State
from tests.contract.published import LocalPublished
from tests.contract.support import agent, expect, note, open_conv, speaker, text, visitor

DB_NAME = "chat.sqlite3"


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


async def restarted(path: Path, clock: ManualClock) -> EmbeddedStore:
    store = EmbeddedStore(path, LocalBus(), clock)
    await store.start()
    return store


async def test_open_state_survives_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    first = await restarted(tmp_path, clock)
    try:
        await open_conv(first, clock, "c_1", "v_1", cmid="m0")
        await open_conv(first, clock, "c_2", "v_2")
        ann = agent()
        await first.conversations.claim("c_2", ann, 1)  # seq 2
        await first.conversations.append("c_1", text(visitor(), "two", cmid="m1"))  # seq 2
        await first.conversations.append("c_1", text(visitor(), "three", cmid="m2"))  # seq 3
        await first.conversations.append("c_2", text(speaker(ann), "hi", cmid="a1"))  # seq 3
        await first.conversations.close("c_2", 5, by="agent", reason="agent_closed", resolved=True)
    finally:
        await first.stop()

    second = await restarted(tmp_path, clock)
    try:
        conv = await second.conversations.get("c_1")
        assert conv is not None
        assert conv.state is State.QUEUED
        assert conv.last_seq == 3
        assert await second.conversations.open_of("v_1") == conv
        assert [c.id for c in await second.conversations.waiting()] == ["c_1"]
        # cmid dedupe survived, the opening message's too.
        again = await second.conversations.append("c_1", text(visitor(), "two", cmid="m1"))
        assert (again.message.seq, again.created) == (2, False)
        opening = await second.conversations.append("c_1", text(visitor(), "first", cmid="m0"))
        assert (opening.message.seq, opening.created) == (1, False)
        # And seqs go on without a gap.
        assert (
            await second.conversations.append("c_1", text(visitor(), cmid="m3"))
        ).message.seq == 4
        # The closed one stays closed.
        closed = await second.conversations.get("c_2")
        assert closed is not None and closed.state is State.CLOSED
        await expect(ErrorCode.CLOSED, second.conversations.append("c_2", text(visitor("v_2"))))
        assert await second.conversations.open_of("v_2") is None
        messages, _ = await second.conversations.history("c_1", 0, 10, notes=True)
        assert [(m.seq, m.text) for m in messages] == [
            (1, "first"),
            (2, "two"),
            (3, "three"),
            (4, "hello"),
        ]
    finally:
        await second.stop()


async def test_an_assignment_and_first_response_survive_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    first = await restarted(tmp_path, clock)
    ann = agent("a_ann", max_chats=1)
    try:
        await open_conv(first, clock)
        await first.conversations.claim("c_1", ann, 1)
        reply = await first.conversations.append("c_1", text(speaker(ann)))
    finally:
        await first.stop()

    second = await restarted(tmp_path, clock)
    try:
        conv = await second.conversations.get("c_1")
        assert conv is not None
        assert conv.state is State.ACTIVE
        assert conv.agent is not None and conv.agent.id == "a_ann"
        assert conv.first_response_at == reply.message.ts
        assert [c.id for c in await second.conversations.active_of("a_ann")] == ["c_1"]
        # Capacity still counts it.
        await open_conv(second, clock, "c_2", "v_2")
        await expect(ErrorCode.CONFLICT, second.conversations.claim("c_2", ann, 2))
        # Nobody is connected after a restart: the people of open chats count as gone.
        assert await second.presence.gone_since("agent", clock.now_ms() + 1) == ["a_ann"]
        assert await second.presence.gone_since("visitor", clock.now_ms() + 1) == ["v_1"]
    finally:
        await second.stop()


async def test_the_visitors_turn_comes_back_from_the_messages(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Appends that only begin or end a visitor's turn leave the conversation's row alone:
    a restart finds the turn again from the messages."""
    first = await restarted(tmp_path, clock)
    ann = agent()
    try:
        await open_conv(first, clock)  # the visitor's turn begins
        await open_conv(first, clock, "c_2", "v_2")
        await first.conversations.claim("c_1", ann, 1)
        await first.conversations.claim("c_2", ann, 1)
        clock.advance(10)
        await first.conversations.append("c_1", text(speaker(ann)))  # answered
        await first.conversations.append("c_2", text(speaker(ann)))
        clock.advance(10)
        waiting = await first.conversations.append("c_1", text(visitor()))
        clock.advance(10)
        await first.conversations.append("c_1", text(visitor(), "still there?"))
        await first.conversations.append("c_1", note(speaker(ann)))
        before = await first.conversations.get("c_1")
        answered = await first.conversations.get("c_2")
    finally:
        await first.stop()

    second = await restarted(tmp_path, clock)
    try:
        assert before is not None and before.visitor_turn_at == waiting.message.ts
        assert await second.conversations.get("c_1") == before
        assert answered is not None and answered.visitor_turn_at is None
        assert await second.conversations.get("c_2") == answered
    finally:
        await second.stop()


async def test_acknowledged_messages_are_on_disk(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    appended = await store.conversations.append("c_1", text(visitor(), "durable", cmid="d1"))
    conn = sqlite3.connect(tmp_path / DB_NAME)  # a second connection: committed rows only
    try:
        row = conn.execute(
            "SELECT text, cmid FROM messages WHERE cid = ? AND seq = ?",
            ("c_1", appended.message.seq),
        ).fetchone()
    finally:
        conn.close()
    assert row == ("durable", "d1")


async def test_events_are_delivered_before_the_write_returns(
    store: EmbeddedStore, tmp_path: Path, clock: ManualClock
) -> None:
    published = LocalPublished(tmp_path / DB_NAME)
    store.bus.set_handler(published)
    await open_conv(store, clock)
    assert len(published.seen) == 2  # the conversation's channel and the visitor's
    await store.conversations.append("c_1", text(visitor(), "hi"), origin="conn-9")
    assert len(published.seen) == 4, "append returned before publishing"
    await store.conversations.claim("c_1", agent(), 1)
    assert len(published.seen) == 6
    assert published.all_durable()


async def test_figures_survive_a_restart(tmp_path: Path, clock: ManualClock) -> None:
    store = await restarted(tmp_path, clock)
    await store.figures.record(clock.now_ms(), ("all", "topic:billing"), samples.started())
    await store.figures.mark_resolved("v_1", clock.now_ms(), ("all",), 3_600_000)
    await store.stop()  # checkpoints

    again = await restarted(tmp_path, clock)
    try:
        for dim in ("all", "topic:billing"):
            figures = await again.figures.read("1h", clock.now_ms(), dim)
            assert figures.counters.get("started") == 1
        assert await again.figures.take_resolved("v_1", clock.now_ms()) == (
            clock.now_ms(),
            ("all",),
        )
        assert await again.figures.take_resolved("v_1", clock.now_ms()) is None  # taken once
    finally:
        await again.stop()


async def test_resolved_marks_expire_on_the_stores_clock(
    store: EmbeddedStore, clock: ManualClock
) -> None:
    """(Redis expires them on its own clock: `mark_resolved`'s ttl, in real time.)"""
    await store.figures.mark_resolved("v_1", clock.now_ms(), ("all",), 60_000)
    await store.figures.mark_resolved("v_2", clock.now_ms(), ("all",), 60_000)
    clock.advance(61)
    assert await store.figures.take_resolved("v_1", clock.now_ms()) is None
    assert await store.figures.take_resolved("v_2", clock.now_ms()) is None


async def test_credentials_expire_on_the_time_asked_about(
    store: EmbeddedStore, clock: ManualClock
) -> None:
    """(Redis expires them on its own clock, from `expires` less the store's now.)"""
    now = clock.now_ms()
    await store.directory.add_credential("h-1", "a_ann", "session", now + 60_000)
    assert await store.directory.credential_agent("h-1", now + 59_999) == "a_ann"
    assert await store.directory.credential_agent("h-1", now + 60_000) is None


def test_start_up_reads_only_the_open_conversations_messages() -> None:
    """Every start-up query reaches messages through their primary key, conversation by
    open conversation: none scans every message ever stored."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(SCHEMA)
    queries: list[str] = []
    conn.set_trace_callback(queries.append)
    transcript.load_open(conn)
    conn.set_trace_callback(None)
    reading = [q for q in queries if "messages" in q]
    assert len(reading) == 4
    for query in reading:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {query}")]
        assert "SEARCH m USING PRIMARY KEY (cid=?)" in plan, (query, plan)
        assert not any(step.startswith("SCAN m") for step in plan), (query, plan)


async def test_the_cmid_index_of_an_older_database_is_dropped(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Memory answers a resent cmid (it holds every open conversation's, from the disk at
    start), so the unique index that repeated the check on every message, a B-tree page
    more per commit, is gone; a database made before loses it at start."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript(SCHEMA)
    conn.execute(
        "CREATE UNIQUE INDEX messages_cmid ON messages (cid, sender_id, cmid) "
        "WHERE cmid IS NOT NULL"
    )
    conn.close()
    store = await restarted(tmp_path, clock)
    try:
        await open_conv(store, clock, "c_1", "v_1", cmid="m0")
        again = await store.conversations.append("c_1", text(visitor(), "first", cmid="m0"))
        assert not again.created and again.message.seq == 1
    finally:
        await store.stop()
    conn = sqlite3.connect(tmp_path / DB_NAME)
    try:
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        conn.close()
    assert "messages_cmid" not in indexes
