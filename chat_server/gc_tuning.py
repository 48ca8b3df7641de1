"""The cyclic garbage collector, set for a server that holds many long-lived objects.

CPython's full (oldest-generation) collection walks every tracked object. A node holds
its modules, app, caches and, per connection, a session with its buffers and tasks: at
5,000 conversations a full collection took hundreds of milliseconds, every message that
arrived meanwhile waited, and p99 showed it (issue 20). Two changes, made once start-up
is done (`settle`):

- `gc.freeze()`: what start-up made (modules, the app, compiled scripts, caches) moves to
  a permanent generation that no collection walks again. It is alive for the whole
  process anyway.
- Higher thresholds: young collections every `YOUNG` allocations of tracked objects
  instead of 700, and a full one after `OLD` middle-aged ones instead of 10 (CPython also
  waits until a quarter of the old generation is new since the last full one). A message
  makes a few dozen short-lived containers, freed by reference counting; the collector
  is there for cycles, which on this path are rare.

Objects made after `settle` (connections, sessions, messages) are collected as before:
tests/integration/test_gc.py closes connections and finds their sessions gone.
"""

from __future__ import annotations

import gc

YOUNG = 20_000
MIDDLE = 20
OLD = 50


def settle() -> None:
    """Collect what start-up left behind, freeze the rest, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, MIDDLE, OLD)


def defaults() -> None:
    """Undo `settle` (tests that run many servers in one process)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
