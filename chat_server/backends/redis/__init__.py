"""The Redis backend: the store (a container of roles, one module each), the bus, the Lua
scripts they run (`lua/`), and two small helpers they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def lua(name: str) -> str:
    """The source of one of this package's Lua scripts (`lua/`: one per atomic step)."""
    return (Path(__file__).parent / "lua" / name).read_text()


def decoded(value: Any) -> str:
    """A reply as str (redis-py and the wire hand back bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)
