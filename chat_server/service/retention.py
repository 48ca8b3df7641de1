"""Retention (issue 16): with `retention_days` set, every node removes closed conversations
whose close is older than that, in bounded passes (the dispatcher's sweep loop); `chat-server
retention run` does the same once, by hand. Nodes need no coordination: removal is
idempotent (`backends/roles/retention.py`), a conversation two nodes pick is removed once.
The same sweep removes, once an hour, the figures over time past `rollup_days`
(`Rollups.prune`), whatever `retention_days` says, and indexes for search the closed
conversations the index lacks (closed before search existed, or while indexing failed).
"""

from __future__ import annotations

import logging

from chat_server.backends.base import Store
from chat_server.service import search
from chat_server.service.node import Node

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
BATCH = 500
"""Conversations (and audit entries) removed per pass: one pass never holds a node long."""
EVERY_MS = 3_600_000
"""How often (node time) a node sweeps once a pass found no more than a batch."""


def cutoff(now: int, days: float) -> int:
    """Conversations closed before this (ms) are removed."""
    return now - round(days * DAY_MS)


async def one_pass(store: Store, before: int, batch: int = BATCH) -> tuple[int, bool]:
    """Remove up to `batch` expired conversations, and old audit entries; how many
    conversations, and whether more may be left (a full batch)."""
    found = await store.retention.expired(before, batch)
    removed = 0
    for cid in found:
        if await store.retention.remove(cid):
            removed += 1
            await store.webhooks.forget(cid)  # deliveries not yet made hold its text
    pruned = await store.retention.prune(before, batch)
    return removed, len(found) >= batch or pruned >= batch


async def run(store: Store, before: int, batch: int = BATCH) -> int:
    """Passes until nothing expired is left (the CLI); how many conversations."""
    total, more = 0, True
    while more:
        removed, more = await one_pass(store, before, batch)
        total += removed
    return total


class Sweep:
    """A node's schedule: a pass once an hour of node time, the next at once while a pass
    finds a full batch (a backlog drains one bounded pass per sweep tick); the rollups'
    prune once an hour, from the first tick."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._next_at: int | None = None
        self._rollups_at: int | None = None
        self._search_at: int | None = None

    async def due(self) -> None:
        now = self.node.clock.now_ms()
        if self._rollups_at is None or now >= self._rollups_at:
            self._rollups_at = now + EVERY_MS
            pruned = await self.node.store.rollups.prune(now)
            if pruned:
                log.info("rollups: removed %d row(s) past rollup_days", pruned)
        if self._search_at is None or now >= self._search_at:
            indexed = await search.backfill(self.node.store)
            # a backlog goes one bounded batch per tick; then once an hour
            self._search_at = now if indexed >= search.BACKFILL else now + EVERY_MS
            if indexed:
                log.info("search: indexed %d closed conversation(s) it lacked", indexed)
        days = self.node.settings.retention_days
        if days <= 0 or (self._next_at is not None and now < self._next_at):
            return
        self._next_at = now + EVERY_MS
        removed, more = await one_pass(self.node.store, cutoff(now, days))
        if more:
            self._next_at = now
        if removed:
            self.node.metrics.retention_removed.inc(removed)
            log.info("retention: removed %d conversation(s) closed over %g days ago", removed, days)
