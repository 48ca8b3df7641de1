"""Conversation state machine: queued -> active -> closed, and pending (an offline
message: queued -> pending, or opened so) -> active by a claim (contract §3, §4).

Every transition takes the current `Conversation` and returns a `Transition`: the new
value plus the system lines (`event` messages) it adds to the transcript. A transition
that is illegal in the current state raises `ChatError` at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

from chat_server.core.errors import ChatError, ErrorCode, conflict, forbidden, not_found
from chat_server.core.model import (
    SYSTEM,
    Agent,
    AgentRef,
    Conversation,
    Draft,
    Kind,
    Message,
    Role,
    Sender,
    State,
)


@dataclass(frozen=True, slots=True)
class Transition:
    conversation: Conversation
    drafts: tuple[Draft, ...] = ()


def system_line(text: str) -> Draft:
    return Draft(Kind.EVENT, SYSTEM, text)


def open_conversation(
    cid: str, site: str, visitor_id: str, topic: str | None, now: int, *, pending: bool = False
) -> Conversation:
    """Queued; with `pending`, an offline message (left for agents to claim, never routed)."""
    return Conversation(
        id=cid,
        site=site,
        visitor_id=visitor_id,
        state=State.PENDING if pending else State.QUEUED,
        created=now,
        topic=topic,
        queued_at=now,
        pending_at=now if pending else None,
    )


def unknown_conversation() -> ChatError:
    """Also what a visitor hears of another's conversation: it does not exist for them."""
    return not_found("no such conversation")


def not_yours() -> ChatError:
    return forbidden("this conversation is not yours")


def closed_conversation() -> ChatError:
    return ChatError(ErrorCode.CLOSED, "the conversation is closed")


def is_agent_of(conv: Conversation, agent_id: str | None) -> bool:
    return conv.agent is not None and conv.agent.id == agent_id


def require_author(conv: Conversation, sender: Sender) -> None:
    """A visitor speaks only in their own conversation (another's does not exist for them);
    an agent only in one assigned to them. The Redis append script checks the same."""
    if sender.role is Role.VISITOR and conv.visitor_id != sender.id:
        raise unknown_conversation()
    if sender.role is Role.AGENT and not is_agent_of(conv, sender.id):
        raise not_yours()


def ensure_open(conv: Conversation) -> None:
    if conv.state is State.CLOSED:
        raise closed_conversation()


def claim(conv: Conversation, agent: AgentRef, now: int) -> Transition:
    """An agent takes a queued or pending conversation (routing's offer, or the agent's
    own pick)."""
    ensure_open(conv)
    if conv.state is State.ACTIVE:
        raise conflict("the conversation was already taken")
    return _give(conv, agent, now)


def transfer(conv: Conversation, agent: AgentRef, now: int) -> Transition:
    """Hand a conversation to another agent: an active one, or a queued one straight to
    someone (a supervisor's `assign`)."""
    ensure_open(conv)
    if conv.state is State.ACTIVE and conv.agent is not None and conv.agent.id == agent.id:
        raise conflict("the conversation is already with this agent")
    return _give(conv, agent, now)


def _give(conv: Conversation, agent: AgentRef, now: int) -> Transition:
    line = (
        f"Transferred to {agent.name}"
        if conv.state is State.ACTIVE
        else f"{agent.name} joined the chat"
    )
    new = replace(
        conv,
        state=State.ACTIVE,
        agent=agent,
        assigned_at=conv.assigned_at if conv.assigned_at is not None else now,
        # the quiet clock starts again: an offline message picked up the next morning, or a
        # chat that waited long in the queue, is not already due for the inactivity warning
        last_active=now,
    )
    return Transition(new, (system_line(line),))


def number(
    conv: Conversation, drafts: Iterable[Draft], ts: int
) -> tuple[Conversation, list[Message]]:
    """The one place a seq is allocated: each draft becomes the message with the next seq
    after the conversation's last (gap-free, in order), and the conversation moves past
    it. Every store calls this; in Redis, `append.lua` does the same `last + 1` for a
    single message inside its atomic step (the contract suite checks both agree)."""
    messages: list[Message] = []
    for draft in drafts:
        message = Message(
            conv.id,
            conv.last_seq + 1,
            ts,
            draft.kind,
            draft.sender,
            draft.text,
            draft.cmid,
            draft.files,
        )
        conv = after_message(conv, message)
        messages.append(message)
    return conv, messages


REQUEUE_LINES = {
    "transferred": "Transferred back to the queue",
    "agent_left": "Your agent was disconnected: waiting for the next available agent",
    "handoff": "Connecting you with a person: please wait a moment",
}
HANDED_ON = ("transferred", "handoff")
"""Requeue reasons after which the previous agent is not routed the conversation again."""


def requeue(
    conv: Conversation, now: int, *, reason: str, front: bool, topic: str | None = None
) -> Transition:
    """Put an active conversation back in the queue. After a transfer the previous agent is
    not routed it again (they handed it on); after a disconnection they may be. A bot's
    `handoff` (issue 17) also starts the people's figures afresh: the first person to take
    it counts as its first assignment, their first reply as its first response."""
    ensure_open(conv)
    if conv.state is not State.ACTIVE or conv.agent is None:
        raise conflict("the conversation is not with an agent")
    handoff = reason == "handoff"
    new = replace(
        conv,
        state=State.QUEUED,
        agent=None,
        queued_at=now,
        queue_rank=0 if front else 1,
        topic=topic if topic is not None else conv.topic,
        excluded_agents=(
            conv.excluded_agents | {conv.agent.id} if reason in HANDED_ON else conv.excluded_agents
        ),
        assigned_at=None if handoff else conv.assigned_at,
        first_response_at=None if handoff else conv.first_response_at,
    )
    return Transition(new, (system_line(REQUEUE_LINES.get(reason, "Back in the queue")),))


def close(
    conv: Conversation, now: int, *, by: str, reason: str, resolved: bool | None
) -> Transition:
    ensure_open(conv)
    new = replace(
        conv,
        state=State.CLOSED,
        closed_at=now,
        closed_by=by,
        close_reason=reason,
        resolved=resolved,
    )
    return Transition(new, (system_line("The conversation was closed"),))


def after_message(conv: Conversation, message: Message) -> Conversation:
    """Advance `last_seq`; note the first agent reply (the first response time's end),
    where the visitor's turns begin and end (contract §6 `response`) and when the last
    text was written (`last_active`, inactivity's start)."""
    first_response, turn = conv.first_response_at, conv.visitor_turn_at
    active = conv.last_active
    if message.kind is Kind.TEXT and message.sender.role is Role.AGENT:
        first_response = message.ts if first_response is None else first_response
        turn = None
        active = message.ts
    elif message.kind is Kind.TEXT and message.sender.role is Role.VISITOR:
        turn = message.ts if turn is None else turn
        active = message.ts
    return replace(
        conv,
        last_seq=message.seq,
        first_response_at=first_response,
        visitor_turn_at=turn,
        last_active=active,
    )


def row_changed(before: Conversation, after: Conversation) -> bool:
    """Whether a message changed more of the conversation than its `last_seq`,
    `last_active` and `visitor_turn_at`, which its messages alone decide (`after_message`;
    the embedded store finds them again from its messages at start): then the
    conversation itself must be written too. A visitor's turn begins or ends with almost
    every message, so this spares most appends a write of the conversation."""
    unchanged = replace(
        after,
        last_seq=before.last_seq,
        last_active=before.last_active,
        visitor_turn_at=before.visitor_turn_at,
    )
    return unchanged != before


def has_capacity(active: int, max_chats: int) -> bool:
    return active < max_chats


def require_own(conv: Conversation, agent: Agent) -> None:
    """Only the conversation's agent may speak in it (supervisors watch read-only)."""
    if not is_agent_of(conv, agent.id):
        raise not_yours()


def require_own_or_supervisor(conv: Conversation, agent: Agent) -> None:
    if agent.is_supervisor:
        return
    require_own(conv, agent)


# offline messages, snooze and inactivity (issue 14) -------------------------------------


def to_pending(conv: Conversation, now: int, email: str) -> Transition:
    """The visitor leaves a message instead of waiting: a queued (or already pending)
    conversation becomes pending, for an agent to claim."""
    ensure_open(conv)
    if conv.state is State.ACTIVE:
        raise conflict("the conversation is already with an agent")
    new = replace(
        conv,
        state=State.PENDING,
        pending_at=conv.pending_at if conv.pending_at is not None else now,
    )
    return Transition(new, (system_line(f"We'll answer here and by email at {email}."),))


def snooze(conv: Conversation, until: int) -> Transition:
    """No inactivity warning or close before `until`; a warning already given is forgotten
    (the full warning, then close, follows the snooze)."""
    ensure_open(conv)
    if conv.state is not State.ACTIVE:
        raise conflict("only an active conversation can be snoozed")
    return Transition(replace(conv, snoozed_until=until, warned_at=None))


Due = Literal["warn", "close"]


def inactivity_due(conv: Conversation, now: int, warn_s: int, close_s: int) -> Due | None:
    """What inactivity asks of an active conversation at `now`: the warning line once no
    text was written for `warn_s` (and not before a snooze's end), then the close
    `close_s` after that line. A text written since the warning re-arms it."""
    if conv.state is not State.ACTIVE:
        return None
    snoozed = conv.snoozed_until or 0
    if now < snoozed:
        return None
    quiet_since = conv.last_active or conv.assigned_at or conv.created
    if conv.warned_at is not None and conv.warned_at > quiet_since:
        return "close" if now >= conv.warned_at + close_s * 1000 else None
    return "warn" if now >= max(quiet_since + warn_s * 1000, snoozed) else None


def warning_line(close_s: int) -> str:
    minutes = max(1, math.ceil(close_s / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"This chat will close in {minutes} {unit} if there is no reply."


def warn_inactive(conv: Conversation, now: int, warn_s: int, close_s: int) -> Transition:
    """The warning line, once (`conflict` when it is not due: a message came meanwhile)."""
    if inactivity_due(conv, now, warn_s, close_s) != "warn":
        raise conflict("no inactivity warning is due")
    return Transition(replace(conv, warned_at=now), (system_line(warning_line(close_s)),))


def close_inactive(conv: Conversation, now: int, warn_s: int, close_s: int) -> Transition:
    """Closed by the system, reason `inactive` (`conflict` when it is not due)."""
    if inactivity_due(conv, now, warn_s, close_s) != "close":
        raise conflict("no inactivity close is due")
    return close(conv, now, by="system", reason="inactive", resolved=None)
