"""An admin command (`retention run`, `visitor export | erase`, `agent add`...) opens the
embedded store while a server may hold the same data directory: then it must leave the
server's memory alone. It neither sweeps the files directory (an upload in progress is
not in the database yet) nor writes back, at its stop, the figures it loaded (stale by
then: the server's own checkpoint is the one that counts). Alone, a store does both.

Another process holding the database open stands in for the server: SQLite's lock on
the `-shm` file is what the store asks about (`backends/embedded/sharing.py`), and POSIX
locks are per process, so it has to be another one."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.files import PART
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import samples
from chat_server.core.clock import ManualClock

HOLD = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT count(*) FROM meta").fetchall()  # maps the -shm file, and locks it
print("open", flush=True)
sys.stdin.read()
"""


def saved_figures(data: Path) -> bytes | str | None:
    with sqlite3.connect(data / "chat.sqlite3") as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'figures'").fetchone()
    return None if row is None else row[0]


async def open_store(data: Path, clock: ManualClock) -> EmbeddedStore:
    store = EmbeddedStore(data, LocalBus(), clock)
    await store.start()
    return store


async def test_beside_a_running_server_the_store_sweeps_nothing_and_saves_no_figures(
    tmp_path: Path,
) -> None:
    data, clock = tmp_path / "data", ManualClock(1_800_000_000_000)
    server = await open_store(data, clock)  # makes the database, as `serve` would
    await server.stop()
    saved = saved_figures(data)
    uploading = data / "files" / f"c_upload{PART}"

    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD,
        str(data / "chat.sqlite3"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and await holder.stdout.readline() == b"open\n"
        uploading.write_bytes(b"half a file")
        admin = await open_store(data, clock)
        assert admin.shared
        await admin.figures.record(clock.now_ms(), ("all",), samples.started())
        await admin.stop()
        assert uploading.exists()
        assert saved_figures(data) == saved
    finally:
        await holder.communicate(b"")

    alone = await open_store(data, clock)
    assert not alone.shared
    assert not uploading.exists()
    await alone.figures.record(clock.now_ms(), ("all",), samples.started())
    await alone.stop()
    assert saved_figures(data) != saved
