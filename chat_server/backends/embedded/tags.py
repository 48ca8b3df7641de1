"""The embedded store's tags (issue 17): one row per (conversation, tag) in `conv_tags`,
with the conversation's creation time for `find`'s order. A change reads, checks and
writes in one write of the group commit, so two changes never interleave."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.core import tags as rules
from chat_server.core.errors import ChatError, not_found

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS conv_tags (cid TEXT NOT NULL, tag TEXT NOT NULL, "
    "created INTEGER NOT NULL, PRIMARY KEY (cid, tag)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS conv_tags_tag ON conv_tags (tag, created)",
)
"""Statements, not a script: `executescript` would commit the group's transaction."""


class EmbeddedTags:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self) -> None:
        """The table, in databases from before tags too."""

        def op(c: sqlite3.Connection) -> None:
            for statement in SCHEMA:
                c.execute(statement)

        await durable.write(self._db, op)

    async def change(
        self,
        cid: str,
        created: int,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        replace: bool = False,
    ) -> tuple[str, ...]:
        def op(c: sqlite3.Connection) -> tuple[str, ...] | ChatError:
            if not c.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone():
                return not_found("no such conversation")
            current = _tags(c, cid)
            try:
                after = rules.applied(current, add, remove, replace=replace)
            except ChatError as refused:
                return refused  # returned, not raised: the write stays a plain one
            gone = set(current) - set(after)
            c.executemany(
                "DELETE FROM conv_tags WHERE cid = ? AND tag = ?", [(cid, t) for t in gone]
            )
            c.executemany(
                "INSERT OR IGNORE INTO conv_tags (cid, tag, created) VALUES (?, ?, ?)",
                [(cid, t, created) for t in after],
            )
            return after

        result = await durable.write(self._db, op)
        if isinstance(result, ChatError):
            raise result
        return result

    async def of(self, cids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        wanted = list(dict.fromkeys(cids))

        def op(c: sqlite3.Connection) -> list[tuple[str, str]]:
            rows: list[tuple[str, str]] = []
            for i in range(0, len(wanted), 500):
                part = wanted[i : i + 500]
                marks = ",".join("?" * len(part))
                rows += c.execute(
                    f"SELECT cid, tag FROM conv_tags WHERE cid IN ({marks}) ORDER BY cid, tag",
                    part,
                ).fetchall()
            return rows

        found: dict[str, list[str]] = {cid: [] for cid in wanted}
        for cid, tag in await self._db.read(op) if wanted else []:
            found[cid].append(tag)
        return {cid: tuple(tags) for cid, tags in found.items()}

    async def find(self, tag: str, *, before: int | None, limit: int) -> list[str]:
        bound = before if before is not None else 2**63 - 1
        rows = await self._db.read(
            lambda c: c.execute(
                "SELECT cid FROM conv_tags WHERE tag = ? AND created < ? "
                "ORDER BY created DESC, cid DESC LIMIT ?",
                (tag, bound, limit),
            ).fetchall()
        )
        return [cid for (cid,) in rows]


def _tags(c: sqlite3.Connection, cid: str) -> tuple[str, ...]:
    rows = c.execute("SELECT tag FROM conv_tags WHERE cid = ? ORDER BY tag", (cid,)).fetchall()
    return tuple(t for (t,) in rows)


def forget(c: sqlite3.Connection, cid: str) -> None:
    """Inside retention's delete: the conversation's tags go with its rows."""
    c.execute("DELETE FROM conv_tags WHERE cid = ?", (cid,))
