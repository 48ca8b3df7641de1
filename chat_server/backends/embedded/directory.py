"""Who is who, in SQLite only (nothing of it is held in memory): sites, agents, their
credentials, visitors."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.records import (
    agent_from_row,
    agent_row,
    site_from_json,
    site_to_json,
    visitor_from_row,
    visitor_row,
)
from chat_server.backends.roles.directory import email_key
from chat_server.core.errors import conflict
from chat_server.core.model import Agent, AgentStatus, Site, Visitor

AGENT_COLUMNS = "id, email, name, role, max_chats, topics, password_hash, status"
VISITOR_COLUMNS = "id, site, created, name, email, page_url, page_title"
AMONG_BATCH = 500


class EmbeddedDirectory:
    def __init__(self, db: Database) -> None:
        self._db = db

    # sites ------------------------------------------------------------------------------

    async def put_site(self, site: Site) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                "INSERT OR REPLACE INTO sites (id, origins) VALUES (?, ?)",
                (site.id, site_to_json(site)),
            ),
        )

    async def site(self, site_id: str) -> Site | None:
        row = await self._db.read(
            lambda c: c.execute("SELECT id, origins FROM sites WHERE id = ?", (site_id,)).fetchone()
        )
        return site_from_json(row[0], row[1]) if row else None

    async def sites(self) -> list[Site]:
        rows = await self._db.read(
            lambda c: c.execute("SELECT id, origins FROM sites ORDER BY id").fetchall()
        )
        return [site_from_json(site_id, raw) for site_id, raw in rows]

    # agents -----------------------------------------------------------------------------

    async def add_agent(self, agent: Agent) -> None:
        def op(c: sqlite3.Connection) -> bool:
            sql = f"INSERT OR IGNORE INTO agents ({AGENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            return c.execute(sql, agent_row(agent)).rowcount == 1

        if not await durable.write(self._db, op):
            raise conflict(f"an agent with email {agent.email} exists")

    async def agent(self, agent_id: str) -> Agent | None:
        return await self._one_agent("id", agent_id)

    async def agent_by_email(self, email: str) -> Agent | None:
        return await self._one_agent("email", email)

    async def _one_agent(self, column: str, value: str) -> Agent | None:
        row = await self._db.read(
            lambda c: c.execute(
                f"SELECT {AGENT_COLUMNS} FROM agents WHERE {column} = ?", (value,)
            ).fetchone()
        )
        return agent_from_row(row) if row else None

    async def agents(self) -> list[Agent]:
        rows = await self._db.read(
            lambda c: c.execute(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY name").fetchall()
        )
        return [agent_from_row(r) for r in rows]

    async def agents_among(self, agent_ids: Sequence[str]) -> list[Agent]:
        if not agent_ids:  # the availability check asks for the connected bots: mostly none
            return []
        wanted = list(dict.fromkeys(agent_ids))

        def read(c: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = []
            for start in range(0, len(wanted), AMONG_BATCH):  # SQLite's limit on parameters
                chunk = wanted[start : start + AMONG_BATCH]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT {AGENT_COLUMNS} FROM agents WHERE id IN ({marks})"
                rows += c.execute(sql, chunk).fetchall()
            return rows

        found = {a.id: a for a in map(agent_from_row, await self._db.read(read))}
        return [found[i] for i in agent_ids if i in found]

    async def online_among(self, agent_ids: Sequence[str]) -> bool:
        wanted = list(dict.fromkeys(agent_ids))

        def read(c: sqlite3.Connection) -> bool:
            for start in range(0, len(wanted), AMONG_BATCH):  # SQLite's limit on parameters
                chunk = wanted[start : start + AMONG_BATCH]
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT 1 FROM agents WHERE id IN ({marks})"
                    " AND status = 'online' AND role != 'bot' LIMIT 1"
                )
                if c.execute(sql, chunk).fetchone():
                    return True
            return False

        return await self._db.read(read)

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                "UPDATE agents SET status = ? WHERE id = ?", (status.value, agent_id)
            ),
        )

    # credentials ------------------------------------------------------------------------

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                "INSERT INTO credentials (hash, agent_id, kind, expires) VALUES (?, ?, ?, ?)",
                (secret_hash, agent_id, kind, expires),
            ),
        )

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT agent_id, expires FROM credentials WHERE hash = ?", (secret_hash,)
            ).fetchone()
        )
        if row is None or (row[1] is not None and row[1] <= now):
            return None
        agent_id: str = row[0]
        return agent_id

    async def credential(self, secret_hash: str, now: int) -> tuple[str, str] | None:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT agent_id, kind, expires FROM credentials WHERE hash = ?", (secret_hash,)
            ).fetchone()
        )
        if row is None or (row[2] is not None and row[2] <= now):
            return None
        return str(row[0]), str(row[1])

    async def revoke_credential(self, secret_hash: str) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute("DELETE FROM credentials WHERE hash = ?", (secret_hash,)),
        )

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        def op(c: sqlite3.Connection) -> int:
            return c.execute("DELETE FROM credentials WHERE agent_id = ?", (agent_id,)).rowcount

        return await durable.write(self._db, op)

    # visitors ---------------------------------------------------------------------------

    async def put_visitor(self, visitor: Visitor) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                f"INSERT OR REPLACE INTO visitors ({VISITOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                visitor_row(visitor),
            ),
        )

    async def visitor(self, visitor_id: str) -> Visitor | None:
        row = await self._db.read(
            lambda c: c.execute(
                f"SELECT {VISITOR_COLUMNS} FROM visitors WHERE id = ?", (visitor_id,)
            ).fetchone()
        )
        return visitor_from_row(row) if row else None

    async def visitors_by_email(self, email: str) -> list[Visitor]:
        """By the `visitors_email` index, on the same expression as `email_key`."""
        rows = await self._db.read(
            lambda c: c.execute(
                f"SELECT {VISITOR_COLUMNS} FROM visitors WHERE lower(trim(email)) = ? ORDER BY id",
                (email_key(email),),
            ).fetchall()
        )
        return [visitor_from_row(r) for r in rows]

    async def forget_visitor(self, visitor_id: str) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            return c.execute("DELETE FROM visitors WHERE id = ?", (visitor_id,)).rowcount == 1

        return await durable.write(self._db, op)
