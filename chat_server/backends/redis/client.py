"""What the Redis roles share: the connections, the key names, the clock, and how a failure
of Redis reaches the caller.

Two connections: redis-py (pooled, reconnecting) for reads and the optimistic
WATCH/MULTI/EXEC transactions, and the lean `Wire` for the per-message writes (append,
figures, audit), where redis-py's per-command overhead would dominate.

Both take a `redis://` URL, a `redis+sentinel://` one (`sentinel.py`: every connection they
open asks the Sentinels for the current primary) or a `redis+cluster://` one (`cluster.py`:
every connection asks the cluster which primary serves the installation's slot).
`replicas_ack` N > 0 makes the writes behind a client's `ok` (messages, conversation
changes) wait for N replicas (`WAIT`, on the connection that wrote): replication is
asynchronous, and a failover loses what the promoted replica had not received.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Connection, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import AskError, ClusterDownError, NoScriptError, ReadOnlyError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server.backends.redis import cluster, sentinel
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import WAIT_MS, NotReplicated, Wire, too_few
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, unavailable

RETRIES = 100
"""Attempts of one optimistic transaction before the caller is told to retry later."""


def connect(url: str, *, retries: int = 2, slot: int = 0) -> Redis:
    """A client that reconnects by itself; commands fail fast while Redis is away.

    The pool blocks (briefly) when all its connections are busy instead of raising, so a
    burst of load queues up rather than being answered `unavailable`. On a cluster, its
    connections go to the primary of `slot` (the installation's)."""
    options: dict[str, Any] = {
        "max_connections": 64,
        "timeout": 5,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        "health_check_interval": 5,
    }
    if cluster.is_cluster(url):
        nodes = cluster.parse(url)
        pool = BlockingConnectionPool(
            connection_class=SlotConnection,
            resolver=cluster.Resolver(nodes, slot),
            username=nodes.username,
            password=nodes.password,
            **options,
        )
        return ShardedRedis(connection_pool=pool, decode_responses=False)
    if not sentinel.is_sentinel(url):
        pool = BlockingConnectionPool.from_url(url, **options)
        return Redis(connection_pool=pool, decode_responses=False)
    target = sentinel.parse(url)
    sentinels = Sentinel(
        list(target.sentinels),
        sentinel_kwargs={
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
            "password": target.sentinel_password,
        },
    )
    pool = BlockingSentinelPool(
        target.master,
        sentinels,
        username=target.username,
        password=target.password,
        db=target.db,
        **options,
    )
    return Redis(connection_pool=pool, decode_responses=False)


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """redis-py's Sentinel pool (each connection asks the Sentinels where the primary is
    when it connects, and drops on `READONLY`), blocking when full as `connect`'s does."""


class SlotConnection(Connection):
    """A connection to the primary of the installation's slot on a Redis Cluster, asked
    each time it connects (as redis-py's `SentinelManagedConnection` asks Sentinel). A
    reply that says the slot is elsewhere or the cluster is unsettled drops it as a
    `ConnectionError`: the pool's retry, or the next command, connects to the new owner."""

    def __init__(self, *, resolver: cluster.Resolver, **kwargs: Any) -> None:
        self.resolver = resolver
        super().__init__(**kwargs)

    async def _connect(self) -> None:
        self.host, self.port = await self.resolver()
        await super()._connect()

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except (AskError, ClusterDownError, TryAgainError, ReadOnlyError) as exc:  # MOVED too
            await self.disconnect()
            raise RedisConnectionError(f"not at the slot's primary: {exc}") from None


class ShardedRedis(Redis):
    """On a cluster the scripts publish with `SPUBLISH` (`cluster.sharded`)."""

    def register_script(self, script: Any) -> Any:
        return super().register_script(cluster.sharded(script))


@contextlib.asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Redis unreachable: `unavailable` (retry later), never a silent drop."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError):
        raise unavailable() from None


def contended() -> ChatError:
    """`RETRIES` transactions in a row lost their WATCH to concurrent writes."""
    return unavailable("too much contention, retry")


class Client:
    """The connections and names every role of one store uses."""

    def __init__(self, url: str, clock: Clock, keys: Keys, *, replicas_ack: int = 0) -> None:
        # typed Any on purpose: redis-py's response annotations are unions of every shape a
        # command can return; replies are decoded at this edge (`decoded`, json, int)
        slot = cluster.key_slot(keys.prefix)
        self.redis: Any = connect(url, slot=slot)
        self.wire = Wire(url, replicas_ack=replicas_ack, slot=slot)
        self.keys = keys
        self.clock = clock
        self.replicas_ack = replicas_ack

    async def close(self) -> None:
        self.wire.close()
        await self.redis.aclose()
        pool = self.redis.connection_pool
        if isinstance(pool, SentinelConnectionPool):
            await pool.disconnect()
            await pool.sentinel_manager.aclose()

    async def run_script(self, script: Any, keys: list[str], args: Sequence[Any]) -> Any:
        """A redis-py script whose `ok` a client gets as stored: with `replicas_ack`, sent
        with `WAIT` behind it on the same connection (one round trip more on the replicas'
        side); `NotReplicated` when too few confirm in time."""
        if not self.replicas_ack:
            return await script(keys=keys, args=args)
        for _ in range(2):  # the second after loading a script Redis did not know
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.evalsha(script.sha, len(keys), *keys, *args)
                pipe.execute_command("WAIT", self.replicas_ack, WAIT_MS)
                reply, count = await pipe.execute(raise_on_error=False)
            if isinstance(reply, NoScriptError):
                await self.redis.script_load(script.script)
                continue
            if isinstance(reply, Exception):
                raise reply
            self._check(count)
            return reply
        raise NotReplicated("the script could not be loaded")

    async def replicated(self) -> None:
        """With `replicas_ack`, wait until every write made so far (by any connection)
        reached that many replicas: for an `ok` that finds its write already done (a resend,
        a lost reply), which the write's own `WAIT` may not have confirmed. The `PUBLISH` to
        a channel nobody hears moves this connection's replication offset to the latest; a
        cluster does not replicate publishes, so there a short-lived key is written."""
        if not self.replicas_ack:
            return
        if not self.wire.connected:
            await self.wire.connect()
        mark: tuple[str, ...] = ("PUBLISH", self.keys.channel("replicated"), "")
        if self.keys.sharded:
            mark = ("SET", self.keys.channel("replicated"), "", "PX", "1000")
        _, count = await asyncio.gather(self.wire.send(*mark), self.wire.replicated())
        self._check(count)

    def _check(self, count: Any) -> None:
        short = too_few(count, self.replicas_ack)
        if short is not None:
            raise short

    async def execute(self, pipe: Any) -> None:
        """EXEC the queued transaction. When the connection drops after EXEC was sent,
        redis-py raises `WatchError` (the watch died with it) whether or not EXEC ran: the
        callers decide again, and recognise their own write if it did."""
        await pipe.execute()
