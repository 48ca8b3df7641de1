"""A real Redis primary, its replicas and three Sentinels on free loopback ports.

Each data node is a `RedisServer` (AOF everysec, as a deployment keeps it); a replica is
one told `REPLICAOF` the primary. Each Sentinel is `redis-server --sentinel` with a config
generated here (Sentinel rewrites it as it learns), monitoring the primary with a short
`down-after-milliseconds` so a failover fits in a test. `url` is the chat server's
`redis+sentinel://` form for it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import hiredis

from tests.conftest import free_port
from tests.redis_server import RedisServer

MASTER = "chat"


def command(port: int, *args: str | int, timeout: float = 1.0) -> object:
    """One command to a server on 127.0.0.1 and its reply (a `hiredis.ReplyError` for an
    error); `OSError` when nothing answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(hiredis.pack_command(tuple(args)))
        reader = hiredis.Reader()
        while True:
            data = s.recv(65536)
            if not data:
                raise ConnectionError(f"127.0.0.1:{port} closed the connection")
            reader.feed(data)
            reply = reader.gets()
            if reply is not False:
                return reply


def answers(port: int, timeout: float = 10) -> bool:
    """Whether a server on the port answers PING within `timeout` (it is starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            command(port, "PING")
            return True
        except OSError:
            time.sleep(0.02)
    return False


def role(port: int) -> str | None:
    """`master` or `slave`, or None when the server does not answer."""
    try:
        reply = command(port, "ROLE", timeout=0.3)
    except OSError:
        return None
    return reply[0].decode() if isinstance(reply, list) else None


def _fields(reply: object) -> dict[str, str]:
    items = [v.decode() if isinstance(v, bytes) else str(v) for v in reply]  # type: ignore[attr-defined]
    return dict(zip(items[::2], items[1::2], strict=True))


class SentinelSet:
    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.servers = [
            RedisServer(binary, directory / f"redis{i}", free_port()) for i in range(1 + replicas)
        ]
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.sentinels: list[subprocess.Popen[bytes] | None] = [None] * sentinels
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.quorum = sentinels // 2 + 1

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER}/0"

    @property
    def direct_url(self) -> str:
        """The first data node's own URL (the primary until a failover), Sentinel aside."""
        return self.servers[0].url

    # starting -------------------------------------------------------------------------

    def start(self, timeout: float = 20) -> None:
        """The data nodes, then the Sentinels; returns once every Sentinel knows the
        others and every replica (a failover needs both)."""
        primary, *replicas = self.servers
        self._start(primary)
        for replica in replicas:
            self._start(replica)
            command(replica.port, "REPLICAOF", "127.0.0.1", str(primary.port))
        for i, port in enumerate(self.sentinel_ports):
            self.sentinels[i] = self._start_sentinel(i, port, primary.port)
        self.wait_settled(timeout)

    @staticmethod
    def _start(server: RedisServer) -> None:
        """Start a data node; a replica's first sync starts at once (Redis waits 5 s by
        default, for more replicas to share it)."""
        server.start()
        command(server.port, "CONFIG", "SET", "repl-diskless-sync-delay", "0")

    def _start_sentinel(self, index: int, port: int, primary: int) -> subprocess.Popen[bytes]:
        directory = self.directory / f"sentinel{index}"
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        config.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f'dir "{directory}"\n'
            f'logfile "{directory / "sentinel.log"}"\n'
            f"sentinel monitor {MASTER} 127.0.0.1 {primary} {self.quorum}\n"
            f"sentinel down-after-milliseconds {MASTER} {self.down_after_ms}\n"
            f"sentinel failover-timeout {MASTER} {self.failover_timeout_ms}\n"
            f"sentinel parallel-syncs {MASTER} 1\n"
        )
        proc = subprocess.Popen(
            [self.binary, str(config), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if answers(port):
            return proc
        proc.kill()
        raise RuntimeError(f"sentinel did not start on port {port}")

    def master_state(self, sentinel: int) -> dict[str, str]:
        """What one Sentinel says of the primary (`SENTINEL MASTER`)."""
        return _fields(command(self.sentinel_ports[sentinel], "SENTINEL", "MASTER", MASTER))

    def wait_settled(self, timeout: float = 30) -> None:
        """Until every Sentinel names the same primary, sees it up, sees the other
        Sentinels and every replica that answers as up and linked to it."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                last = self._unsettled()
            except (OSError, ValueError) as exc:
                last = str(exc)
            if not last:
                return
            time.sleep(0.1)
        raise RuntimeError(f"sentinels did not settle within {timeout} s: {last}")

    def _unsettled(self) -> str:
        """Why the set is not ready for a failover yet ("" once it is)."""
        primary = self.primary_port()
        if primary is None:
            return "no primary"
        alive = [s.port for s in self.servers if s.port != primary and role(s.port) == "slave"]
        for port in alive:
            link = command(port, "ROLE")
            if not isinstance(link, list) or link[3] != b"connected" or link[2] != primary:
                return f"replica {port} is not in sync with {primary}: {link!r}"
        for i, port in enumerate(self.sentinel_ports):
            state = self.master_state(i)
            if int(state["port"]) != primary or "down" in state["flags"]:
                return f"sentinel {port} sees {state['port']} ({state['flags']})"
            if int(state["num-other-sentinels"]) < len(self.sentinel_ports) - 1:
                return f"sentinel {port} knows {state['num-other-sentinels']} others"
            seen = command(port, "SENTINEL", "REPLICAS", MASTER)
            ok = {
                int(f["port"])
                for f in map(_fields, seen)  # type: ignore[call-overload]
                if "down" not in f["flags"] and f.get("master-link-status") == "ok"
            }
            if not set(alive) <= ok:
                return f"sentinel {port} sees replicas {sorted(ok)} of {sorted(alive)}"
        return ""

    # faults ---------------------------------------------------------------------------

    def primary_port(self) -> int | None:
        """The data node that answers `ROLE` as master (None while none does)."""
        for server in self.servers:
            if role(server.port) == "master":
                return server.port
        return None

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary (as a crash would); the killed server."""
        port = self.primary_port()
        assert port is not None, "no primary to kill"
        server = self.server(port)
        server.stop(kill=True)
        return server

    def rejoin(self, server: RedisServer) -> None:
        """Start a killed server again as a replica of the current primary, as an
        operator's restart would after a failover (Sentinel alone would convert it too,
        but only some seconds after it comes back claiming to be the primary)."""
        primary = self.primary_port()
        assert primary is not None, "no primary to rejoin"
        self._start(server)
        command(server.port, "REPLICAOF", "127.0.0.1", str(primary))

    def switches(self) -> int:
        """How many failovers the first Sentinel saw through (`+switch-master` in its log)."""
        log = self.directory / "sentinel0" / "sentinel.log"
        return log.read_text(errors="replace").count("+switch-master") if log.exists() else 0

    def stop(self) -> None:
        for proc in self.sentinels:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for server in self.servers:
            server.stop(kill=True)
