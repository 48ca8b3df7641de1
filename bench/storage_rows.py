"""The conversations of `bench/reports_bench.py`'s year, stored in bulk so the storage has
its real size: the rows (embedded) or keys (Redis) a server leaves for a closed, rated
conversation, written straight into the storage rather than through the conversation role
(a million of those writes would take hours). Messages are left out: a report reads none.
And how big the storage ended up, by what it holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import resp
from year_fill import Synthetic

from chat_server.backends.records import conversation_to_dict
from chat_server.backends.redis import rows, stored
from chat_server.backends.redis.keys import Keys
from chat_server.core.model import Rating

MB = 1024 * 1024


class Rows(Protocol):
    def add(self, row: tuple[Any, ...]) -> None: ...

    async def flush(self) -> None: ...

    async def describe(self) -> list[str]: ...


class EmbeddedRows:
    """`conversations` rows as `transcript.changed` leaves a closed one (its JSON in `data`,
    its last agent in `agent_id`), and `ratings` rows, many per transaction."""

    def __init__(self, store: Any) -> None:
        self.db = store.db
        self.conversations: list[tuple[Any, ...]] = []
        self.ratings: list[tuple[Any, ...]] = []

    @staticmethod
    def row(synthetic: Synthetic) -> tuple[Any, ...]:
        """(conversation row, rating row or None), built where the year is computed."""
        conv, rating = synthetic.conv, synthetic.rating
        data = json.dumps(conversation_to_dict(conv))
        agent = conv.agent.id if conv.agent else None
        return (
            (conv.id, conv.visitor_id, conv.state.value, agent, conv.created, data),
            None if rating is None else tuple(_rating_row(rating)),
        )

    def add(self, row: tuple[Any, ...]) -> None:
        conversation, rating = row
        self.conversations.append(conversation)
        if rating is not None:
            self.ratings.append(rating)

    async def flush(self) -> None:
        conversations, self.conversations = self.conversations, []
        ratings, self.ratings = self.ratings, []

        def op(c: Any) -> None:
            c.executemany(
                "INSERT INTO conversations (id, visitor_id, state, agent_id, created, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                conversations,
            )
            c.executemany(
                "INSERT INTO ratings (cid, ts, csat, nps, ces, comment, agent_id, topic) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ratings,
            )

        await self.db.write(op)

    async def describe(self) -> list[str]:
        path = self.db.path

        def op(c: Any) -> list[tuple[str, int]]:
            try:
                found = c.execute(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
                ).fetchall()
            except Exception:  # SQLite built without dbstat
                return []
            return [(str(name), int(size)) for name, size in found]

        tables = await self.db.read(op)
        counts = await self.db.read(
            lambda c: [
                c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("conversations", "ratings", "rollups", "visit_last", "visit_gaps")
            ]
        )
        wal = path.with_name(path.name + "-wal")
        out = [f"SQLite file {_size(path) / MB:,.0f} MB, its WAL {_size(wal) / MB:,.0f} MB"]
        out.append(
            "rows: {:,} conversations, {:,} ratings, {:,} rollups, {:,} visit_last, "
            "{:,} visit_gaps".format(*counts)
        )
        if tables:
            out.append(
                "by table/index: "
                + ", ".join(f"{name} {size / MB:,.1f} MB" for name, size in tables[:9])
            )
        return out


def redis_row(keys: Keys, synthetic: Synthetic) -> tuple[bytes, int]:
    """The commands `RedisRows` sends for one conversation, packed (RESP) where the year is
    computed, and how many they are."""
    conv, rating = synthetic.conv, synthetic.rating
    cid, created = conv.id, conv.created
    live = [x for pair in stored.live_fields(conv)[0].items() for x in pair]
    commands = [
        resp.pack("SET", keys.conv(cid), rows.dumps(conversation_to_dict(conv))),
        resp.pack("HSET", keys.live(cid), *live),
        resp.pack("ZADD", keys.convs(conv.state.value), stored.state_score(conv), cid),
        resp.pack("ZADD", keys.convs(), created, cid),
        resp.pack("ZADD", keys.visitor_convs(conv.visitor_id), created, cid),
    ]
    if conv.agent is not None:
        commands.append(resp.pack("ZADD", keys.agent_convs(conv.agent.id), created, cid))
    if rating is not None:
        commands.append(resp.pack("SET", keys.rating(cid), rows.rating(rating)))
    return b"".join(commands), len(commands)


class RedisRows:
    """The keys `Transitions.write` leaves for a closed conversation: its JSON, its live
    hash, its entries in the state, all, visitor and agent indexes; and its rating, as
    `rate` stores it. Sent in bulk (`resp.py`). Stops storing them, saying why, if they
    would take Redis past `max_gb`."""

    def __init__(self, store: Any, url: str, total: int, max_gb: float) -> None:
        self.redis = store.redis
        self.keys = store.keys
        self.raw = resp.Raw(url)
        self.total = total
        self.max_bytes = max_gb * 1024 * MB
        self.pending: list[bytes] = []
        self.commands = 0
        self.stored = 0
        self.skipped = ""

    def add(self, row: tuple[Any, ...]) -> None:
        if not self.skipped:
            packed, commands = row
            self.pending.append(packed)
            self.commands += commands

    async def used_memory(self) -> int:
        info = await self.redis.info("memory")
        return int(info["used_memory"])

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        commands, self.commands = self.commands, 0
        if not batch:
            return
        if self.raw.writer is None:
            await self.raw.connect()
        before = await self.used_memory() if self.stored == 0 else 0
        await self.raw.send(b"".join(batch), commands)
        self.stored += len(batch)
        if before:
            after = await self.used_memory()
            projected = after + (after - before) / len(batch) * (self.total - self.stored)
            if projected > self.max_bytes:
                self.skipped = (
                    f"conversations not stored past the first {self.stored:,}: all of them "
                    f"would take Redis to about {projected / 1024 / MB:.1f} GB "
                    f"(over --max-redis-gb {self.max_bytes / 1024 / MB:g})"
                )
                print(f"  {self.skipped}", flush=True)

    async def describe(self) -> list[str]:
        await self.raw.close()
        used = await self.used_memory()
        dbsize = await self.redis.dbsize()
        prefix = self.keys.prefix
        rollups = await self._usage(f"{prefix}:{{r:*")
        visits = await self._usage(f"{prefix}:{{visits}}:*")
        out = [f"Redis used_memory {used / MB:,.0f} MB, {dbsize:,} keys"]
        out.append(
            f"rollups {rollups[0]:,} keys {rollups[1] / MB:,.0f} MB, visits {visits[0]:,} "
            f"keys {visits[1] / MB:,.0f} MB, {self.stored:,} conversations stored"
        )
        if self.skipped:
            out.append(self.skipped)
        return out

    async def _usage(self, pattern: str) -> tuple[int, int]:
        """How many keys match, and their `MEMORY USAGE` summed."""
        count = total = 0
        cursor = 0
        while True:
            cursor, found = await self.redis.scan(cursor, match=pattern, count=10_000)
            if found:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in found:
                        pipe.memory_usage(key)
                    sizes = await pipe.execute()
                count += len(found)
                total += sum(s or 0 for s in sizes)
            if cursor == 0:
                return count, total


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _rating_row(rating: Rating) -> list[Any]:
    """A row of the embedded `ratings` table, in its column order."""
    return [
        rating.cid,
        rating.ts,
        rating.csat,
        rating.nps,
        rating.ces,
        rating.comment,
        rating.agent_id,
        rating.topic,
    ]
