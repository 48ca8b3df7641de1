"""Offline messages (issue 14): the visitor's `leave`, their last conversation in `hello`,
the agents' pending list (in `hello`, `state` and the `pending` event) and `snooze`.

A pending conversation is open (the visitor's one open conversation) but never routed:
agents see it in the pending list and `claim` it like a queued one."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from chat_server.core import channels, site_settings
from chat_server.core import conversation as flow
from chat_server.core.errors import bad_request
from chat_server.core.model import Conversation, Draft, Kind, Role, Sender, State
from chat_server.protocol import frames as f
from chat_server.service.node import Node
from chat_server.service.previews import Previews

if TYPE_CHECKING:
    from chat_server.service.agent import AgentSession
    from chat_server.service.visitor import VisitorSession

LAST_FOR_MS = 7 * 86_400_000
"""How long after its close a conversation is still the visitor's `last` in `hello`."""
SNOOZE_DEFAULT_MIN = 30


# --- the visitor ---------------------------------------------------------------------------


async def leave(session: VisitorSession, frame: f.Leave) -> dict[str, Any]:
    """`leave {email, name?, text?, cid?, fields?, topic?, cmid?}`: `ok {conversation}`."""
    email = frame.email.strip()
    if not site_settings.is_email(email):
        raise bad_request("'email' is not an email address")
    store, node = session.store, session.node
    visitor = replace(session.me, email=email, name=(frame.name or "").strip() or session.me.name)
    if visitor != session.me:
        await store.directory.put_visitor(visitor)
        session.visitor = visitor
    if frame.cid is None:
        cid = await _opened(session, frame)
    else:
        cid = await _left(session, frame, frame.cid, email)
    session.dispatcher.kick()  # the queue and the pending list changed
    conv = await store.conversations.get(cid)
    assert conv is not None
    return {"conversation": await node.conversation_view(conv, for_visitor=True)}


async def _opened(session: VisitorSession, frame: f.Leave) -> str:
    """A new pending conversation, `text` as seq 1 (checked like `start`)."""
    text = frame.text or ""
    if not text.strip():
        raise bad_request("'text' is required without 'cid'")
    conv = await session.open_conversation(
        text, frame.cmid, frame.topic, frame.fields, offline=True
    )
    return conv.id


async def _left(session: VisitorSession, frame: f.Leave, cid: str, email: str) -> str:
    """The visitor's own queued conversation becomes pending; `text`, if any, is added."""
    store, node = session.store, session.node
    conv = await store.conversations.get(cid)
    if conv is None or conv.visitor_id != session.me.id:
        raise flow.unknown_conversation()
    now = node.clock.now_ms()
    changed = await store.conversations.transition(cid, lambda c: flow.to_pending(c, now, email))
    await node.measure_transition(changed)
    session.cid = cid
    if frame.text and frame.text.strip():
        draft = Draft(Kind.TEXT, _sender(session), frame.text, frame.cmid)
        appended = await store.conversations.append(cid, draft, origin=session.id, guarded=True)
        session.mark_sent(cid, appended.message.seq)
        if appended.created:
            node.metrics.message_stored(appended.message)
            await node.measure_message(appended)
    return cid


def _sender(session: VisitorSession) -> Sender:
    return Sender(Role.VISITOR, session.me.id, session.me.name)


async def last_conversation(
    node: Node, visitor_id: str, open_one: Conversation | None
) -> dict[str, Any] | None:
    """`hello.last`: with no open conversation, the visitor's newest one if it closed less
    than 7 days ago (a visitor who left a message comes back to the answer)."""
    if open_one is not None:
        return None
    found = await node.store.conversations.find(visitor_id=visitor_id, limit=1)
    if not found:
        return None
    conv = found[0]
    recent = conv.closed_at is not None and conv.closed_at > node.clock.now_ms() - LAST_FOR_MS
    if conv.state is not State.CLOSED or not recent:
        return None
    return await node.conversation_view(conv, for_visitor=True)


# --- agents ----------------------------------------------------------------------------------


async def snooze(session: AgentSession, frame: f.Snooze) -> dict[str, Any]:
    """`snooze {cid, minutes?}`: own conversation, or any for supervisors; `ok {until}`."""
    conv = await session.require(frame.cid)
    flow.require_own_or_supervisor(conv, session.me)
    minutes = frame.minutes if frame.minutes is not None else SNOOZE_DEFAULT_MIN
    until = session.node.clock.now_ms() + minutes * 60_000
    await session.store.conversations.transition(conv.id, lambda c: flow.snooze(c, until))
    return {"until": until}


class PendingList:
    """The agents' list of offline messages, and its `pending` event (sent on the
    waiting list's channel when it changed, with the queue's cadence)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.previews = Previews(node.store.conversations)
        self._last: list[dict[str, Any]] | None = None

    async def entries(self) -> list[dict[str, Any]]:
        """`[{cid, topic, visitor: {name, email}, waited_s, preview}]`, oldest first."""
        pending = await self.node.store.conversations.pending()
        now = self.node.clock.now_ms()
        out = [await self._entry(conv, now) for conv in pending]
        self.previews.keep_only(c.id for c in pending)
        return out

    async def announce(self) -> None:
        entries = await self.entries()
        # `waited_s` moves every second: only a change of the list itself is announced
        shape = [{k: v for k, v in e.items() if k != "waited_s"} for e in entries]
        if shape != self._last:
            self._last = shape
            await self.node.hub.publish(channels.QUEUE, {"t": "pending", "pending": entries})

    async def _entry(self, conv: Conversation, now: int) -> dict[str, Any]:
        visitor = await self.node.store.directory.visitor(conv.visitor_id)
        since = conv.pending_at if conv.pending_at is not None else conv.created
        return {
            "cid": conv.id,
            "topic": conv.topic,
            "visitor": {
                "name": visitor.name if visitor else None,
                "email": visitor.email if visitor else None,
            },
            "waited_s": max(0, (now - since) // 1000),
            "preview": await self.previews.of(conv.id),
        }
