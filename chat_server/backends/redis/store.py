"""The Redis store: all shared state in Redis, so any number of nodes act as one server.

A container of roles (`backends/roles/`), one module each: `conversations.py` (with
`transitions.py` and `append.py` for its writes), `directory.py`, `audit.py`,
`figures.py`, `rollups.py`, `cobrowse.py`, `presence.py`, `files.py`, `retention.py`. They
share one `Client` (client.py): redis-py for reads and transactions, the lean `Wire` for
the per-message writes.

Every read-modify-write is atomic: a Lua script (`lua/`, one per atomic step) or an
optimistic WATCH/MULTI/EXEC transaction. A failed write leaves nothing of itself: rows are
built before anything is sent (`rows.py`), a transaction that fails before EXEC is
discarded whole, and a script is one step. When the reply of a write that did run is lost,
a retry finds that write and answers as if the reply had come: by the message's cmid
(append), by the conversation (transitions, open), by the agent's id (add_agent), by the
rating's value (rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from chat_server.backends.redis.audit import RedisAudit
from chat_server.backends.redis.client import Client, connect, redis_errors
from chat_server.backends.redis.cobrowse import RedisCobrowse
from chat_server.backends.redis.conversations import RedisConversations
from chat_server.backends.redis.directory import RedisDirectory
from chat_server.backends.redis.figures import RedisFigures
from chat_server.backends.redis.files import RedisFiles
from chat_server.backends.redis.keys import for_url
from chat_server.backends.redis.presence import NodePresence
from chat_server.backends.redis.retention import RedisRetention
from chat_server.backends.redis.rollups import RedisRollups
from chat_server.backends.redis.search import RedisSearch
from chat_server.backends.redis.tags import RedisTags
from chat_server.backends.redis.webhooks import RedisWebhooks
from chat_server.backends.roles.audit import Audit
from chat_server.backends.roles.cobrowse import Cobrowse
from chat_server.backends.roles.conversations import Conversations
from chat_server.backends.roles.directory import Directory
from chat_server.backends.roles.figures import Figures
from chat_server.backends.roles.files import Files
from chat_server.backends.roles.presence import Presence
from chat_server.backends.roles.retention import Retention
from chat_server.backends.roles.rollups import Rollups
from chat_server.backends.roles.search import Search
from chat_server.backends.roles.tags import Tags
from chat_server.backends.roles.webhooks import Webhooks
from chat_server.core.clock import Clock
from chat_server.core.rollups import KEEP_DAYS, Calendar

__all__ = ["RedisStore", "connect"]

log = logging.getLogger(__name__)


class RedisStore:
    def __init__(
        self,
        url: str,
        clock: Clock,
        *,
        prefix: str = "chat",
        presence_ttl_s: float = 10.0,
        calendar: Calendar | None = None,
        rollup_days: int = KEEP_DAYS,
        replicas_ack: int = 0,
    ) -> None:
        """`calendar` (`reports_tz`) and `rollup_days`: the figures kept over time.
        `replicas_ack`: the replicas each acknowledged write waits for (`client.py`)."""
        self.client = Client(url, clock, for_url(url, prefix), replicas_ack=replicas_ack)
        self.redis = self.client.redis
        self.wire = self.client.wire
        self.keys = self.client.keys
        self.clock = clock
        # typed as the roles (`Store`'s attributes are settable, so invariant): mypy checks
        # each class against its role protocol here
        self.conversations: Conversations = RedisConversations(self.client)
        self.directory: Directory = (directory := RedisDirectory(self.client))
        self._directory = directory
        self.audit: Audit = RedisAudit(self.client)
        figures = RedisFigures(self.client, calendar or Calendar(), rollup_days)
        self.figures: Figures = figures
        self.rollups: Rollups = RedisRollups(self.client, figures.buffer)
        self.cobrowse: Cobrowse = RedisCobrowse(self.client)
        self.presence: Presence = NodePresence(self.client, int(presence_ttl_s * 1000))
        self.files: Files = RedisFiles(self.client)
        self.search: Search = RedisSearch(self.client)
        self.webhooks: Webhooks = RedisWebhooks(self.client)
        self.tags: Tags = RedisTags(self.client)
        self.retention: Retention = RedisRetention(self.client, self.files)

    async def start(self) -> None:
        async with redis_errors():
            await self.redis.ping()
            await self.wire.connect()
            await self._directory.adopt_sites()
        with contextlib.suppress(RedisError):
            config = await self.redis.config_get("appendonly")
            if config.get(b"appendonly", config.get("appendonly")) in (b"no", "no"):
                log.warning(
                    "Redis has AOF off (appendonly no): acknowledged messages are lost "
                    "if Redis restarts; see docs/operations.md"
                )
            if self.client.replicas_ack:
                replicas = int((await self.redis.info("replication")).get("connected_slaves", 0))
                if replicas < self.client.replicas_ack:
                    log.warning(
                        "CHAT_REDIS_REPLICAS_ACK is %d but the primary has %d replicas: "
                        "messages are refused until enough replicas are connected",
                        self.client.replicas_ack,
                        replicas,
                    )

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):  # figures queued last go out first
            async with asyncio.timeout(self.wire.timeout):
                await self.figures.checkpoint()
        await self.client.close()

    async def ready(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def secret(self, candidate: bytes) -> bytes:
        async with redis_errors():
            await self.redis.set(self.keys.secret(), candidate, nx=True)
            kept: bytes = await self.redis.get(self.keys.secret())
            return kept
