"""A message's files (issue 15), bound in the message's own atomic step: each must be this
conversation's, and sent before or uploaded by this sender; anything else refuses the whole
message (nothing stored, no seq used). A sent upload gets the message's seq, and is no
longer an unsent one."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from chat_server.backends.base import Store
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import Draft, Kind, Message, Sender, StoredFile
from tests.contract.conftest import Storage
from tests.contract.support import agent, expect, open_conv, seqs, speaker, visitor
from tests.contract.test_files import HOUR_MS, put, read

ANN = agent()


def with_files(sender: Sender, *stored: StoredFile, cmid: str | None = None) -> Draft:
    return Draft(Kind.TEXT, sender, "", cmid, tuple(s.ref for s in stored))


async def taken(store: Store, clock: ManualClock) -> None:
    """c_1, opened by v_1 and held by Ann."""
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ANN, clock.now_ms())


async def history(store: Store, cid: str = "c_1") -> list[Message]:
    return (await store.conversations.history(cid, 0, 100, notes=True))[0]


async def test_an_own_upload_is_sent_and_bound_to_the_message(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    await open_conv(store, clock)
    shot = await put(store, clock, tmp_path, thumb=b"t")
    doc = await put(store, clock, tmp_path, b"%PDF-")
    appended = await store.conversations.append(
        "c_1", with_files(visitor(), shot, doc, cmid="m1"), guarded=True
    )
    m = appended.message
    assert appended.created
    assert m.files == (shot.ref, doc.ref)
    assert await store.files.get(shot.id) == replace(shot, seq=m.seq)
    assert await store.files.many("c_1", [doc.id]) == [replace(doc, seq=m.seq)]
    assert (await history(store))[-1] == m
    # sent: no longer an unsent upload, whatever its age
    clock.advance(2 * HOUR_MS / 1000)
    assert await store.files.expire_unsent(clock.now_ms()) == 0
    assert await read(store, shot.id, thumb=True) == b"t"


async def test_refused_files_store_nothing_and_use_no_seq(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    await taken(store, clock)
    await open_conv(store, clock, "c_2", "v_2")
    before = await seqs(store, "c_1")
    visitors = await put(store, clock, tmp_path)
    elsewhere = await put(store, clock, tmp_path, cid="c_2", owner="agent:a_ann")
    unknown = replace(visitors, ref=replace(visitors.ref, id=visitors.id.replace("f_", "f_0")))
    mine = await put(store, clock, tmp_path, owner="agent:a_ann")
    refused = [
        (speaker(ANN), visitors),  # another sender's unsent upload
        (speaker(ANN), elsewhere),  # another conversation's
        (speaker(ANN), unknown),
        (visitor(), mine),
    ]
    for sender, stored in refused:
        error = await expect(
            ErrorCode.NOT_FOUND,
            store.conversations.append("c_1", with_files(sender, mine, stored, cmid="x")),
        )
        assert error.message == "no such file in this conversation"
    assert await seqs(store, "c_1") == before
    for stored in (visitors, elsewhere, mine):
        assert (await store.files.get(stored.id)) == stored  # still unsent
    # the cmid was not taken either, and the next message gets the next seq
    m = (await store.conversations.append("c_1", with_files(speaker(ANN), mine, cmid="x"))).message
    assert m.seq == before[-1] + 1
    assert m.files == (mine.ref,)


async def test_a_sent_file_may_be_sent_again_by_anyone(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    await taken(store, clock)
    shot = await put(store, clock, tmp_path)
    first = (await store.conversations.append("c_1", with_files(visitor(), shot))).message
    again = await store.conversations.append("c_1", with_files(speaker(ANN), shot), guarded=True)
    assert again.message.seq == first.seq + 1
    assert again.message.files == (shot.ref,)
    assert (await store.files.get(shot.id)) == replace(shot, seq=first.seq)  # the first one's


async def test_a_resend_returns_the_stored_message(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    await open_conv(store, clock)
    shot = await put(store, clock, tmp_path)
    first = await store.conversations.append("c_1", with_files(visitor(), shot, cmid="m1"))
    resent = await store.conversations.append("c_1", with_files(visitor(), shot, cmid="m1"))
    assert resent.created is False
    assert resent.message == first.message
    assert [m.seq for m in await history(store)] == [1, 2]


async def test_concurrent_sends_of_one_upload_both_carry_it(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    await open_conv(store, clock)
    shot = await put(store, clock, tmp_path)
    results = await asyncio.gather(
        *(store.conversations.append("c_1", with_files(visitor(), shot)) for _ in range(3))
    )
    assert sorted(r.message.seq for r in results) == [2, 3, 4]
    assert all(r.message.files == (shot.ref,) for r in results)
    stored = await store.files.get(shot.id)
    assert stored is not None and stored.seq in (2, 3, 4)


async def test_another_store_sees_files_sent_and_unsent(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    """Embedded: a fresh load of the disk (the unsent uploads back in memory)."""
    await taken(store, clock)
    sent = await put(store, clock, tmp_path, b"sent")
    unsent = await put(store, clock, tmp_path, b"unsent")
    m = (await store.conversations.append("c_1", with_files(visitor(), sent))).message
    async with storage.another() as other:
        assert (await history(other))[-1] == m
        assert await other.files.get(sent.id) == replace(sent, seq=m.seq)
        await expect(
            ErrorCode.NOT_FOUND,
            other.conversations.append("c_1", with_files(speaker(ANN), unsent)),
        )
        later = await other.conversations.append("c_1", with_files(visitor(), unsent, sent))
        assert later.message.seq == m.seq + 1
        assert await other.files.get(unsent.id) == replace(unsent, seq=later.message.seq)
        assert await read(other, unsent.id) == b"unsent"


OLD_MESSAGES = """
CREATE TABLE messages (
    cid TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    role TEXT NOT NULL, sender_id TEXT, sender_name TEXT, text TEXT NOT NULL, cmid TEXT,
    PRIMARY KEY (cid, seq)) WITHOUT ROWID;
INSERT INTO messages VALUES ('c_old', 1, 5, 'text', 'visitor', 'v_9', 'Vera', 'before', NULL);
"""


@pytest.mark.parametrize("backend", ["embedded"])
async def test_a_database_from_before_files_opens(
    storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    with contextlib.closing(sqlite3.connect(storage.db_path)) as db:
        db.executescript(OLD_MESSAGES)
    async with storage.another() as store:
        old = await history(store, "c_old")
        assert [(m.text, m.files) for m in old] == [("before", ())]
        await open_conv(store, clock)
        shot = await put(store, clock, tmp_path)
        m = (await store.conversations.append("c_1", with_files(visitor(), shot))).message
        assert (await history(store))[-1] == m
    async with storage.another() as again:
        assert (await history(again))[-1] == m
