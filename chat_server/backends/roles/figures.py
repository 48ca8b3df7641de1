"""The rolling figures (contract §6): buckets per window and dimension, merged on read."""

from __future__ import annotations

from typing import Protocol

from chat_server.core.metrics import Figures as FigureSet


class Figures(Protocol):
    async def record(self, ts: int, dims: tuple[str, ...], figures: FigureSet) -> None:
        """Add to the buckets of every window that holds `ts`, once per dimension. Never
        raises: figures are statistics, not acknowledged data."""

    async def read(self, window: str, now: int, dim: str) -> FigureSet:
        """A window's figures ending at `now`: the merge of its buckets."""

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        """Remember a resolved close, for `ttl_ms`, in case the visitor comes back."""

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        """The visitor's remembered resolved close (forgotten as it is taken), if still fresh."""

    async def checkpoint(self, periodic: bool = False) -> None:
        """Persist what is held in memory between writes (embedded: the rolling figures).
        `periodic` (the dispatcher's, every few seconds): a backend that writes by itself
        as its figures fall due (Redis) may leave what it holds on purpose."""
