"""The embedded store's files (issue 15): the bytes in `<data>/files/` (`<id>`, and
`<id>.thumb` for a thumbnail), a record per file in the `files` table.

A put copies each local file in under a temporary name (`.part`), fsyncs it and renames it
into place, and only then commits the record: a file is readable once its record is, and
whatever a failed put wrote is removed. At start, bytes without a record (a put cut short,
or rows deleted by the retention SQL of docs/operations.md) and `.part` files are removed.

Unsent uploads are also held in memory (`unsent`), ahead of the disk like the open
conversations (`memory.py`, with `Edits` the database undoes if a write does not commit):
`conversations.append` checks and binds a message's files on the event loop with no
`await` between the check and the write, and `expire_unsent` decides on the same memory,
so an upload is either sent or expired, never both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from chat_server.backends.embedded import durable
from chat_server.backends.embedded.edits import Edits
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.records import stored_file_from_json, stored_file_to_json
from chat_server.backends.roles.files import CHUNK_BYTES, local_chunks
from chat_server.core import files
from chat_server.core.errors import unavailable
from chat_server.core.model import FileRef, Sender, StoredFile

PART = ".part"
THUMB = ".thumb"


def _record(data: str, seq: int | None) -> StoredFile:
    """The `seq` column is the truth (`data` is written once, unsent)."""
    return replace(stored_file_from_json(data), seq=seq)


def _key(file_id: str) -> str:
    """A write's edit key for one file (`edits.py`): a bind and an expiry share it."""
    return f"f:{file_id}"


class EmbeddedFiles:
    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self.dir = data_dir / "files"
        self.unsent: dict[str, StoredFile] = {}
        """Uploads no committed message has sent, by id; a message being stored holds its
        files here with `seq` set until it commits."""

    async def load(self, *, sweep: bool = True) -> None:
        """At start: the unsent uploads into memory, and (`sweep`) away with bytes nobody
        records."""
        rows, known = await self._db.read(_load)
        self.unsent.update((s.id, s) for s in (_record(d, None) for (d,) in rows))
        if sweep:
            await asyncio.to_thread(self._sweep, known)

    def _sweep(self, known: set[str]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with os.scandir(self.dir) as entries:
            stray = [
                Path(e.path)
                for e in entries
                if e.name.endswith(PART) or e.name.removesuffix(THUMB) not in known
            ]
        _remove(stray)

    def _blob(self, file_id: str, *, thumb: bool = False) -> Path:
        if Path(file_id).name != file_id or files.cid_of(file_id) is None:
            raise ValueError(f"not a file id: {file_id!r}")
        return self.dir / (file_id + THUMB if thumb else file_id)

    # the role ---------------------------------------------------------------------------

    async def put(self, stored: StoredFile, data: Path, thumb: Path | None) -> None:
        durable.refuse_if_failed(self._db)
        targets = [(data, self._blob(stored.id))]
        if thumb is not None:
            targets.append((thumb, self._blob(stored.id, thumb=True)))
        written: list[Path] = []
        future: asyncio.Future[Any] | None = None
        try:
            for source, target in targets:
                written.append(target)
                await asyncio.to_thread(_copy_in, source, target)
            await asyncio.to_thread(_sync_dir, self.dir)
            row = (stored.id, stored.cid, stored.site, stored.owner, stored.created)
            data_json = stored_file_to_json(replace(stored, seq=None))
            edits = Edits()
            edits.put(_key(stored.id), self.unsent, stored.id, stored)
            future = self._db.submit(
                lambda c: c.execute(
                    "INSERT INTO files (id, cid, site, owner, created, seq, data) "
                    "VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    (*row, data_json),
                ),
                change=edits,
            )
            await durable.await_durable(future)
        except BaseException as exc:
            _discard_unless_committed(future, written)
            if isinstance(exc, OSError):
                raise unavailable() from None
            raise

    async def get(self, file_id: str) -> StoredFile | None:
        row = await self._db.read(
            lambda c: c.execute("SELECT data, seq FROM files WHERE id = ?", (file_id,)).fetchone()
        )
        return _record(*row) if row else None

    async def many(self, cid: str, file_ids: list[str]) -> list[StoredFile | None]:
        found = await self.records(file_ids)
        return [s if s is not None and s.cid == cid else None for s in map(found.get, file_ids)]

    async def count(self, cid: str) -> int:
        row = await self._db.read(
            lambda c: c.execute("SELECT COUNT(*) FROM files WHERE cid = ?", (cid,)).fetchone()
        )
        return int(row[0])

    async def read(self, file_id: str, *, thumb: bool = False) -> AsyncIterator[bytes]:
        stored = await self.get(file_id)
        if stored is None or (thumb and not stored.thumb):
            return
        async for chunk in local_chunks(self._blob(stored.id, thumb=thumb), missing_ok=True):
            yield chunk

    async def expire_unsent(self, before: int) -> int:
        old = [s.id for s in self.unsent.values() if s.seq is None and s.created < before]
        if not old:
            return 0
        durable.refuse_if_failed(self._db)
        edits = Edits()
        for fid in old:
            edits.pop(_key(fid), self.unsent, fid)
        future = self._db.submit(
            lambda c: c.executemany(
                "DELETE FROM files WHERE id = ? AND seq IS NULL", [(i,) for i in old]
            ),
            change=edits,
        )
        await durable.await_durable(future)
        await asyncio.to_thread(_remove, self._blobs(old))
        return len(old)

    async def forget(self, cid: str) -> None:
        durable.refuse_if_failed(self._db)
        edits = Edits()
        for stored in [s for s in self.unsent.values() if s.cid == cid]:
            edits.pop(_key(stored.id), self.unsent, stored.id)

        def op(c: sqlite3.Connection) -> list[str]:
            ids = [r[0] for r in c.execute("SELECT id FROM files WHERE cid = ?", (cid,))]
            c.execute("DELETE FROM files WHERE cid = ?", (cid,))
            return ids

        ids = await durable.await_durable(self._db.submit(op, change=edits))
        await asyncio.to_thread(_remove, self._blobs(ids))

    # binding, for conversations.append ---------------------------------------------------

    async def records(self, file_ids: Iterable[str]) -> dict[str, StoredFile | None]:
        """The committed records of these ids (None: unknown); memory may be ahead."""
        ids = list(dict.fromkeys(file_ids))
        if not ids:
            return {}
        sql = f"SELECT data, seq FROM files WHERE id IN ({', '.join('?' * len(ids))})"
        rows = await self._db.read(lambda c: c.execute(sql, ids).fetchall())
        found = {s.id: s for s in (_record(*row) for row in rows)}
        return {i: found.get(i) for i in ids}

    def unread(self, refs: Iterable[FileRef], read: dict[str, StoredFile | None]) -> list[str]:
        """The ids `sendable` cannot decide yet: not in memory (so sent, or unknown, or on
        their way out), and not read from the disk."""
        return [r.id for r in refs if r.id not in self.unsent and r.id not in read]

    def sendable(
        self,
        cid: str,
        sender: Sender,
        refs: Iterable[FileRef],
        read: dict[str, StoredFile | None],
    ) -> list[str]:
        """Check a message's files (`core/files.require_sendable`), on the same loop turn as
        its write; the ids it sends for the first time. Memory decides an unsent upload (and
        one a message being stored holds); the disk, read since it left memory, any other: a
        record still unsent there is being expired or forgotten."""
        first: list[str] = []
        for ref in refs:
            held = self.unsent.get(ref.id)
            stored = held if held is not None else read.get(ref.id)
            if held is None and stored is not None and stored.seq is None:
                stored = None  # unsent on disk but out of memory: being expired or forgotten
            files.require_sendable(stored, cid, sender)
            if held is not None and held.seq is None and ref.id not in first:
                first.append(ref.id)
        return first

    def bind(self, file_ids: list[str], seq: int, edits: Edits) -> None:
        """The message at `seq` holds these uploads (undone if its write does not commit)."""
        for fid in file_ids:
            edits.put(_key(fid), self.unsent, fid, replace(self.unsent[fid], seq=seq))

    def bound(self, file_ids: list[str]) -> None:
        """After the message's commit: the disk says they are sent."""
        for fid in file_ids:
            self.unsent.pop(fid, None)

    # internals ----------------------------------------------------------------------------

    def _blobs(self, file_ids: list[str]) -> list[Path]:
        return [self._blob(i, thumb=t) for i in file_ids for t in (False, True)]


def _load(c: sqlite3.Connection) -> tuple[list[tuple[str]], set[str]]:
    unsent = c.execute("SELECT data FROM files WHERE seq IS NULL").fetchall()
    return unsent, {r[0] for r in c.execute("SELECT id FROM files")}


def _copy_in(source: Path, target: Path) -> None:
    """`source` as `target`, complete or absent: a temporary name, fsync, rename."""
    part = target.with_name(target.name + PART)
    try:
        with source.open("rb") as src, part.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK_BYTES)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _sync_dir(path: Path) -> None:
    """The renames into `path` survive a crash before the record's commit is read back."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _discard_unless_committed(future: asyncio.Future[Any] | None, written: list[Path]) -> None:
    """A put that failed or was cancelled: its bytes go, unless its record still commits
    (a cancelled waiter does not cancel the write)."""
    if future is None:
        _remove(written)
        return

    def settle(done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is not None:
            _remove(written)

    future.add_done_callback(settle)
