"""Under a burst, Redis commands queue for a pooled connection instead of failing
(redis-py's default pool raises past 100 connections, which answered frames `unavailable`)."""

from __future__ import annotations

import asyncio

from chat_server.backends.redis.store import connect
from tests.redis_server import RedisServer


async def test_a_burst_of_commands_waits_for_connections(redis_server: RedisServer) -> None:
    client = connect(redis_server.url)
    try:
        results = await asyncio.gather(
            *(client.incr("burst-test") for _ in range(400)), return_exceptions=True
        )
        assert [r for r in results if isinstance(r, Exception)] == []
        assert max(results) == 400  # type: ignore[type-var]
    finally:
        await client.delete("burst-test")
        await client.aclose()
