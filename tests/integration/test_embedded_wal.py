"""The embedded database's WAL stays bounded under a steady stream of commits: each
checkpoint copies the WAL while commits go on, and once it is long, commits wait for a
last short checkpoint so that the next one starts the WAL over (`Database._checkpoint`).
Without that step the WAL never starts over while commits keep coming."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import pytest

from chat_server.backends.embedded import sqlite as db_module
from chat_server.backends.embedded.sqlite import Database


def insert(n: int) -> db_module.Op:
    def op(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{n}", b"x" * 3000))

    return op


async def test_the_wal_starts_over_while_commits_keep_coming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "CHECKPOINT_S", 3600.0)  # the test checkpoints itself
    monkeypatch.setattr(db_module, "RESTART_FRAMES", 50)
    db = Database(tmp_path / "chat.sqlite3")
    await db.start()
    stop = asyncio.Event()
    keys = itertools.count()

    async def commits(n: int) -> None:
        for _ in range(n):
            await db.submit(insert(next(keys)))

    async def keep_writing() -> None:  # while each checkpoint runs too
        while not stop.is_set():
            await commits(1)

    writer = asyncio.create_task(keep_writing())
    try:
        longest = 0
        for _ in range(5):
            await commits(200)  # some 200 frames at least: past RESTART_FRAMES
            await db._checkpoint()
            await commits(3)  # the first of them started the WAL over
            longest = max(longest, db._passive())
    finally:
        stop.set()
        await writer
        await db.stop()
    assert longest < 100, f"the WAL never started over: {longest} frames"
