"""`chat-server serve --workers N` (issue 19): N processes serving one port, each a full
node of the Redis mode (its own node id, presence, bus and webhook leases, as separate
nodes on one Redis already are), so one machine's cores all serve.

The supervisor is uvicorn's own (`uvicorn.supervisors.Multiprocess`), not one made here:
it binds the socket once in the parent and hands it to spawned workers, pings each worker
and replaces one that dies or hangs (and gives up when one fails at startup, which would
fail the same way again), restarts them one by one on SIGHUP, and on SIGTERM/SIGINT
terminates every worker, each of which then drains as a single node does (its sockets
closed with 1012). What is ours: refusing the embedded mode, the configuration every
worker gets (`server.uvicorn_config`, with a picklable app factory), workers that stop
when their parent is killed, and the log lines."""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import signal
import sys
from socket import socket

from starlette.applications import Starlette
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess

from chat_server.config import Settings

log = logging.getLogger("chat_server")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)


def refusal(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None when they can."""
    if settings.workers > 1 and not settings.redis_url:
        return (
            f"--workers {settings.workers} needs the Redis mode: the embedded mode has one "
            "SQLite writer per data directory, so it runs one process; use --redis URL "
            "(CHAT_REDIS_URL) to run several workers"
        )
    return None


def worker_app(settings: Settings, parent: int) -> Starlette:
    """The app of one worker process, made there: a spawned process starts afresh, so its
    logging is set up here as `serve` sets up the parent's."""
    from chat_server.app import create_app

    configure_logging(settings)
    _drain_when_orphaned(parent)
    return create_app(settings)


PR_SET_PDEATHSIG = 1


def _drain_when_orphaned(parent: int) -> None:
    """SIGTERM this worker (it drains) when the parent dies, even killed with SIGKILL:
    uvicorn's workers would otherwise serve on unsupervised, out of reach of a stop sent
    to the parent. Linux's `PR_SET_PDEATHSIG`; elsewhere, nothing."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


class Supervisor(Multiprocess):
    """uvicorn's supervisor, saying which workers it spawned and which replaced which."""

    def init_processes(self) -> None:
        super().init_processes()
        port = self.sockets[0].getsockname()[1]
        pids = ", ".join(str(process.pid) for process in self.processes)
        log.info("%d workers on port %d (pids %s)", len(self.processes), port, pids)

    def keep_subprocess_alive(self) -> None:
        before = [process.pid for process in self.processes]
        super().keep_subprocess_alive()
        for old, process in zip(before, self.processes, strict=False):
            if process.pid != old:
                log.warning("worker %s died: replaced by %s", old, process.pid)


def run(settings: Settings) -> None:
    """Serve with `settings.workers` processes until SIGTERM/SIGINT, then exit 0; exit
    with uvicorn's startup-failure code when a worker could not start (as a single node
    whose start fails does)."""
    from chat_server.server import uvicorn_config

    config = uvicorn_config(settings, functools.partial(worker_app, settings, os.getpid()))
    config.workers = settings.workers
    sock: socket = config.bind_socket()
    supervisor = Supervisor(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        sys.exit(STARTUP_FAILURE)
