"""Issue 17 in the pure core: bot ids, bot-first routing, the handoff transition, how bot
time counts in the figures, the `bot` site setting and how a bot is named on the wire."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chat_server.core import conversation as flow
from chat_server.core import ids, measure, routing, views
from chat_server.core import site_settings as ss
from chat_server.core.model import (
    Agent,
    AgentRef,
    AgentRole,
    Conversation,
    Kind,
    Message,
    Role,
    Sender,
    Site,
    State,
)

BOT = AgentRef("b_0123456789abcdef", "Shop assistant")
ALICE = AgentRef("a_1", "Alice")
T0 = 1_000_000


def queued(cid: str = "c_1", site: str = "shop", **changes: object) -> Conversation:
    conv = flow.open_conversation(cid, site, "v_1", None, T0)
    return replace(conv, **changes)  # type: ignore[arg-type]


def test_bot_ids_and_role() -> None:
    bot_id = ids.bot_id()
    assert bot_id.startswith("b_") and ids.is_bot_id(bot_id)
    assert not ids.is_bot_id(ids.agent_id()) and not ids.is_bot_id(None)
    agent = Agent(bot_id, "b@x.example", "Bot", AgentRole.BOT, 20)
    assert agent.is_bot and not agent.is_supervisor


# --- routing ---------------------------------------------------------------------------


def test_a_sites_bot_takes_its_new_conversations_before_people() -> None:
    bot = routing.Candidate(BOT.id, 0, 2)
    people = [routing.Candidate("a_1", 0, 3)]
    queue = [queued("c_1"), queued("c_2", site="other"), queued("c_3"), queued("c_4")]
    plan = routing.plan_assignments(queue, people, T0, {"shop": bot})
    # the bot fills its two places, the rest go to people
    assert plan == [("c_1", BOT.id), ("c_2", "a_1"), ("c_3", BOT.id), ("c_4", "a_1")]
    assert routing.plan_assignments(queue[:1], [], T0) == []


def test_the_bot_never_takes_what_had_an_agent_or_what_it_handed_off() -> None:
    bot = routing.Candidate(BOT.id, 0, 5)
    assert routing.bot_first(queued(), bot)
    assert not routing.bot_first(queued(), None)
    assert not routing.bot_first(queued(), routing.Candidate(BOT.id, 5, 5))  # full
    assert not routing.bot_first(queued(assigned_at=T0), bot)  # a person's, requeued
    handed = queued(excluded_agents=frozenset({BOT.id}))
    assert not routing.bot_first(handed, bot)
    assert routing.handed_off(handed) and not routing.handed_off(queued())
    assert routing.plan_assignments([handed], [], T0, {"shop": bot}) == []


# --- the handoff -----------------------------------------------------------------------


def test_handoff_puts_it_first_in_the_queue_without_the_bot_and_starts_people_afresh() -> None:
    active = flow.claim(queued(), BOT, T0 + 10).conversation
    active = replace(active, first_response_at=T0 + 20)
    t = flow.requeue(active, T0 + 500, reason="handoff", front=True)
    conv = t.conversation
    assert conv.state is State.QUEUED and conv.agent is None and conv.queue_rank == 0
    assert conv.excluded_agents == {BOT.id} and conv.queued_at == T0 + 500
    assert conv.assigned_at is None and conv.first_response_at is None
    assert [d.text for d in t.drafts] == ["Connecting you with a person: please wait a moment"]
    # a person's own disconnection keeps what was measured
    left = flow.requeue(replace(active, agent=ALICE), T0 + 500, reason="agent_left", front=True)
    assert left.conversation.assigned_at == T0 + 10 and not left.conversation.excluded_agents


# --- figures ---------------------------------------------------------------------------


def message(sender: AgentRef, ts: int) -> Message:
    return Message("c_1", 3, ts, Kind.TEXT, Sender(Role.AGENT, sender.id, sender.name), "hi")


def test_bot_replies_are_not_response_times() -> None:
    timing = replace(queued(), visitor_turn_at=T0).timing
    assert measure.message_added(timing, message(BOT, T0 + 100), 60) == []
    names = [
        s[0] for c in measure.message_added(timing, message(ALICE, T0 + 100), 60) for s in c.samples
    ]
    assert names == ["frt_s", "response_s"]


def test_the_wait_is_a_persons_and_a_handed_off_one_counts_from_the_handoff() -> None:
    before = queued()
    to_bot = flow.claim(before, BOT, T0 + 10).conversation
    assert [c.samples for c in measure.transitioned(before, to_bot, T0 + 10)] == []
    active = replace(to_bot, first_response_at=T0 + 20)
    handed = flow.requeue(active, T0 + 60_000, reason="handoff", front=True).conversation
    taken = flow.claim(handed, ALICE, T0 + 90_000).conversation
    (wait,) = measure.transitioned(handed, taken, T0 + 90_000)
    assert wait.samples == (("wait_s", 30.0),) and "agent:a_1" in wait.dims
    # no bot involved: from the start, as before
    direct = flow.claim(before, ALICE, T0 + 5_000).conversation
    (plain,) = measure.transitioned(before, direct, T0 + 5_000)
    assert plain.samples == (("wait_s", 5.0),)


# --- the site setting and the wire -----------------------------------------------------


def test_the_bot_setting() -> None:
    site = Site("shop", ("https://shop.example",))
    assert ss.settings_json(site)["bot"] is None
    changed = ss.apply(site, {"bot": BOT.id})
    assert changed.bot == BOT.id and ss.settings_json(changed)["bot"] == BOT.id
    assert ss.apply(changed, {"bot": None}).bot is None
    assert "bot" not in ss.widget_json(changed)  # the visitor learns it from availability
    for bad in ("a_1", "b_XYZ", 3, "b_"):
        with pytest.raises(ValueError, match="bot"):
            ss.apply(site, {"bot": bad})


def test_a_bot_is_named_a_bot_on_the_wire() -> None:
    said = message(BOT, T0)
    assert views.message(said)["from"] == {
        "role": "agent",
        "id": BOT.id,
        "name": BOT.name,
        "bot": True,
    }
    assert views.message(said, for_visitor=True)["from"] == {
        "role": "agent",
        "name": BOT.name,
        "bot": True,
    }
    assert "bot" not in views.message(message(ALICE, T0))["from"]
    assert views.agent_ref(BOT, for_visitor=True) == {"name": BOT.name, "bot": True}
    assert views.agent_ref(BOT) == {"id": BOT.id, "name": BOT.name, "bot": True}
    assert views.agent_ref(ALICE, for_visitor=True) == {"name": "Alice"}
