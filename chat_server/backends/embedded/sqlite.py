"""SQLite with group commit: writes queue up and go out together in one transaction.

Each write runs in its own savepoint, so one failing write does not undo the others. With
`synchronous=NORMAL` (the default: safe against process crashes) a WAL commit is a plain
`write()` of a few pages, cheaper than handing it to a thread (and waiting for the GIL to
come back), so commits run on the event loop and the WAL is checkpointed (which fsyncs)
in a thread, off the loop. With `synchronous=FULL` every commit fsyncs: then commits run in
the writer thread. Reads always run in a reader thread. A write's
`after_commit` callback runs on the event loop right after its transaction commits and
before any awaiting task resumes, in submission order: this is what lets the store publish
messages in `seq` order, and never before they are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sites (id TEXT PRIMARY KEY, origins TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
    max_chats INTEGER NOT NULL, topics TEXT NOT NULL, password_hash TEXT NOT NULL,
    status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS credentials (
    hash TEXT PRIMARY KEY, agent_id TEXT NOT NULL, kind TEXT NOT NULL, expires INTEGER);
CREATE TABLE IF NOT EXISTS visitors (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, created INTEGER NOT NULL, name TEXT, email TEXT,
    page_url TEXT, page_title TEXT);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, visitor_id TEXT NOT NULL, state TEXT NOT NULL, agent_id TEXT,
    created INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_state ON conversations (state, created);
CREATE INDEX IF NOT EXISTS conversations_visitor ON conversations (visitor_id, created);
CREATE INDEX IF NOT EXISTS conversations_agent ON conversations (agent_id, created);
CREATE TABLE IF NOT EXISTS messages (
    cid TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    role TEXT NOT NULL, sender_id TEXT, sender_name TEXT, text TEXT NOT NULL, cmid TEXT,
    PRIMARY KEY (cid, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_cmid ON messages (cid, sender_id, cmid)
    WHERE cmid IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit (
    ts INTEGER NOT NULL, agent_id TEXT NOT NULL, action TEXT NOT NULL, cid TEXT,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_cid ON audit (cid, ts);
CREATE INDEX IF NOT EXISTS audit_agent ON audit (agent_id, ts);
CREATE INDEX IF NOT EXISTS credentials_agent ON credentials (agent_id);
CREATE TABLE IF NOT EXISTS ratings (
    cid TEXT PRIMARY KEY, ts INTEGER NOT NULL, csat INTEGER, nps INTEGER, ces INTEGER,
    comment TEXT, agent_id TEXT, topic TEXT);
"""


@dataclass(slots=True)
class _Write:
    op: Op
    future: asyncio.Future[Any]
    after_commit: Callable[[], None] | None


CHECKPOINT_S = 1.0
"""How often the WAL is copied back into the database file when commits run inline."""


class Database:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self.synchronous = synchronous
        self.inline = synchronous.upper() in {"OFF", "NORMAL"}
        """Commits on the event loop (no fsync in them); else in the writer thread."""
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._cconn: sqlite3.Connection | None = None
        self._checkpointer: asyncio.Task[None] | None = None
        self._commits = 0
        self._pending: list[_Write] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wconn = await loop.run_in_executor(self._writer_pool, self._connect)
        await loop.run_in_executor(self._writer_pool, self._wconn.executescript, SCHEMA)
        self._rconn = await loop.run_in_executor(self._reader_pool, self._connect)
        if self.inline:  # checkpoints (and their fsyncs) in the writer thread instead
            self._wconn.execute("PRAGMA wal_autocheckpoint=0")
            self._cconn = await loop.run_in_executor(self._writer_pool, self._connect)
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="sqlite-wal")
        self._task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def stop(self) -> None:
        if self._task is not None:
            if self.failed is None:
                await self.submit(lambda conn: None)  # every write queued before it is done
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
        loop = asyncio.get_running_loop()
        if self._cconn is not None:
            await loop.run_in_executor(self._writer_pool, self._cconn.close)
        if self._wconn is not None:
            await loop.run_in_executor(self._writer_pool, self._wconn.close)
        if self._rconn is not None:
            await loop.run_in_executor(self._reader_pool, self._rconn.close)
        self._writer_pool.shutdown(wait=True)
        self._reader_pool.shutdown(wait=True)

    async def read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        assert self._rconn is not None
        conn = self._rconn
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, op, conn)

    def submit(self, op: Op, after_commit: Callable[[], None] | None = None) -> asyncio.Future[Any]:
        """Queue a write; the future resolves once its transaction has committed."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failed is not None:
            future.set_exception(self.failed)
            return future
        self._pending.append(_Write(op, future, after_commit))
        self._wakeup.set()
        return future

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self.submit(op)
        return result

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending, []
            if not batch:
                continue
            try:
                ops = [w.op for w in batch]
                if self.inline:
                    results = self._run_batch(ops)
                else:
                    results = await loop.run_in_executor(self._writer_pool, self._run_batch, ops)
            except Exception as exc:  # the commit itself failed: nothing in it is durable
                self.failed = exc
                for w in batch:
                    if not w.future.done():
                        w.future.set_exception(exc)
                continue
            for w, result in zip(batch, results, strict=True):
                if not isinstance(result, BaseException) and w.after_commit is not None:
                    w.after_commit()
            for w, result in zip(batch, results, strict=True):
                if w.future.done():
                    continue
                if isinstance(result, BaseException):
                    w.future.set_exception(result)
                else:
                    w.future.set_result(result)

    async def _checkpoint_loop(self) -> None:
        loop = asyncio.get_running_loop()
        done = 0
        while True:
            await asyncio.sleep(CHECKPOINT_S)
            if self._commits != done and self._cconn is not None:
                done = self._commits
                # PASSIVE: never waits for (nor blocks) the commits on the loop
                with contextlib.suppress(sqlite3.Error):
                    await loop.run_in_executor(
                        self._writer_pool, self._cconn.execute, "PRAGMA wal_checkpoint(PASSIVE)"
                    )

    def _run_batch(self, ops: list[Op]) -> list[Any]:
        conn = self._wconn
        assert conn is not None
        results: list[Any] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                conn.execute("SAVEPOINT op")
                try:
                    results.append(op(conn))
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    results.append(exc)
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
            self._commits += 1
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return results
