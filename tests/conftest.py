"""Fixtures that start real things: the app under uvicorn on a free port, real clients.

`CHAT_TEST_STRICT=1` (set by .ci/run) turns "skip: Redis/Chromium not found" into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from chat_server.app import create_app
from chat_server.config import Settings
from chat_server.core import ids
from chat_server.core.clock import Clock
from chat_server.core.model import Agent, AgentRole, Site
from chat_server.server import uvicorn_config
from chat_server.web.runtime import Runtime
from tests.client import Client, connect_agent, connect_visitor
from tests.redis_server import RedisServer

if TYPE_CHECKING:
    from tests.redis_cluster import RedisCluster

STRICT = os.environ.get("CHAT_TEST_STRICT") == "1"
PASSWORD = "correct horse battery"


def require_tool(path_or_name: str, why: str) -> str:
    """The tool's path; skip the test (fail under CHAT_TEST_STRICT=1) when it is missing."""
    found = path_or_name if os.path.exists(path_or_name) else shutil.which(path_or_name)
    if found:
        return found
    message = f"{path_or_name} not found: {why}"
    if STRICT:
        pytest.fail(message + " (CHAT_TEST_STRICT=1)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def listening_socket(proto: int = socket.IPPROTO_TCP) -> tuple[socket.socket, int]:
    """A loopback socket bound to a free port, for `uvicorn.Server.serve(sockets=[...])`:
    a port found free and bound later by uvicorn was sometimes taken meanwhile by a test
    in another process (uvicorn then exits). Its protocol number says TCP, as a socket
    that uvicorn binds itself does: asyncio's loop (the tests') turns Nagle's algorithm off
    only then, and otherwise every HTTP response written in two parts waited 40 ms for the
    client's delayed ACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    return sock, port


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked `long(seconds)` first, spread over the processes of the run.

    xdist's work stealing (scripts/test) starts by splitting the tests in order into one
    even share per process, and a process that runs out takes tests from the end of
    another's queue: so each share here starts with its part of the long tests (dealt
    longest first to the share with the least so far), and the run does not wait at its
    end for a long test that one process reached late. The other tests keep their order."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    long = sorted((item for item in items if _seconds(item)), key=_seconds, reverse=True)
    rest = [item for item in items if not _seconds(item)]
    shares: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for item in long:
        least = min(shares, key=lambda share: sum(map(_seconds, share)))
        least.append(item)
    ordered: list[pytest.Item] = []
    left = len(items)
    for index, share in enumerate(shares):
        size = left // (workers - index)  # xdist's split: what is left, evenly
        left -= size
        fill = max(0, size - len(share))
        ordered += share + rest[:fill]
        del rest[:fill]
    items[:] = ordered + rest


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("long")
    return float(marker.args[0]) if marker is not None else 0.0


def server_settings(**options: Any) -> Settings:
    """Settings for a server run inside the test process: quiet, and `gc_freeze` off. One
    process runs many tests' servers, and a server's start-up freezes the process's
    collector and raises its thresholds for good (tests/integration/test_gc.py turns it on)."""
    return Settings(**{"log_level": "warning", "gc_freeze": False, **options})


_password_hash: str | None = None


def password_hash() -> str:
    """The test agents' password hash: argon2id at its lowest cost. The server checks a
    password with the parameters its hash names, and at the deployed ones each login took a
    quarter of a second of CPU (tests/unit/test_passwords.py checks the deployed cost)."""
    global _password_hash
    if _password_hash is None:
        from argon2 import PasswordHasher

        _password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    return _password_hash


@dataclass
class Live:
    """A running server: its address, its runtime, and helpers to populate and join it."""

    settings: Settings
    runtime: Runtime
    clients: list[Client] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}"

    @property
    def store(self) -> Any:
        return self.runtime.node.store

    async def add_agent(
        self,
        name: str = "Alice",
        *,
        role: AgentRole = AgentRole.AGENT,
        max_chats: int | None = None,
        topics: frozenset[str] = frozenset(),
    ) -> Agent:
        agent = Agent(
            id=ids.agent_id(),
            email=f"{name.lower()}-{ids.new_id('x')}@test.example",
            name=name,
            role=role,
            max_chats=max_chats
            if max_chats is not None
            else (0 if role is AgentRole.SUPERVISOR else 3),
            topics=topics,
            password_hash=password_hash(),
        )
        await self.store.directory.add_agent(agent)
        return agent

    async def token(self, agent: Agent) -> str:
        from chat_server.core import tokens

        token = tokens.new_secret_token("cat")
        await self.store.directory.add_credential(
            tokens.hash_secret(token), agent.id, "token", None
        )
        return token

    async def agent(
        self,
        agent: Agent | None = None,
        *,
        codec: str = "chat.v1.json",
        online: bool = True,
        **kwargs: Any,
    ) -> Client:
        """Connect an agent with an API token, say hello and (by default) go online."""
        agent = agent or await self.add_agent(**kwargs)
        client = await connect_agent(self.ws, codec=codec)
        self.clients.append(client)
        client.hello = await client.request("hello", token=await self.token(agent))
        client.agent = agent
        if online:
            await client.request("status", state="online")
        return client

    async def visitor(
        self,
        *,
        codec: str = "chat.v1.json",
        site: str = "shop",
        origin: str = "https://shop.example",
        token: str | None = None,
        **hello: Any,
    ) -> Client:
        client = await connect_visitor(self.ws, site=site, origin=origin, codec=codec)
        self.clients.append(client)
        fields = {"token": token, **hello} if token else hello
        client.hello = await client.request("hello", **fields)
        return client


ServerFactory = Callable[..., Awaitable[Live]]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server (AOF on) for the run; every app gets its own key prefix."""
    binary = require_tool("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, tmp_path_factory.mktemp("redis"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One Redis Cluster (3 primaries, 1 replica each) for the run; every app gets its own
    key prefix, so its own slot."""
    binary = require_tool("redis-server", "apt-get install redis-server")
    cli = require_tool("redis-cli", "apt-get install redis-tools")
    from tests.redis_cluster import RedisCluster  # it imports this module

    cluster = RedisCluster(binary, cli, tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


CLUSTER_PARTITIONS = 3
"""The cluster backend spreads each installation over this many partitions (one a shard
of the test cluster): a server on it runs `SpreadStore`; a contract test's `RedisStore`
takes the URL's first partition only (the single-slot layout, as with `partitions=1`)."""


def redis_of(store: Any) -> list[Any]:
    """The redis-py clients of a Redis store, one per partition (`SpreadStore.clients`):
    each at the primary of its partition's slot."""
    clients = getattr(store, "clients", None)
    return [c.redis for c in clients] if clients is not None else [store.redis]


def redis_like(backend: str) -> bool:
    """Both Redis backends: one Redis, or a Redis Cluster."""
    return backend in ("redis", "cluster")


def backend_url(backend: str, request: pytest.FixtureRequest) -> str:
    """The URL of the session's Redis or Redis Cluster for a Redis-like backend."""
    if backend == "cluster":
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        return f"{cluster.url}?partitions={CLUSTER_PARTITIONS}"
    redis: RedisServer = request.getfixturevalue("redis_server")
    return redis.url


@pytest.fixture(params=["embedded", "redis", "cluster"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that starts a server runs against every backend (contract tests): the
    embedded store, one Redis, a Redis Cluster."""
    value: str = request.param
    return value


@pytest.fixture
async def start_server(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """Start the real app under uvicorn; settings overrides as keyword arguments.

    With a Redis backend, several servers started in one test share one Redis (or Redis
    Cluster) and one key prefix: they are the nodes of one installation."""
    async with serving(tmp_path, backend, request) as start:
        yield start


@contextlib.asynccontextmanager
async def serving(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """What `start_server` gives, for the fixtures that run it in another event loop
    (tests/browser/conftest.py): the servers it started stop when it ends."""
    running: list[tuple[uvicorn.Server, asyncio.Task[None], Live]] = []
    shared: dict[str, Any] = {}
    if redis_like(backend):
        shared = {"redis_url": backend_url(backend, request), "redis_prefix": ids.new_id("t")}

    async def start(clock: Clock | None = None, **overrides: Any) -> Live:
        if backend == "embedded":
            shared["data"] = tmp_path / f"data{len(running)}"
        sock, port = listening_socket()
        settings = server_settings(port=port, **{**shared, **overrides})
        app = create_app(settings, clock)
        server = uvicorn.Server(uvicorn_config(settings, app))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            try:
                await task
            except BaseException as exc:  # uvicorn raises SystemExit: not the test's own
                raise RuntimeError(f"server did not start: {exc!r}") from exc
            raise RuntimeError("server did not start")
        live = Live(settings, app.state.runtime)
        await live.store.directory.put_site(Site("shop", ("https://shop.example",)))
        running.append((server, task, live))
        return live

    try:
        yield start
    finally:
        for server, task, live in running:
            for client in live.clients:
                await client.close()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


@pytest.fixture
async def live(start_server: ServerFactory) -> Live:
    return await start_server()


@pytest.fixture(params=["chat.v1.json", "chat.v1.msgpack"], ids=["json", "msgpack"])
def codec(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value
