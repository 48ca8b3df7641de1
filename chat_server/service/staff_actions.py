"""What an agent or bot does to a conversation without a socket (issue 17, the REST write
API): post a message or a note, close, transfer. The same rules, audit entries and
announcements as the agent frames (`service/agent.py`), from the same parts: the store's
guarded append, the core's ownership checks, `Node`'s announcements, a dispatcher kick.

The frame's dataclass (`protocol/frames`) is the request's schema too, so a REST body is
checked exactly as the frame would be (lengths, NUL, `too_large`)."""

from __future__ import annotations

from chat_server.core import conversation as flow
from chat_server.core import tokens
from chat_server.core.errors import not_found
from chat_server.core.model import Agent, Conversation, Draft, Kind, Message, Role, Sender
from chat_server.core.scopes import Scope, scope_of
from chat_server.protocol import frames as f
from chat_server.service import bots
from chat_server.service.agent_audit import audit_entry
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node


async def api_caller(node: Node, secret: str | None) -> tuple[Agent, Scope] | None:
    """The agent (or bot) of a valid API token, with the sites it acts on; None for
    anything else, a console session's id included."""
    if not secret or len(secret) > 256:
        return None
    found = await node.store.directory.credential(tokens.hash_secret(secret), node.clock.now_ms())
    scope = scope_of(found[1]) if found else None
    if found is None or scope is None:
        return None
    agent = await node.store.directory.agent(found[0])
    return (agent, scope) if agent is not None else None


async def conversation(node: Node, cid: str) -> Conversation:
    conv = await node.store.conversations.get(cid)
    if conv is None:
        raise flow.unknown_conversation()
    return conv


async def post(node: Node, agent: Agent, body: f.Msg | f.Note) -> Message:
    """A message (own open conversations) or a note (supervisors: any), idempotent by
    `cmid`: a resent one returns the stored message and adds nothing."""
    note = isinstance(body, f.Note)
    action = "note" if note else "msg"
    appended = await node.store.conversations.append(
        body.cid,
        Draft(
            Kind.NOTE if note else Kind.TEXT,
            Sender(Role.AGENT, agent.id, agent.name),
            body.text,
            body.cmid,
        ),
        origin=None,
        guarded=not (note and agent.is_supervisor),
        audit=audit_entry(node.clock.now_ms(), agent.id, action, body),
    )
    if appended.created:
        node.metrics.message_stored(appended.message)
        await node.measure_message(appended)
    return appended.message


async def close(node: Node, dispatcher: Dispatcher, agent: Agent, body: f.AgentClose) -> None:
    conv = await conversation(node, body.cid)
    flow.require_own_or_supervisor(conv, agent)
    changed = await node.store.conversations.close(
        conv.id,
        node.clock.now_ms(),
        by="agent",
        reason="resolved" if body.resolved else "unresolved",
        resolved=body.resolved,
    )
    await node.store.audit.record(audit_entry(node.clock.now_ms(), agent.id, "close", body))
    await node.announce_closed(changed)
    dispatcher.kick()


async def transfer(
    node: Node, dispatcher: Dispatcher, agent: Agent, body: f.Transfer, note: f.Note | None
) -> Conversation:
    """To an agent who is connected, or back to the queue (at its front, optionally for
    another topic). The note, if any, is stored first, while the conversation is still
    the sender's, so the next agent finds it in the history they get."""
    bots.require_person_for(agent, "transfer")
    conv = await conversation(node, body.cid)
    flow.require_own_or_supervisor(conv, agent)
    store = node.store
    target: Agent | None = None
    if body.to is not None:
        target = await store.directory.agent(body.to)
        if target is None:
            raise not_found("no such agent")

    async def write_note() -> None:
        if note is not None:
            flow.ensure_open(conv)
            await bots.transfer_note(
                node, agent, conv.id, note.text, guarded=not agent.is_supervisor, cmid=note.cmid
            )

    changed = await bots.hand_on(node, conv, target, body.topic, write_note)
    now = node.clock.now_ms()
    await store.audit.record(audit_entry(now, agent.id, "transfer", body))
    dispatcher.kick()
    return changed.conversation
