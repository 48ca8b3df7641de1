"""Everything one server node shares between its connections, and the announcements
(assigned, unassigned, closed) that several frame handlers and timers make alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chat_server.backends.base import Store
from chat_server.backends.roles.conversations import Appended, Changed
from chat_server.config import Settings
from chat_server.core import channels, measure, tokens, views
from chat_server.core.clock import Clock
from chat_server.core.model import Agent, Conversation, Rating, State
from chat_server.service import search
from chat_server.service.cobrowse import CobrowseRelay
from chat_server.service.hub import Hub
from chat_server.service.metrics import Metrics

log = logging.getLogger(__name__)
ASSIGNED_HISTORY = 200
"""How many of its newest messages an agent gets with a conversation that became theirs."""


@dataclass(slots=True)
class Node:
    settings: Settings
    store: Store
    hub: Hub
    clock: Clock
    secret: bytes
    metrics: Metrics = field(default_factory=Metrics)
    cobrowse: CobrowseRelay = field(init=False)

    def __post_init__(self) -> None:
        self.cobrowse = CobrowseRelay(self)
        self.hub.metrics = self.metrics

    async def agent_of_secret(self, secret: str | None) -> Agent | None:
        """The agent an API token or a session id belongs to, while it is valid."""
        if not secret or len(secret) > 256:
            return None
        agent_id = await self.store.directory.credential_agent(
            tokens.hash_secret(secret), self.clock.now_ms()
        )
        return await self.store.directory.agent(agent_id) if agent_id else None

    async def conversation_view(
        self,
        conv: Conversation,
        *,
        for_visitor: bool = False,
        position: int | None = None,
        eta_s: int | None = None,
    ) -> dict[str, Any]:
        visitor = await self.store.directory.visitor(conv.visitor_id)
        view = views.conversation(
            conv, visitor, for_visitor=for_visitor, position=position, eta_s=eta_s
        )
        if not for_visitor:  # issue 17: tags are staff's, never the visitor's
            view["tags"] = list((await self.store.tags.of([conv.id]))[conv.id])
        return view

    # measurement (contract §6): recorded once, by the node that performed the event -----

    async def record(self, contributions: Iterable[measure.Contribution], site: str) -> None:
        """Into the rolling windows, and into the figures kept over time under the site of
        the conversation too (`site:<id>`; none when the store could not tell it)."""
        for c in contributions:
            for name, seconds in c.samples:
                self.metrics.observe(name, seconds)
            # never fails the event: the stores keep figures in memory (embedded) or queue
            # them (Redis, which logs a failed write)
            await self.store.figures.record(c.ts, c.dims, c.figures)
            dims = (*c.dims, f"site:{site}") if site else c.dims
            await self.store.rollups.add(c.ts, dims, c.figures)

    async def measure_opened(self, conv: Conversation) -> None:
        """The start's figures, and a visit (issue 16): both round trips at once."""
        contributions = [measure.opened(conv)]
        earlier, _ = await asyncio.gather(
            self.store.figures.take_resolved(conv.visitor_id, conv.created),
            self.store.rollups.visit(conv.visitor_id, ("all", f"site:{conv.site}"), conv.created),
        )
        if earlier is not None:
            contributions.append(measure.recontact(*earlier))
        await self.record(contributions, conv.site)

    async def measure_message(self, appended: Appended) -> None:
        if appended.created and appended.timing is not None:
            await self.record(
                measure.message_added(
                    appended.timing, appended.message, self.settings.frt_target_s
                ),
                appended.timing.site,
            )

    async def measure_transition(self, changed: Changed) -> None:
        now = self.clock.now_ms()
        conv = changed.conversation
        survey = bool(self.settings.survey)
        await self.record(
            measure.transitioned(changed.previous, conv, now, survey=survey), conv.site
        )
        if conv.state is State.CLOSED and conv.resolved:
            ttl_ms = int(self.settings.fcr_hours * 3_600_000)
            await self.store.figures.mark_resolved(conv.visitor_id, now, measure.dims(conv), ttl_ms)
        await search.track(self.store, changed)  # who held it; indexed once closed

    async def measure_transfer(self, before: Conversation) -> None:
        await self.record([measure.transferred(before, self.clock.now_ms())], before.site)

    async def measure_rating(self, conv: Conversation, rating: Rating) -> None:
        await self.record([measure.rated(conv, rating)], conv.site)

    # announcements ----------------------------------------------------------------------

    async def announce_assigned(self, changed: Changed) -> None:
        """Tell the new agent (with the history) and the visitor; release the old agent."""
        conv = changed.conversation
        assert conv.agent is not None
        await self.measure_transition(changed)
        previous = changed.previous.agent
        if previous is not None and previous.id != conv.agent.id:
            await self.measure_transfer(changed.previous)
            await self.cobrowse.end_by_system(conv)
            await self.announce_unassigned(previous.id, conv.id, "transferred")
        newest = max(0, conv.last_seq - ASSIGNED_HISTORY)
        history, _ = await self.store.conversations.history(
            conv.id, newest, ASSIGNED_HISTORY, notes=True
        )
        await self.hub.publish(
            channels.agent(conv.agent.id),
            {
                "t": "assigned",
                "conversation": await self.conversation_view(conv),
                "messages": [views.message(m) for m in history],
            },
        )
        await self.hub.publish(
            channels.visitor(conv.visitor_id),
            {
                "t": "assigned",
                "cid": conv.id,
                "agent": views.agent_ref(conv.agent, for_visitor=True),  # `bot` (issue 17)
            },
        )

    async def announce_requeued(self, changed: Changed, reason: str) -> None:
        """Back in the queue: the agent is released and any co-browse ends."""
        previous = changed.previous.agent
        if reason == "transferred":
            await self.measure_transfer(changed.previous)
        await self.cobrowse.end_by_system(changed.conversation)
        if previous is not None:
            await self.announce_unassigned(previous.id, changed.conversation.id, reason)

    async def announce_unassigned(self, agent_id: str, cid: str, reason: str) -> None:
        await self.hub.publish(
            channels.agent(agent_id), {"t": "unassigned", "cid": cid, "reason": reason}
        )

    async def announce_closed(self, changed: Changed) -> None:
        conv = changed.conversation
        assert conv.state is State.CLOSED
        await self.measure_transition(changed)
        await self.cobrowse.end_by_system(conv)
        frame = {"t": "closed", "cid": conv.id, "by": conv.closed_by, "reason": conv.close_reason}
        await self.hub.publish(channels.conversation(conv.id), frame)
        await self.hub.publish(channels.visitor(conv.visitor_id), frame)
        if conv.assigned_at is not None and self.settings.survey:
            await self.hub.publish(
                channels.visitor(conv.visitor_id),
                {
                    "t": "survey",
                    "cid": conv.id,
                    "ask": list(self.settings.survey),
                },
            )
        self.metrics.conversation_closed(conv)
