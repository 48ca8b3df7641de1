"""Conversations, read back: history pages (with and without notes), ratings, the first
response, and `find` (newest first, by state, agent or visitor)."""

from __future__ import annotations

from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.backends.redis.store import RedisStore
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import Kind, Rating, State
from tests.contract.support import agent, expect, note, open_conv, speaker, text, visitor


async def test_history_pages_with_more(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    for i in range(6):
        await store.conversations.append("c_1", text(visitor(), f"m{i}"))  # seqs 2..7
    page, more = await store.conversations.history("c_1", 0, 3, notes=True)
    assert [m.seq for m in page] == [1, 2, 3]
    assert more is True
    page, more = await store.conversations.history("c_1", 3, 3, notes=True)
    assert [m.seq for m in page] == [4, 5, 6]
    assert [m.text for m in page] == ["m2", "m3", "m4"]
    assert more is True
    page, more = await store.conversations.history("c_1", 6, 3, notes=True)
    assert [m.seq for m in page] == [7]
    assert more is False
    page, more = await store.conversations.history("c_1", 7, 3, notes=True)
    assert (page, more) == ([], False)
    page, more = await store.conversations.history("c_1", 4, 3, notes=True)
    assert [m.seq for m in page] == [5, 6, 7]
    assert more is False  # exactly the limit left: nothing more


async def test_history_without_notes(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    ann = agent()
    await store.conversations.append("c_1", note(speaker(ann)))  # 2
    await store.conversations.append("c_1", text(speaker(ann)))  # 3
    await store.conversations.append("c_1", note(speaker(ann)))  # 4
    await store.conversations.append("c_1", note(speaker(ann)))  # 5
    await store.conversations.append("c_1", text(visitor()))  # 6
    everything, _ = await store.conversations.history("c_1", 0, 10, notes=True)
    assert [m.seq for m in everything] == [1, 2, 3, 4, 5, 6]
    visible, more = await store.conversations.history("c_1", 0, 10, notes=False)
    assert [m.seq for m in visible] == [1, 3, 6]
    assert all(m.kind is not Kind.NOTE for m in visible)
    assert more is False
    page, more = await store.conversations.history("c_1", 1, 1, notes=False)
    assert [m.seq for m in page] == [3]
    assert more is True
    page, more = await store.conversations.history("c_1", 3, 1, notes=False)
    assert [m.seq for m in page] == [6]  # past a run of notes longer than the page
    assert more is False


async def test_history_gives_back_what_was_stored(store: Store, clock: ManualClock) -> None:
    first = await open_conv(store, clock, cmid="m0")
    ann = agent()
    clock.advance(1)
    a = await store.conversations.append("c_1", text(speaker(ann), "héllo ✓ \n", cmid="a1"))
    b = await store.conversations.append("c_1", note(speaker(ann), ""))
    changed = await store.conversations.claim("c_1", ann, 1)
    stored, _ = await store.conversations.history("c_1", 0, 10, notes=True)
    assert stored == [first, a.message, b.message, *changed.messages]
    # closed: still readable
    await store.conversations.close("c_1", 2, by="agent", reason="done", resolved=None)
    again, _ = await store.conversations.history("c_1", 0, 10, notes=True)
    assert again[:4] == stored


async def test_the_first_response_is_the_first_agent_text(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    ann = agent()
    await store.conversations.claim("c_1", ann, 1)
    await store.conversations.append("c_1", note(speaker(ann)))
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.first_response_at is None
    clock.advance(30)
    reply = await store.conversations.append("c_1", text(speaker(ann)))
    clock.advance(30)
    await store.conversations.append("c_1", text(speaker(ann)))
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.first_response_at == reply.message.ts
    closed = await store.conversations.close("c_1", 2, by="agent", reason="done", resolved=None)
    assert closed.conversation.first_response_at == reply.message.ts
    assert await store.conversations.get("c_1") == closed.conversation


async def test_rate_twice_is_already_rated(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    await store.conversations.close("c_1", 9, by="visitor", reason="visitor_closed", resolved=None)
    rating = Rating("c_1", 10, csat=5, nps=9, ces=6, comment="thanks", agent_id="a_ann")
    await store.conversations.rate(rating)
    assert await store.conversations.rating("c_1") == rating
    await expect(ErrorCode.ALREADY_RATED, store.conversations.rate(Rating("c_1", 11, csat=1)))
    assert await store.conversations.rating("c_1") == rating
    assert await store.conversations.rating("c_other") is None


async def test_find_newest_first_with_filters(store: Store, clock: ManualClock) -> None:
    ann = agent()
    for i in range(4):
        await open_conv(store, clock, f"c_{i}_{i % 3}", f"v_{i % 3}")
        if i < 3:
            await store.conversations.claim(f"c_{i}_{i % 3}", ann, clock.now_ms())
        if i == 0:
            await store.conversations.close("c_0_0", 1, by="agent", reason="done", resolved=None)
        clock.advance(1)
    found = await store.conversations.find()
    assert [c.id for c in found] == ["c_3_0", "c_2_2", "c_1_1", "c_0_0"]
    assert found[0] == await store.conversations.get("c_3_0")
    assert [c.id for c in await store.conversations.find(limit=2)] == ["c_3_0", "c_2_2"]
    assert [c.id for c in await store.conversations.find(state=State.ACTIVE)] == ["c_2_2", "c_1_1"]
    assert [c.id for c in await store.conversations.find(state=State.QUEUED)] == ["c_3_0"]
    assert [c.id for c in await store.conversations.find(state=State.CLOSED)] == ["c_0_0"]
    assert [c.id for c in await store.conversations.find(agent_id="a_ann")] == [
        "c_2_2",
        "c_1_1",
        "c_0_0",
    ]
    assert [c.id for c in await store.conversations.find(visitor_id="v_0")] == ["c_3_0", "c_0_0"]
    assert [
        c.id for c in await store.conversations.find(state=State.ACTIVE, agent_id="a_ann", limit=1)
    ] == ["c_2_2"]
    assert await store.conversations.find(visitor_id="v_nobody") == []


async def test_find_over_many_pages(
    store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More conversations than one read takes (Redis: `FIND_BATCH` a round trip, so a
    sweep over thousands does not hold the event loop): all found, newest first, once."""
    from chat_server.backends.redis import conversations as redis_conversations
    from chat_server.backends.redis import stored

    reads: list[int] = []
    real = stored.load_many

    async def counted(client: Any, cids: list[str]) -> Any:
        reads.append(len(cids))
        return await real(client, cids)

    monkeypatch.setattr(stored, "load_many", counted)
    many = 2 * redis_conversations.FIND_BATCH + 20
    for i in range(many):
        await open_conv(store, clock, f"c_{i:04}", f"v_{i:04}")
        clock.advance(1)
    newest_first = [f"c_{i:04}" for i in reversed(range(many))]
    assert [c.id for c in await store.conversations.find(limit=many + 5)] == newest_first
    found = await store.conversations.find(state=State.QUEUED, limit=many - 10)
    assert [c.id for c in found] == newest_first[: many - 10]
    if isinstance(store, RedisStore):
        assert reads and max(reads) <= redis_conversations.FIND_BATCH
