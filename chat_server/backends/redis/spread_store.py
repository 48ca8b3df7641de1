"""The Redis store of an installation spread over a cluster's shards (`partitions.py`):
`redis+cluster://...?partitions=N`.

`base` is a whole `RedisStore` under the installation's own prefix and holds what belongs
to no conversation: the directory, presence, figures, reports, the secret. Each partition
is a `Client` (its own connections, at its slot's primary) under its own prefix, with the
roles that hold a conversation's state; `spread_*.py` route each call to the partition of
its conversation, or ask all and merge.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from chat_server.backends.redis import cluster
from chat_server.backends.redis.audit import RedisAudit
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.cobrowse import RedisCobrowse
from chat_server.backends.redis.conversations import RedisConversations
from chat_server.backends.redis.files import RedisFiles
from chat_server.backends.redis.keys import for_url
from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.retention import RedisRetention
from chat_server.backends.redis.search import RedisSearch
from chat_server.backends.redis.spread_conversations import SpreadConversations
from chat_server.backends.redis.spread_roles import (
    SpreadAudit,
    SpreadCobrowse,
    SpreadFiles,
    SpreadRetention,
    SpreadSearch,
    SpreadTags,
    each,
)
from chat_server.backends.redis.spread_webhooks import SpreadWebhooks
from chat_server.backends.redis.store import RedisStore
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


def redis_store(url: str, clock: Clock, **options: Any) -> RedisStore | SpreadStore:
    """The store of the installation at `url`: spread when its URL asks for partitions."""
    kind = SpreadStore if cluster.partitions(url) > 1 else RedisStore
    return kind(url, clock, **options)


class SpreadStore:
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
        self.where = Partitions(prefix, cluster.partitions(url))
        self.base = RedisStore(
            url,
            clock,
            prefix=prefix,
            presence_ttl_s=presence_ttl_s,
            calendar=calendar,
            rollup_days=rollup_days,
            replicas_ack=replicas_ack,
        )
        self.clients = [
            Client(url, clock, for_url(url, p), replicas_ack=replicas_ack)
            for p in self.where.prefixes
        ]
        """One per partition."""
        where, clients, accounts = self.where, self.clients, self.base.client
        self.directory: Directory = self.base.directory
        self.figures: Figures = self.base.figures
        self.rollups: Rollups = self.base.rollups
        self.presence: Presence = self.base.presence
        self.conversations: Conversations = SpreadConversations(
            [RedisConversations(c) for c in clients], where, accounts
        )
        self.audit: Audit = SpreadAudit([RedisAudit(c) for c in clients], where)
        self.cobrowse: Cobrowse = SpreadCobrowse([RedisCobrowse(c) for c in clients], where)
        files = [RedisFiles(c) for c in clients]
        self.files: Files = SpreadFiles(files, where)
        self.search: Search = SpreadSearch(
            [
                RedisSearch(c, accounts=accounts, partition=(p, len(clients)))
                for p, c in enumerate(clients)
            ],
            where,
        )
        self.tags: Tags = SpreadTags([RedisTags(c) for c in clients], where)
        self.retention: Retention = SpreadRetention(
            [RedisRetention(c, f, accounts=accounts) for c, f in zip(clients, files, strict=True)],
            where,
        )
        self.webhooks: Webhooks = SpreadWebhooks([RedisWebhooks(c) for c in clients], where)

    async def start(self) -> None:
        await self.base.start()
        for client in self.clients:
            async with redis_errors():
                await client.redis.ping()
                await client.wire.connect()

    async def stop(self) -> None:
        await self.base.stop()
        await each(c.close() for c in self.clients)

    async def ready(self) -> bool:
        if not await self.base.ready():
            return False
        try:
            return all(await each(c.redis.ping() for c in self.clients))
        except (RedisError, OSError):
            return False

    async def secret(self, candidate: bytes) -> bytes:
        return await self.base.secret(candidate)
