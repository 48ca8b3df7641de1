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

A write that does not commit, for any reason and with any exception, has its `Change`
undone on the event loop at once (newest first), before any awaiting task resumes and
whether or not anyone still waits for it: the store changes memory before the commit, and
this puts it back. A later write that shares a key with a failed one was built on it, so it
fails with it (`WriteSkipped`) instead of committing on top of what is not on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]
log = logging.getLogger(__name__)

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
CREATE INDEX IF NOT EXISTS visitors_email ON visitors (lower(trim(email)));
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, visitor_id TEXT NOT NULL, state TEXT NOT NULL, agent_id TEXT,
    created INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_state ON conversations (state, created);
CREATE INDEX IF NOT EXISTS conversations_visitor ON conversations (visitor_id, created);
CREATE INDEX IF NOT EXISTS conversations_agent ON conversations (agent_id, created);
CREATE TABLE IF NOT EXISTS messages (
    cid TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, kind TEXT NOT NULL,
    role TEXT NOT NULL, sender_id TEXT, sender_name TEXT, text TEXT NOT NULL, cmid TEXT,
    files TEXT, PRIMARY KEY (cid, seq)) WITHOUT ROWID;
-- a unique (cid, sender_id, cmid) index repeated, a B-tree page more per message, what
-- memory answers (every open conversation's cmids, loaded at start): gone since issue 20
DROP INDEX IF EXISTS messages_cmid;
CREATE TABLE IF NOT EXISTS audit (
    ts INTEGER NOT NULL, agent_id TEXT NOT NULL, action TEXT NOT NULL, cid TEXT,
    detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_cid ON audit (cid, ts);
CREATE INDEX IF NOT EXISTS audit_agent ON audit (agent_id, ts);
CREATE INDEX IF NOT EXISTS credentials_agent ON credentials (agent_id);
CREATE TABLE IF NOT EXISTS ratings (
    cid TEXT PRIMARY KEY, ts INTEGER NOT NULL, csat INTEGER, nps INTEGER, ces INTEGER,
    comment TEXT, agent_id TEXT, topic TEXT);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, cid TEXT NOT NULL, site TEXT NOT NULL, owner TEXT NOT NULL,
    created INTEGER NOT NULL, seq INTEGER, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS files_cid ON files (cid);
CREATE INDEX IF NOT EXISTS files_unsent ON files (seq, created);
CREATE TABLE IF NOT EXISTS search_docs (
    rank INTEGER PRIMARY KEY, cid TEXT NOT NULL UNIQUE, site TEXT NOT NULL, topic TEXT,
    name TEXT NOT NULL, email TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS search_docs_email ON search_docs (email);
CREATE VIRTUAL TABLE IF NOT EXISTS search_words USING fts5(
    words, tokenize='unicode61 remove_diacritics 0', detail=none, prefix='2 3');
CREATE TABLE IF NOT EXISTS search_held (
    agent_id TEXT NOT NULL, cid TEXT NOT NULL, rank INTEGER, PRIMARY KEY (agent_id, cid))
    WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS search_held_rank ON search_held (agent_id, rank);
CREATE INDEX IF NOT EXISTS search_held_cid ON search_held (cid);
CREATE TABLE IF NOT EXISTS rollups (
    dim TEXT NOT NULL, tier TEXT NOT NULL, bucket TEXT NOT NULL, expires INTEGER NOT NULL,
    fields BLOB NOT NULL, PRIMARY KEY (dim, tier, bucket));
CREATE INDEX IF NOT EXISTS rollups_expires ON rollups (expires);
CREATE TABLE IF NOT EXISTS visit_last (visitor_id TEXT PRIMARY KEY, day INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS visit_last_day ON visit_last (day);
CREATE TABLE IF NOT EXISTS visit_gaps (
    dim TEXT NOT NULL, day INTEGER NOT NULL, gap INTEGER NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (dim, day, gap)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS visit_gaps_day ON visit_gaps (day);
"""
ADDED_COLUMNS = (("messages", "files", "TEXT"),)
"""Columns added since a table was first made: databases from before get them at start."""


class WriteFailed(Exception):
    """A write did not commit (the cause, when there is one, is chained)."""


class WriteSkipped(WriteFailed):
    """Not attempted: an earlier write it was built on (a shared key) failed."""


class WriteRefused(WriteFailed):
    """The database takes no writes: a commit failed earlier, or it is stopping."""


class Change(Protocol):
    """What a write changed in memory before its commit, and how to take it back."""

    @property
    def keys(self) -> Collection[str]:
        """What it touched: a later write touching any of these builds on it."""

    def undo(self) -> None:
        """Put memory back exactly as it was before the change."""


@dataclass(slots=True)
class _Write:
    op: Op
    future: asyncio.Future[Any]
    after_commit: Callable[[], None] | None
    change: Change | None
    keys: frozenset[str]


CHECKPOINT_S = 1.0
"""How often the WAL is copied back into the database file when commits run inline."""
RESTART_FRAMES = 8192
"""WAL frames (pages: 32 MiB at 4 KiB) past which a checkpoint makes the WAL start over."""
WAL_LIMIT = 64 << 20
"""Bytes of WAL file kept when it starts over (what a burst grew more is given back)."""


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
        self._commit_lock = asyncio.Lock()
        """Held by each commit, and by the checkpoint's last step (the WAL starts over)."""
        self._closing = False
        self.failed: BaseException | None = None
        """Why writes are refused: a commit failed (memory was stepped back to the disk)."""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
        return conn

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wconn = await loop.run_in_executor(self._writer_pool, self._connect)
        await loop.run_in_executor(self._writer_pool, _create_schema, self._wconn)
        self._rconn = await loop.run_in_executor(self._reader_pool, self._connect)
        if self.inline:  # checkpoints (and their fsyncs) in the writer thread instead
            self._wconn.execute("PRAGMA wal_autocheckpoint=0")
            self._cconn = await loop.run_in_executor(self._writer_pool, self._connect)
            self._checkpointer = asyncio.create_task(self._checkpoint_loop(), name="sqlite-wal")
        self._task = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def stop(self) -> None:
        if self._task is not None:
            last = self.submit(lambda conn: None)  # every write queued before it is done
            self._closing = True
            with contextlib.suppress(Exception):  # failed: it says so itself (`failed`)
                await last
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

    def submit(
        self, op: Op, after_commit: Callable[[], None] | None = None, change: Change | None = None
    ) -> asyncio.Future[Any]:
        """Queue a write; the future resolves once its transaction has committed. From here
        on `change` belongs to the database: undone exactly once if the write does not
        commit (at once when the write is refused). Cancelling the future does not stop the
        write; keys are read now."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        write = _Write(
            op, future, after_commit, change, frozenset(change.keys) if change else _NO_KEYS
        )
        if self.failed is not None or self._closing:
            reason = "the database failed earlier" if self.failed else "the database is stopping"
            self._fail([write], WriteRefused(reason))
            return future
        self._pending.append(write)
        self._wakeup.set()
        return future

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self.submit(op)
        return result

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                batch, self._pending = self._pending, []
                if not batch:
                    continue
                try:
                    async with self._commit_lock:
                        await self._commit(batch)
                except Exception as exc:  # a bug past the commit: what is on disk is unknown
                    log.exception("settling a batch of writes failed")
                    self.failed = self.failed or exc
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(WriteFailed("the write's outcome is unknown"))
        finally:  # stopped (or a bug): nothing queued will run, and nobody waits in vain
            pending, self._pending = self._pending, []
            self._fail(pending, WriteRefused("the database is stopped"))

    async def _commit(self, batch: list[_Write]) -> None:
        """Run one batch and settle each of its writes: undo, publish, answer."""
        try:
            if self.inline:
                results = self._run_batch(batch)
            else:
                loop = asyncio.get_running_loop()
                results = await loop.run_in_executor(self._writer_pool, self._run_batch, batch)
        except BaseException as exc:  # the commit itself failed: nothing in it is durable
            self.failed = exc
            # what was queued since (commits in the writer thread) is newer: undone first
            queued, self._pending = self._pending, []
            self._fail(queued, WriteRefused("an earlier commit failed"))
            self._fail(batch, _failure(exc))
            if not isinstance(exc, Exception):
                raise  # cancelled (stopping) or the process is exiting
            return
        failed = [
            (w, r) for w, r in zip(batch, results, strict=True) if isinstance(r, BaseException)
        ]
        if failed:
            failed += self._skip_dependents({key for w, _ in failed for key in w.keys})
            for w, _ in reversed(failed):  # newest first: each undo finds what it changed
                self._undo(w)
        for w, result in zip(batch, results, strict=True):
            if not isinstance(result, BaseException) and w.after_commit is not None:
                self._after_commit(w.after_commit)
        for w, result in zip(batch, results, strict=True):
            if not isinstance(result, BaseException) and not w.future.done():
                w.future.set_result(result)
        for w, error in failed:
            if not w.future.done():
                w.future.set_exception(_failure(error))

    def _skip_dependents(self, failed_keys: set[str]) -> list[tuple[_Write, BaseException]]:
        """Writes queued while the batch ran (commits in the writer thread) that build on a
        failed one leave the queue failed, in order (a skipped write's keys spread it)."""
        skipped: list[tuple[_Write, BaseException]] = []
        kept: list[_Write] = []
        keys = failed_keys
        for w in self._pending:
            if keys.isdisjoint(w.keys):
                kept.append(w)
            else:
                keys |= w.keys
                skipped.append((w, WriteSkipped("an earlier write it builds on failed")))
        self._pending = kept
        return skipped

    def _fail(self, writes: list[_Write], error: BaseException) -> None:
        """None of `writes` committed: undo them newest first, then tell their waiters."""
        for w in reversed(writes):
            self._undo(w)
        for w in writes:
            if not w.future.done():
                w.future.set_exception(error)

    def _undo(self, write: _Write) -> None:
        if write.change is None:
            return
        change, write.change = write.change, None  # exactly once
        try:
            change.undo()
        except Exception as exc:  # memory is now unknown: stop taking writes
            log.exception("stepping memory back after a failed write failed")
            self.failed = self.failed or exc

    @staticmethod
    def _after_commit(callback: Callable[[], None]) -> None:
        """The write is durable whatever happens here: a failing callback (a subscriber that
        raises) is logged, and neither stops the writer nor fails the write."""
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed (the write is committed)")

    async def _checkpoint_loop(self) -> None:
        done = 0
        while True:
            await asyncio.sleep(CHECKPOINT_S)
            if self._commits != done and self._cconn is not None:
                done = self._commits
                with contextlib.suppress(sqlite3.Error):
                    await self._checkpoint()

    async def _checkpoint(self) -> None:
        """Copy the WAL into the database; when it has grown long, let the next commit
        start it over.

        A `PASSIVE` checkpoint never waits for (nor blocks) the commits, but the WAL only
        starts over from its beginning when a commit finds all of it copied: under a steady
        load commits land while every checkpoint runs, and the WAL grew without end (800 MB
        in 15 s at 3,000 msgs/s, each commit slower). So the bulk is copied while commits go
        on, then, once the WAL is past `RESTART_FRAMES`, commits wait while a second
        checkpoint copies the few frames added meanwhile (and syncs the file: some
        milliseconds), and the next commit starts the WAL over."""
        loop = asyncio.get_running_loop()
        run = functools.partial(loop.run_in_executor, self._writer_pool, self._passive)
        if await run() >= RESTART_FRAMES:
            async with self._commit_lock:
                await run()

    def _passive(self) -> int:
        """One `PASSIVE` checkpoint: how many frames the WAL holds."""
        assert self._cconn is not None
        _, frames, _ = self._cconn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(frames)

    def _run_batch(self, batch: list[_Write]) -> list[Any]:
        """Each write in a savepoint: one that raises (anything but the process exiting) is
        rolled back alone, and the later ones built on it (a shared key) are not run."""
        conn = self._wconn
        assert conn is not None
        results: list[Any] = []
        failed_keys: set[str] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for w in batch:
                if not failed_keys.isdisjoint(w.keys):
                    failed_keys |= w.keys
                    results.append(WriteSkipped("an earlier write it builds on failed"))
                    continue
                conn.execute("SAVEPOINT op")
                try:
                    results.append(w.op(conn))
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as exc:
                    conn.execute("ROLLBACK TO op")
                    results.append(exc)
                    failed_keys |= w.keys
                conn.execute("RELEASE op")
            conn.execute("COMMIT")
            self._commits += 1
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return results


_NO_KEYS: frozenset[str] = frozenset()


def _create_schema(conn: sqlite3.Connection) -> None:
    """The tables (`CREATE ... IF NOT EXISTS`), then the columns an older database lacks
    (`CREATE TABLE IF NOT EXISTS` leaves an existing table as it is)."""
    conn.executescript(SCHEMA)
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def _failure(error: BaseException) -> Exception:
    """What a waiter is told: the error itself, or a `WriteFailed` for one that is not an
    `Exception` (a `CancelledError` raised by a write must not look like the waiter's own
    cancellation)."""
    if isinstance(error, Exception):
        return error
    failure = WriteFailed(f"the write failed: {error!r}")
    failure.__cause__ = error
    return failure
