"""The domain's values: frozen, slotted, and free of I/O.

Stores persist them, the core transforms them, `core/views.py` turns them into wire maps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class State(StrEnum):
    QUEUED = "queued"
    PENDING = "pending"
    """An offline message: open, waiting for an agent to claim it, never routed."""
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
    BOT = "bot"
    """Issue 17: a program on the agent protocol (API token). It takes a site's new
    conversations first (`Site.bot`), never the human queue, and hands off to people."""


class AgentStatus(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Page:
    url: str
    title: str = ""


# --- site settings (issue 14): business hours, pre-chat form, privacy notice ----------


@dataclass(frozen=True, slots=True)
class Hours:
    """A site's weekly opening hours in its own time zone (`core/hours.py` reads them).

    `weekly[0]` is Monday: [start, end) minutes of the local day (end up to 1440); a
    holiday (ISO date, local) is closed all day."""

    tz: str
    weekly: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class FormField:
    """A pre-chat question; `options` only for `select`."""

    name: str
    label: str
    type: str
    required: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    label: str


@dataclass(frozen=True, slots=True)
class Privacy:
    text: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    origins: tuple[str, ...]
    identity_secret: str | None = None
    """With it, the site signs its users' ids (HMAC-SHA256) and `hello {user_id, user_hash}`
    gives the same visitor, and history, on every device; a wrong hash is refused."""
    hours: Hours | None = None
    """None: always open."""
    form: tuple[FormField, ...] = ()
    topics: tuple[Topic, ...] = ()
    privacy: Privacy | None = None
    sneak_peek: bool = False
    """Whether the visitor's unsent draft (`typing.preview`) reaches agents."""
    offline_after_s: int = 120
    inactive_warn_s: int = 600
    inactive_close_s: int = 120
    file_max_bytes: int = 10 * 1024 * 1024
    """Attachments (issue 15): the largest upload; 0 turns attachments off."""
    file_types: tuple[str, ...] = ("png", "jpeg", "gif", "webp", "pdf", "txt")
    """The types (`core/files.TYPES`) an upload may be, told by its content."""
    bot: str | None = None
    """Issue 17: the bot agent (`b_…`) that takes the site's new conversations first while
    it is connected; None: they go straight to the human queue."""


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

    @property
    def is_bot(self) -> bool:
        return self.role is AgentRole.BOT


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
class FileRef:
    """An attachment as a message carries it (issue 15): enough to show it without a read."""

    id: str
    name: str
    type: str
    size: int
    width: int | None = None
    height: int | None = None
    """Images only: their size in pixels, so a transcript can lay them out before loading."""


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file's record. `seq` is None until a message sends it; until then only
    `owner` (`visitor:v_…`, `agent:a_…`) may read or send it."""

    ref: FileRef
    cid: str
    site: str
    owner: str
    created: int
    thumb: bool = False
    """Whether a thumbnail was kept (images)."""
    seq: int | None = None

    @property
    def id(self) -> str:
        return self.ref.id


@dataclass(frozen=True, slots=True)
class Draft:
    """A message before the store gives it a `seq` and a `ts`."""

    kind: Kind
    sender: Sender
    text: str
    cmid: str | None = None
    files: tuple[FileRef, ...] = ()
    """Uploads this message sends; the store binds them to it in the same step."""


@dataclass(frozen=True, slots=True)
class Message:
    cid: str
    seq: int
    ts: int
    kind: Kind
    sender: Sender
    text: str
    cmid: str | None = None
    files: tuple[FileRef, ...] = ()


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
    fields: tuple[tuple[str, str | bool], ...] = ()
    """The visitor's pre-chat answers (`start.fields`), checked against the site's form."""
    # offline messages and inactivity (issue 14) -------------------------------------------
    last_active: int | None = None
    """When the last visitor or agent `text` message was written, or an agent took the chat
    (assigned, claimed, transferred): inactivity counts from it."""
    warned_at: int | None = None
    """When the inactivity warning line was added (a later text message re-arms it)."""
    snoozed_until: int | None = None
    """No inactivity warning or close before this (an agent's `snooze`)."""
    pending_at: int | None = None
    """When it became `pending` (an offline message); kept once claimed, for its figures."""

    @property
    def is_open(self) -> bool:
        return self.state is not State.CLOSED

    @property
    def timing(self) -> Timing:
        return Timing(
            self.created,
            self.topic,
            self.first_response_at,
            self.visitor_turn_at,
            self.pending_at,
            self.site,
        )


@dataclass(frozen=True, slots=True)
class Timing:
    """What measuring a new message needs of the conversation it joined (contract §6):
    small enough for the Redis append script to hand back with the seq."""

    created: int
    topic: str | None
    first_response_at: int | None
    visitor_turn_at: int | None
    pending_at: int | None = None
    """Set for an offline message: its first response is measured from here, apart."""
    site: str = ""
    """The conversation's site, for the figures kept over time (`site:<id>`); empty when
    the store does not know it (a Redis conversation last written before issue 16)."""


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
