"""The audit trail: newest first, by conversation or agent, bounded; and an entry written
with a message, in the same step, only when the message is new."""

from __future__ import annotations

import asyncio

from chat_server.backends.base import Store
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import AuditEntry
from tests.contract.support import agent, expect, note, open_conv, seqs, speaker, visitor


async def test_the_log_is_newest_first_and_filtered(store: Store) -> None:
    entries = [
        AuditEntry(100, "a_ann", "login", None, "from 10.0.0.1"),
        AuditEntry(200, "a_ann", "assign", "c_1", "to a_bob"),
        AuditEntry(300, "a_bob", "close", "c_1"),
        AuditEntry(400, "a_bob", "note", "c_2", "ünïcode ✓"),
    ]
    for entry in entries:
        await store.audit.record(entry)
    newest_first = entries[::-1]
    assert await store.audit.log() == newest_first
    assert await store.audit.log(limit=2) == newest_first[:2]
    assert await store.audit.log(cid="c_1") == [entries[2], entries[1]]
    assert await store.audit.log(agent_id="a_ann") == [entries[1], entries[0]]
    assert await store.audit.log(cid="c_1", agent_id="a_bob") == [entries[2]]
    assert await store.audit.log(agent_id="a_bob", limit=1) == [entries[3]]
    assert await store.audit.log(cid="c_nope") == []


async def test_a_long_log_is_read_past_its_first_page(store: Store) -> None:
    await asyncio.gather(
        *(
            store.audit.record(AuditEntry(i, "a_ann" if i % 600 == 0 else "a_bob", "x", None))
            for i in range(1_200)
        )
    )
    assert [e.ts for e in await store.audit.log(agent_id="a_ann")] == [600, 0]
    assert len(await store.audit.log(limit=1_100)) == 1_100


async def test_an_audited_append_writes_both_or_neither(store: Store, clock: ManualClock) -> None:
    ann = agent()
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ann, 1)
    entry = AuditEntry(clock.now_ms(), ann.id, "note", "c_1", "")
    appended = await store.conversations.append(
        "c_1", note(speaker(ann), "internal", cmid="n1"), guarded=True, audit=entry
    )
    assert appended.created is True
    assert await store.audit.log(cid="c_1") == [entry]
    # a resend of the same cmid: the message exists, the entry is not written again
    again = await store.conversations.append(
        "c_1", note(speaker(ann), "internal", cmid="n1"), guarded=True, audit=entry
    )
    assert again.created is False
    assert await store.audit.log(cid="c_1") == [entry]
    # a refused append writes no entry
    stranger = agent("a_bob")
    refused = AuditEntry(clock.now_ms(), stranger.id, "note", "c_1", "")
    await expect(
        ErrorCode.FORBIDDEN,
        store.conversations.append("c_1", note(speaker(stranger)), guarded=True, audit=refused),
    )
    await store.conversations.close("c_1", 2, by="agent", reason="done", resolved=None)
    await expect(
        ErrorCode.CLOSED,
        store.conversations.append("c_1", note(speaker(ann)), guarded=True, audit=refused),
    )
    await expect(
        ErrorCode.NOT_FOUND,
        store.conversations.append("c_nope", note(visitor()), audit=refused),
    )
    assert await store.audit.log() == [entry]
    assert await seqs(store, "c_1") == [1, 2, 3, 4]
