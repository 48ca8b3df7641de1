"""Files on Redis (issue 15), in Redis itself: under the conversation's hash tag, a hash of
records (`keys.files`) and a string per file's bytes and thumbnail (`keys.file`), so
append.lua binds a message's files in the message's own step.

A put writes each local file in `CHUNK_BYTES` pieces (SET, then APPEND) into staging keys
that expire after an hour, then `lua/file_put.lua` renames them into place, makes them
permanent, writes the record and adds the upload to the global index of unsent ones: a
half upload is never visible, and a node that dies meanwhile leaves keys that expire.
Reads are GETRANGE pieces. `expire_unsent` walks that index and removes each old upload
with `lua/file_expire.lua` (only if still unsent), in its conversation's slot.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from redis.exceptions import RedisError

from chat_server.backends.records import stored_file_from_json, stored_file_to_json
from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.roles.files import CHUNK_BYTES, local_chunks
from chat_server.core import files
from chat_server.core.errors import unavailable
from chat_server.core.model import StoredFile

STAGING_TTL_MS = 3_600_000
"""How long a staging key outlives a node that stopped writing it."""
SWEEP_BATCH = 500
"""Unsent uploads looked at per round trip by `expire_unsent`."""


class RedisFiles:
    def __init__(self, client: Client) -> None:
        self.keys = client.keys
        self.redis = client.redis
        self._put_script = client.redis.register_script(lua("file_put.lua"))
        self._expire_script = client.redis.register_script(lua("file_expire.lua"))

    async def put(self, stored: StoredFile, data: Path, thumb: Path | None) -> None:
        k, cid, fid = self.keys, stored.cid, stored.id
        parts = [(data, k.file_staging(cid, fid), k.file(cid, fid))]
        if thumb is not None:
            parts.append(
                (thumb, k.file_staging(cid, fid, thumb=True), k.file(cid, fid, thumb=True))
            )
        record = stored_file_to_json(replace(stored, seq=None))
        try:
            async with redis_errors():
                for source, staging, _ in parts:
                    await self._stage(source, staging)
                kept = await self._put_script(
                    keys=[k.files(cid), k.unsent_files(), *(x for p in parts for x in p[1:])],
                    args=[fid, record, stored.created],
                )
            if not kept:
                raise unavailable("the upload took too long, try again")
        except BaseException as exc:
            with contextlib.suppress(RedisError, OSError):
                await self.redis.unlink(*(staging for _, staging, _ in parts))
            if isinstance(exc, RedisError):  # a full Redis (maxmemory) refuses writes
                raise unavailable() from None
            raise

    async def _stage(self, source: Path, key: str) -> None:
        """A local file into `key`, one piece per command, expiring until file_put.lua."""
        first = True
        async for chunk in local_chunks(source):
            if first:
                await self.redis.set(key, chunk, px=STAGING_TTL_MS)
                first = False
            else:
                await self.redis.append(key, chunk)
        if first:  # an empty file
            await self.redis.set(key, b"", px=STAGING_TTL_MS)

    async def get(self, file_id: str) -> StoredFile | None:
        cid = files.cid_of(file_id)
        if cid is None:
            return None
        async with redis_errors():
            raw = await self.redis.hget(self.keys.files(cid), file_id)
        return stored_file_from_json(raw) if raw else None

    async def many(self, cid: str, file_ids: list[str]) -> list[StoredFile | None]:
        if not file_ids:
            return []
        async with redis_errors():
            raws = await self.redis.hmget(self.keys.files(cid), file_ids)
        return [stored_file_from_json(raw) if raw else None for raw in raws]

    async def count(self, cid: str) -> int:
        async with redis_errors():
            return int(await self.redis.hlen(self.keys.files(cid)))

    async def read(self, file_id: str, *, thumb: bool = False) -> AsyncIterator[bytes]:
        cid = files.cid_of(file_id)
        if cid is None:
            return
        key = self.keys.file(cid, file_id, thumb=thumb)
        async with redis_errors():
            size = int(await self.redis.strlen(key))
        offset = 0
        while offset < size:
            async with redis_errors():
                chunk = await self.redis.getrange(key, offset, min(offset + CHUNK_BYTES, size) - 1)
            if not chunk:  # removed meanwhile
                return
            yield chunk
            offset += len(chunk)

    async def expire_unsent(self, before: int) -> int:
        k, removed = self.keys, 0
        async with redis_errors():
            while found := await self.redis.zrangebyscore(
                k.unsent_files(), "-inf", f"({before}", start=0, num=SWEEP_BATCH
            ):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for raw in found:
                        fid = decoded(raw)
                        cid = files.cid_of(fid)
                        if cid is not None:
                            await self._expire_script(
                                keys=[k.files(cid), k.file(cid, fid), k.file(cid, fid, thumb=True)],
                                args=[fid],
                                client=pipe,
                            )
                    pipe.zrem(k.unsent_files(), *found)
                    replies = await pipe.execute()
                removed += sum(int(r) for r in replies[:-1])
        return removed

    async def forget(self, cid: str) -> None:
        k = self.keys
        async with redis_errors():
            ids = [decoded(i) for i in await self.redis.hkeys(k.files(cid))]
            blobs = [k.file(cid, i, thumb=t) for i in ids for t in (False, True)]
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.unlink(k.files(cid), *blobs)
                if ids:
                    pipe.zrem(k.unsent_files(), *ids)
                await pipe.execute()
