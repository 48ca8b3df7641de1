"""Auto-close on inactivity (issue 14), run by the dispatcher's sweep with the node clock.

An active chat with no text message for its site's `inactive_warn_s` gets a warning line,
then is closed (reason `inactive`, with the survey as any close with an agent) if still
nothing came `inactive_close_s` after it. Each step is a store transition that decides
again on the conversation as it is at the write (`conversation.warn_inactive`,
`close_inactive`): a message that came meanwhile, or another node that got there first,
makes it refuse, and nothing is written twice.
"""

from __future__ import annotations

import contextlib

from chat_server.core import conversation as flow
from chat_server.core.errors import ChatError
from chat_server.core.model import Conversation, Site, State
from chat_server.service.node import Node

ACTIVE_MAX = 10_000
"""At most this many active chats are looked at per sweep."""
EVERY_MS = 5_000
"""How often (node time) the dispatcher's sweep runs this one: it reads every active chat,
and the shortest timer is 10 s, so looking every second would cost much and gain little."""


async def sweep(node: Node) -> int:
    """Warn or close every active chat that is due; returns how many were closed."""
    store, now = node.store, node.clock.now_ms()
    sites: dict[str, Site | None] = {}
    closed = 0
    for conv in await store.conversations.find(state=State.ACTIVE, limit=ACTIVE_MAX):
        if conv.site not in sites:
            sites[conv.site] = await store.directory.site(conv.site)
        site = sites[conv.site]
        if site is None:
            continue
        warn_s, close_s = site.inactive_warn_s, site.inactive_close_s
        due = flow.inactivity_due(conv, now, warn_s, close_s)
        if due is None:
            continue
        with contextlib.suppress(ChatError):  # a message came, or another node was first
            closed += await _act(node, conv, due, now, warn_s, close_s)
    return closed


async def _act(
    node: Node, conv: Conversation, due: flow.Due, now: int, warn_s: int, close_s: int
) -> int:
    conversations = node.store.conversations
    if due == "warn":
        await conversations.transition(
            conv.id, lambda c: flow.warn_inactive(c, now, warn_s, close_s)
        )
        return 0
    changed = await conversations.transition(
        conv.id, lambda c: flow.close_inactive(c, now, warn_s, close_s)
    )
    await node.announce_closed(changed)
    return 1
