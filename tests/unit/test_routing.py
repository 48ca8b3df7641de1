"""`chat_server/core/routing.py`: who gets the next conversation (contract §4 Routing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest

from chat_server.core.model import AgentRef, Conversation, State
from chat_server.core.routing import (
    Candidate,
    estimate_wait_s,
    pick_agent,
    plan_assignments,
    queue_order,
)


def cand(
    agent_id: str,
    active: int = 0,
    max_chats: int = 3,
    topics: tuple[str, ...] = (),
    idle_since: int = 0,
) -> Candidate:
    return Candidate(agent_id, active, max_chats, frozenset(topics), idle_since)


def conv(
    cid: str,
    *,
    queued_at: int = 0,
    rank: int = 1,
    topic: str | None = None,
    state: State = State.QUEUED,
    excluded: tuple[str, ...] = (),
) -> Conversation:
    return Conversation(
        id=cid,
        site="s",
        visitor_id=f"v_{cid}",
        state=state,
        created=queued_at,
        topic=topic,
        queued_at=queued_at,
        queue_rank=rank,
        agent=AgentRef("a_x", "X") if state is State.ACTIVE else None,
        excluded_agents=frozenset(excluded),
    )


# --- pick_agent ----------------------------------------------------------------------


def test_picks_the_agent_with_fewest_active() -> None:
    agents = [cand("a_1", active=2), cand("a_2", active=0), cand("a_3", active=1)]
    assert pick_agent(agents, None) == "a_2"


def test_fewest_active_wins_over_longer_idle() -> None:
    agents = [cand("a_1", active=1, idle_since=0), cand("a_2", active=0, idle_since=10_000)]
    assert pick_agent(agents, None) == "a_2"


def test_ties_go_to_the_longest_idle() -> None:
    agents = [
        cand("a_1", active=1, idle_since=300),
        cand("a_2", active=1, idle_since=100),
        cand("a_3", active=1, idle_since=200),
    ]
    assert pick_agent(agents, None) == "a_2"
    assert pick_agent(reversed(agents), None) == "a_2"


def test_full_agents_are_ignored() -> None:
    agents = [cand("a_1", active=3, max_chats=3), cand("a_2", active=2, max_chats=3)]
    assert pick_agent(agents, None) == "a_2"


def test_agents_over_capacity_and_zero_capacity_are_ignored() -> None:
    agents = [cand("a_1", active=5, max_chats=3), cand("sup", active=0, max_chats=0)]
    assert pick_agent(agents, None) is None


def test_excluded_agents_are_ignored() -> None:
    agents = [cand("a_1", active=0), cand("a_2", active=2)]
    assert pick_agent(agents, None, exclude=frozenset({"a_1"})) == "a_2"
    assert pick_agent(agents, None, exclude=frozenset({"a_1", "a_2"})) is None


def test_specialist_beats_generalist() -> None:
    agents = [cand("gen", active=0, idle_since=0), cand("spec", active=2, topics=("billing",))]
    assert pick_agent(agents, "billing") == "spec"


def test_specialists_among_themselves_go_by_load() -> None:
    agents = [
        cand("s1", active=2, topics=("billing",)),
        cand("s2", active=1, topics=("billing", "sales")),
        cand("gen", active=0),
    ]
    assert pick_agent(agents, "billing") == "s2"


def test_full_specialist_leaves_it_to_the_generalist() -> None:
    agents = [cand("spec", active=1, max_chats=1, topics=("billing",)), cand("gen", active=2)]
    assert pick_agent(agents, "billing") == "gen"


def test_agent_with_other_topics_cannot_take_a_topic_conversation() -> None:
    agents = [cand("sales", active=0, topics=("sales",))]
    assert pick_agent(agents, "billing") is None
    agents.append(cand("gen", active=2))
    assert pick_agent(agents, "billing") == "gen"


def test_generalists_take_anything() -> None:
    assert pick_agent([cand("gen")], "billing") == "gen"
    assert pick_agent([cand("gen")], "anything-else") == "gen"
    assert pick_agent([cand("gen")], None) == "gen"


def test_untopiced_conversation_goes_to_anyone() -> None:
    agents = [cand("spec", active=0, topics=("billing",)), cand("gen", active=1)]
    assert pick_agent(agents, None) == "spec"  # fewest active, topics don't restrict it


def test_returns_none_when_nobody_fits() -> None:
    assert pick_agent([], None) is None
    assert pick_agent([], "billing") is None
    agents = [cand("a_1", active=3), cand("sales", topics=("sales",))]
    assert pick_agent(agents, "billing") is None


def test_pick_is_deterministic_for_full_ties() -> None:
    agents = [cand("a_2"), cand("a_1"), cand("a_3")]
    assert pick_agent(agents, None) == pick_agent(list(reversed(agents)), None)


def test_candidate_free() -> None:
    assert cand("a", active=1, max_chats=3).free == 2
    assert cand("a", active=4, max_chats=3).free == 0


# --- queue_order ---------------------------------------------------------------------


def test_requeued_go_before_new_then_oldest_first() -> None:
    new_old = conv("c_new_old", queued_at=100, rank=1)
    new_young = conv("c_new_young", queued_at=500, rank=1)
    requeued_young = conv("c_re_young", queued_at=900, rank=0)
    requeued_old = conv("c_re_old", queued_at=300, rank=0)
    order = queue_order([new_young, requeued_young, new_old, requeued_old])
    assert [c.id for c in order] == ["c_re_old", "c_re_young", "c_new_old", "c_new_young"]


def test_queue_order_keeps_only_queued() -> None:
    queued = conv("c_q", queued_at=5)
    active = conv("c_a", queued_at=1, state=State.ACTIVE)
    closed = replace(conv("c_c", queued_at=0), state=State.CLOSED)
    assert queue_order([active, closed, queued]) == [queued]
    assert queue_order([]) == []


# --- plan_assignments ------------------------------------------------------------------


def test_plan_spreads_the_queue_and_respects_capacity() -> None:
    queue = [conv(f"c_{i}", queued_at=i) for i in range(8)]
    agents = [
        cand("one", max_chats=1),
        cand("two", active=1, max_chats=3),  # free 2
        cand("three", active=0, max_chats=3),  # free 3
    ]
    plan = plan_assignments(queue, agents, now=1_000)
    counts = Counter(agent for _, agent in plan)
    assert counts == {"one": 1, "two": 2, "three": 3}
    # In queue order: the first six get an agent, the last two wait.
    assert [cid for cid, _ in plan] == [f"c_{i}" for i in range(6)]


def test_plan_gives_a_single_slot_agent_exactly_one() -> None:
    queue = [conv(f"c_{i}", queued_at=i) for i in range(3)]
    plan = plan_assignments(queue, [cand("solo", max_chats=1)], now=0)
    assert plan == [("c_0", "solo")]


def test_plan_balances_load_as_it_goes() -> None:
    queue = [conv(f"c_{i}", queued_at=i) for i in range(4)]
    agents = [cand("a", idle_since=50), cand("b", idle_since=10)]
    plan = plan_assignments(queue, agents, now=1_000)
    # b idled longer and gets the first; a, now the least loaded, the second.
    assert plan[:2] == [("c_0", "b"), ("c_1", "a")]
    assert Counter(agent for _, agent in plan) == {"a": 2, "b": 2}


def test_plan_skips_conversations_nobody_can_take_and_keeps_going() -> None:
    queue = [conv("c_billing", topic="billing"), conv("c_any", queued_at=1)]
    plan = plan_assignments(queue, [cand("sales", topics=("sales",))], now=0)
    assert plan == [("c_any", "sales")]


def test_plan_respects_excluded_agents() -> None:
    queue = [conv("c_back", rank=0, excluded=("a",)), conv("c_new", queued_at=1)]
    plan = plan_assignments(queue, [cand("a", max_chats=1), cand("b", active=1, max_chats=2)], 0)
    assert plan == [("c_back", "b"), ("c_new", "a")]


def test_plan_with_nobody_online_is_empty() -> None:
    assert plan_assignments([conv("c_1")], [], now=0) == []
    assert plan_assignments([], [cand("a")], now=0) == []


# --- estimate_wait_s ---------------------------------------------------------------------


@pytest.mark.parametrize("slots", [0, -1])
def test_no_estimate_without_slots(slots: int) -> None:
    assert estimate_wait_s(1, slots, 300.0) is None


def test_estimate_grows_with_position() -> None:
    estimates = [estimate_wait_s(p, 3, 300.0) for p in range(1, 30)]
    assert all(e is not None for e in estimates)
    assert estimates == sorted(estimates)  # type: ignore[type-var]
    assert estimates[-1] > estimates[0]  # type: ignore[operator]
    assert estimate_wait_s(2, 1, 300.0) == 600
    assert estimate_wait_s(1, 1, 300.0) == 300


def test_estimate_shrinks_with_more_slots() -> None:
    assert estimate_wait_s(6, 6, 300.0) < estimate_wait_s(6, 1, 300.0)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("position", "slots", "handle"), [(1, 1000, 1.0), (1, 5, 0.0), (0, 1, 300)]
)
def test_estimate_is_at_least_one_second(position: int, slots: int, handle: float) -> None:
    estimate = estimate_wait_s(position, slots, handle)
    assert isinstance(estimate, int)
    assert estimate >= 1
