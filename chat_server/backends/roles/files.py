"""Attachments (issue 15): uploaded files' bytes and records, in storage every node reaches.

Embedded: the data directory (`files/`) and the `files` table. Redis: Redis itself (the
bytes in strings under the conversation's hash tag), so one store holds everything and a
file binds to its message in the message's own atomic step (`conversations.append`, with
`Draft.files`): see docs/operations.md for the choice and its memory cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

from chat_server.core.model import StoredFile

CHUNK_BYTES = 256 * 1024
"""The size of the pieces a file is written and read in: never a whole file in memory."""


class Files(Protocol):
    async def put(self, stored: StoredFile, data: Path, thumb: Path | None) -> None:
        """Keep an upload (unsent: `stored.seq` is None) from local files the caller made
        and still owns afterwards: the bytes, the thumbnail, then the record, so that a
        failure at any point leaves nothing readable and nothing behind. `unavailable`
        when the storage cannot take it."""

    async def get(self, file_id: str) -> StoredFile | None:
        """The record, bound (`seq` set) once a message sent it; None when unknown."""

    async def many(self, cid: str, file_ids: list[str]) -> list[StoredFile | None]:
        """Records of one conversation's files in one read, in order (None: unknown or not
        this conversation's)."""

    async def count(self, cid: str) -> int:
        """How many files a conversation holds (sent or not)."""

    def read(self, file_id: str, *, thumb: bool = False) -> AsyncIterator[bytes]:
        """The bytes (or the thumbnail's) in pieces of at most `CHUNK_BYTES`; nothing when
        unknown."""

    async def expire_unsent(self, before: int) -> int:
        """Remove uploads created before `before` (ms) that no message sent; how many."""

    async def forget(self, cid: str) -> None:
        """Remove every file of a conversation, bytes and records (retention)."""


async def local_chunks(path: Path, *, missing_ok: bool = False) -> AsyncIterator[bytes]:
    """A local file in pieces of `CHUNK_BYTES`, each read in a thread (off the event loop),
    the file closed however the reader stops. A missing file is nothing with `missing_ok`."""
    try:
        f = await asyncio.to_thread(path.open, "rb")
    except FileNotFoundError:
        if missing_ok:
            return
        raise
    try:
        while chunk := await asyncio.to_thread(f.read, CHUNK_BYTES):
            yield chunk
    finally:
        f.close()
