"""Conversation tags (issue 17): a small set of labels per conversation that staff set from
the console or the write API, read with the conversations and searched by."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Tags(Protocol):
    async def change(
        self,
        cid: str,
        created: int,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        replace: bool = False,
    ) -> tuple[str, ...]:
        """Apply one change (`core/tags.applied`, tags already normalised) in one atomic
        step and return the conversation's tags after it, sorted. `created` is the
        conversation's creation (ms): `find` orders by it. `not_found` when the
        conversation is not stored; `bad_request` (nothing changes) past `TAGS_MAX`."""

    async def of(self, cids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The tags of each conversation named (sorted; an untagged one maps to ())."""

    async def find(self, tag: str, *, before: int | None, limit: int) -> list[str]:
        """At most `limit` conversations holding `tag`, newest created first, created
        before `before` (ms, exclusive) when given: the next page starts at the last
        one's creation time."""
