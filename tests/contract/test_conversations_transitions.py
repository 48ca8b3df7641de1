"""Conversations, their transitions: claim, transfer (with and without capacity), requeue,
close, and what each leaves in the queue, the agents' active sets and loads. Two claims at
once: exactly one wins, and capacity holds under concurrency."""

from __future__ import annotations

import asyncio

from chat_server.backends.base import Store
from chat_server.backends.roles.conversations import AgentLoad, Changed
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent, Kind, State
from tests.contract.support import agent, expect, open_conv, seqs, text, visitor


async def hire(store: Store, *agents: Agent) -> None:
    """Agents in the directory: loads are kept for the directory's agents."""
    for a in agents:
        await store.directory.add_agent(a)


async def test_claim_makes_the_conversation_active(store: Store, clock: ManualClock) -> None:
    ann = agent()
    await hire(store, ann)
    await open_conv(store, clock)
    changed = await store.conversations.claim("c_1", ann, 777)
    assert isinstance(changed, Changed)
    assert changed.previous.state is State.QUEUED
    assert changed.conversation.state is State.ACTIVE
    assert changed.conversation.agent is not None
    assert changed.conversation.agent.id == "a_ann"
    assert changed.conversation.assigned_at == 777
    assert changed.conversation.last_seq == 2  # the "joined" line
    assert [(m.seq, m.kind, m.text) for m in changed.messages] == [
        (2, Kind.EVENT, "Ann joined the chat")
    ]
    assert await store.conversations.get("c_1") == changed.conversation
    assert [c.id for c in await store.conversations.active_of("a_ann")] == ["c_1"]
    assert await store.conversations.waiting() == []
    assert (await store.conversations.loads())["a_ann"] == AgentLoad(1, 777)


async def test_claim_enforces_capacity(store: Store, clock: ManualClock) -> None:
    solo = agent("a_solo", max_chats=1)
    await open_conv(store, clock, "c_1", "v_1")
    await open_conv(store, clock, "c_2", "v_2")
    await store.conversations.claim("c_1", solo, 1)
    await expect(ErrorCode.CONFLICT, store.conversations.claim("c_2", solo, 2))
    c2 = await store.conversations.get("c_2")
    assert c2 is not None and c2.state is State.QUEUED
    assert await seqs(store, "c_2") == [1]
    # Once the first is closed, the slot is free again.
    await store.conversations.close("c_1", 3, by="agent", reason="agent_closed", resolved=True)
    await store.conversations.claim("c_2", solo, 4)


async def test_claim_of_an_active_conversation_is_conflict(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    await store.conversations.claim("c_1", agent("a_ann"), 1)
    await expect(ErrorCode.CONFLICT, store.conversations.claim("c_1", agent("a_bob"), 2))
    await expect(ErrorCode.CONFLICT, store.conversations.claim("c_1", agent("a_ann"), 2))
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.agent is not None and conv.agent.id == "a_ann"
    assert await store.conversations.active_of("a_bob") == []
    assert await seqs(store, "c_1") == [1, 2]


async def test_transfer_moves_the_conversation_between_agents(
    store: Store, clock: ManualClock
) -> None:
    ann, bob = agent("a_ann"), agent("a_bob")
    await hire(store, ann, bob)
    await open_conv(store, clock)
    await store.conversations.claim("c_1", ann, 1)
    changed = await store.conversations.transfer("c_1", bob, 2)
    assert [m.text for m in changed.messages] == ["Transferred to Bob"]
    assert changed.previous.agent is not None and changed.previous.agent.id == "a_ann"
    assert changed.conversation.agent is not None and changed.conversation.agent.id == "a_bob"
    assert changed.conversation.assigned_at == 1  # when it was first answered
    assert await store.conversations.active_of("a_ann") == []
    assert [c.id for c in await store.conversations.active_of("a_bob")] == ["c_1"]
    loads = await store.conversations.loads()
    assert (loads["a_ann"], loads["a_bob"]) == (AgentLoad(0, 1), AgentLoad(1, 2))


async def test_transfer_to_the_agent_who_holds_it_is_conflict(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    await store.conversations.claim("c_1", agent("a_ann"), 1)
    await expect(ErrorCode.CONFLICT, store.conversations.transfer("c_1", agent("a_ann"), 2))
    await expect(
        ErrorCode.CONFLICT,
        store.conversations.transfer("c_1", agent("a_ann"), 2, ignore_capacity=True),
    )
    assert await seqs(store, "c_1") == [1, 2]


async def test_transfer_of_a_queued_conversation_assigns_it(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    changed = await store.conversations.transfer("c_1", agent("a_bob"), 5)
    assert changed.conversation.state is State.ACTIVE
    assert changed.conversation.assigned_at == 5
    assert [m.text for m in changed.messages] == ["Bob joined the chat"]
    assert await store.conversations.waiting() == []


async def test_transfer_enforces_capacity_unless_told_not_to(
    store: Store, clock: ManualClock
) -> None:
    solo = agent("a_solo", max_chats=1)
    await open_conv(store, clock, "c_1", "v_1")
    await open_conv(store, clock, "c_2", "v_2")
    await store.conversations.claim("c_1", solo, 1)
    await store.conversations.claim("c_2", agent("a_ann"), 1)
    await expect(ErrorCode.CONFLICT, store.conversations.transfer("c_2", solo, 2))
    c2 = await store.conversations.get("c_2")
    assert c2 is not None and c2.agent is not None and c2.agent.id == "a_ann"
    changed = await store.conversations.transfer("c_2", solo, 2, ignore_capacity=True)
    assert changed.conversation.state is State.ACTIVE
    await open_conv(store, clock, "c_3", "v_3")  # and a queued one (a supervisor's assign)
    await expect(ErrorCode.CONFLICT, store.conversations.transfer("c_3", solo, 3))
    queued = await store.conversations.transfer("c_3", solo, 3, ignore_capacity=True)
    assert queued.conversation.state is State.ACTIVE
    assert len(await store.conversations.active_of("a_solo")) == 3


async def test_concurrent_claims_by_two_agents_exactly_one_wins(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    results = await asyncio.gather(
        store.conversations.claim("c_1", agent("a_ann"), 1),
        store.conversations.claim("c_1", agent("a_bob"), 1),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, Changed)]
    losses = [r for r in results if isinstance(r, ChatError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code is ErrorCode.CONFLICT
    winner = wins[0].conversation.agent
    assert winner is not None
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.agent == winner
    loser = "a_bob" if winner.id == "a_ann" else "a_ann"
    assert await store.conversations.active_of(loser) == []
    assert await seqs(store, "c_1") == [1, 2]  # one "joined" line


async def test_concurrent_claims_respect_capacity(store: Store, clock: ManualClock) -> None:
    solo = agent("a_solo", max_chats=2)
    for i in range(6):
        await open_conv(store, clock, f"c_{i}", f"v_{i}")
    results = await asyncio.gather(
        *(store.conversations.claim(f"c_{i}", solo, 1) for i in range(6)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Changed) for r in results) == 2
    assert all(
        isinstance(r, Changed) or (isinstance(r, ChatError) and r.code is ErrorCode.CONFLICT)
        for r in results
    )
    assert len(await store.conversations.active_of("a_solo")) == 2
    assert len(await store.conversations.waiting()) == 4


async def test_concurrent_transfers_respect_capacity(store: Store, clock: ManualClock) -> None:
    solo = agent("a_solo", max_chats=1)
    for i in range(4):
        await open_conv(store, clock, f"c_{i}", f"v_{i}")
        await store.conversations.claim(f"c_{i}", agent(f"a_{i}"), 1)
    results = await asyncio.gather(
        *(store.conversations.transfer(f"c_{i}", solo, 2) for i in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Changed) for r in results) == 1
    assert len(await store.conversations.active_of("a_solo")) == 1


# --- requeue and close -------------------------------------------------------------------


async def test_requeue_puts_it_back_at_the_front(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    clock.advance(1)
    await open_conv(store, clock, "c_2", "v_2")
    await store.conversations.claim("c_1", agent(), 1)
    clock.advance(60)
    changed = await store.conversations.requeue(
        "c_1", clock.now_ms(), reason="agent_left", front=True, only_agent="a_ann"
    )
    assert changed.conversation.state is State.QUEUED
    assert changed.conversation.agent is None
    assert "a_ann" not in changed.conversation.excluded_agents
    assert [m.kind for m in changed.messages] == [Kind.EVENT]
    assert [c.id for c in await store.conversations.waiting()] == ["c_1", "c_2"]
    assert await store.conversations.active_of("a_ann") == []


async def test_requeue_after_a_transfer_goes_to_the_back_without_that_agent(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    clock.advance(1)
    await open_conv(store, clock, "c_2", "v_2")
    await store.conversations.claim("c_1", agent(), 1)
    clock.advance(1)
    changed = await store.conversations.requeue(
        "c_1", clock.now_ms(), reason="transferred", front=False, topic="billing"
    )
    assert changed.conversation.excluded_agents == frozenset({"a_ann"})
    assert changed.conversation.topic == "billing"
    assert [c.id for c in await store.conversations.waiting()] == ["c_2", "c_1"]
    stored = await store.conversations.get("c_1")
    assert stored == changed.conversation


async def test_requeue_for_another_agent_is_conflict(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    await store.conversations.claim("c_1", agent("a_ann"), 1)
    await expect(
        ErrorCode.CONFLICT,
        store.conversations.requeue("c_1", 2, reason="agent_left", front=True, only_agent="a_bob"),
    )
    conv = await store.conversations.get("c_1")
    assert conv is not None and conv.state is State.ACTIVE
    assert await seqs(store, "c_1") == [1, 2]


async def test_requeue_of_a_queued_conversation_is_conflict(
    store: Store, clock: ManualClock
) -> None:
    await open_conv(store, clock)
    await expect(
        ErrorCode.CONFLICT, store.conversations.requeue("c_1", 2, reason="transferred", front=False)
    )
    await expect(
        ErrorCode.CONFLICT,
        store.conversations.requeue("c_1", 2, reason="agent_left", front=True, only_agent="a_ann"),
    )


async def test_close_then_every_write_is_closed(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    await store.conversations.claim("c_1", agent(), 1)
    changed = await store.conversations.close(
        "c_1", 9, by="agent", reason="agent_closed", resolved=True
    )
    assert changed.conversation.state is State.CLOSED
    assert changed.conversation.resolved is True
    assert [m.text for m in changed.messages] == ["The conversation was closed"]
    assert await store.conversations.open_of("v_1") is None
    assert await store.conversations.active_of("a_ann") == []
    assert await store.conversations.waiting() == []
    await expect(ErrorCode.CLOSED, store.conversations.append("c_1", text(visitor(), cmid="late")))
    await expect(
        ErrorCode.CLOSED,
        store.conversations.close("c_1", 10, by="visitor", reason="x", resolved=None),
    )
    await expect(ErrorCode.CLOSED, store.conversations.claim("c_1", agent("a_bob"), 10))
    await expect(
        ErrorCode.CLOSED,
        store.conversations.transfer("c_1", agent("a_bob"), 10, ignore_capacity=True),
    )
    await expect(
        ErrorCode.CLOSED, store.conversations.requeue("c_1", 10, reason="transferred", front=True)
    )
    stored = await store.conversations.get("c_1")
    assert stored == changed.conversation
    assert (stored.closed_by, stored.close_reason, stored.closed_at) == ("agent", "agent_closed", 9)
    assert await seqs(store, "c_1") == [1, 2, 3]


async def test_concurrent_closes_close_once(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock)
    results = await asyncio.gather(
        *(
            store.conversations.close("c_1", 2, by="agent", reason="r", resolved=None)
            for _ in range(3)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Changed) for r in results) == 1
    assert await seqs(store, "c_1") == [1, 2]
