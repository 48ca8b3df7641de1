"""What operators ask a node: whether it can serve, and the conversation gauges that a
Prometheus scrape reads."""

from __future__ import annotations

from dataclasses import dataclass

from chat_server.core.model import State
from chat_server.service.node import Node


@dataclass(frozen=True, slots=True)
class Readiness:
    store: bool
    """The backing storage answers."""
    bus: bool
    """Events flow between nodes."""

    @property
    def ready(self) -> bool:
        return self.store and self.bus


async def readiness(node: Node) -> Readiness:
    return Readiness(await node.store.ready(), node.hub.bus.ready())


async def refresh_gauges(node: Node) -> None:
    """Queued and active conversations (cluster-wide), read at scrape time: the store
    holds them, so every node reports the same."""
    waiting = await node.store.conversations.waiting()
    loads = await node.store.conversations.loads()
    gauge = node.metrics.conversations
    gauge.labels(State.QUEUED.value).set(len(waiting))
    gauge.labels(State.ACTIVE.value).set(sum(load.active for load in loads.values()))
