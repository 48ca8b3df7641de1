"""`chat_server/core/conversation.py`: the queued -> active -> closed state machine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chat_server.core import conversation as flow
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import (
    SYSTEM,
    Agent,
    AgentRef,
    AgentRole,
    Conversation,
    Kind,
    Message,
    Role,
    Sender,
    State,
)

T0 = 1_000_000
ANN = AgentRef("a_ann", "Ann")
BOB = AgentRef("a_bob", "Bob")


def opened(topic: str | None = None) -> Conversation:
    return flow.open_conversation("c_1", "shop", "v_1", topic, T0)


def active(agent: AgentRef = ANN) -> Conversation:
    return flow.claim(opened(), agent, T0 + 5_000).conversation


def closed() -> Conversation:
    return flow.close(
        active(), T0 + 9_000, by="agent", reason="agent_closed", resolved=True
    ).conversation


def agent(ref: AgentRef, role: AgentRole = AgentRole.AGENT) -> Agent:
    return Agent(ref.id, f"{ref.name}@example.com", ref.name, role, 3)


def assert_code(code: ErrorCode, call: Callable[[], Any]) -> None:
    with pytest.raises(ChatError) as info:
        call()
    assert info.value.code is code


# --- open ------------------------------------------------------------------------------


def test_open_is_queued() -> None:
    conv = opened(topic="billing")
    assert conv.state is State.QUEUED
    assert conv.is_open
    assert (conv.id, conv.site, conv.visitor_id, conv.topic) == ("c_1", "shop", "v_1", "billing")
    assert conv.created == conv.queued_at == T0
    assert conv.agent is None
    assert conv.last_seq == 0
    assert conv.queue_rank == 1  # new conversations go behind requeued ones
    assert conv.assigned_at is None and conv.first_response_at is None


# --- assign ----------------------------------------------------------------------------


def test_assign_queued_makes_it_active_with_the_agent() -> None:
    conv = opened()
    t = flow.claim(conv, ANN, T0 + 5_000)
    assert t.conversation.state is State.ACTIVE
    assert t.conversation.agent == ANN
    assert t.conversation.assigned_at == T0 + 5_000
    assert len(t.drafts) == 1
    draft = t.drafts[0]
    assert draft.kind is Kind.EVENT
    assert draft.sender == SYSTEM
    assert draft.sender.role is Role.SYSTEM
    assert "Ann" in draft.text
    assert draft.cmid is None
    assert conv.state is State.QUEUED  # the input value is untouched


def test_claim_of_an_active_conversation_is_conflict() -> None:
    assert_code(ErrorCode.CONFLICT, lambda: flow.claim(active(ANN), BOB, T0 + 6_000))
    assert_code(ErrorCode.CONFLICT, lambda: flow.claim(active(ANN), ANN, T0 + 6_000))


def test_transfer_to_the_same_agent_is_conflict() -> None:
    assert_code(ErrorCode.CONFLICT, lambda: flow.transfer(active(ANN), ANN, T0 + 6_000))


def test_transfer_to_another_agent() -> None:
    before = active(ANN)
    t = flow.transfer(before, BOB, T0 + 60_000)
    assert t.conversation.state is State.ACTIVE
    assert t.conversation.agent == BOB
    assert [d.text for d in t.drafts] == ["Transferred to Bob"]
    assert t.drafts[0].kind is Kind.EVENT
    # The wait ended at the first assignment: a transfer does not move it.
    assert t.conversation.assigned_at == before.assigned_at == T0 + 5_000


def test_transfer_of_a_queued_conversation_is_a_plain_assignment() -> None:
    t = flow.transfer(opened(), BOB, T0 + 1)
    assert t.conversation.agent == BOB
    assert t.conversation.state is State.ACTIVE
    assert not t.drafts[0].text.startswith("Transferred")


# --- requeue ---------------------------------------------------------------------------


def test_requeue_active_to_the_front() -> None:
    t = flow.requeue(active(ANN), T0 + 30_000, reason="agent_left", front=True)
    conv = t.conversation
    assert conv.state is State.QUEUED
    assert conv.agent is None
    assert conv.queue_rank == 0
    assert conv.queued_at == T0 + 30_000
    assert "a_ann" not in conv.excluded_agents  # disconnected, not handed on: may get it back
    assert len(t.drafts) == 1 and t.drafts[0].kind is Kind.EVENT
    assert t.drafts[0].text == flow.REQUEUE_LINES["agent_left"]


def test_requeue_to_the_back() -> None:
    conv = flow.requeue(active(ANN), T0 + 30_000, reason="transferred", front=False).conversation
    assert conv.queue_rank == 1
    assert conv.state is State.QUEUED
    assert "a_ann" in conv.excluded_agents  # handed on: not routed back to them


def test_requeue_accumulates_excluded_agents() -> None:
    first = flow.requeue(active(ANN), T0 + 1, reason="transferred", front=True).conversation
    again = flow.claim(first, BOB, T0 + 2).conversation
    second = flow.requeue(again, T0 + 3, reason="transferred", front=True).conversation
    assert second.excluded_agents == frozenset({"a_ann", "a_bob"})


def test_requeue_topic_override_and_keep() -> None:
    start = flow.claim(opened(topic="sales"), ANN, T0).conversation
    kept = flow.requeue(start, T0 + 1, reason="transferred", front=True).conversation
    assert kept.topic == "sales"
    moved = flow.requeue(start, T0 + 1, reason="transferred", front=True, topic="billing")
    assert moved.conversation.topic == "billing"


def test_requeue_unknown_reason_still_adds_a_line() -> None:
    t = flow.requeue(active(ANN), T0 + 1, reason="whatever", front=False)
    assert len(t.drafts) == 1 and t.drafts[0].text


def test_requeue_of_a_queued_conversation_is_conflict() -> None:
    assert_code(
        ErrorCode.CONFLICT, lambda: flow.requeue(opened(), T0, reason="transferred", front=True)
    )


# --- close -----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [opened, active], ids=["queued", "active"])
@pytest.mark.parametrize("resolved", [True, False, None])
def test_close_records_who_why_and_resolution(
    make: Callable[[], Conversation], resolved: bool | None
) -> None:
    t = flow.close(make(), T0 + 9_000, by="visitor", reason="visitor_closed", resolved=resolved)
    conv = t.conversation
    assert conv.state is State.CLOSED
    assert not conv.is_open
    assert conv.closed_at == T0 + 9_000
    assert conv.closed_by == "visitor"
    assert conv.close_reason == "visitor_closed"
    assert conv.resolved is resolved
    assert len(t.drafts) == 1 and t.drafts[0].kind is Kind.EVENT


TRANSITIONS_ON_CLOSED: dict[str, Callable[[Conversation], Any]] = {
    "claim": lambda c: flow.claim(c, BOB, T0 + 10_000),
    "transfer": lambda c: flow.transfer(c, BOB, T0 + 10_000),
    "requeue": lambda c: flow.requeue(c, T0 + 10_000, reason="transferred", front=True),
    "close": lambda c: flow.close(c, T0 + 10_000, by="agent", reason="again", resolved=None),
    "ensure_open": flow.ensure_open,
}


@pytest.mark.parametrize("name", sorted(TRANSITIONS_ON_CLOSED))
def test_anything_on_a_closed_conversation_is_closed(name: str) -> None:
    conv = closed()
    assert_code(ErrorCode.CLOSED, lambda: TRANSITIONS_ON_CLOSED[name](conv))


def test_closed_queued_conversation_is_closed_too() -> None:
    conv = flow.close(opened(), T0, by="system", reason="visitor_left", resolved=None).conversation
    assert_code(ErrorCode.CLOSED, lambda: flow.claim(conv, ANN, T0))


def test_ensure_open_passes_open_conversations() -> None:
    flow.ensure_open(opened())
    flow.ensure_open(active())


# --- after_message ---------------------------------------------------------------------

VISITOR = Sender(Role.VISITOR, "v_1", "Vera")
AGENT_SENDER = Sender(Role.AGENT, "a_ann", "Ann")


def message(seq: int, ts: int, kind: Kind, sender: Sender) -> Message:
    return Message("c_1", seq, ts, kind, sender, f"text {seq}")


def test_after_message_advances_last_seq() -> None:
    conv = opened()
    conv = flow.after_message(conv, message(1, T0, Kind.TEXT, VISITOR))
    assert conv.last_seq == 1
    conv = flow.after_message(conv, message(2, T0 + 1, Kind.EVENT, SYSTEM))
    assert conv.last_seq == 2


def test_first_response_is_the_first_agent_text_only() -> None:
    conv = active()
    conv = flow.after_message(conv, message(1, T0 + 1, Kind.TEXT, VISITOR))
    conv = flow.after_message(conv, message(2, T0 + 2, Kind.EVENT, SYSTEM))
    conv = flow.after_message(conv, message(3, T0 + 3, Kind.NOTE, AGENT_SENDER))
    assert conv.first_response_at is None
    assert conv.last_seq == 3
    conv = flow.after_message(conv, message(4, T0 + 4, Kind.TEXT, AGENT_SENDER))
    assert conv.first_response_at == T0 + 4
    conv = flow.after_message(conv, message(5, T0 + 5, Kind.TEXT, AGENT_SENDER))
    assert conv.first_response_at == T0 + 4
    assert conv.last_seq == 5


def test_an_event_with_an_agent_sender_is_not_a_response() -> None:
    conv = flow.after_message(active(), message(1, T0 + 1, Kind.EVENT, AGENT_SENDER))
    assert conv.first_response_at is None


# --- ownership ---------------------------------------------------------------------------


def test_require_own_accepts_the_conversations_agent() -> None:
    flow.require_own(active(ANN), agent(ANN))
    flow.require_own_or_supervisor(active(ANN), agent(ANN))


def test_require_own_refuses_another_agent() -> None:
    assert_code(ErrorCode.FORBIDDEN, lambda: flow.require_own(active(ANN), agent(BOB)))
    assert_code(
        ErrorCode.FORBIDDEN, lambda: flow.require_own_or_supervisor(active(ANN), agent(BOB))
    )


def test_require_own_refuses_everyone_on_an_unassigned_conversation() -> None:
    assert_code(ErrorCode.FORBIDDEN, lambda: flow.require_own(opened(), agent(ANN)))
    assert_code(ErrorCode.FORBIDDEN, lambda: flow.require_own_or_supervisor(opened(), agent(ANN)))


def test_supervisor_passes_only_the_supervisor_check() -> None:
    boss = agent(AgentRef("a_boss", "Boss"), AgentRole.SUPERVISOR)
    assert_code(ErrorCode.FORBIDDEN, lambda: flow.require_own(active(ANN), boss))
    flow.require_own_or_supervisor(active(ANN), boss)
    flow.require_own_or_supervisor(opened(), boss)


def test_has_capacity() -> None:
    assert flow.has_capacity(0, 1)
    assert not flow.has_capacity(1, 1)
    assert not flow.has_capacity(0, 0)


def test_only_the_conversations_own_people_may_write() -> None:
    """`require_author`: what append.lua mirrors (contract §3: others' chats do not exist
    for a visitor; agents write only in their own)."""
    conv = active()
    flow.require_author(conv, Sender(Role.VISITOR, "v_1", None))
    flow.require_author(conv, Sender(Role.AGENT, ANN.id, ANN.name))
    flow.require_author(conv, SYSTEM)
    cases = [
        (conv, Sender(Role.VISITOR, "v_2", None), ErrorCode.NOT_FOUND),
        (conv, Sender(Role.AGENT, BOB.id, BOB.name), ErrorCode.FORBIDDEN),
        (opened(), Sender(Role.AGENT, ANN.id, ANN.name), ErrorCode.FORBIDDEN),
    ]
    for target, sender, code in cases:
        with pytest.raises(ChatError) as refused:
            flow.require_author(target, sender)
        assert refused.value.code is code
