"""`chat-server serve --workers N` (issue 19): N real worker processes under uvicorn's
supervisor on one port, each a node of the Redis mode, on a real redis-server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from chat_server.backends.redis.keys import Keys
from chat_server.core import ids
from chat_server.core.model import Site
from tests.client import Client
from tests.conftest import free_port
from tests.http import http_client
from tests.integration.test_cluster import MANY_NEW_VISITORS, ORIGIN, Cluster, eventually
from tests.processes import ServerProcess
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow


def worker_pids(parent: int) -> set[int]:
    """The parent's worker processes (multiprocessing's spawned children; not its
    resource tracker), from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"spawn_main" in cmdline:
            found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """The process exists and has not exited (a zombie not yet reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class Workers(Cluster):
    """One `serve --workers 2` on one Redis (`CHAT_WORKERS`), seen as a cluster whose
    every connection goes to the same port: the kernel hands it to either worker."""

    def __init__(self, redis: RedisServer, tmp: Path) -> None:
        super().__init__(redis, tmp, ids.new_id("w"))
        self.redis_client = aioredis.from_url(redis.url, decode_responses=True)
        self.keys = Keys(self.prefix)

    async def start(self, n: int = 2, **env: str) -> None:
        server = ServerProcess(
            self.tmp / "workers",
            CHAT_WORKERS=str(n),
            CHAT_REDIS_URL=self.redis.url,
            CHAT_REDIS_PREFIX=self.prefix,
            CHAT_LOG_LEVEL="info",
            CHAT_QUEUE_INTERVAL_S="0.1",
            # `spread` opens visitors until both workers hold some: an uneven hand from the
            # kernel was more than the default burst of new visitors
            **MANY_NEW_VISITORS,
            **env,
        )
        server.start()
        self.nodes.append(server)
        await server.ready()
        await eventually(lambda: self.pids_now(n))
        await eventually(self.live_nodes_now(n))
        await self.store.directory.put_site(Site("shop", (ORIGIN,)))

    @property
    def server(self) -> ServerProcess:
        return self.nodes[0]

    @property
    def parent(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def log(self) -> str:
        return (self.server.data / "server.log").read_text(errors="replace")

    async def pids_now(self, n: int) -> set[int] | None:
        pids = worker_pids(self.parent)
        return pids if len(pids) == n else None

    def live_nodes_now(self, n: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return len(await self.live_nodes()) == n

        return check

    async def live_nodes(self) -> set[str]:
        """The node ids whose heartbeat has not expired (`chat:nodes`)."""
        now = time.time() * 1000
        return {str(n) for n in await self.redis_client.zrangebyscore(self.nodes_key, now, "+inf")}

    async def every_node(self) -> set[str]:
        """Every node id that has beaten, expired or not."""
        return {str(n) for n in await self.redis_client.zrange(self.nodes_key, 0, -1)}

    @property
    def nodes_key(self) -> str:
        return self.keys.nodes()

    async def holder(self, kind: str, ident: str) -> str:
        """The node (worker) holding an agent's or a visitor's connection."""
        key = self.keys.holders(kind, ident)
        holders: set[str] = await eventually(lambda: self.redis_client.smembers(key))
        assert len(holders) == 1
        return next(iter(holders))

    async def spread(self, count: int = 40) -> dict[str, list[tuple[str, Client]]]:
        """Visitors and (offline) agents connected until both workers hold some of each:
        node id -> [(kind, client)]."""
        placed: dict[str, list[tuple[str, Client]]] = {}
        for i in range(count):
            _, token = await self.add_agent(f"Agent{i}")
            agent = await self.agent(0, token, online=False)
            visitor = await self.visitor(0)
            for kind, client, ident in (
                ("agent", agent, agent.hello["agent"]["id"]),
                ("visitor", visitor, visitor.hello["visitor"]["id"]),
            ):
                placed.setdefault(await self.holder(kind, ident), []).append((kind, client))
            kinds = [{kind for kind, _ in clients} for clients in placed.values()]
            if len(placed) == 2 and all(k == {"agent", "visitor"} for k in kinds):
                return placed
        raise AssertionError(f"connections did not land on both workers: {placed}")

    async def close(self) -> None:
        await super().close()
        await self.redis_client.aclose()


@pytest.fixture
async def workers(redis_server: RedisServer, tmp_path: Path) -> AsyncIterator[Workers]:
    w = Workers(redis_server, tmp_path)
    yield w
    await w.close()


async def test_two_workers_are_two_nodes_that_chat_across(workers: Workers) -> None:
    await workers.start(2)
    pids = worker_pids(workers.parent)
    banner = re.search(r"2 workers on port (\d+) \(pids ([\d, ]+)\)", workers.log())
    assert banner, workers.log()
    assert int(banner[1]) == workers.server.port
    assert {int(p) for p in banner[2].split(", ")} == pids

    placed = await workers.spread()
    (one, on_one), (other, on_other) = placed.items()
    assert one != other
    visitor = next(c for kind, c in on_one if kind == "visitor")
    agent = next(c for kind, c in on_other if kind == "agent")
    await agent.request("status", state="online")
    cid = (await visitor.request("start", text="hello from one worker"))["conversation"]["id"]
    assert (await agent.event("assigned"))["conversation"]["id"] == cid
    sent = await visitor.request("msg", cid=cid, text="across workers", cmid="v1")
    assert (await agent.event("msg", seq=sent["seq"]))["text"] == "across workers"
    reply = await agent.request("msg", cid=cid, text="answer from the other", cmid="a1")
    assert (await visitor.event("msg", seq=reply["seq"]))["text"] == "answer from the other"


async def test_a_killed_worker_is_replaced_while_the_port_serves(workers: Workers) -> None:
    await workers.start(2)
    before = worker_pids(workers.parent)
    nodes_before = await workers.every_node()
    victim = min(before)
    os.kill(victim, signal.SIGKILL)

    async with http_client() as http:
        deadline = time.monotonic() + 30
        while True:  # every request meanwhile is served, by the survivor or the new one
            response = await http.get(f"{workers.server.base}/readyz", timeout=5)
            assert response.status_code == 200
            after = worker_pids(workers.parent)
            if len(after) == 2 and victim not in after:
                break
            assert time.monotonic() < deadline, f"worker {victim} was not replaced: {after}"
            await asyncio.sleep(0.05)
    (new,) = after - before
    assert after - {new} == before - {victim}

    async def new_node() -> set[str]:
        return await workers.every_node() - nodes_before

    assert len(await eventually(new_node, timeout=15)) == 1  # the new worker: a new node id
    assert f"worker {victim} died: replaced by {new}" in workers.log()


async def test_sigterm_drains_every_worker_then_the_parent_exits(workers: Workers) -> None:
    await workers.start(2)
    pids = worker_pids(workers.parent)
    placed = await workers.spread()
    clients = [client for on_node in placed.values() for _, client in on_node]
    assert workers.server.proc is not None
    workers.server.proc.send_signal(signal.SIGTERM)
    codes = await asyncio.gather(*(client.close_code(timeout=15) for client in clients))
    assert set(codes) == {1012}
    assert workers.server.proc.wait(20) == 0
    assert not any(running(pid) for pid in pids)


async def test_workers_of_a_killed_parent_drain_and_exit(workers: Workers) -> None:
    """The parent killed with SIGKILL cannot stop its workers: they stop themselves."""
    await workers.start(2)
    pids = worker_pids(workers.parent)
    placed = await workers.spread()
    clients = [client for on_node in placed.values() for _, client in on_node]
    assert workers.server.proc is not None
    workers.server.kill()
    codes = await asyncio.gather(*(client.close_code(timeout=15) for client in clients))
    assert set(codes) == {1012}

    async def gone() -> bool:
        return not any(running(pid) for pid in pids)

    await eventually(gone, timeout=15)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_embedded_refuses_several_workers(tmp_path: Path, how: str) -> None:
    command = [sys.executable, "-m", "chat_server", "serve", "--data", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "CHAT_REDIS_URL"}
    if how == "flag":
        command += ["--workers", "2"]
    else:
        env["CHAT_WORKERS"] = "2"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--workers 2 needs the Redis mode" in done.stderr
    assert "one SQLite writer per data directory" in done.stderr
    assert "--redis" in done.stderr
    assert not any(tmp_path.iterdir())  # refused before anything was opened


def test_a_worker_that_cannot_start_stops_the_server(tmp_path: Path) -> None:
    """Redis unreachable at start: each worker's startup fails, and so would a
    replacement's; the parent stops with the code of a single node's failed start."""
    command = [sys.executable, "-m", "chat_server", "serve", "--workers", "2"]
    command += ["--redis", f"redis://127.0.0.1:{free_port()}/0", "--port", str(free_port())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "failed to start, stopping the parent process" in done.stderr
