"""The Redis backend: store, bus and presence, the Lua scripts they run, and two small
helpers they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def lua(name: str) -> str:
    """The source of one of this package's Lua scripts."""
    return (Path(__file__).parent / name).read_text()


def decoded(value: Any) -> str:
    """A reply as str (redis-py and the wire hand back bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)
