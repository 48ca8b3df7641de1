"""The audit trail, in SQLite only. `insert_audit` is shared with `conversations.append`,
which writes a staff note's entry in the same step as the note."""

from __future__ import annotations

import sqlite3

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.core.model import AuditEntry


class EmbeddedAudit:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entry: AuditEntry) -> None:
        await durable.write(self._db, lambda c: insert_audit(c, entry))

    async def log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        where, args = durable.where(cid=cid, agent_id=agent_id)
        sql = (
            f"SELECT ts, agent_id, action, cid, detail FROM audit{where} "
            "ORDER BY ts DESC, rowid DESC LIMIT ?"
        )
        rows = await self._db.read(lambda c: c.execute(sql, (*args, limit)).fetchall())
        return [AuditEntry(*row) for row in rows]


def insert_audit(c: sqlite3.Connection, entry: AuditEntry) -> None:
    c.execute(
        "INSERT INTO audit (ts, agent_id, action, cid, detail) VALUES (?, ?, ?, ?, ?)",
        (entry.ts, entry.agent_id, entry.action, entry.cid, entry.detail),
    )
