"""The Redis store's webhooks (issue 17), shared by every node.

- endpoints: one hash, id -> JSON (few per site);
- the outbox: one stream that the conversation scripts (append.lua, transition.lua,
  open.lua, webhook_rate.lua) add to in the same step as the change;
- deliveries: a hash n -> record, and per endpoint a sorted set of n (its queue, in order);
  parked ones leave the queue for one sorted set of n;
- fan-out: `webhook_fanout.lua` moves outbox events to queues, each event once whichever
  node runs it (an event another node moved is skipped);
- the lease: `webhook_lease.lua`, SET NX PX renewed by its holder.
"""

from __future__ import annotations

from collections.abc import Mapping

from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.core.webhooks import (
    Delivery,
    Endpoint,
    Event,
    delivery_from_json,
    delivery_to_json,
    endpoint_from_json,
    endpoint_to_json,
    event_fields,
    event_from_fields,
)


class WebhookKeys:
    def __init__(self, prefix: str) -> None:
        self._p = f"{prefix}:webhooks"

    def endpoints(self) -> str:
        return f"{self._p}:endpoints"

    def outbox(self) -> str:
        return f"{self._p}:outbox"

    def deliveries(self) -> str:
        return f"{self._p}:deliveries"

    def counter(self) -> str:
        return f"{self._p}:n"

    def queue(self, endpoint_id: str) -> str:
        return f"{self._p}:queue:{endpoint_id}"

    def parked(self) -> str:
        return f"{self._p}:parked"

    def lease(self, endpoint_id: str) -> str:
        return f"{self._p}:lease:{endpoint_id}"


def outbox_key(client: Client) -> str:
    """The outbox stream, for the conversation writes that add to it."""
    return WebhookKeys(client.keys.prefix).outbox()


def _fields(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {decoded(k): decoded(v) for k, v in raw.items()}


class RedisWebhooks:
    def __init__(self, client: Client) -> None:
        self.redis = client.redis
        self.k = WebhookKeys(client.keys.prefix)
        self._fan_out = client.redis.register_script(lua("webhook_fanout.lua"))
        self._lease = client.redis.register_script(lua("webhook_lease.lua"))

    # endpoints ------------------------------------------------------------------------------

    async def add_endpoint(self, endpoint: Endpoint) -> None:
        async with redis_errors():
            await self.redis.hset(self.k.endpoints(), endpoint.id, endpoint_to_json(endpoint))

    async def endpoints(self, site: str | None = None) -> list[Endpoint]:
        async with redis_errors():
            raw = await self.redis.hvals(self.k.endpoints())
        found = sorted((endpoint_from_json(v) for v in raw), key=lambda e: (e.created, e.id))
        return [e for e in found if site is None or e.site == site]

    async def remove_endpoint(self, endpoint_id: str) -> Endpoint | None:
        async with redis_errors():
            raw = await self.redis.hget(self.k.endpoints(), endpoint_id)
            if raw is None:
                return None
            queued = await self.redis.zrange(self.k.queue(endpoint_id), 0, -1)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self.k.endpoints(), endpoint_id)
                pipe.delete(self.k.queue(endpoint_id))
                if queued:
                    pipe.hdel(self.k.deliveries(), *queued)
                await pipe.execute()
        return endpoint_from_json(raw)

    # the outbox -----------------------------------------------------------------------------

    async def record(self, events: list[Event]) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for e in events:
                pipe.xadd(self.k.outbox(), event_fields(e))
            await pipe.execute()

    async def fan_out(self, limit: int = 200) -> int:
        async with redis_errors():
            entries = await self.redis.xrange(self.k.outbox(), count=limit)
            if not entries:
                return 0
            endpoints = await self.endpoints()
            keys = [self.k.outbox(), self.k.deliveries(), self.k.counter(), self.k.endpoints()]
            args: list[str | bytes] = []
            for entry_id, raw in entries:
                event = event_from_fields(_fields(raw))
                targets = [e for e in endpoints if e.site == event.site and event.type in e.events]
                args += [entry_id, str(len(targets))]
                for e in targets:
                    if self.k.queue(e.id) not in keys:
                        keys.append(self.k.queue(e.id))
                    record = delivery_to_json(Delivery(0, e.id, event))
                    args += [str(keys.index(self.k.queue(e.id)) + 1), e.id, record]
            return int(await self._fan_out(keys=keys, args=args))

    async def queued(self, endpoint_id: str, limit: int) -> list[Delivery]:
        async with redis_errors():
            ns = await self.redis.zrange(self.k.queue(endpoint_id), 0, limit - 1)
            if not ns:
                return []
            records = await self.redis.hmget(self.k.deliveries(), ns)
        return [
            delivery_from_json(int(n), r) for n, r in zip(ns, records, strict=True) if r is not None
        ]

    async def delivered(self, delivery: Delivery) -> None:
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self.k.queue(delivery.endpoint), delivery.n)
            pipe.hdel(self.k.deliveries(), delivery.n)
            await pipe.execute()

    async def retry(self, delivery: Delivery, due: int, error: str) -> None:
        d = Delivery(
            delivery.n, delivery.endpoint, delivery.event, delivery.attempts + 1, due, error
        )
        async with redis_errors():
            await self.redis.hset(self.k.deliveries(), delivery.n, delivery_to_json(d))

    async def park(self, delivery: Delivery, error: str) -> None:
        d = Delivery(delivery.n, delivery.endpoint, delivery.event, delivery.attempts + 1, 0, error)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.k.deliveries(), delivery.n, delivery_to_json(d))
            pipe.zrem(self.k.queue(delivery.endpoint), delivery.n)
            pipe.zadd(self.k.parked(), {str(delivery.n): delivery.n})
            await pipe.execute()

    async def parked(self, site: str | None = None, limit: int = 100) -> list[Delivery]:
        async with redis_errors():
            ns = await self.redis.zrange(self.k.parked(), 0, -1)
            records = await self.redis.hmget(self.k.deliveries(), ns) if ns else []
        found = [
            delivery_from_json(int(n), r) for n, r in zip(ns, records, strict=True) if r is not None
        ]
        return [d for d in found if site is None or d.event.site == site][:limit]

    async def replay(self, n: int | None = None) -> int:
        chosen = [d for d in await self.parked(limit=1_000_000) if n is None or d.n == n]
        known = {e.id for e in await self.endpoints()}
        back = 0
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for d in chosen:
                pipe.zrem(self.k.parked(), d.n)
                if d.endpoint not in known:
                    pipe.hdel(self.k.deliveries(), d.n)
                    continue
                fresh = Delivery(d.n, d.endpoint, d.event, 0, 0, d.error)
                pipe.hset(self.k.deliveries(), d.n, delivery_to_json(fresh))
                pipe.zadd(self.k.queue(d.endpoint), {str(d.n): d.n})
                back += 1
            await pipe.execute()
        return back

    async def forget(self, cid: str) -> int:
        """Scans the outbox (short: fan-out drains it every round) and the deliveries (the
        queued and parked ones only): O(their number), fine for an erase or a sweep."""
        removed = 0
        async with redis_errors():
            entries = await self.redis.xrange(self.k.outbox())
            gone = [i for i, raw in entries if _fields(raw).get("cid") == cid]
            if gone:
                removed += int(await self.redis.xdel(self.k.outbox(), *gone))
            ours: list[Delivery] = []
            async for n, record in self.redis.hscan_iter(self.k.deliveries(), count=500):
                d = delivery_from_json(int(n), record)
                if d.event.cid == cid:
                    ours.append(d)
            if not ours:
                return removed
            async with self.redis.pipeline(transaction=True) as pipe:
                for d in ours:
                    pipe.zrem(self.k.queue(d.endpoint), d.n)
                    pipe.zrem(self.k.parked(), d.n)
                    pipe.hdel(self.k.deliveries(), d.n)
                await pipe.execute()
        return removed + len(ours)

    # the lease ------------------------------------------------------------------------------

    async def lease(self, endpoint_id: str, holder: str, ttl_ms: int) -> bool:
        async with redis_errors():
            return bool(await self._lease(keys=[self.k.lease(endpoint_id)], args=[holder, ttl_ms]))

    async def release(self, endpoint_id: str, holder: str) -> None:
        async with redis_errors():
            key = self.k.lease(endpoint_id)
            if decoded(await self.redis.get(key) or b"") == holder:
                await self.redis.delete(key)
