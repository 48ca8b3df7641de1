"""Conversation search for staff (issue 16): supervisors search every conversation, agents
those they held (the closed ones they were given or wrote in, and the open ones that are
theirs now).

Closed conversations come from the store's index (`store.search`, filled when each one
closes: `track`); open ones, which are not indexed, are matched by their fields here
(`core/search.matches_open`) and merged in rank order, so one cursor pages through both.
A text query finds closed conversations only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chat_server.backends.base import Store
from chat_server.backends.roles.conversations import Changed
from chat_server.backends.roles.search import Found
from chat_server.core import search, snippets
from chat_server.core.errors import ChatError, forbidden
from chat_server.core.model import Agent, Conversation, Kind, Message, Rating, Role, State
from chat_server.core.search import Position, Query

if TYPE_CHECKING:
    from chat_server.service.node import Node

log = logging.getLogger(__name__)
OPEN_LIMIT = 2000
"""Open conversations read per state for one query (newest first)."""
SNIPPET_MESSAGES = 1000
"""Messages of a result read for its snippet (the first ones)."""
BACKFILL = 500
TAGGED_MAX = 5000
"""Conversations holding a tag that a search with `tag` looks among (newest first)."""
TAG_ROUNDS = 20
"""Index pages read at most, per result page, when a tag filter skips most of them."""


@dataclass(frozen=True, slots=True)
class Page:
    results: list[dict[str, Any]]
    next: str | None
    """The cursor of the next page; None on the last one."""


async def track(store: Store, changed: Changed) -> None:
    """After every transition: remember who was given the conversation, and index it once
    it is closed. Never fails the transition: what is missed is logged, and `backfill`
    indexes it later."""
    conv, before = changed.conversation, changed.previous
    try:
        if conv.agent is not None and conv.agent != before.agent:
            await store.search.hold(conv.id, conv.agent.id)
        if conv.state is State.CLOSED:
            await store.search.index(conv.id)
    except ChatError as exc:
        log.warning("search: %s not indexed (%s); a backfill will", conv.id, exc.message)


async def backfill(store: Store, limit: int = BACKFILL) -> int:
    """Index up to `limit` closed conversations the index lacks (closed before it existed,
    or while the store failed); how many."""
    done = 0
    for cid in await store.search.unindexed(limit):
        done += await store.search.index(cid)
    return done


async def find(node: Node, viewer: Agent, request: search.Request, tag: str | None = None) -> Page:
    """One page of results, newest first. An agent asking for another agent's is
    `forbidden`; asking for none gets their own. `tag` (issue 17, normalised): only the
    conversations holding it."""
    query = request.query
    if not viewer.is_supervisor:
        if query.agent not in (None, viewer.id):
            raise forbidden("another agent's conversations")
        query = replace(query, agent=viewer.id)
    if query.hopeless:
        return Page([], None)
    after, want = request.after, request.limit + 1
    tagged = None
    if tag is not None:
        tagged = set(await node.store.tags.find(tag, before=None, limit=TAGGED_MAX))
        if not tagged:
            return Page([], None)
    closed = await _closed(node, query, after.rank if after else None, want, tagged)
    found: list[tuple[Position, Conversation | None]] = [
        (Position(f.rank, f.cid), None) for f in closed
    ]
    indexed = {f.cid for f in closed}  # one closing meanwhile may be found both ways
    found += [
        pair
        for pair in await _open(node, query, after, want)
        if pair[0].cid not in indexed and (tagged is None or pair[0].cid in tagged)
    ]
    found.sort(key=lambda pair: pair[0], reverse=True)
    page, more = found[: request.limit], len(found) > request.limit
    results = []
    for position, conv in page:
        result = await _result(
            node, query, conv or await node.store.conversations.get(position.cid)
        )
        if result is not None:
            results.append(result)
    return Page(results, search.encode_cursor(page[-1][0]) if more else None)


async def _closed(
    node: Node, query: Query, before: int | None, want: int, tagged: set[str] | None
) -> list[Found]:
    """The indexed conversations that match, the `want` newest below `before`; with a tag,
    those holding it (reading further pages, at most `TAG_ROUNDS`)."""
    kept: list[Found] = []
    for _ in range(TAG_ROUNDS):
        page = await node.store.search.query(query, before, want)
        kept += [f for f in page if tagged is None or f.cid in tagged]
        if tagged is None or len(page) < want or len(kept) >= want:
            break
        before = page[-1].rank
    return kept[:want]


async def _open(
    node: Node, query: Query, after: Position | None, want: int
) -> list[tuple[Position, Conversation | None]]:
    """The open conversations that match, the `want` newest after `after`."""
    if not query.wants_open:
        return []
    cheap = replace(query, visitor=None, email=None)
    candidates: list[tuple[Position, Conversation]] = []
    for state in sorted(query.states - {State.CLOSED}):
        for conv in await node.store.conversations.find(state=state, limit=OPEN_LIMIT):
            position = Position(search.open_rank(conv), conv.id)
            if (after is None or position < after) and search.matches_open(conv, None, cheap):
                candidates.append((position, conv))
    candidates.sort(key=lambda pair: pair[0], reverse=True)
    kept: list[tuple[Position, Conversation | None]] = []
    for position, conv in candidates:
        if len(kept) >= want:
            break
        if query.visitor is not None or query.email is not None:
            visitor = await node.store.directory.visitor(conv.visitor_id)
            if not search.matches_open(conv, visitor, query):
                continue
        kept.append((position, conv))
    return kept


async def _result(node: Node, query: Query, conv: Conversation | None) -> dict[str, Any] | None:
    """A result as the page shows it: the conversation's view, its rating, and the part of
    its text that matched (without text asked for: the start of the visitor's first
    message). None for one removed since it was found."""
    if conv is None:
        return None
    store = node.store
    messages, _ = await store.conversations.history(conv.id, 0, SNIPPET_MESSAGES, notes=True)
    written = [m for m in messages if m.kind is not Kind.EVENT]
    if query.words or query.prefix is not None:
        cut = snippets.snippet([(m.seq, m.text) for m in written], query)
    else:
        first = [m for m in written if m.sender.role is Role.VISITOR] or written
        cut = snippets.preview([(m.seq, m.text) for m in first])
    rating = await store.conversations.rating(conv.id) if conv.state is State.CLOSED else None
    return {
        "conversation": await node.conversation_view(conv),
        "rating": _rating_json(rating),
        "snippet": _snippet_json(cut, written),
    }


def _rating_json(rating: Rating | None) -> dict[str, Any] | None:
    if rating is None:
        return None
    return {"csat": rating.csat, "nps": rating.nps, "ces": rating.ces}


def _snippet_json(cut: snippets.Snippet | None, messages: list[Message]) -> dict[str, Any] | None:
    """`parts`: plain text, `hit` on the words that matched (shown with `textContent`)."""
    if cut is None:
        return None
    kind = next(m.kind for m in messages if m.seq == cut.seq)
    return {
        "seq": cut.seq,
        "kind": kind.value,
        "parts": [{"text": text, "hit": hit} for text, hit in cut.parts],
    }
