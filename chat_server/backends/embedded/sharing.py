"""Whether another process has the embedded database open (a running `serve`): the one
writer of the open conversations, which it holds in memory. A command that would change
an open conversation asks first (`chat-server visitor erase`, issue 16).

SQLite in WAL mode keeps a shared lock on one byte of the `-shm` file (its "DMS" byte,
offset 128) in every process that has the database open, for as long as it does. Taking
an exclusive lock on that byte fails exactly while some other process holds it. Ask
before this process opens the database: closing a descriptor drops every POSIX lock the
process has on the file, SQLite's own included.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DMS_BYTE = 128
"""SQLite's `UNIX_SHM_DMS`: 120 (`UNIX_SHM_BASE`) + 8 (`SQLITE_SHM_NLOCK`)."""


def open_elsewhere(db_path: Path) -> bool:
    """True while another process has `db_path` open. A server that stopped, even one
    that crashed, holds nothing: the files it left behind do not count."""
    try:
        fd = os.open(db_path.with_name(db_path.name + "-shm"), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, DMS_BYTE)
    except OSError:
        return True
    finally:
        os.close(fd)  # and with it the lock just taken
    return False
