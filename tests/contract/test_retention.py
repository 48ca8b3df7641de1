"""Retention (issue 16), the role: a closed conversation closed before the cut-off is listed,
then removed with everything of it (messages, notes, rating, files, co-browse, every index
entry), once, whichever store removes it; never an open one, nor one closed after the
cut-off. The audit log's old entries go by age (embedded; Redis caps its own)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core.clock import ManualClock
from chat_server.core.cobrowse import NONE, CobrowseState, Session
from chat_server.core.errors import ErrorCode
from chat_server.core.model import AuditEntry, Rating, State
from tests.contract.conftest import Storage
from tests.contract.support import agent, expect, note, open_conv, redis_clients, speaker
from tests.contract.test_conversations_files import with_files
from tests.contract.test_files import leftovers, put, read

ANN = agent()
DAY_S = 86_400


async def lived(store: Store, clock: ManualClock, tmp_path: Path, cid: str, vid: str) -> str:
    """A conversation with all it can hold, closed now: messages, a note, a sent file and an
    unsent one, a rating, co-browse; the id of its sent file."""
    await open_conv(store, clock, cid, vid)
    await store.conversations.claim(cid, ANN, clock.now_ms())
    await store.conversations.append(cid, note(speaker(ANN)))
    sent = await put(store, clock, tmp_path, cid=cid, owner=f"agent:{ANN.id}", thumb=b"t")
    await store.conversations.append(cid, with_files(speaker(ANN), sent))
    await put(store, clock, tmp_path, b"unsent", cid=cid)
    await store.cobrowse.change(cid, NONE, Session(CobrowseState.ACTIVE, ANN.id))
    await store.cobrowse.record(cid, b"batch", restarts=True, max_bytes=1000)
    await store.conversations.close(cid, clock.now_ms(), by="agent", reason="done", resolved=True)
    await store.conversations.rate(Rating(cid, clock.now_ms(), csat=5))
    return sent.id


async def mentions(store: Store, storage: Storage, cid: str) -> list[str]:
    """Everything of `cid` the storage holds: rows, or keys and index entries."""
    if isinstance(store, EmbeddedStore):
        con = sqlite3.connect(storage.db_path)
        try:
            return [
                table
                for table, column in (
                    ("conversations", "id"),
                    ("messages", "cid"),
                    ("ratings", "cid"),
                    ("files", "cid"),
                )
                if con.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (cid,)).fetchone()
            ]
        finally:
            con.close()
    found = []
    for client in redis_clients(store):
        redis = client.redis
        for raw in await redis.keys(f"{client.keys.prefix}:*"):
            key = raw.decode()
            if f"{{{cid}}}" in key:
                found.append(key)
            elif await redis.type(key) == b"zset" and await redis.zscore(key, cid):
                found.append(f"{key} has it")
    return found


async def test_a_conversation_closed_before_the_cut_off_goes_whole(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    await store.directory.add_agent(ANN)
    sent = await lived(store, clock, tmp_path, "c_1", "v_1")
    clock.advance(10 * DAY_S)
    await lived(store, clock, tmp_path, "c_2", "v_2")  # closed after the cut-off
    await open_conv(store, clock, "c_3_1", "v_1")  # open, and the same visitor's
    cut = clock.now_ms() - 5 * DAY_S * 1000

    assert await store.retention.expired(cut, 10) == ["c_1"]
    assert await store.retention.remove("c_1") is True
    assert await store.conversations.get("c_1") is None
    assert (await store.conversations.history("c_1", 0, 100, notes=True))[0] == []
    assert await store.conversations.rating("c_1") is None
    assert await store.files.get(sent) is None
    assert await read(store, sent) == b""
    assert await store.cobrowse.session("c_1") == NONE
    assert await store.cobrowse.replay("c_1") == []
    listed = [
        await store.conversations.find(),
        await store.conversations.find(state=State.CLOSED),
        await store.conversations.find(visitor_id="v_1"),
        await store.conversations.find(agent_id=ANN.id),
    ]
    assert ["c_1" in [c.id for c in found] for found in listed] == [False] * 4
    assert await mentions(store, storage, "c_1") == []
    assert await mentions(store, storage, "c_2") != []  # the check sees what is there
    assert [k for k in await leftovers(store, storage) if "c_1" in k] == []
    assert await store.retention.expired(cut, 10) == []

    # the others are untouched
    assert (await store.conversations.get("c_2")) is not None
    assert await store.conversations.rating("c_2") is not None
    assert (await store.conversations.open_of("v_1")) is not None
    assert [c.id for c in await store.conversations.find(visitor_id="v_1")] == ["c_3_1"]


async def test_removal_is_idempotent_and_never_of_an_open_conversation(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    await store.directory.add_agent(ANN)
    await lived(store, clock, tmp_path, "c_1", "v_1")
    await open_conv(store, clock, "c_2", "v_2")
    clock.advance(DAY_S)
    # an open conversation is never listed nor removed, and stays whole
    assert await store.retention.expired(clock.now_ms(), 10) == ["c_1"]
    await expect(ErrorCode.CONFLICT, store.retention.remove("c_2"))
    assert (await store.conversations.get("c_2")) is not None
    # two nodes (or a second load of the disk) removing the same one: removed once
    async with storage.another() as other:
        assert await other.retention.remove("c_1") is True
    assert await store.retention.remove("c_1") is False
    assert await store.retention.remove("c_unknown") is False


async def test_expired_is_bounded_and_oldest_first(store: Store, clock: ManualClock) -> None:
    for n in range(5):
        await open_conv(store, clock, f"c_{n}", f"v_{n}")
        await store.conversations.close(
            f"c_{n}", clock.now_ms(), by="visitor", reason="x", resolved=None
        )
        clock.advance(1)
    cut = clock.now_ms()
    assert await store.retention.expired(cut, 2) == ["c_0", "c_1"]
    assert await store.retention.expired(cut - 2000, 10) == ["c_0", "c_1", "c_2"]
    for cid in await store.retention.expired(cut, 10):
        assert await store.retention.remove(cid)
    assert await store.retention.expired(cut, 10) == []


async def test_old_audit_entries_go_in_embedded(store: Store, clock: ManualClock) -> None:
    await store.audit.record(AuditEntry(clock.now_ms(), "a_ann", "close", "c_1"))
    clock.advance(DAY_S)
    await store.audit.record(AuditEntry(clock.now_ms(), "a_ann", "close", "c_2"))
    pruned = await store.retention.prune(clock.now_ms() - 1000, 10)
    kept = [e.cid for e in await store.audit.log()]
    if isinstance(store, EmbeddedStore):
        assert (pruned, kept) == (1, ["c_2"])
    else:  # Redis caps its audit stream by length instead
        assert (pruned, kept) == (0, ["c_2", "c_1"])
