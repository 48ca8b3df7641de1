"""What every role of the embedded store shares to write: refuse once a commit has failed,
wait for the commit (not for the waiter's own cancellation), and tell storage failures as
`unavailable`."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TypeVar

from chat_server.backends.embedded.sqlite import Database, WriteFailed
from chat_server.core.errors import unavailable

T = TypeVar("T")

STORAGE_FAILURES = (sqlite3.Error, OSError, WriteFailed)
"""What a write's waiter hears as `unavailable`: anything else is a bug, raised as it is."""


def refuse_if_failed(db: Database) -> None:
    """After a failed commit nobody knows for sure what is on disk: no more writes."""
    if db.failed is not None:
        raise unavailable()


async def write(db: Database, op: Callable[[sqlite3.Connection], T]) -> T:
    """A write that changes nothing in memory (sites, agents, credentials, audit...)."""
    refuse_if_failed(db)
    return await await_durable(db.submit(op))


async def await_durable(future: asyncio.Future[T]) -> T:
    """The write's result once committed. Cancelling the waiter does not cancel the write (a
    resent cmid may be waiting for it too). Storage failures are `unavailable`; any other
    exception is a bug, raised as it is."""
    try:
        return await asyncio.shield(future)
    except STORAGE_FAILURES:
        raise unavailable() from None


def where(**equal: str | None) -> tuple[str, list[str]]:
    """` WHERE a = ? AND b = ?` for the filters that are set (column names are ours)."""
    columns = [(column, value) for column, value in equal.items() if value is not None]
    if not columns:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in columns), [v for _, v in columns]
