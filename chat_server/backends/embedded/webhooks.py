"""The embedded store's webhooks (issue 17): endpoints, the outbox (rows that the
conversation writes insert in their own transaction: `insert_events`), each endpoint's
deliveries and the parked ones, in SQLite; the lease in memory (one process)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.sqlite import Database
from chat_server.core.clock import Clock
from chat_server.core.webhooks import (
    Delivery,
    Endpoint,
    Event,
    endpoint_from_json,
    endpoint_to_json,
    event_from_fields,
)

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS webhook_endpoints (id TEXT PRIMARY KEY, site TEXT NOT NULL, "
    "created INTEGER NOT NULL, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_outbox (n INTEGER PRIMARY KEY AUTOINCREMENT, "
    "id TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL, site TEXT NOT NULL, "
    "cid TEXT NOT NULL, seq INTEGER, data TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (n INTEGER PRIMARY KEY AUTOINCREMENT, "
    "endpoint TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL, "
    "site TEXT NOT NULL, cid TEXT NOT NULL, seq INTEGER, data TEXT NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, due INTEGER NOT NULL DEFAULT 0, "
    "error TEXT NOT NULL DEFAULT '', parked INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_queue ON webhook_deliveries "
    "(endpoint, parked, n)",
)
"""Statements, not a script: `executescript` would commit the group's transaction."""

EVENT_COLUMNS = "id, type, ts, site, cid, seq, data"
DELIVERY_COLUMNS = f"n, endpoint, {EVENT_COLUMNS}, attempts, due, error"


def insert_events(c: sqlite3.Connection, events: Sequence[Event]) -> None:
    """Into the outbox, inside the caller's transaction (the change that caused them)."""
    c.executemany(
        f"INSERT INTO webhook_outbox ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(e.id, e.type, e.ts, e.site, e.cid, e.seq, e.data) for e in events],
    )


def _delivery(row: Sequence[object]) -> Delivery:
    n, endpoint, *event, attempts, due, error = row
    names = EVENT_COLUMNS.split(", ")
    fields = {k: "" if v is None else str(v) for k, v in zip(names, event, strict=True)}
    return Delivery(
        int(str(n)), str(endpoint), event_from_fields(fields), int(str(attempts)),
        int(str(due)), str(error),
    )  # fmt: skip


class EmbeddedWebhooks:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._leases: dict[str, tuple[str, int]] = {}

    async def start(self) -> None:
        """The tables, in databases from before webhooks too."""

        def op(c: sqlite3.Connection) -> None:
            for statement in SCHEMA:
                c.execute(statement)

        await durable.write(self._db, op)

    # endpoints ------------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        row = (endpoint.id, endpoint.site, endpoint.created, endpoint_to_json(endpoint))
        await durable.write(
            self._db,
            lambda c: c.execute(
                "INSERT INTO webhook_endpoints (id, site, created, data) VALUES (?, ?, ?, ?)", row
            ),
        )

    async def endpoints(self, site: str | None = None) -> list[Endpoint]:
        where, args = durable.where(site=site)
        rows = await self._db.read(
            lambda c: c.execute(
                f"SELECT data FROM webhook_endpoints{where} ORDER BY created, id", args
            ).fetchall()
        )
        return [endpoint_from_json(r[0]) for r in rows]

    async def remove_endpoint(self, endpoint_id: str) -> Endpoint | None:
        def op(c: sqlite3.Connection) -> Endpoint | None:
            row = c.execute(
                "SELECT data FROM webhook_endpoints WHERE id = ?", (endpoint_id,)
            ).fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM webhook_endpoints WHERE id = ?", (endpoint_id,))
            c.execute(
                "DELETE FROM webhook_deliveries WHERE endpoint = ? AND parked = 0", (endpoint_id,)
            )
            return endpoint_from_json(row[0])

        return await durable.write(self._db, op)

    # the outbox -----------------------------------------------------------------------------

    async def record(self, events: list[Event]) -> None:
        await durable.write(self._db, lambda c: insert_events(c, events))

    async def fan_out(self, limit: int = 200) -> int:
        waiting = await self._db.read(
            lambda c: c.execute("SELECT 1 FROM webhook_outbox LIMIT 1").fetchone()
        )
        if waiting is None:  # the usual case: no write transaction each poll
            return 0

        def op(c: sqlite3.Connection) -> int:
            rows = c.execute(
                f"SELECT n, {EVENT_COLUMNS} FROM webhook_outbox ORDER BY n LIMIT ?", (limit,)
            ).fetchall()
            if not rows:
                return 0
            endpoints = [
                endpoint_from_json(r[0])
                for r in c.execute("SELECT data FROM webhook_endpoints ORDER BY created, id")
            ]
            for _n, *event in rows:
                site, type_ = event[3], event[1]
                for e in endpoints:
                    if e.site == site and type_ in e.events:
                        c.execute(
                            f"INSERT INTO webhook_deliveries (endpoint, {EVENT_COLUMNS}) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (e.id, *event),
                        )
            c.execute("DELETE FROM webhook_outbox WHERE n <= ?", (rows[-1][0],))
            return len(rows)

        return await durable.write(self._db, op)

    async def queued(self, endpoint_id: str, limit: int) -> list[Delivery]:
        rows = await self._db.read(
            lambda c: c.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries "
                "WHERE endpoint = ? AND parked = 0 ORDER BY n LIMIT ?",
                (endpoint_id, limit),
            ).fetchall()
        )
        return [_delivery(r) for r in rows]

    async def delivered(self, delivery: Delivery) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute("DELETE FROM webhook_deliveries WHERE n = ?", (delivery.n,)),
        )

    async def retry(self, delivery: Delivery, due: int, error: str) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, due = ?, error = ? "
                "WHERE n = ?",
                (due, error, delivery.n),
            ),
        )

    async def park(self, delivery: Delivery, error: str) -> None:
        await durable.write(
            self._db,
            lambda c: c.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, error = ?, parked = 1 "
                "WHERE n = ?",
                (error, delivery.n),
            ),
        )

    async def parked(self, site: str | None = None, limit: int = 100) -> list[Delivery]:
        where = " AND site = ?" if site is not None else ""
        args = (site, limit) if site is not None else (limit,)
        rows = await self._db.read(
            lambda c: c.execute(
                f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE parked = 1{where} "
                "ORDER BY n LIMIT ?",
                args,
            ).fetchall()
        )
        return [_delivery(r) for r in rows]

    async def replay(self, n: int | None = None) -> int:
        which = "" if n is None else " AND n = ?"
        args = () if n is None else (n,)

        def op(c: sqlite3.Connection) -> int:
            c.execute(
                f"DELETE FROM webhook_deliveries WHERE parked = 1{which} AND endpoint NOT IN "
                "(SELECT id FROM webhook_endpoints)",
                args,
            )
            return c.execute(
                "UPDATE webhook_deliveries SET parked = 0, attempts = 0, due = 0 "
                f"WHERE parked = 1{which}",
                args,
            ).rowcount

        return await durable.write(self._db, op)

    # the lease ------------------------------------------------------------------------------

    async def forget(self, cid: str) -> int:
        def op(c: sqlite3.Connection) -> int:
            events = c.execute("DELETE FROM webhook_outbox WHERE cid = ?", (cid,)).rowcount
            return (
                events + c.execute("DELETE FROM webhook_deliveries WHERE cid = ?", (cid,)).rowcount
            )

        return await durable.write(self._db, op)

    async def lease(self, endpoint_id: str, holder: str, ttl_ms: int) -> bool:
        now = self._clock.now_ms()
        current = self._leases.get(endpoint_id)
        if current is not None and current[0] != holder and current[1] > now:
            return False
        self._leases[endpoint_id] = (holder, now + ttl_ms)
        return True

    async def release(self, endpoint_id: str, holder: str) -> None:
        if self._leases.get(endpoint_id, ("", 0))[0] == holder:
            del self._leases[endpoint_id]
