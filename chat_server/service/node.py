"""Everything one server node shares between its connections, and the announcements
(assigned, unassigned, closed) that several frame handlers and timers make alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chat_server.backends.base import Changed, Store
from chat_server.config import Settings
from chat_server.core import channels, views
from chat_server.core.clock import Clock
from chat_server.core.model import Conversation, State
from chat_server.service.hub import Hub
from chat_server.service.metrics import Metrics


@dataclass(slots=True)
class Node:
    settings: Settings
    store: Store
    hub: Hub
    clock: Clock
    secret: bytes
    metrics: Metrics = field(default_factory=Metrics)

    async def conversation_view(
        self,
        conv: Conversation,
        *,
        for_visitor: bool = False,
        position: int | None = None,
        eta_s: int | None = None,
    ) -> dict[str, Any]:
        visitor = await self.store.visitor(conv.visitor_id)
        return views.conversation(
            conv, visitor, for_visitor=for_visitor, position=position, eta_s=eta_s
        )

    async def announce_assigned(self, changed: Changed) -> None:
        """Tell the new agent (with the history) and the visitor; release the old agent."""
        conv = changed.conversation
        assert conv.agent is not None
        previous = changed.previous.agent
        if previous is not None and previous.id != conv.agent.id:
            await self.announce_unassigned(previous.id, conv.id, "transferred")
        newest = max(0, conv.last_seq - 200)
        history, _ = await self.store.messages_after(conv.id, newest, 200, notes=True)
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
                "agent": {"name": conv.agent.name},
            },
        )

    async def announce_unassigned(self, agent_id: str, cid: str, reason: str) -> None:
        await self.hub.publish(
            channels.agent(agent_id), {"t": "unassigned", "cid": cid, "reason": reason}
        )

    async def announce_closed(self, changed: Changed) -> None:
        conv = changed.conversation
        assert conv.state is State.CLOSED
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
