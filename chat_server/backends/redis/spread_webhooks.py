"""The webhooks role of a spread installation (`partitions.py`).

A conversation's events join its partition's outbox in the conversation's own step, so
each partition fans its outbox out to its own delivery queues, against the endpoints that
every partition holds a copy of (written to all, read from partition 0). Events of no
conversation go to partition 0's. A delivery's number says its partition in its last bits
(`n * MAX + p`); an endpoint's queue is every partition's, oldest event first, and one
lease (partition 0's) covers all of them.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from chat_server.backends.redis.partitions import MAX, Partitions
from chat_server.backends.redis.spread_roles import each
from chat_server.backends.redis.webhooks import RedisWebhooks
from chat_server.core.webhooks import Delivery, Endpoint, Event


class SpreadWebhooks:
    def __init__(self, parts: Sequence[RedisWebhooks], where: Partitions) -> None:
        self.parts, self.where = parts, where

    # delivery numbers -------------------------------------------------------------------

    @staticmethod
    def _out(delivery: Delivery, p: int) -> Delivery:
        """A partition's delivery, numbered for the installation."""
        return Delivery(
            delivery.n * MAX + p,
            delivery.endpoint,
            delivery.event,
            delivery.attempts,
            delivery.due,
            delivery.error,
        )

    def _in(self, delivery: Delivery) -> tuple[RedisWebhooks, Delivery]:
        """The partition of an installation's delivery, and the delivery as it numbers it."""
        n, p = divmod(delivery.n, MAX)
        local = Delivery(
            n, delivery.endpoint, delivery.event, delivery.attempts, delivery.due, delivery.error
        )
        return self.parts[p], local

    # endpoints --------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        await each(p.add_endpoint(endpoint) for p in self.parts)

    async def endpoints(self, site: str | None = None) -> list[Endpoint]:
        return await self.parts[0].endpoints(site)

    async def remove_endpoint(self, endpoint_id: str) -> Endpoint | None:
        removed = await each(p.remove_endpoint(endpoint_id) for p in self.parts)
        return next((e for e in removed if e is not None), None)  # one a failed add missed

    # the outbox and the queues ----------------------------------------------------------

    async def record(self, events: list[Event]) -> None:
        groups: dict[int, list[Event]] = {}
        for e in events:
            groups.setdefault(self.where.of(e.cid) if e.cid else 0, []).append(e)
        await each(self.parts[p].record(group) for p, group in groups.items())

    async def fan_out(self, limit: int = 200) -> int:
        return sum(await each(p.fan_out(limit) for p in self.parts))

    async def queued(self, endpoint_id: str, limit: int) -> list[Delivery]:
        pages = await each(p.queued(endpoint_id, limit) for p in self.parts)
        found = (self._out(d, p) for p, page in enumerate(pages) for d in page)
        return heapq.nsmallest(limit, found, key=lambda d: (d.event.ts, d.n))

    async def delivered(self, delivery: Delivery) -> None:
        part, local = self._in(delivery)
        await part.delivered(local)

    async def retry(self, delivery: Delivery, due: int, error: str) -> None:
        part, local = self._in(delivery)
        await part.retry(local, due, error)

    async def park(self, delivery: Delivery, error: str) -> None:
        part, local = self._in(delivery)
        await part.park(local, error)

    async def parked(self, site: str | None = None, limit: int = 100) -> list[Delivery]:
        pages = await each(p.parked(site, limit) for p in self.parts)
        found = (self._out(d, p) for p, page in enumerate(pages) for d in page)
        return heapq.nsmallest(limit, found, key=lambda d: (d.event.ts, d.n))

    async def replay(self, n: int | None = None) -> int:
        if n is None:
            return sum(await each(p.replay() for p in self.parts))
        local, p = divmod(n, MAX)
        return await self.parts[p].replay(local) if p < len(self.parts) else 0

    async def forget(self, cid: str) -> int:
        return await self.parts[self.where.of(cid)].forget(cid)

    # the lease --------------------------------------------------------------------------

    async def lease(self, endpoint_id: str, holder: str, ttl_ms: int) -> bool:
        return await self.parts[0].lease(endpoint_id, holder, ttl_ms)

    async def release(self, endpoint_id: str, holder: str) -> None:
        await self.parts[0].release(endpoint_id, holder)
