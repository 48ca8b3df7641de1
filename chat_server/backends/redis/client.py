"""What the Redis roles share: the connections, the key names, the clock, and how a failure
of Redis reaches the caller.

Two connections: redis-py (pooled, reconnecting) for reads and the optimistic
WATCH/MULTI/EXEC transactions, and the lean `Wire` for the per-message writes (append,
figures, audit), where redis-py's per-command overhead would dominate.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import Wire
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, unavailable

RETRIES = 100
"""Attempts of one optimistic transaction before the caller is told to retry later."""


def connect(url: str, *, retries: int = 2) -> Redis:
    """A client that reconnects by itself; commands fail fast while Redis is away.

    The pool blocks (briefly) when all its connections are busy instead of raising, so a
    burst of load queues up rather than being answered `unavailable`."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        health_check_interval=5,
    )
    return Redis(connection_pool=pool, decode_responses=False)


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

    def __init__(self, url: str, clock: Clock, keys: Keys) -> None:
        # typed Any on purpose: redis-py's response annotations are unions of every shape a
        # command can return; replies are decoded at this edge (`decoded`, json, int)
        self.redis: Any = connect(url)
        self.wire = Wire(url)
        self.keys = keys
        self.clock = clock

    async def execute(self, pipe: Any) -> None:
        """EXEC the queued transaction. When the connection drops after EXEC was sent,
        redis-py raises `WatchError` (the watch died with it) whether or not EXEC ran: the
        callers decide again, and recognise their own write if it did."""
        await pipe.execute()
