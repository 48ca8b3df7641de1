"""The embedded store's retention (issue 16): closed conversations are rows of the
`conversations`, `messages` and `ratings` tables (memory holds only open ones), their files
are the files role's, and co-browse leftovers live in memory.

`remove` checks the conversation is closed (closed is final: no write reopens it), has the
files role forget its files, drops co-browse memory (replay and consent), then deletes its
rows and its search entries in one write, which checks the state again: removing twice, or
from two callers, removes once.
"""

from __future__ import annotations

import sqlite3

from chat_server.backends.embedded import durable, search, tags
from chat_server.backends.embedded.memory import OpenConversations
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.roles.cobrowse import Cobrowse
from chat_server.backends.roles.files import Files
from chat_server.core import cobrowse
from chat_server.core.errors import conflict
from chat_server.core.model import State

CLOSED = State.CLOSED.value
EXPIRED_SQL = (
    "SELECT id FROM conversations WHERE state = ? AND created < ? "
    "AND json_extract(data, '$.closed_at') < ? ORDER BY created LIMIT ?"
)
"""`created` bounds the scan by its index: a conversation closes after it is created."""


class EmbeddedRetention:
    def __init__(
        self, db: Database, memory: OpenConversations, files: Files, cobrowse: Cobrowse
    ) -> None:
        self._db = db
        self._memory = memory
        self._files = files
        self._cobrowse = cobrowse

    async def expired(self, before: int, limit: int) -> list[str]:
        rows = await self._db.read(
            lambda c: c.execute(EXPIRED_SQL, (CLOSED, before, before, limit)).fetchall()
        )
        return [cid for (cid,) in rows]

    async def remove(self, cid: str) -> bool:
        if cid in self._memory.open:
            raise conflict("the conversation is not closed")
        state = await self._db.read(lambda c: _state(c, cid))
        if state is None:
            return False
        if state != CLOSED:
            raise conflict("the conversation is not closed")
        await self._files.forget(cid)
        await self._cobrowse.forget(cid)
        session = await self._cobrowse.session(cid)
        if session != cobrowse.NONE:
            await self._cobrowse.change(cid, session, cobrowse.NONE)
        return await durable.write(self._db, lambda c: _delete(c, cid))

    async def prune(self, before: int, limit: int) -> int:
        def op(c: sqlite3.Connection) -> int:
            return c.execute(
                "DELETE FROM audit WHERE rowid IN "
                "(SELECT rowid FROM audit WHERE ts < ? ORDER BY ts LIMIT ?)",
                (before, limit),
            ).rowcount

        return await durable.write(self._db, op)


def _state(c: sqlite3.Connection, cid: str) -> str | None:
    row = c.execute("SELECT state FROM conversations WHERE id = ?", (cid,)).fetchone()
    return str(row[0]) if row else None


def _delete(c: sqlite3.Connection, cid: str) -> bool:
    """The conversation's rows, only while it is there and closed."""
    if _state(c, cid) != CLOSED:
        return False
    # files: a record an upload cut short by the close committed after `forget`
    for table in ("messages", "ratings", "files"):
        c.execute(f"DELETE FROM {table} WHERE cid = ?", (cid,))
    c.execute("DELETE FROM conversations WHERE id = ?", (cid,))
    search.forget(c, cid)
    tags.forget(c, cid)  # issue 17
    return True
