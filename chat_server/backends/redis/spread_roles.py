"""The roles of a spread installation (`partitions.py`) that hold per-conversation state:
each call about one conversation goes to its partition, unchanged; a call about many asks
every partition at once and merges the answers as one partition would have ordered them.

`spread_conversations.py` and `spread_webhooks.py` hold the two roles with more to it."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

from chat_server.backends.redis.audit import RedisAudit
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.cobrowse import RedisCobrowse
from chat_server.backends.redis.files import RedisFiles
from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.retention import RedisRetention
from chat_server.backends.redis.search import RedisSearch
from chat_server.backends.redis.tags import RedisTags
from chat_server.backends.roles.search import Found
from chat_server.core import files
from chat_server.core.cobrowse import Session
from chat_server.core.model import AuditEntry, State, StoredFile
from chat_server.core.search import Query

T = TypeVar("T")


async def each(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Every partition's answer, asked at once (one round trip's time for all)."""
    return list(await asyncio.gather(*calls))


async def oldest_closed(clients: Sequence[Client], lists: list[list[str]], limit: int) -> list[str]:
    """Closed conversations from each partition, oldest first by the closed index's score
    (their creation), as one index would give them."""

    async def scored(client: Client, cids: list[str]) -> list[tuple[float, str]]:
        if not cids:
            return []
        index = client.keys.convs(State.CLOSED.value)
        async with redis_errors(), client.redis.pipeline(transaction=False) as pipe:
            for cid in cids:
                pipe.zscore(index, cid)
            scores = await pipe.execute()
        return [(score or 0.0, cid) for score, cid in zip(scores, cids, strict=True)]

    found = await each(scored(c, cids) for c, cids in zip(clients, lists, strict=True))
    return [cid for _, cid in heapq.nsmallest(limit, (x for part in found for x in part))]


class SpreadAudit:
    """A conversation's entries land in its partition's log, in order: those written with
    a message by append.lua, the others here. Entries of no conversation go to partition
    0's. A read merges them, newest first (entries of one millisecond in their log's order)."""

    def __init__(self, parts: Sequence[RedisAudit], where: Partitions) -> None:
        self.parts, self.where = parts, where

    async def record(self, entry: AuditEntry) -> None:
        part = self.where.of(entry.cid) if entry.cid else 0
        await self.parts[part].record(entry)

    async def log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        logs = await each(p.log(cid=cid, agent_id=agent_id, limit=limit) for p in self.parts)
        return heapq.nlargest(limit, (e for log in logs for e in log), key=lambda e: e.ts)


class SpreadCobrowse:
    def __init__(self, parts: Sequence[RedisCobrowse], where: Partitions) -> None:
        self.parts, self.where = parts, where

    def _of(self, cid: str) -> RedisCobrowse:
        return self.parts[self.where.of(cid)]

    async def session(self, cid: str) -> Session:
        return await self._of(cid).session(cid)

    async def change(self, cid: str, expected: Session, new: Session) -> bool:
        return await self._of(cid).change(cid, expected, new)

    async def record(self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int) -> bool:
        return await self._of(cid).record(cid, encoded, restarts=restarts, max_bytes=max_bytes)

    async def replay(self, cid: str) -> list[bytes]:
        return await self._of(cid).replay(cid)

    async def forget(self, cid: str) -> None:
        await self._of(cid).forget(cid)


class SpreadFiles:
    """A file's id names its conversation (`core.files.cid_of`), so its partition too."""

    def __init__(self, parts: Sequence[RedisFiles], where: Partitions) -> None:
        self.parts, self.where = parts, where

    def _of(self, cid: str) -> RedisFiles:
        return self.parts[self.where.of(cid)]

    async def put(self, stored: StoredFile, data: Path, thumb: Path | None) -> None:
        await self._of(stored.cid).put(stored, data, thumb)

    async def get(self, file_id: str) -> StoredFile | None:
        cid = files.cid_of(file_id)
        return await self._of(cid).get(file_id) if cid is not None else None

    async def many(self, cid: str, file_ids: list[str]) -> list[StoredFile | None]:
        return await self._of(cid).many(cid, file_ids)

    async def count(self, cid: str) -> int:
        return await self._of(cid).count(cid)

    async def read(self, file_id: str, *, thumb: bool = False) -> AsyncIterator[bytes]:
        cid = files.cid_of(file_id)
        if cid is None:
            return
        async for chunk in self._of(cid).read(file_id, thumb=thumb):
            yield chunk

    async def expire_unsent(self, before: int) -> int:
        return sum(await each(p.expire_unsent(before) for p in self.parts))

    async def forget(self, cid: str) -> None:
        await self._of(cid).forget(cid)


class SpreadSearch:
    """Each partition indexes its own closed conversations; a query reads a page from
    each and keeps the newest `limit` by (rank, cid), as one index would order them."""

    def __init__(self, parts: Sequence[RedisSearch], where: Partitions) -> None:
        self.parts, self.where = parts, where

    def _of(self, cid: str) -> RedisSearch:
        return self.parts[self.where.of(cid)]

    async def hold(self, cid: str, agent_id: str) -> None:
        await self._of(cid).hold(cid, agent_id)

    async def held(self, cid: str, agent_id: str) -> bool:
        return await self._of(cid).held(cid, agent_id)

    async def index(self, cid: str) -> bool:
        return await self._of(cid).index(cid)

    async def query(self, query: Query, before: int | None, limit: int) -> list[Found]:
        pages = await each(p.query(query, before, limit) for p in self.parts)
        found = (f for page in pages for f in page)
        return heapq.nlargest(limit, found, key=lambda f: (f.rank, f.cid))

    async def unindexed(self, limit: int) -> list[str]:
        lists = await each(p.unindexed(limit) for p in self.parts)
        return await oldest_closed([p.client for p in self.parts], lists, limit)


class SpreadTags:
    def __init__(self, parts: Sequence[RedisTags], where: Partitions) -> None:
        self.parts, self.where = parts, where

    async def change(
        self,
        cid: str,
        created: int,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        replace: bool = False,
    ) -> tuple[str, ...]:
        part = self.parts[self.where.of(cid)]
        return await part.change(cid, created, add=add, remove=remove, replace=replace)

    async def of(self, cids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        groups: dict[int, list[str]] = {}
        for cid in cids:
            groups.setdefault(self.where.of(cid), []).append(cid)
        found: dict[str, tuple[str, ...]] = {}
        for tags in await each(self.parts[p].of(group) for p, group in groups.items()):
            found.update(tags)
        return found

    async def find(self, tag: str, *, before: int | None, limit: int) -> list[str]:
        """Newest first by creation, as each partition's index is scored."""
        pages = await each(p.find_created(tag, before=before, limit=limit) for p in self.parts)
        newest = heapq.nlargest(limit, (x for p in pages for x in p), key=lambda x: x[1])
        return [cid for cid, _ in newest]


class SpreadRetention:
    def __init__(self, parts: Sequence[RedisRetention], where: Partitions) -> None:
        self.parts, self.where = parts, where

    async def expired(self, before: int, limit: int) -> list[str]:
        lists = await each(p.expired(before, limit) for p in self.parts)
        return await oldest_closed([p.client for p in self.parts], lists, limit)

    async def remove(self, cid: str) -> bool:
        return await self.parts[self.where.of(cid)].remove(cid)

    async def prune(self, before: int, limit: int) -> int:
        return sum(await each(p.prune(before, limit) for p in self.parts))
