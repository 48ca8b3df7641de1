"""A `Node` over an in-memory stand-in store: only the reads and writes the web-facing
services make (accounts, records, health, sites), recorded so tests can check them. No
server, no disk, no Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chat_server.backends.roles.conversations import AgentLoad
from chat_server.config import Settings
from chat_server.core.clock import ManualClock
from chat_server.core.metrics import Figures
from chat_server.core.model import (
    Agent,
    AgentRole,
    AuditEntry,
    Conversation,
    Message,
    Rating,
    Site,
    State,
    Visitor,
)
from chat_server.service.hub import Hub
from chat_server.service.node import Node


def agent(ident: str, role: AgentRole = AgentRole.AGENT, password: str = "pw") -> Agent:
    return Agent(ident, f"{ident}@example.com", ident.title(), role, 3, password_hash=password)


class Bus:
    """A bus that carries nothing; `up` is what `ready` answers."""

    async_subscribe = False

    def __init__(self) -> None:
        self.up = True

    def set_handler(self, handler: Callable[[str, dict[str, Any]], None]) -> None: ...

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None: ...

    def set_lost_handler(self, callback: Callable[[], None]) -> None: ...

    def ready(self) -> bool:
        return self.up


@dataclass
class Directory:
    agents_: list[Agent] = field(default_factory=list)
    sites: dict[str, Site] = field(default_factory=dict)
    credentials: dict[str, tuple[str, str, int | None]] = field(default_factory=dict)
    site_lookups: list[str] = field(default_factory=list)

    async def agent_by_email(self, email: str) -> Agent | None:
        return next((a for a in self.agents_ if a.email == email), None)

    async def agents(self) -> list[Agent]:
        return list(self.agents_)

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None:
        self.credentials[secret_hash] = (agent_id, kind, expires)

    async def revoke_credential(self, secret_hash: str) -> None:
        self.credentials.pop(secret_hash, None)

    async def site(self, site_id: str) -> Site | None:
        self.site_lookups.append(site_id)
        return self.sites.get(site_id)

    async def visitor(self, visitor_id: str) -> Visitor | None:
        return Visitor(visitor_id, "s", 0, name=f"Visitor {visitor_id}")


@dataclass
class Conversations:
    all: list[Conversation] = field(default_factory=list)
    messages: dict[str, list[Message]] = field(default_factory=dict)
    ratings: dict[str, Rating] = field(default_factory=dict)
    load: dict[str, AgentLoad] = field(default_factory=dict)
    finds: list[dict[str, Any]] = field(default_factory=list)

    async def get(self, cid: str) -> Conversation | None:
        return next((c for c in self.all if c.id == cid), None)

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        self.finds.append(
            {"state": state, "agent_id": agent_id, "visitor_id": visitor_id, "limit": limit}
        )
        return [
            c
            for c in self.all
            if (state is None or c.state is state)
            and (agent_id is None or (c.agent is not None and c.agent.id == agent_id))
            and (visitor_id is None or c.visitor_id == visitor_id)
        ][:limit]

    async def active_of(self, agent_id: str) -> list[Conversation]:
        return [
            c
            for c in self.all
            if c.state is State.ACTIVE and c.agent is not None and c.agent.id == agent_id
        ]

    async def waiting(self) -> list[Conversation]:
        return [c for c in self.all if c.state is State.QUEUED]

    async def loads(self) -> dict[str, AgentLoad]:
        return dict(self.load)

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        rows = [m for m in self.messages.get(cid, []) if m.seq > after]
        return rows[:limit], len(rows) > limit

    async def rating(self, cid: str) -> Rating | None:
        return self.ratings.get(cid)


@dataclass
class Audit:
    entries: list[AuditEntry] = field(default_factory=list)

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    async def log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        return [
            e
            for e in reversed(self.entries)
            if (cid is None or e.cid == cid) and (agent_id is None or e.agent_id == agent_id)
        ][:limit]


@dataclass
class FigureReads:
    reads: list[tuple[str, int, str]] = field(default_factory=list)
    by_dim: dict[str, Figures] = field(default_factory=dict)

    async def read(self, window: str, now: int, dim: str) -> Figures:
        self.reads.append((window, now, dim))
        return self.by_dim.get(dim, Figures())


@dataclass
class Presence:
    online_agents: set[str] = field(default_factory=set)

    async def online(self, kind: str, among: Iterable[str] | None = None) -> set[str]:
        assert kind == "agent"
        return set(self.online_agents)


class Tags:
    """Conversation tags (issue 17): what views read."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, ...]] = {}

    async def of(self, cids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        return {cid: self.held.get(cid, ()) for cid in cids}


@dataclass
class Store:
    conversations: Conversations = field(default_factory=Conversations)
    directory: Directory = field(default_factory=Directory)
    audit: Audit = field(default_factory=Audit)
    figures: FigureReads = field(default_factory=FigureReads)
    presence: Presence = field(default_factory=Presence)
    tags: Tags = field(default_factory=Tags)
    up: bool = True

    async def ready(self) -> bool:
        return self.up


def fake_node() -> tuple[Node, Store, Bus, ManualClock]:
    store, bus, clock = Store(), Bus(), ManualClock()
    node = Node(Settings(), store, Hub(bus), clock, b"secret")  # type: ignore[arg-type]
    return node, store, bus, clock
