"""Who gets the next conversation, queue positions and waiting estimates (contract §4).

Auto mode: the online agent with free capacity and the fewest active conversations; ties
go to the one idle longest. Agents with topics take conversations of those topics (and
untopiced ones); agents without topics take anything; a topic match beats a generalist.

Bots (issue 17) are never candidates: a site's bot takes the site's new conversations
first (`bot_first`), and what it hands off goes to people only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from chat_server.core.ids import is_bot_id
from chat_server.core.model import Conversation, State


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent who could take a conversation now: connected, status online."""

    agent_id: str
    active: int
    max_chats: int
    topics: frozenset[str] = frozenset()
    idle_since: int = 0

    @property
    def free(self) -> int:
        return max(0, self.max_chats - self.active)


def _eligible(c: Candidate, topic: str | None) -> bool:
    return c.free > 0 and (not c.topics or topic is None or topic in c.topics)


def pick_agent(
    candidates: Iterable[Candidate], topic: str | None, exclude: frozenset[str] = frozenset()
) -> str | None:
    pool = [c for c in candidates if c.agent_id not in exclude and _eligible(c, topic)]
    specialists = [c for c in pool if topic is not None and topic in c.topics]
    pool = specialists or pool
    if not pool:
        return None
    best = min(pool, key=lambda c: (c.active, c.idle_since, c.agent_id))
    return best.agent_id


def queue_order(conversations: Iterable[Conversation]) -> list[Conversation]:
    waiting = (c for c in conversations if c.state is State.QUEUED)
    return sorted(waiting, key=lambda c: (c.queue_rank, c.queued_at, c.id))


PENDING_LIST_MAX = 200


def pending_order(conversations: Iterable[Conversation]) -> list[Conversation]:
    """The offline messages agents pick from: oldest first, at most `PENDING_LIST_MAX`.
    They are never routed (`queue_order` leaves them out)."""
    pending = (c for c in conversations if c.state is State.PENDING)
    ordered = sorted(pending, key=lambda c: (c.pending_at or c.created, c.id))
    return ordered[:PENDING_LIST_MAX]


def bot_first(conv: Conversation, bot: Candidate | None) -> bool:
    """Whether the site's bot takes this waiting conversation before any person: the bot
    connected with room, and the conversation never had an agent (a handed-off one has
    the bot among its excluded agents)."""
    return (
        bot is not None
        and bot.free > 0
        and conv.assigned_at is None
        and bot.agent_id not in conv.excluded_agents
    )


def handed_off(conv: Conversation) -> bool:
    """Whether a bot gave this conversation to people (`handoff` excludes the bot)."""
    return any(is_bot_id(a) for a in conv.excluded_agents)


def plan_assignments(
    queue: Sequence[Conversation],
    candidates: Iterable[Candidate],
    now: int,
    bots: Mapping[str, Candidate] | None = None,
) -> list[tuple[str, str]]:
    """Walk the queue in order and pick an agent for each conversation that has one:
    the site's bot first (`bots`: site id to its connected bot), else a person.

    Returns (cid, agent_id) pairs; each pick counts against the agent's capacity for the
    picks after it. The store still checks capacity atomically when it assigns.
    """
    pool = {c.agent_id: c for c in candidates}
    given: dict[str, int] = {}
    """Conversations planned for each bot so far (one bot may serve several sites)."""
    plan: list[tuple[str, str]] = []
    for conv in queue:
        bot = (bots or {}).get(conv.site)
        if bot is not None:
            bot = replace(bot, active=bot.active + given.get(bot.agent_id, 0))
        if bot is not None and bot_first(conv, bot):
            given[bot.agent_id] = given.get(bot.agent_id, 0) + 1
            plan.append((conv.id, bot.agent_id))
            continue
        agent_id = pick_agent(pool.values(), conv.topic, conv.excluded_agents)
        if agent_id is None:
            continue
        chosen = pool[agent_id]
        pool[agent_id] = replace(chosen, active=chosen.active + 1, idle_since=now)
        plan.append((conv.id, agent_id))
    return plan


def estimate_wait_s(position: int, online_slots: int, mean_handle_s: float) -> int | None:
    """Seconds until a conversation at `position` (1-based) is likely picked up.

    Each online chat slot frees about once per `mean_handle_s`; `None` when nobody is online.
    """
    if online_slots <= 0:
        return None
    return max(1, math.ceil(position * mean_handle_s / online_slots))
