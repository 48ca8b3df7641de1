"""Bots and handing conversations on (issue 17): a bot's `handoff`, the `transfer` with
its note, what a bot may not do, and which sites' bots can take conversations now.

A bot is an agent account (role `bot`, id `b_…`) on the same agent protocol. It takes a
site's new conversations first (`routing.bot_first`), never the human queue, and gives a
conversation to people with `handoff`: its note becomes an internal note, a system line
tells the visitor a person is coming, and the conversation goes to the front of the queue
with the bot excluded from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from chat_server.backends.roles.conversations import Changed
from chat_server.core import channels, routing
from chat_server.core import conversation as flow
from chat_server.core.errors import bad_request, conflict, forbidden
from chat_server.core.model import Agent, Conversation, Draft, Kind, Message, Role, Sender
from chat_server.protocol import frames as f
from chat_server.service.node import Node

if TYPE_CHECKING:
    from chat_server.service.agent import AgentSession
    from chat_server.service.session import Result

PEOPLE_ONLY = frozenset({"claim", "assign", "watch", "subscribe", "transfer", "snooze", "cobrowse"})
"""Agent frames a bot may not send: it takes conversations only from routing, hands them
on only by `handoff`, and has no console views."""


def require_person_for(agent: Agent, t: str) -> None:
    if agent.is_bot and t in PEOPLE_ONLY:
        raise forbidden(f"a bot cannot send {t!r}; it hands a conversation on with 'handoff'")


def require_person(target: Agent) -> None:
    """Conversations reach a bot only through routing, never by a transfer or assign."""
    if target.is_bot:
        raise bad_request("a conversation is given to a bot only by the site's routing")


async def handoff(session: AgentSession, frame: f.Handoff) -> Result:
    """`handoff {cid, reason, note?}`: `ok {conversation}`. The note is written first, so
    the person who takes the conversation finds it in the history they are sent."""
    me = session.me
    if not me.is_bot:
        raise forbidden("handoff is a bot's; people hand a conversation on with 'transfer'")
    conv = await session.require(frame.cid)
    flow.require_own(conv, me)
    flow.ensure_open(conv)
    await _note(session, conv, frame.note, guarded=True)
    node = session.node
    changed = await session.store.conversations.requeue(
        conv.id, node.clock.now_ms(), reason="handoff", front=True, only_agent=me.id
    )
    await node.announce_requeued(changed, "handoff")
    session.dispatcher.kick()
    return {"conversation": await node.conversation_view(changed.conversation)}


async def transfer(session: AgentSession, frame: f.Transfer) -> Result:
    """`transfer {cid, to?, topic?, note?}`: `ok {conversation}`."""
    me, node = session.me, session.node
    conv = await session.require(frame.cid)
    flow.require_own_or_supervisor(conv, me)
    target = await session.agent_named(frame.to) if frame.to is not None else None
    changed = await hand_on(
        node,
        conv,
        target,
        frame.topic,
        lambda: _note(session, conv, frame.note, guarded=not me.is_supervisor),
    )
    session.dispatcher.kick()
    return {"conversation": await node.conversation_view(changed.conversation)}


async def hand_on(
    node: Node,
    conv: Conversation,
    target: Agent | None,
    topic: str | None,
    write_note: Callable[[], Awaitable[object]],
) -> Changed:
    """A transfer (the frame's and the write API's): to `target`, a person who is
    connected, else to the front of the queue (for `topic` if given). The note
    (`write_note`), an internal note, is written before the conversation moves: its new
    agent gets it with the history. The caller kicks the dispatcher."""
    store = node.store
    if target is not None:
        require_person(target)
        if target.id not in await store.presence.online("agent"):
            raise conflict(f"{target.name} is not connected")
    await write_note()
    now = node.clock.now_ms()
    if target is not None:
        changed = await store.conversations.transfer(conv.id, target, now)
        await node.announce_assigned(changed)
    else:
        changed = await store.conversations.requeue(
            conv.id, now, reason="transferred", front=True, topic=topic
        )
        await node.announce_requeued(changed, "transferred")
    return changed


async def _note(
    session: AgentSession, conv: Conversation, text: str | None, *, guarded: bool
) -> None:
    note = await transfer_note(
        session.node, session.me, conv.id, text, guarded=guarded, origin=session.id
    )
    if note is not None:
        session.mark_sent(conv.id, note.seq)


async def transfer_note(
    node: Node,
    by: Agent,
    cid: str,
    text: str | None,
    *,
    guarded: bool,
    origin: str | None = None,
    cmid: str | None = None,
) -> Message | None:
    """The internal note (staff only, never the visitor) of the agent handing a
    conversation on, by frame or write API alike; none for an empty text. Its audit entry
    is the transfer's."""
    if text is None or not text.strip():
        return None
    draft = Draft(Kind.NOTE, Sender(Role.AGENT, by.id, by.name), text.strip(), cmid)
    appended = await node.store.conversations.append(cid, draft, origin=origin, guarded=guarded)
    if appended.created:
        node.metrics.message_stored(appended.message)
    return appended.message


async def site_bots(
    node: Node, queue: Iterable[Conversation], team: list[Agent]
) -> dict[str, routing.Candidate]:
    """The bot of each site with a new conversation waiting, when that bot is connected and
    heard by some node (status is not asked of bots): site id to the bot as a candidate.
    Nothing is read when no agent is a bot."""
    bots = {a.id: a for a in team if a.is_bot and a.max_chats > 0}
    if not bots:
        return {}
    store = node.store
    chosen: dict[str, str] = {}
    for site_id in sorted({c.site for c in queue if c.assigned_at is None}):
        site = await store.directory.site(site_id)
        if site is not None and site.bot in bots:
            chosen[site_id] = site.bot
    if not chosen:
        return {}
    online = await store.presence.online("agent", among=sorted(set(chosen.values())))
    heard = await node.hub.bus.listening(channels.agent(b) for b in online)
    loads = await store.conversations.loads()
    out: dict[str, routing.Candidate] = {}
    for site_id, bot_id in chosen.items():
        if bot_id not in online or channels.agent(bot_id) not in heard:
            continue
        load = loads.get(bot_id)
        active = load.active if load else 0
        out[site_id] = routing.Candidate(bot_id, active, bots[bot_id].max_chats)
    return out
