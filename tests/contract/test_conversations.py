"""Conversations, opening and appending: seq 1 on open, gap-free seqs, cmid dedupe (also
of concurrent duplicates), the author guard, and what a new message found."""

from __future__ import annotations

import asyncio

from chat_server.backends.base import Store
from chat_server.backends.roles.conversations import Appended
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import State, Timing
from tests.contract.support import (
    agent,
    expect,
    note,
    open_conv,
    seqs,
    speaker,
    text,
    visitor,
)

# --- opening -------------------------------------------------------------------------


async def test_open_gives_seq_1(store: Store, clock: ManualClock) -> None:
    first = await open_conv(store, clock)
    assert first.seq == 1
    assert first.cid == "c_1"
    assert first.ts == clock.now_ms()
    conv = await store.conversations.get("c_1")
    assert conv is not None
    assert conv.state is State.QUEUED
    assert conv.last_seq == 1
    assert await store.conversations.open_of("v_1") == conv
    assert [c.id for c in await store.conversations.waiting()] == ["c_1"]
    messages, more = await store.conversations.history("c_1", 0, 10, notes=True)
    assert messages == [first]
    assert more is False


async def test_a_second_open_for_the_same_visitor_is_conflict(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    await expect(ErrorCode.CONFLICT, open_conv(store, clock, "c_2_1", "v_1"))
    assert await store.conversations.get("c_2_1") is None
    # Another visitor is not affected.
    assert (await open_conv(store, clock, "c_3", "v_2")).seq == 1


async def test_concurrent_opens_for_one_visitor_make_one_conversation(
    store: Store, clock: ManualClock
) -> None:
    results = await asyncio.gather(
        *(open_conv(store, clock, f"c_{i}", "v_1") for i in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    conv = await store.conversations.open_of("v_1")
    assert conv is not None
    assert [c.id for c in await store.conversations.waiting()] == [conv.id]


async def test_a_new_conversation_after_close(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    await store.conversations.close("c_1", 1, by="visitor", reason="visitor_closed", resolved=None)
    assert await store.conversations.open_of("v_1") is None
    assert (await open_conv(store, clock, "c_2_1", "v_1")).seq == 1


async def test_unknown_conversation_is_not_found(store: Store) -> None:
    await expect(ErrorCode.NOT_FOUND, store.conversations.append("c_nope", text(visitor())))
    await expect(ErrorCode.NOT_FOUND, store.conversations.claim("c_nope", agent(), 1))
    await expect(ErrorCode.NOT_FOUND, store.conversations.transfer("c_nope", agent(), 1))
    await expect(
        ErrorCode.NOT_FOUND, store.conversations.requeue("c_nope", 1, reason="r", front=True)
    )
    await expect(
        ErrorCode.NOT_FOUND,
        store.conversations.close("c_nope", 1, by="agent", reason="r", resolved=None),
    )
    assert await store.conversations.get("c_nope") is None
    assert await store.conversations.history("c_nope", 0, 10, notes=True) == ([], False)


# --- appending -----------------------------------------------------------------------


async def test_append_allocates_gap_free_seqs(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    ann = agent()
    numbers = []
    for draft in [
        text(visitor()),
        note(speaker(ann)),
        text(speaker(ann)),
        text(visitor(), cmid="x"),
    ]:
        appended = await store.conversations.append("c_1", draft)
        assert appended.created is True
        numbers.append(appended.message.seq)
        assert appended.message.text == draft.text
        assert appended.message.kind is draft.kind
        assert appended.message.ts == clock.now_ms()
    assert numbers == [2, 3, 4, 5]
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.last_seq == 5
    assert await seqs(store, "c_1") == [1, 2, 3, 4, 5]


async def test_transitions_and_appends_share_one_seq_line(store: Store, clock: ManualClock) -> None:
    """System lines take seqs from the same counter as messages (`conversation.number`)."""
    await open_conv(store, clock)
    await store.conversations.append("c_1", text(visitor()))  # 2
    changed = await store.conversations.claim("c_1", agent(), 1)  # 3
    assert [m.seq for m in changed.messages] == [3]
    assert changed.conversation.last_seq == 3
    reply = await store.conversations.append("c_1", text(speaker(agent())))
    assert reply.message.seq == 4
    moved = await store.conversations.transfer("c_1", agent("a_bob"), 2)  # 5
    back = await store.conversations.requeue("c_1", 3, reason="agent_left", front=True)  # 6
    closed = await store.conversations.close("c_1", 4, by="agent", reason="done", resolved=None)
    assert [m.seq for c in (moved, back, closed) for m in c.messages] == [5, 6, 7]
    assert await seqs(store, "c_1") == list(range(1, 8))


async def test_the_same_cmid_from_the_same_sender_is_deduplicated(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    first = await store.conversations.append("c_1", text(visitor(), "once", cmid="m1"))
    clock.advance(5)
    again = await store.conversations.append("c_1", text(visitor(), "once (retry)", cmid="m1"))
    assert first.created is True
    assert again == Appended(first.message, created=False)
    assert await seqs(store, "c_1") == [1, 2]
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.last_seq == 2
    # The next message follows without a gap.
    assert (await store.conversations.append("c_1", text(visitor(), cmid="m2"))).message.seq == 3


async def test_the_same_cmid_from_another_sender_is_a_new_message(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    a = await store.conversations.append("c_1", text(visitor(), cmid="m1"))
    b = await store.conversations.append("c_1", text(speaker(agent()), cmid="m1"))
    assert (a.message.seq, b.message.seq) == (2, 3)
    assert b.created is True


async def test_the_same_cmid_in_another_conversation_is_a_new_message(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    await open_conv(store, clock, "c_2", "v_2")
    a = await store.conversations.append("c_1", text(visitor("v_1"), cmid="m1"))
    b = await store.conversations.append("c_2", text(visitor("v_2"), cmid="m1"))
    assert (a.created, b.created) == (True, True)
    assert (a.message.cid, b.message.cid) == ("c_1", "c_2")


async def test_concurrent_duplicate_cmids_create_one_message(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    results = await asyncio.gather(
        *(store.conversations.append("c_1", text(visitor(), cmid="same")) for _ in range(5))
    )
    assert {r.message.seq for r in results} == {2}
    assert sum(r.created for r in results) == 1
    assert await seqs(store, "c_1") == [1, 2]


async def test_the_cmid_of_the_opening_message_is_deduplicated(
    store: Store, clock: ManualClock
) -> None:
    first = await open_conv(store, clock, cmid="m0")
    again = await store.conversations.append("c_1", text(visitor(), "first", cmid="m0"))
    assert again == Appended(first, created=False)
    assert (await store.conversations.append("c_1", text(visitor(), cmid="m1"))).message.seq == 2


async def test_concurrent_appends_get_distinct_consecutive_seqs(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    results = await asyncio.gather(
        *(
            store.conversations.append("c_1", text(visitor(), f"m{i}", cmid=f"m{i}"))
            for i in range(50)
        )
    )
    assert sorted(r.message.seq for r in results) == list(range(2, 52))
    assert all(r.created for r in results)
    stored, more = await store.conversations.history("c_1", 0, 200, notes=True)
    assert [m.seq for m in stored] == list(range(1, 52))
    assert {m.text for m in stored[1:]} == {f"m{i}" for i in range(50)}
    assert not more


async def test_concurrent_appends_and_transitions_stay_gap_free(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    ann = agent()
    await asyncio.gather(
        *(store.conversations.append("c_1", text(visitor(), f"m{i}")) for i in range(10)),
        store.conversations.claim("c_1", ann, 1),
        *(store.conversations.append("c_1", note(speaker(ann), f"n{i}")) for i in range(10)),
    )
    assert await seqs(store, "c_1") == list(range(1, 23))
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.last_seq == 22


# --- who may append ------------------------------------------------------------------


async def test_a_guarded_append_needs_the_conversations_own_people(
    store: Store, clock: ManualClock
) -> None:
    """Another visitor does not see it (`not_found`), another agent may not speak in it
    (`forbidden`), and those checks come before `closed`."""
    ann, bob = agent("a_ann"), agent("a_bob")
    await open_conv(store, clock)
    await expect(
        ErrorCode.NOT_FOUND,
        store.conversations.append("c_1", text(visitor("v_2")), guarded=True),
    )
    await expect(
        ErrorCode.FORBIDDEN, store.conversations.append("c_1", text(speaker(ann)), guarded=True)
    )
    await store.conversations.claim("c_1", ann, 1)
    await expect(
        ErrorCode.FORBIDDEN, store.conversations.append("c_1", note(speaker(bob)), guarded=True)
    )
    mine = await store.conversations.append("c_1", text(speaker(ann)), guarded=True)
    theirs = await store.conversations.append("c_1", text(visitor()), guarded=True)
    assert (mine.message.seq, theirs.message.seq) == (3, 4)
    # unguarded: anyone (a supervisor's whisper, a system line)
    assert (await store.conversations.append("c_1", note(speaker(bob)))).message.seq == 5
    await store.conversations.close("c_1", 2, by="agent", reason="done", resolved=None)
    await expect(
        ErrorCode.NOT_FOUND,
        store.conversations.append("c_1", text(visitor("v_2")), guarded=True),
    )
    await expect(
        ErrorCode.FORBIDDEN, store.conversations.append("c_1", text(speaker(bob)), guarded=True)
    )
    await expect(
        ErrorCode.CLOSED, store.conversations.append("c_1", text(speaker(ann)), guarded=True)
    )
    await expect(ErrorCode.CLOSED, store.conversations.append("c_1", text(visitor(), cmid="m1")))
    assert await seqs(store, "c_1") == [1, 2, 3, 4, 5, 6]


async def test_append_reports_the_conversation_as_the_message_found_it(
    store: Store, clock: ManualClock
) -> None:
    created = clock.now_ms()
    await open_conv(store, clock, topic="billing")  # the visitor's turn begins
    ann = agent()
    await store.conversations.claim("c_1", ann, 1)
    clock.advance(10)
    reply = await store.conversations.append("c_1", text(speaker(ann), cmid="a1"))
    assert reply.timing == Timing(created, "billing", None, created, site="shop")
    clock.advance(10)
    more = await store.conversations.append("c_1", text(visitor()))
    answered = reply.message.ts
    assert more.timing == Timing(created, "billing", answered, None, site="shop")
    again = await store.conversations.append("c_1", text(speaker(ann), cmid="a1"))
    assert again.created is False and again.timing is None
    conv = await store.conversations.get("c_1")
    assert conv is not None
    assert (conv.first_response_at, conv.visitor_turn_at) == (answered, more.message.ts)
