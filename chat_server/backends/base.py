"""The two small interfaces every backend implements: `Bus` (fan-out) and `Store` (state).

Services import only this module; `app.py` picks the concrete backend. Durable events
(messages, notes, system lines) leave through the store, which publishes them in `seq`
order right after they are durably stored; the bus carries only ephemeral events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from chat_server.core.cobrowse import Session as CobrowseSession
from chat_server.core.metrics import Figures
from chat_server.core.model import (
    Agent,
    AgentStatus,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    Site,
    State,
    Timing,
    Visitor,
)

Event = dict[str, Any]
"""What travels on the bus: `{"frame": <wire frame>, "skip": <conn id or None>}`."""

Handler = Callable[[str, Event], None]
PresenceKind = Literal["agent", "visitor"]


class Bus(Protocol):
    """Fan-out of events between nodes: at-most-once, no history."""

    async_subscribe: bool
    """True when a subscription takes effect only after `subscribe` returns (over a
    network): sessions then catch up from the store once it is in place."""

    def set_handler(self, handler: Handler) -> None:
        """Called with (channel, event) for every event on a subscribed channel."""

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        """Called once the bus hears again: connected, and every channel subscribed (after
        each loss, and at the first connection)."""

    def set_lost_handler(self, callback: Callable[[], None]) -> None:
        """Called as soon as the bus stops hearing events (before it reconnects): events
        published from then until the reconnect handler runs are lost to this node."""

    def ready(self) -> bool:
        """True while events can flow between nodes."""

    async def listening(self, channels: Iterable[str]) -> set[str]:
        """Those of `channels` that some node hears now (with Redis, `PUBSUB NUMSUB`: a
        channel nobody is subscribed to after a Redis restart or a cut pub/sub connection
        is not heard). Raises `unavailable` when it cannot tell."""

    async def publish(self, channel: str, event: Event) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Appended:
    message: Message
    created: bool
    """False when the `cmid` was seen before: the stored message is returned, nothing is added."""
    timing: Timing | None = None
    """The conversation as the message found it (when `created`), for measurement."""


@dataclass(frozen=True, slots=True)
class Changed:
    """A conversation after a transition, and the system lines it added to the transcript."""

    conversation: Conversation
    messages: tuple[Message, ...]
    previous: Conversation


@dataclass(frozen=True, slots=True)
class AgentLoad:
    active: int = 0
    last_assigned: int = 0


class Store(Protocol):
    """All shared state. Every read-modify-write that two nodes could race on is atomic."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool:
        """True while the backing storage answers."""

    async def secret(self, candidate: bytes) -> bytes:
        """The server secret: `candidate` is kept if none exists yet; the kept one is returned."""

    # sites, agents, credentials -------------------------------------------------------

    async def put_site(self, site: Site) -> None: ...

    async def site(self, site_id: str) -> Site | None: ...

    async def add_agent(self, agent: Agent) -> None:
        """Raises `conflict` when the email is taken."""

    async def agent(self, agent_id: str) -> Agent | None: ...

    async def agent_by_email(self, email: str) -> Agent | None: ...

    async def agents(self) -> list[Agent]: ...

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None: ...

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None: ...

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        """The agent a token or session belongs to, if it exists and has not expired."""

    async def revoke_credential(self, secret_hash: str) -> None: ...

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        """Every API token and session of an agent; returns how many there were."""

    async def audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first."""

    # visitors ---------------------------------------------------------------------------

    async def put_visitor(self, visitor: Visitor) -> None: ...

    async def visitor(self, visitor_id: str) -> Visitor | None: ...

    # conversations ----------------------------------------------------------------------

    async def open_conversation(
        self, conv: Conversation, first: Draft, origin: str | None
    ) -> Message:
        """Create `conv` with `first` as seq 1; `conflict` if the visitor has an open one."""

    async def conversation(self, cid: str) -> Conversation | None: ...

    async def open_conversation_of(self, visitor_id: str) -> Conversation | None: ...

    async def conversations(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        """Newest first."""

    async def waiting(self) -> list[Conversation]:
        """The queue, in the order it is served."""

    async def active_of(self, agent_id: str) -> list[Conversation]: ...

    async def loads(self) -> dict[str, AgentLoad]: ...

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
    ) -> Appended:
        """Dedupe `cmid`, allocate `seq`, store durably, publish: atomically, in seq order.

        `origin` is the connection that sent it (its own copy is not echoed back). With
        `guarded`, the sender must be the conversation's visitor or agent
        (`conversation.require_author`), checked in the same step as the write. `audit` is
        written with the message, in the same step, when the message is new.
        Raises `not_found` when unknown, `forbidden`, then `closed` when it is closed.
        """

    async def messages_after(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        """Messages with seq > after, oldest first, and whether more follow."""

    async def assign(
        self, cid: str, agent: Agent, now: int, *, reassign: bool, enforce_capacity: bool
    ) -> Changed:
        """Give the conversation to `agent`; `conflict` if taken or the agent is full."""

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None = None,
        only_agent: str | None = None,
    ) -> Changed:
        """Back to the queue; with `only_agent`, only if it is still that agent's (`conflict`)."""

    async def close(
        self, cid: str, now: int, *, by: str, reason: str, resolved: bool | None
    ) -> Changed: ...

    async def rate(self, rating: Rating) -> None:
        """Store a rating; `already_rated` on a second one."""

    async def rating(self, cid: str) -> Rating | None: ...

    # rolling figures (contract §6) -------------------------------------------------------

    async def checkpoint(self) -> None:
        """Persist what is held in memory between writes (embedded: the rolling figures)."""

    async def record_figures(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Add to the buckets of every window that holds `ts`, once per dimension. Never
        raises: figures are statistics, not acknowledged data."""

    async def read_figures(self, window: str, now: int, dim: str) -> Figures:
        """A window's figures ending at `now`: the merge of its buckets."""

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        """Remember a resolved close, for `ttl_ms`, in case the visitor comes back."""

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        """The visitor's remembered resolved close (forgotten as it is taken), if still fresh."""

    # co-browsing (contract §5) ----------------------------------------------------------

    async def cobrowse(self, cid: str) -> CobrowseSession:
        """The consent state of a conversation's co-browse (`none` when there is none)."""

    async def cobrowse_change(
        self, cid: str, expected: CobrowseSession, new: CobrowseSession
    ) -> bool:
        """Compare-and-set: False when another node changed it first."""

    async def cobrowse_record(
        self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int
    ) -> bool:
        """Keep a batch for late joiners; False when the bound was passed (buffer dropped)."""

    async def cobrowse_replay(self, cid: str) -> list[bytes]: ...

    async def cobrowse_forget(self, cid: str) -> None: ...

    # presence ---------------------------------------------------------------------------

    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None: ...

    async def heartbeat(self, now: int) -> None:
        """This node, and so every connection it holds, is still alive (once a second or
        so; with Redis a node that stops beating has its people counted gone)."""

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        """Forget one connection; returns how many the agent or visitor still has on this
        node (when 0, they are gone unless another node holds them)."""

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        """Ids with at least one live connection on any node (only those of `among`, if
        given: a cheap check of a few)."""

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        """Ids whose last connection ended before `before` and who have not come back."""

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        """Stop tracking an absence that has been acted on."""
