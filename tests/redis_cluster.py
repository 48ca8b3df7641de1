"""A real Redis Cluster on loopback: 3 primaries with 1 replica each.

Six `redis-server --cluster-enabled yes` processes (AOF everysec, as a deployment keeps
them) on free ports whose cluster bus port (+10000) is free too, joined with
`redis-cli --cluster create`. `url` is the chat server's `redis+cluster://` form of all six;
the helpers find a slot's primary and its replica, kill one, and wait for a promotion.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from chat_server.backends.redis.cluster import key_slot
from tests.redis_sentinel import answers, command, role

NODE_TIMEOUT_MS = 2000


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port + 10000 < 65536 and port not in ports and _free(port + 10000):
            ports.append(port)
    return ports


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCluster:
    def __init__(self, binary: str, cli: str, directory: Path, *, primaries: int = 3) -> None:
        self.binary = binary
        self.cli = cli
        self.directory = directory
        self.ports = cluster_ports(primaries * 2)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout: float = 30) -> None:
        for port in self.ports:
            self.start_node(port)
        done = subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
        self.wait_ok(timeout)

    def start_node(self, port: int) -> None:
        """Start (or start again, with its config and AOF) one node."""
        directory = self.directory / str(port)
        directory.mkdir(parents=True, exist_ok=True)
        self.procs[port] = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(directory / "nodes.conf"),
                "--cluster-node-timeout",
                str(NODE_TIMEOUT_MS),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--dir",
                str(directory),
                "--repl-diskless-sync-delay",
                "0",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not answers(port):
            raise RuntimeError(f"cluster node did not start on port {port}")

    def wait_ok(self, timeout: float = 30) -> None:
        """Until every running node says `cluster_state:ok` with all slots covered and
        every replica is linked to its primary."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self._unsettled()
            if not last:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster did not settle within {timeout} s: {last}")

    def _unsettled(self) -> str:
        for port in self.running():
            try:
                info = _text(command(port, "CLUSTER", "INFO"))
                link = command(port, "ROLE")
            except OSError as exc:
                return f"{port}: {exc}"
            fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
            if fields.get("cluster_state") != "ok":
                return f"{port}: cluster_state {fields.get('cluster_state')}"
            if fields.get("cluster_slots_ok") != "16384":
                return f"{port}: {fields.get('cluster_slots_ok')} slots ok"
            if isinstance(link, list) and link[0] == b"slave" and link[3] != b"connected":
                return f"{port}: replica link {_text(link[3])}"
            odd = self._odd_view(port)
            if odd:
                return f"{port} sees {odd}"
        return ""

    def _odd_view(self, port: int) -> str:
        """What one node's `CLUSTER NODES` still has wrong about the running nodes: one
        failed or in handshake, or a primary without slots (not a replica yet)."""
        running = {str(p) for p in self.running()}
        for line in _text(command(port, "CLUSTER", "NODES")).splitlines():
            fields = line.split()
            node = fields[1].split("@")[0].rpartition(":")[2]
            if node not in running:
                continue
            flags = fields[2].split(",")
            if {"fail", "fail?", "handshake", "noaddr"} & set(flags):
                return f"{node} as {fields[2]}"
            if "master" in flags and len(fields) <= 8:
                return f"{node} as a primary without slots"
        return ""

    def running(self) -> list[int]:
        return [port for port, proc in self.procs.items() if proc.poll() is None]

    # faults ---------------------------------------------------------------------------

    def primary_of(self, key_or_tag: str) -> int:
        """The port of the primary serving the key's slot (a bare tag: `{tag}`'s), as the
        running nodes see it."""
        slot = key_slot(key_or_tag if "{" in key_or_tag else "{" + key_or_tag + "}")
        for port in self.running():
            try:
                slots = command(port, "CLUSTER", "SLOTS")
            except OSError:
                continue
            for start, end, master, *_ in slots:  # type: ignore[attr-defined]
                if start <= slot <= end and int(master[1]) in self.running():
                    return int(master[1])
        raise RuntimeError(f"no running node knows the primary of slot {slot}")

    def replica_of(self, primary: int) -> int:
        """The port of a running replica of a primary."""
        for port in self.running():
            link = command(port, "ROLE")
            if isinstance(link, list) and link[0] == b"slave" and link[2] == primary:
                return port
        raise RuntimeError(f"no running replica of {primary}")

    def failover(self, primary: int, timeout: float = 15) -> int:
        """A manual, clean `CLUSTER FAILOVER` on the primary's replica; its port once it
        is the primary and the cluster is ok again."""
        replica = self.replica_of(primary)
        reply = command(replica, "CLUSTER", "FAILOVER")
        if _text(reply) != "OK":
            raise RuntimeError(f"CLUSTER FAILOVER on {replica}: {_text(reply)}")
        self.wait_promoted(replica, timeout)
        return replica

    def kill(self, port: int) -> None:
        """SIGKILL one node (as a crash would)."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(10)

    def wait_promoted(self, port: int, timeout: float = 20) -> None:
        """Until the node is a primary and every running node says the cluster is ok."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if role(port) == "master" and not self._unsettled():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{port} was not promoted within {timeout} s")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
