"""What staff may read of conversations, past and present, and the audit trail.

Agents read the queue and their own conversations (and the closed ones they held: the
History page's results) and, while they serve a visitor, that visitor's earlier ones;
supervisors read everything. Reading a transcript is audited
(`view`); lists are not (docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chat_server.core.errors import forbidden, not_found
from chat_server.core.model import Agent, AuditEntry, Conversation, Message, Rating, State
from chat_server.service.node import Node

TRANSCRIPT_LIMIT = 1000
"""Messages of a transcript read at once (oldest first; `more` says whether some follow)."""


@dataclass(frozen=True, slots=True)
class Transcript:
    conversation: dict[str, Any]
    """The conversation's view (`core/views.conversation`)."""
    messages: list[Message]
    more: bool
    rating: Rating | None


async def conversations(
    node: Node,
    viewer: Agent,
    *,
    state: State | None,
    agent_id: str | None,
    visitor_id: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The views of the conversations asked for, newest first. An agent asking for
    another agent's, or for the visitor of someone else's, is `forbidden`; one asking for
    no particular agent gets their own (or the queue, with `state=queued`)."""
    found = node.store.conversations.find
    if visitor_id is not None and not viewer.is_supervisor:
        if not await serving_visitor(node, viewer, visitor_id):
            raise forbidden("not serving this visitor")
        chosen = await found(state=state, visitor_id=visitor_id, limit=limit)
        return [await node.conversation_view(c) for c in chosen]
    if not viewer.is_supervisor:
        if state is State.QUEUED and agent_id is None:
            pass
        elif agent_id not in (None, viewer.id):
            raise forbidden("another agent's conversations")
        else:
            agent_id = viewer.id
    chosen = await found(state=state, agent_id=agent_id, visitor_id=visitor_id, limit=limit)
    return [await node.conversation_view(c) for c in chosen]


async def transcript(node: Node, viewer: Agent, cid: str) -> Transcript:
    """A conversation with its messages (notes included) and rating; the read is audited."""
    store = node.store
    conv = await store.conversations.get(cid)
    if conv is None:
        raise not_found("no such conversation")
    if not await may_read(node, viewer, conv):
        raise forbidden("not your conversation")
    messages, more = await store.conversations.history(cid, 0, TRANSCRIPT_LIMIT, notes=True)
    rating = await store.conversations.rating(cid)
    await store.audit.record(AuditEntry(node.clock.now_ms(), viewer.id, "view", cid))
    return Transcript(await node.conversation_view(conv), messages, more, rating)


async def may_read(node: Node, viewer: Agent, conv: Conversation) -> bool:
    mine = conv.agent is not None and conv.agent.id == viewer.id
    return (
        viewer.is_supervisor
        or mine
        or conv.state is State.QUEUED
        or await serving_visitor(node, viewer, conv.visitor_id)
        or (conv.state is State.CLOSED and await node.store.search.held(conv.id, viewer.id))
    )


async def serving_visitor(node: Node, agent: Agent, visitor_id: str) -> bool:
    """An agent sees a visitor's earlier conversations while serving that visitor."""
    active = await node.store.conversations.active_of(agent.id)
    return visitor_id in {c.visitor_id for c in active}


async def audit_log(
    node: Node, *, cid: str | None, agent_id: str | None, limit: int
) -> list[AuditEntry]:
    """Who did what on which conversation, newest first (for supervisors: the caller
    checks the role)."""
    return await node.store.audit.log(cid=cid, agent_id=agent_id, limit=limit)
