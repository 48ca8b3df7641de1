"""Conversations and their transcripts: open, append, claim, transfer, requeue, close,
history, ratings. Every check-and-change is atomic, and a message is published in seq
order right after it is durably stored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from chat_server.core.conversation import Transition
from chat_server.core.model import (
    Agent,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    State,
    Timing,
)
from chat_server.core.webhooks import Event, Wants


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


class Quiet(NamedTuple):
    """An active conversation as the inactivity sweep first looks at it."""

    cid: str
    site: str | None
    """None when the store does not know it without reading the conversation."""
    since: int
    """At or before when it last went quiet: its last text, else its start (ms)."""


Decide = Callable[[Conversation], Transition]


class Conversations(Protocol):
    # reads ------------------------------------------------------------------------------

    async def get(self, cid: str) -> Conversation | None: ...

    async def open_of(self, visitor_id: str) -> Conversation | None:
        """The visitor's open conversation (at most one), if any."""

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        """Newest first."""

    async def quiet_since(self, limit: int, before: int | None = None) -> list[Quiet]:
        """The active conversations (at most `limit`), each with when it went quiet, read
        without decoding them: the inactivity sweep reads only those that may be due.
        With `before` (ms), only those that went quiet at or before it."""

    async def waiting(self) -> list[Conversation]:
        """The queue, in the order it is served."""

    async def pending(self) -> list[Conversation]:
        """The offline messages (`pending`), oldest first, at most `routing.PENDING_LIST_MAX`."""

    async def active_of(self, agent_id: str) -> list[Conversation]: ...

    async def loads(self) -> dict[str, AgentLoad]: ...

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        """Messages with seq > after, oldest first, and whether more follow."""

    async def rating(self, cid: str) -> Rating | None: ...

    # writes -----------------------------------------------------------------------------

    # `webhooks` (issue 17), on every write below: the event types each site's endpoints
    # take; the write adds the events it causes (`core.webhooks`) to the webhook outbox in
    # its own atomic step. None (the default): no events, and the write is as before.

    async def open(
        self,
        conv: Conversation,
        first: Draft,
        origin: str | None,
        *,
        webhooks: Wants | None = None,
    ) -> Message:
        """Create `conv` with `first` as seq 1; `conflict` if the visitor has an open one."""

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
        webhooks: Wants | None = None,
    ) -> Appended:
        """Dedupe `cmid`, allocate `seq`, store durably, publish: atomically, in seq order.

        `origin` is the connection that sent it (its own copy is not echoed back). With
        `guarded`, the sender must be the conversation's visitor or agent
        (`conversation.require_author`), checked in the same step as the write. `audit` is
        written with the message, in the same step, when the message is new.
        Raises `not_found` when unknown, `forbidden`, then `closed` when it is closed.
        """

    async def claim(
        self, cid: str, agent: Agent, now: int, *, webhooks: Wants | None = None
    ) -> Changed:
        """A queued conversation to `agent`; `conflict` if it was taken or the agent is full."""

    async def transfer(
        self,
        cid: str,
        agent: Agent,
        now: int,
        *,
        ignore_capacity: bool = False,
        webhooks: Wants | None = None,
    ) -> Changed:
        """To another agent, active or queued; `conflict` if the agent is full (unless
        `ignore_capacity`: a supervisor's `assign`) or already holds it."""

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None = None,
        only_agent: str | None = None,
        webhooks: Wants | None = None,
    ) -> Changed:
        """Back to the queue; with `only_agent`, only if it is still that agent's (`conflict`)."""

    async def close(
        self,
        cid: str,
        now: int,
        *,
        by: str,
        reason: str,
        resolved: bool | None,
        webhooks: Wants | None = None,
    ) -> Changed: ...

    async def transition(
        self, cid: str, decide: Decide, *, webhooks: Wants | None = None
    ) -> Changed:
        """Any other transition of an open conversation that gives it to no agent (to
        pending, snooze, the inactivity warning and close): `decide` is called on the
        conversation as it is when the write is made (again, if it changed meanwhile) and
        may refuse by raising. `not_found` when unknown, `closed` when closed."""

    async def rate(self, rating: Rating, *, outbox: list[Event] | None = None) -> None:
        """Store a rating; `already_rated` on a second one. `outbox`: webhook events
        written with the rating, in its step (not with a refused second one)."""
