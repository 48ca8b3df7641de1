"""Conversation search (issue 16): the index of closed conversations, by their words and
their structured fields, on both backends the same.

A conversation is indexed when it closes (`index`, which reads the transcript itself):
its words (text messages and notes; not system lines), its site, topic, visitor (name
and email as they are then), the agents who held it, and its rank (`core/search.rank`:
created, then a slot). Open conversations are not indexed: the service finds them by
their fields (`core/search.matches_open`). A rating, given after the close, is read where
it is stored when a query filters by it. `retention.remove` takes a conversation out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chat_server.core.search import Query


@dataclass(frozen=True, slots=True)
class Found:
    cid: str
    rank: int


class Search(Protocol):
    async def hold(self, cid: str, agent_id: str) -> None:
        """Remember that `agent_id` held `cid` (was given it: a claim, a transfer, an
        assign), so that the agent finds it once it is closed even if they never wrote in
        it and someone else closed it."""

    async def held(self, cid: str, agent_id: str) -> bool:
        """Whether `agent_id` held `cid` (as `hold` or `index` recorded it)."""

    async def index(self, cid: str) -> bool:
        """Index a closed conversation from what is stored of it (again: replaced, at the
        same rank). False, indexing nothing, when it is unknown or not closed."""

    async def query(self, query: Query, before: int | None, limit: int) -> list[Found]:
        """At most `limit` indexed conversations matching `query` whose rank is below
        `before`, highest rank (newest) first. Text words match whole words, the prefix the
        start of a word; the states, other than closed, match nothing here."""

    async def unindexed(self, limit: int) -> list[str]:
        """At most `limit` closed conversations that are not indexed (closed before the
        index existed, or whose indexing failed), oldest first: for `index`."""
