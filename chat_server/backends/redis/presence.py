"""Presence in Redis, kept per node: what it costs grows with arrivals and departures, not
with the number of connections.

Each node keeps in memory which agents and visitors it has connections for. It writes to
Redis only when one of them appears on the node or leaves it (`presence_write.lua`):

- `node-present:<kind>:<node>`: the identities this node holds;
- `holders:<kind>:<id>`: the nodes holding one identity;
- `online:<kind>`: the identities held by at least one node;
- `gone:<kind>`: the identities no node holds any more, and since when.

Its heartbeat is one round trip whatever its load (`ZADD nodes <node> <now + ttl>`). Every
node's sweep runs `presence_reap.lua`, which looks only at the nodes whose heartbeat expired
(a rare event: a node that died or stalled) and moves their identities that no live node
holds to `gone`. A node that finds it was reaped (it stalled, or Redis was away, for longer
than the ttl) writes everything it holds again, which cancels those absences.

The writes of one node are serialized and batched (one in flight at a time, carrying every
change made meanwhile): a connect and a disconnect of the same identity can never reach
Redis out of order, and a burst of connections costs a few round trips, not one each.

Every call that reaches Redis answers `unavailable` when Redis cannot be reached.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.roles.presence import PresenceKind

log = logging.getLogger(__name__)
KINDS: tuple[PresenceKind, ...] = ("agent", "visitor")
WRITE_BATCH = 1_000
"""Identities per `presence_write.lua` call (a rewrite of everything a node holds is chunked)."""
REAP_BUDGET = 2_000
"""Identities per `presence_reap.lua` call: bounds how long one call blocks Redis."""
REAP_ROUNDS = 50
"""Calls per `gone_since` at most; what is left is reaped at the next sweep."""

Key = tuple[PresenceKind, str]


class NodePresence:
    """One node's agents and visitors, and the cluster-wide view (`online`, `gone_since`)."""

    def __init__(self, client: Client, ttl_ms: int, node_id: str | None = None) -> None:
        self.redis: Any = client.redis
        self.keys = keys = client.keys
        self.clock = client.clock
        self.ttl_ms = ttl_ms
        self.node_id = node_id or uuid.uuid4().hex
        self._conns: dict[Key, set[str]] = {}
        self._dirty: dict[Key, int] = {}
        """Identities whose Redis state may differ from `_conns`, with when they changed."""
        self._lock = asyncio.Lock()
        self._registered = False
        """This node has written to Redis: a missing or expired heartbeat means reaped."""
        self._write_script = self.redis.register_script(lua("presence_write.lua"))
        self._reap_script = self.redis.register_script(lua("presence_reap.lua"))
        self._reap_args: list[str] = []
        for kind in KINDS:
            self._reap_args += [
                keys.online(kind),
                keys.gone(kind),
                keys.node_present(kind, ""),
                keys.holders(kind, ""),
            ]

    # this node --------------------------------------------------------------------------

    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None:
        """Returns once the identity is online in Redis; undone if that fails."""
        key = (kind, ident)
        conns = self._conns.get(key)
        if conns is None:
            conns = self._conns[key] = set()
            self._dirty[key] = now
        added = conn_id not in conns
        conns.add(conn_id)
        try:
            async with redis_errors():
                await self._flush()
        except BaseException:
            if added:
                self._drop(key, conn_id, now)
            raise

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        """Returns how many connections the identity still has on this node. When it was
        the last, the identity leaves this node in Redis (kept to retry if that fails)."""
        key = (kind, ident)
        left = self._drop(key, conn_id, now)
        if not left:
            async with redis_errors():
                await self._flush()
        return left

    def _drop(self, key: Key, conn_id: str, now: int) -> int:
        conns = self._conns.get(key)
        if conns is None:
            return 0
        conns.discard(conn_id)
        if not conns:
            del self._conns[key]
            self._dirty[key] = now
        return len(conns)

    async def heartbeat(self, now: int) -> bool:
        """One round trip: this node is alive until now + ttl. Also retries failed writes, and
        writes everything again if the node had expired (and may have been reaped)."""
        nodes = self.keys.nodes()
        async with redis_errors(), self._lock:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.zscore(nodes, self.node_id)
                pipe.zadd(nodes, {self.node_id: now + self.ttl_ms})
                before, _ = await pipe.execute()
            expired = self._registered and (before is None or float(before) < now)
            if expired:
                log.warning(
                    "this node's presence had expired (stalled or cut off from Redis for "
                    "longer than presence_ttl_s): writing its %d agents and visitors again",
                    len(self._conns),
                )
                self._rewrite_all(now)
            self._registered = True
            await self._flush_locked()
        return expired

    def _rewrite_all(self, now: int) -> None:
        for key in self._conns:
            self._dirty.setdefault(key, now)

    async def _flush(self) -> None:
        if not self._dirty and not self._lock.locked():
            return  # nothing to write, nothing in flight
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        """Write the changes, in batches; a batch in flight holds the lock, so whoever
        waited for it finds its own change written, or writes it with the next batch."""
        while self._dirty:
            batch, self._dirty = self._dirty, {}
            try:
                rejoined = await self._write(batch)
            except BaseException:
                for key, now in batch.items():
                    self._dirty.setdefault(key, now)
                raise
            if rejoined and self._registered:
                log.warning("this node's presence was reaped: writing it again")
                self._rewrite_all(self.clock.now_ms())
            self._registered = True

    async def _write(self, batch: dict[Key, int]) -> bool:
        k = self.keys
        fixed = [k.nodes()]
        for kind in KINDS:
            fixed += [k.online(kind), k.gone(kind), k.node_present(kind, self.node_id)]
        expiry = self.clock.now_ms() + self.ttl_ms
        items = list(batch.items())
        rejoined = False
        for start in range(0, len(items), WRITE_BATCH):
            keys, args = list(fixed), [self.node_id, expiry]
            for (kind, ident), now in items[start : start + WRITE_BATCH]:
                keys.append(k.holders(kind, ident))
                here = 1 if (kind, ident) in self._conns else 0
                args += [KINDS.index(kind) + 1, ident, here, now]
            rejoined |= bool(await self._write_script(keys=keys, args=args))
        return rejoined

    # the cluster ------------------------------------------------------------------------

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        key = self.keys.online(kind)
        if among is None:
            async with redis_errors():
                return {decoded(i) for i in await self.redis.smembers(key)}
        idents = list(among)
        if not idents:
            return set()
        async with redis_errors():
            flags = await self.redis.smismember(key, idents)
        return {ident for ident, flag in zip(idents, flags, strict=True) if flag}

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        """Reap the nodes whose heartbeat expired, then who is gone since before `before`."""
        keys = [self.keys.nodes(), self.keys.gone(kind)]
        args = [self.clock.now_ms(), REAP_BUDGET, before, *self._reap_args]
        async with redis_errors():
            for _ in range(REAP_ROUNDS):
                reply = await self._reap_script(keys=keys, args=args)
                if not int(reply[0]):
                    break
        return [decoded(g) for g in reply[1:]]

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        async with redis_errors():
            await self.redis.zrem(self.keys.gone(kind), ident)
