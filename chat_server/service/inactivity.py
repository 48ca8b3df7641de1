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
from chat_server.core import site_settings
from chat_server.core.errors import ChatError
from chat_server.core.model import Conversation, Site
from chat_server.service.node import Node

ACTIVE_MAX = 10_000
"""At most this many active chats are looked at per sweep."""
WARN_MIN_S = site_settings.TIMERS["inactive_warn_s"][0]
"""The shortest warning time a site may set, and so the shortest quiet after which a chat
can be due anything (`may_be_due`): the store leaves out the chats quiet for less, which
under load are nearly all (at 5,000 conversations, reading them all held the event loop
for about 100 ms every sweep)."""
EVERY_MS = 5_000
"""How often (node time) the dispatcher's sweep runs this one: it looks at the active chats
(`quiet_since`), and the shortest timer is 10 s, so looking every second would cost much
and gain little."""


async def sweep(node: Node) -> int:
    """Warn or close every active chat that is due; returns how many were closed. Only
    the chats that went quiet long enough ago for their site's timers are read whole."""
    store, now = node.store, node.clock.now_ms()
    sites: dict[str, Site | None] = {}

    async def site_of(site_id: str) -> Site | None:
        if site_id not in sites:
            sites[site_id] = await store.directory.site(site_id)
        return sites[site_id]

    closed = 0
    quiet_enough = now - WARN_MIN_S * 1000
    for quiet in await store.conversations.quiet_since(ACTIVE_MAX, before=quiet_enough):
        if quiet.site is not None:
            site = await site_of(quiet.site)
            if site is None or not may_be_due(quiet.since, now, site):
                continue
        conv = await store.conversations.get(quiet.cid)
        if conv is None:
            continue
        site = await site_of(conv.site)
        if site is None:
            continue
        warn_s, close_s = site.inactive_warn_s, site.inactive_close_s
        due = flow.inactivity_due(conv, now, warn_s, close_s)
        if due is None:
            continue
        with contextlib.suppress(ChatError):  # a message came, or another node was first
            closed += await _act(node, conv, due, now, warn_s, close_s)
    return closed


def may_be_due(quiet_since: int, now: int, site: Site) -> bool:
    """Whether a chat quiet since then can be due: a warning needs `inactive_warn_s` of
    quiet; a close, `inactive_close_s` after a warning that itself came at least the
    shortest warning time (`WARN_MIN_S`, whatever the site's setting was then) after it."""
    wait_s = min(site.inactive_warn_s, site.inactive_close_s + WARN_MIN_S)
    return quiet_since <= now - wait_s * 1000


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
