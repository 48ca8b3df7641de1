"""Retention (issue 16): the server itself removes closed conversations whose close is older
than `retention_days`, everything of each at once, on every node without coordination."""

from __future__ import annotations

from typing import Protocol


class Retention(Protocol):
    async def expired(self, before: int, limit: int) -> list[str]:
        """At most `limit` closed conversations closed before `before` (ms), oldest
        created first. Another node may remove them meanwhile: `remove` says so."""

    async def remove(self, cid: str) -> bool:
        """Remove a closed conversation and everything of it: messages and notes, rating,
        files (bytes and records), co-browse leftovers and its index entries, in one
        atomic step (the files just before it). Idempotent: False when it is gone already
        (another node removed it). `conflict` when it is not closed: never an open one."""

    async def prune(self, before: int, limit: int) -> int:
        """Remove at most `limit` other records older than `before` that the cut-off ages
        out (embedded: audit entries; Redis caps its audit log itself); how many."""
