"""The rolling figures, held in memory (recording is on the hot path of every message) and
checkpointed to SQLite so that they survive a restart: the sweeper calls `checkpoint` every
few seconds, and the store's `stop` once more. Also the resolved closes remembered for a
visitor who comes back (a recontact is counted once)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.core.clock import Clock
from chat_server.core.metrics import Figures, RollingWindows

Resolved = tuple[int, tuple[str, ...], int]
"""A resolved close: when, its dimensions, and when it is forgotten."""


class EmbeddedFigures:
    def __init__(
        self, db: Database, clock: Clock, also: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """`also`: what else memory holds between writes, flushed by `checkpoint` too (the
        figures over time, issue 16)."""
        self._db = db
        self._clock = clock
        self._also = also
        self._windows = RollingWindows()
        self._resolved: dict[str, Resolved] = {}

    async def load(self) -> None:
        """What the last checkpoint kept (at start)."""
        saved = await self._db.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = 'figures'").fetchone()
        )
        if saved is not None:
            snapshot: dict[str, Any] = json.loads(saved[0])
            self._windows = RollingWindows.restore(snapshot["windows"])
            self._resolved = {k: (v[0], tuple(v[1]), v[2]) for k, v in snapshot["resolved"].items()}

    async def record(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        self._windows.record(ts, dims, figures)

    async def read(self, window: str, now: int, dim: str) -> Figures:
        return self._windows.read(window, now, dim)

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        self._resolved[visitor_id] = (ts, dims, ts + ttl_ms)

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        mark = self._resolved.pop(visitor_id, None)
        for vid in [v for v, m in self._resolved.items() if m[2] <= now]:
            del self._resolved[vid]
        if mark is None or mark[2] <= now:
            return None
        return mark[0], mark[1]

    async def checkpoint(self, periodic: bool = False) -> None:
        if self._also is not None:
            await self._also()
        self._windows.prune(self._clock.now_ms())
        blob = json.dumps(
            {
                "windows": self._windows.snapshot(),
                "resolved": {k: list(v) for k, v in self._resolved.items()},
            }
        )
        await durable.write(
            self._db,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('figures', ?)", (blob,)
            ),
        )
