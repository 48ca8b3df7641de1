"""Changes to the embedded store's in-memory indexes that can be taken back exactly.

The store changes memory before the commit (so that the next write, decided on the same
loop turn, builds on this one) and hands the `Edits` to the database, which undoes them if
the write does not commit, whatever the failure (see `sqlite.py`). An edit that leaves a
value as it was records nothing, so a write's `keys` name only what it really changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_ABSENT: Any = object()


class Edits:
    """One write's changes, in order; `undo` reverts them newest first."""

    __slots__ = ("_undo", "keys")

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self._undo: list[Callable[[], None]] = []

    def put(self, key: str, mapping: dict[K, V], name: K, value: V) -> None:
        """`mapping[name] = value`, under `key`."""
        old = mapping.get(name, _ABSENT)
        if old is value or (old is not _ABSENT and old == value):
            return
        mapping[name] = value
        self._record(key, lambda: _restore(mapping, name, old))

    def pop(self, key: str, mapping: dict[K, V], name: K) -> None:
        """`del mapping[name]` if it is there, under `key`."""
        old = mapping.pop(name, _ABSENT)
        if old is not _ABSENT:
            self._record(key, lambda: _restore(mapping, name, old))

    def add(self, key: str, sets: dict[K, set[V]], name: K, item: V) -> None:
        """`item` joins the set `sets[name]` (made if missing), under `key`."""
        members = sets.get(name)
        if members is None:
            sets[name] = members = set()
            created = True
        elif item in members:
            return
        else:
            created = False
        members.add(item)
        self._record(key, lambda: _take_out(sets, name, item, created))

    def discard(self, key: str, sets: dict[K, set[V]], name: K, item: V) -> None:
        """`item` leaves the set `sets[name]`, under `key`."""
        members = sets.get(name)
        if members is None or item not in members:
            return
        members.discard(item)
        self._record(key, lambda: members.add(item))

    def undo(self) -> None:
        undo, self._undo = self._undo, []
        for step in reversed(undo):
            step()

    def _record(self, key: str, undo: Callable[[], None]) -> None:
        self.keys.add(key)
        self._undo.append(undo)


def _restore(mapping: dict[K, V], name: K, old: V) -> None:
    if old is _ABSENT:
        mapping.pop(name, None)
    else:
        mapping[name] = old


def _take_out(sets: dict[K, set[V]], name: K, item: V, created: bool) -> None:
    if created:
        sets.pop(name, None)
    else:
        sets[name].discard(item)
