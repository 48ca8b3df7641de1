"""The domain's values: frozen, slotted, and free of I/O.

Stores persist them, the core transforms them, `core/views.py` turns them into wire maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"
    ACTIVE = "active"
    CLOSED = "closed"


class Kind(StrEnum):
    TEXT = "text"
    NOTE = "note"
    EVENT = "event"


class Role(StrEnum):
    """Who wrote a message (contract §2 Message.from.role)."""

    VISITOR = "visitor"
    AGENT = "agent"
    SYSTEM = "system"


class AgentRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    origins: tuple[str, ...]
    identity_secret: str | None = None
    """With it, the site signs its users' ids (HMAC-SHA256) and `hello {user_id, user_hash}`
    gives the same visitor, and history, on every device; a wrong hash is refused."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An agent's action on a conversation (who did what, when), for supervisors."""

    ts: int
    agent_id: str
    action: str
    cid: str | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Visitor:
    id: str
    site: str
    created: int
    name: str | None = None
    email: str | None = None
    page: Page | None = None


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    email: str
    name: str
    role: AgentRole
    max_chats: int
    topics: frozenset[str] = frozenset()
    password_hash: str = ""
    status: AgentStatus = AgentStatus.AWAY

    @property
    def is_supervisor(self) -> bool:
        return self.role is AgentRole.SUPERVISOR


@dataclass(frozen=True, slots=True)
class AgentRef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Sender:
    role: Role
    id: str | None
    name: str | None


SYSTEM = Sender(Role.SYSTEM, None, None)


@dataclass(frozen=True, slots=True)
class Draft:
    """A message before the store gives it a `seq` and a `ts`."""

    kind: Kind
    sender: Sender
    text: str
    cmid: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    cid: str
    seq: int
    ts: int
    kind: Kind
    sender: Sender
    text: str
    cmid: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """One chat from start to close; `last_seq` is the seq of its newest message.

    `queue_rank` orders the waiting queue: requeued conversations (rank 0) go before new
    ones (rank 1), then the longest waiting first.
    """

    id: str
    site: str
    visitor_id: str
    state: State
    created: int
    last_seq: int = 0
    topic: str | None = None
    agent: AgentRef | None = None
    queued_at: int = 0
    queue_rank: int = 1
    assigned_at: int | None = None
    first_response_at: int | None = None
    closed_at: int | None = None
    closed_by: str | None = None
    close_reason: str | None = None
    resolved: bool | None = None
    excluded_agents: frozenset[str] = field(default_factory=frozenset)
    visitor_turn_at: int | None = None
    """When the visitor's current unanswered turn began (the response time's start)."""

    @property
    def is_open(self) -> bool:
        return self.state is not State.CLOSED

    @property
    def timing(self) -> Timing:
        return Timing(self.created, self.topic, self.first_response_at, self.visitor_turn_at)


@dataclass(frozen=True, slots=True)
class Timing:
    """What measuring a new message needs of the conversation it joined (contract §6):
    small enough for the Redis append script to hand back with the seq."""

    created: int
    topic: str | None
    first_response_at: int | None
    visitor_turn_at: int | None


@dataclass(frozen=True, slots=True)
class Rating:
    cid: str
    ts: int
    csat: int | None = None
    nps: int | None = None
    ces: int | None = None
    comment: str | None = None
    agent_id: str | None = None
    topic: str | None = None
