"""Shared by the forced-reconnect and reconnect-storm scenarios: a backend (a real
redis-server, or embedded SQLite) holding many visitors, each in an open conversation with
an agent, and the `serve` process in front of it.

The conversations are made through the store before the server starts, as
`bench/loadgen.py` does: over the wire each `start` lists the whole queue, so opening
thousands would be most of the run, and the setup is not what is measured.

Every client here comes from 127.0.0.1, where real visitors come from as many addresses as
there are visitors. `LIFTED` raises the per-address limits that would otherwise measure
that artefact instead of the server:
- `CHAT_MAX_CONNECTIONS_PER_ADDRESS` (200 open sockets): the scenarios hold 1,000-2,000;
- `CHAT_MAX_HTTP_CONNECTIONS_PER_ADDRESS` (100 handshakes in flight): a storm has more;
- `CHAT_HANDSHAKE_RATE` / `_BURST` (20/s, bursts of 40): 2,000 reconnects in a few seconds.
`CHAT_NEW_VISITOR_*` stay as they are: every visitor says `hello` with a valid token, which
is not a new identity and is not counted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect

from chat_server.core import ids, tokens
from chat_server.core.model import Agent, AgentRole, Site
from tests.client import Client, ServerError
from tests.conftest import free_port, password_hash
from tests.processes import ServerProcess
from tests.redis_server import RedisServer

BackendKind = Literal["redis", "embedded"]
SITE = "shop"
ORIGIN = "https://shop.example"
SECRET = "chaos-secret-not-for-production"
CODEC = "chat.v1.json"
ANSWER_S = 30.0
"""How long a handshake or an answer may take: long, as for a browser (no short timeout
of its own); the figures, not this, say whether it was fast enough."""
LIFTED = {
    "CHAT_MAX_CONNECTIONS_PER_ADDRESS": "100000",
    "CHAT_MAX_HTTP_CONNECTIONS_PER_ADDRESS": "100000",
    "CHAT_HANDSHAKE_RATE": "100000",
    "CHAT_HANDSHAKE_BURST": "100000",
}


def kinds(backends: tuple[BackendKind, ...] | str) -> tuple[BackendKind, ...]:
    """The backends to run on: a tuple, or `bench/chaos --set backends=redis,embedded`."""
    names = tuple(backends.split(",")) if isinstance(backends, str) else backends
    unknown = set(names) - {"redis", "embedded"}
    if unknown:
        raise ValueError(f"unknown backends {sorted(unknown)}: redis, embedded")
    return names  # type: ignore[return-value]


def backoff_delay(attempt: int, draw: float) -> float:
    """static/common/ws.js `backoffDelay` (seconds): 0.5 s doubling to 15 s, the wait drawn
    in [base/2, base] (`draw` in [0, 1) is the widget's `Math.random()`)."""
    base = min(15.0, 0.5 * 2.0 ** min(attempt, 16))
    return base / 2 + draw * base / 2


@dataclass(frozen=True)
class Seat:
    """One visitor in an open conversation: what the widget keeps (its token) and its cid."""

    cid: str
    visitor_id: str
    token: str
    agent: int
    """The index of the agent holding the conversation."""


@dataclass
class Seeded:
    seats: list[Seat]
    agent_tokens: list[str]


class Backend:
    """The store (and redis-server) of one run, and the node that serves it."""

    def __init__(self, kind: BackendKind, tmp: Path, **env: str) -> None:
        self.kind = kind
        self.tmp = tmp
        self.redis: RedisServer | None = None
        self.prefix = ids.new_id("chaos")
        self.extra = env
        self.node: ServerProcess | None = None

    def start_redis(self) -> None:
        if self.kind == "redis":
            binary = shutil.which("redis-server")
            if binary is None:
                raise RuntimeError("redis-server not found (apt-get install redis-server)")
            self.redis = RedisServer(binary, self.tmp / "redis", free_port())
            self.redis.start()

    def env(self) -> dict[str, str]:
        return {
            "CHAT_SECRET": SECRET,
            "CHAT_REDIS_URL": self.redis.url if self.redis else "",
            "CHAT_REDIS_PREFIX": self.prefix,
            "CHAT_LOG_LEVEL": "warning",
            **LIFTED,
            **self.extra,
        }

    async def seed(self, visitors: int, agents: int) -> Seeded:
        """`visitors` conversations, active, spread over `agents` agents (one API token
        each); agent `a` holds conversations a, a + agents, a + 2 * agents, ..."""
        from chat_server.app import open_backends
        from chat_server.config import Settings
        from chat_server.core import conversation as flow
        from chat_server.core.clock import SystemClock
        from chat_server.core.model import Draft, Kind, Role, Sender, Visitor

        env = self.env()
        data = self.tmp / "node"
        settings = Settings.load({"data": data}, env=env)
        clock = SystemClock()
        store, _ = open_backends(settings, clock)
        per_agent = -(-visitors // max(agents, 1))
        made: list[Agent] = []
        agent_tokens = [tokens.new_secret_token("cat") for _ in range(agents)]
        seats: list[Seat | None] = [None] * visitors
        await store.start()
        try:
            await store.directory.put_site(Site(SITE, (ORIGIN,)))
            for i in range(agents):
                agent = Agent(
                    id=ids.agent_id(),
                    email=f"agent{i}@shop.example",
                    name=f"Agent {i}",
                    role=AgentRole.AGENT,
                    max_chats=per_agent,
                    password_hash=password_hash(),
                )
                await store.directory.add_agent(agent)
                await store.directory.add_credential(
                    tokens.hash_secret(agent_tokens[i]), agent.id, "token", None
                )
                made.append(agent)

            async def conversation(c: int) -> None:
                now = clock.now_ms()
                visitor = Visitor(ids.visitor_id(), SITE, now, name=f"Visitor {c}")
                await store.directory.put_visitor(visitor)
                conv = flow.open_conversation(
                    ids.conversation_id(visitor.id), SITE, visitor.id, None, now
                )
                first = Draft(Kind.TEXT, Sender(Role.VISITOR, visitor.id, visitor.name), "hi")
                await store.conversations.open(conv, first, origin=None)
                agent = c % agents if agents else -1
                if agents:
                    await store.conversations.transfer(
                        conv.id, made[agent], now, ignore_capacity=True
                    )
                token = tokens.sign_visitor(SECRET.encode(), visitor.id, SITE, now + 86_400_000)
                seats[c] = Seat(conv.id, visitor.id, token, agent)

            # at most 50 at once: redis-py's pool fails commands past 100 connections
            for start in range(0, visitors, 50):
                batch = range(start, min(visitors, start + 50))
                await asyncio.gather(*(conversation(c) for c in batch))
        finally:
            await store.stop()
        return Seeded([s for s in seats if s is not None], agent_tokens)

    async def start_node(self) -> ServerProcess:
        self.node = ServerProcess(self.tmp / "node", **self.env())
        self.node.start()
        await self.node.ready(timeout=30)
        return self.node

    def sigterm(self) -> None:
        assert self.node is not None and self.node.proc is not None
        self.node.proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Everything this run started, also after a failure."""
        if self.node is not None:
            self.node.stop()
        if self.redis is not None:
            self.redis.stop()


async def open_socket(ws_base: str, path: str, timeout: float = ANSWER_S) -> ClientConnection:
    """A WebSocket as the widget opens it (JSON, the shop's origin, no compression)."""
    return await connect(
        f"{ws_base}{path}",
        subprotocols=[CODEC],  # type: ignore[list-item]
        origin=ORIGIN,  # type: ignore[arg-type]
        compression=None,
        open_timeout=timeout,
        close_timeout=2,
    )


async def ask(client: Client, t: str, timeout: float = ANSWER_S, **fields: Any) -> dict[str, Any]:
    """Send a request and wait for its answer (`ok` or `error`) as the widget does: until
    it comes or the socket closes (`ConnectionError`), not for the test client's 5 s (on a
    loaded machine that would drop sockets whose answer is on its way, and add to the load).
    """
    frame_id = next(client.ids)
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    client.replies[frame_id] = answer
    await client.send({"t": t, "id": frame_id, **fields})
    either: set[asyncio.Future[Any]] = {answer, client.closed}
    await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if answer.done():
        return answer.result()
    client.replies.pop(frame_id, None)
    answer.cancel()
    if client.closed.done():
        raise ConnectionError(f"socket closed ({client.closed.result()}) before the answer")
    raise TimeoutError(f"no answer to {t} within {timeout} s")


async def greeted(ws_base: str, path: str, hello: dict[str, Any]) -> Client:
    """Open a socket and say `hello`; raises on a refused handshake or an error answer."""
    client = Client(await open_socket(ws_base, path), CODEC)
    try:
        client.hello = await ask(client, "hello", **hello)
        if client.hello["t"] != "ok":
            raise ServerError(client.hello)
    except BaseException:
        await client.close()
        raise
    return client


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame)


async def bounded(limit: int, jobs: list[Any]) -> list[Any]:
    """Run coroutines with at most `limit` at once; their results, exceptions included."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with gate:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs), return_exceptions=True)
