"""Figures added up by key until a write takes them, each key remembering when it was first
added, so that a write can take only those held long enough.

Why: on Redis every agent is a dimension of its own. Written each second, a node with 1,000
agents wrote about 1,400 buckets a second (each agent's reply to its three windows and its
hour, day and month), tens of milliseconds of work here and in Redis at once, and every
message that came meanwhile waited behind it: at 5,000 conversations that burst was the
p99. Held longer, an agent's replies share their buckets; taken by age, the writes stay an
even trickle rather than a larger burst every few seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from chat_server.core.metrics import Figures

K = TypeVar("K", bound=Hashable)


class Held(Generic[K]):
    """`Figures` by key, oldest first (by when each key was first added since taken)."""

    __slots__ = ("_born", "figures")

    def __init__(self) -> None:
        self.figures: dict[K, Figures] = {}
        self._born: dict[K, float] = {}
        """`time.monotonic()` when each key came, in the same order as `figures`."""

    def __len__(self) -> int:
        return len(self.figures)

    def add(self, key: K, figures: Figures) -> None:
        held = self.figures.get(key)
        if held is None:
            held = self.figures[key] = Figures()
            self._born[key] = time.monotonic()
        held.merge(figures)

    def take(self, born_by: float | None = None, most: int | None = None) -> dict[K, Figures]:
        """All held (`born_by` None), or at most `most` of those first added at or before
        `born_by`, oldest first."""
        if born_by is None:
            taken, self.figures, self._born = self.figures, {}, {}
            return taken
        taken = {}
        for key, born in self._born.items():
            if born > born_by or len(taken) == most:
                break
            taken[key] = self.figures.pop(key)
        for key in taken:
            del self._born[key]
        return taken

    def take_due(self, hold_s: float, every_s: float, least: int) -> dict[K, Figures]:
        """Those held `hold_s` or longer, oldest first, and at most a write's share of all
        held (`every_s / hold_s` of them, `least` at the fewest): a crowd of keys that fell
        due together goes out over about `hold_s`, merging what comes meanwhile."""
        if hold_s <= 0:
            return self.take()
        most = max(least, math.ceil(len(self.figures) * every_s / hold_s))
        return self.take(time.monotonic() - hold_s, most)

    def put_back(self, taken: dict[K, Figures]) -> None:
        """A write of `taken` failed: hold it again, first (it is due at once), merged with
        what came since."""
        figures, born = self.figures, self._born
        self.figures, self._born = taken, dict.fromkeys(taken, 0.0)
        for key, held in figures.items():
            mine = self.figures.get(key)
            if mine is None:
                self.figures[key] = held
                self._born[key] = born[key]
            else:
                mine.merge(held)
