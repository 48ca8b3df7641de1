"""Issue 14 on both stores: pending conversations (offline messages) are open but never
queued, listed oldest first, claimed like queued ones and kept across a restart (or seen by
another node); `last_active` moves with text messages only; the generic `transition`
(to pending, snooze, the inactivity warning and close) is checked and written atomically."""

from __future__ import annotations

from dataclasses import replace

from chat_server.backends.base import Store
from chat_server.backends.roles.conversations import Quiet
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode, conflict
from chat_server.core.model import Conversation, Kind, State
from tests.contract.conftest import Storage
from tests.contract.support import agent, expect, note, open_conv, seqs, speaker, text, visitor


async def open_pending(
    store: Store, clock: ManualClock, cid: str = "c_1", vid: str = "v_1"
) -> None:
    conv = flow.open_conversation(cid, "shop", vid, None, clock.now_ms(), pending=True)
    await store.conversations.open(conv, text(visitor(vid), "are you there?"), None)


async def test_a_pending_conversation_is_open_but_not_queued(
    store: Store, clock: ManualClock
) -> None:
    await open_pending(store, clock)
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.state is State.PENDING
    assert conv.pending_at == clock.now_ms()
    assert await store.conversations.open_of("v_1") == conv
    assert await store.conversations.waiting() == []
    assert [c.id for c in await store.conversations.pending()] == ["c_1"]
    assert [c.id for c in await store.conversations.find(state=State.PENDING)] == ["c_1"]
    await expect(ErrorCode.CONFLICT, open_conv(store, clock, "c_2_1", "v_1"))


async def test_a_queued_conversation_becomes_pending(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    clock.advance(30)
    changed = await store.conversations.transition(
        "c_1", lambda c: flow.to_pending(c, clock.now_ms(), "vera@example.com")
    )
    assert changed.previous.state is State.QUEUED
    assert changed.conversation.state is State.PENDING
    assert [(m.seq, m.kind) for m in changed.messages] == [(2, Kind.EVENT)]
    assert await store.conversations.waiting() == []
    (listed,) = await store.conversations.pending()
    assert listed == changed.conversation == await store.conversations.get("c_1")
    assert listed.pending_at == clock.now_ms()
    # a message still goes in, and is measured as part of an offline message
    appended = await store.conversations.append("c_1", text(visitor(), "still here"))
    assert appended.message.seq == 3
    assert appended.timing is not None and appended.timing.pending_at == clock.now_ms()


async def test_the_pending_list_is_oldest_offline_message_first(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock, "c_old_1", "v_1")  # created first, left a message last
    clock.advance(10)
    await open_pending(store, clock, "c_new_2", "v_2")
    clock.advance(10)
    await store.conversations.transition(
        "c_old_1", lambda c: flow.to_pending(c, clock.now_ms(), "v@example.com")
    )
    assert [c.id for c in await store.conversations.pending()] == ["c_new_2", "c_old_1"]


async def test_claiming_a_pending_conversation(store: Store, clock: ManualClock) -> None:
    ann = agent()
    await store.directory.add_agent(ann)
    await open_pending(store, clock)
    clock.advance(3600)
    changed = await store.conversations.claim("c_1", ann, clock.now_ms())
    assert changed.previous.state is State.PENDING
    assert changed.conversation.state is State.ACTIVE
    assert [m.text for m in changed.messages] == ["Ann joined the chat"]
    assert await store.conversations.pending() == []
    assert [c.id for c in await store.conversations.active_of("a_ann")] == ["c_1"]
    appended = await store.conversations.append("c_1", text(speaker(ann), "sorry, we're back"))
    assert appended.timing is not None and appended.timing.pending_at is not None


async def test_pending_survives_a_restart_or_another_node(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    await open_pending(store, clock)
    async with storage.another() as other:
        (conv,) = await other.conversations.pending()
        assert conv.id == "c_1" and conv.state is State.PENDING
        assert await other.conversations.open_of("v_1") == conv


async def test_text_messages_move_last_active_and_others_do_not(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    ann = agent()
    await store.directory.add_agent(ann)
    await open_conv(store, clock)
    first = clock.now_ms()
    assert (await current(store)).last_active == first
    await store.conversations.claim("c_1", ann, first)
    clock.advance(5)
    await store.conversations.append("c_1", note(speaker(ann)))
    assert (await current(store)).last_active == first
    await store.conversations.append("c_1", text(speaker(ann), "hi"))
    assert (await current(store)).last_active == clock.now_ms()
    clock.advance(5)
    await store.conversations.append("c_1", text(visitor(), "hello"))
    assert (await current(store)).last_active == clock.now_ms()
    async with storage.another() as other:
        again = await other.conversations.get("c_1")
        assert again is not None and again.last_active == clock.now_ms()


async def current(store: Store, cid: str = "c_1") -> Conversation:
    conv = await store.conversations.get(cid)
    assert conv is not None
    return conv


async def test_the_inactivity_warning_then_close(store: Store, clock: ManualClock) -> None:
    ann = agent()
    await store.directory.add_agent(ann)
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ann, clock.now_ms())
    clock.advance(600)
    now = clock.now_ms()
    warned = await store.conversations.transition(
        "c_1", lambda c: flow.warn_inactive(c, now, 600, 120)
    )
    assert warned.conversation.warned_at == now
    assert [m.kind for m in warned.messages] == [Kind.EVENT]
    assert await current(store) == warned.conversation
    # a second node deciding the same warning finds it given: refused, nothing written
    await expect(
        ErrorCode.CONFLICT,
        store.conversations.transition("c_1", lambda c: flow.warn_inactive(c, now, 600, 120)),
    )
    assert await seqs(store, "c_1") == [1, 2, 3]
    clock.advance(120)
    later = clock.now_ms()
    closed = await store.conversations.transition(
        "c_1", lambda c: flow.close_inactive(c, later, 600, 120)
    )
    assert closed.conversation.state is State.CLOSED
    assert closed.conversation.close_reason == "inactive"
    assert await store.conversations.active_of("a_ann") == []
    assert await store.conversations.open_of("v_1") is None
    await expect(
        ErrorCode.CLOSED,
        store.conversations.transition("c_1", lambda c: flow.snooze(c, later)),
    )


async def test_a_text_in_between_rearms_the_close(store: Store, clock: ManualClock) -> None:
    ann = agent()
    await store.directory.add_agent(ann)
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ann, clock.now_ms())
    clock.advance(600)
    now = clock.now_ms()
    await store.conversations.transition("c_1", lambda c: flow.warn_inactive(c, now, 600, 120))
    await store.conversations.append("c_1", text(visitor(), "still here"))
    clock.advance(120)
    assert flow.inactivity_due(await current(store), clock.now_ms(), 600, 120) is None


async def test_a_snooze_is_kept(store: Store, storage: Storage, clock: ManualClock) -> None:
    ann = agent()
    await store.directory.add_agent(ann)
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ann, clock.now_ms())
    until = clock.now_ms() + 1_800_000
    changed = await store.conversations.transition("c_1", lambda c: flow.snooze(c, until))
    assert changed.messages == ()
    assert (await current(store)).snoozed_until == until
    async with storage.another() as other:
        again = await other.conversations.get("c_1")
        assert again is not None and again.snoozed_until == until


async def test_a_refused_transition_writes_nothing(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    before = await current(store)

    def refuse(conv: Conversation) -> flow.Transition:
        raise conflict("no")

    await expect(ErrorCode.CONFLICT, store.conversations.transition("c_1", refuse))
    await expect(ErrorCode.NOT_FOUND, store.conversations.transition("c_x", refuse))
    assert await current(store) == before
    assert await seqs(store, "c_1") == [1]
    same = await store.conversations.transition(
        "c_1", lambda c: flow.Transition(replace(c, topic="billing"))
    )
    assert same.conversation.topic == "billing" == (await current(store)).topic


async def test_quiet_since_lists_the_active_with_their_last_text(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    """What the inactivity sweep reads first: active chats only, each with its last text
    (else its assignment), without reading them whole; kept across a restart."""
    ann = agent()
    await store.directory.add_agent(ann)
    for i in range(3):
        await open_conv(store, clock, f"c_{i}", f"v_{i}")
        clock.advance(1000)
    claimed = clock.now_ms()
    await store.conversations.claim("c_0", ann, claimed)
    await store.conversations.claim("c_1", ann, claimed)
    clock.advance(5000)
    await store.conversations.append("c_1", note(speaker(ann)))  # not a text: no move
    await store.conversations.append("c_1", text(visitor("v_1"), "still there?"))
    texted = clock.now_ms()
    clock.advance(5000)
    assert sorted(await store.conversations.quiet_since(10)) == [
        Quiet("c_0", "shop", claimed),
        Quiet("c_1", "shop", texted),
    ]  # c_2 is queued
    assert len(await store.conversations.quiet_since(1)) == 1
    # with a time, only those quiet since at or before it (the rest stay in the store)
    assert await store.conversations.quiet_since(10, before=texted - 1) == [
        Quiet("c_0", "shop", claimed)
    ]
    assert len(await store.conversations.quiet_since(10, before=texted)) == 2
    assert await store.conversations.quiet_since(10, before=claimed - 1) == []
    await store.conversations.close("c_0", 1, by="agent", reason="done", resolved=None)
    assert await store.conversations.quiet_since(10) == [Quiet("c_1", "shop", texted)]
    async with storage.another() as again:
        assert await again.conversations.quiet_since(10) == [Quiet("c_1", "shop", texted)]
