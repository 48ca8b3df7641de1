"""Unit tests stay pure: no network, no processes, no files.

They test the logic (core, protocol and the in-memory parts of services) and run with
branch coverage in `scripts/test`, so they must stay fast and must not depend on the
machine. A test that needs a socket, a server, Redis, node or a data directory belongs
in `tests/integration/` (or `tests/contract/` for the stores).

This is a tripwire, not a sandbox: it catches the usual ways in (connecting or binding a
socket, starting a subprocess, asking for a temporary directory, `open` or SQLite on a
file) and fails the test with `pytest.fail`, which `except Exception` cannot swallow.
`socket.socketpair` stays allowed (every asyncio event loop makes one to wake itself), and
so do Hypothesis's own writes to its example database (it does not go through `open`).
"""

from __future__ import annotations

import asyncio
import builtins
import os
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

HYPOTHESIS_DIR = ".hypothesis"
TEMPORARY_FIXTURES = ("tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory")


def _refuse(what: str) -> NoReturn:
    pytest.fail(f"unit tests are pure: {what} (move the test to tests/integration/)")


def _hypothesis_cache(file: Any) -> bool:
    """Hypothesis keeps caches under `.hypothesis/` (its storage directory), some of them
    written with `open` while a test runs."""
    return isinstance(file, str | os.PathLike) and HYPOTHESIS_DIR in Path(file).parts


@pytest.fixture(autouse=True)
def pure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuses temporary directories, then makes sockets, processes and writes fail."""
    for name in TEMPORARY_FIXTURES:
        if name in request.fixturenames:
            _refuse(f"asks for {name}")

    def no_socket(self: socket.socket, *args: Any) -> NoReturn:
        _refuse(f"opens a network socket {args!r}")

    for method in ("connect", "connect_ex", "bind"):
        monkeypatch.setattr(socket.socket, method, no_socket)

    def no_process(*args: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"starts a process {args!r}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_process)
    monkeypatch.setattr(asyncio, "create_subprocess_shell", no_process)

    real_open = builtins.open

    def read_only_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(flag in mode for flag in "wax+") and not _hypothesis_cache(file):
            _refuse(f"writes the file {file!r}")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only_open)

    real_connect = sqlite3.connect

    def memory_only_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        if database != ":memory:":
            _refuse(f"opens the database file {database!r}")
        return real_connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", memory_only_connect)
