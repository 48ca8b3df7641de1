"""Figures kept over time (issue 16): every §6 figure added to its hour, day and month
(`core/rollups.py`) per dimension, kept `rollup_days`; and the visits behind the returning
and churned visitors (`core/visits.py`). The same on both backends and on every node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from chat_server.core.metrics import Figures
from chat_server.core.rollups import Bucket


class Rollups(Protocol):
    async def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Add `figures` to the hour, day and month of `ts` for each of `dims`. Never
        raises, and costs the message path no round trip: figures are statistics."""

    async def read(self, dim: str, buckets: Sequence[Bucket]) -> list[Figures]:
        """Each bucket's figures for `dim`, in order (empty when it holds none)."""

    async def total(self, dims: Sequence[str], buckets: Sequence[Bucket]) -> dict[str, Figures]:
        """For each of `dims`, the merge of `buckets` (summed where the data is)."""

    async def visit(self, visitor_id: str, dims: tuple[str, ...], ts: int) -> None:
        """The visitor started a conversation at `ts`: counted once per local day, under
        the number of days since their previous visit (or as new). Never raises."""

    async def visits(
        self, dim: str, first: int, last: int, since: Sequence[int]
    ) -> tuple[int, tuple[int, ...]]:
        """Over the local days `first`..`last` (ordinals, `date.toordinal`): how many first
        visits ever, and for each of `since` how many visits whose previous visit was on a
        day from `since[i]` up to (not including) `first`."""

    async def forget_visitor(self, visitor_id: str) -> None:
        """Erase (issue 16): forget when the visitor last came; the counts stay."""

    async def prune(self, now: int) -> int:
        """Remove buckets (and visit counts) older than `rollup_days`; how many (Redis:
        they expire by themselves, 0; it packs the finished buckets this node wrote).
        Run hourly by every node."""
