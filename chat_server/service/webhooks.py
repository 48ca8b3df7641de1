"""Webhooks (issue 17): managing endpoints (for the CLI and REST), and delivering.

`Deliverer` runs in every node: it moves outbox events to the endpoints' queues
(`fan_out`, each event once whichever node does it), and runs one worker per endpoint
that, while this node holds the endpoint's lease, posts the due deliveries one at a time,
each conversation's in order. A 2xx marks a delivery done; anything else schedules a
retry (`core.webhooks.Backoff`) and, once the retry window is over, parks it.
A delivery that timed out is retried with the same event id (and the same body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chat_server.backends.base import Store
from chat_server.config import Settings
from chat_server.core import ssrf
from chat_server.core import webhooks as hooks
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, bad_request, not_found
from chat_server.core.ids import new_id
from chat_server.core.model import AuditEntry
from chat_server.core.webhooks import Delivery, Endpoint
from chat_server.service.outbox import EndpointCache, HookedConversations
from chat_server.service.webhook_http import DeliveryFailed, post

log = logging.getLogger(__name__)

SCAN = 500
"""How far into an endpoint's queue a round looks for each conversation's next delivery."""
BATCH = 50
CLI = "cli"
"""Who an endpoint added or removed by `chat-server webhook` is audited under."""
"""Deliveries one round posts (one at a time) before it looks at the queue again."""


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    allow: tuple[ssrf.Network, ...] = ()
    timeout_s: float = 10.0
    poll_s: float = 1.0
    backoff: hooks.Backoff = field(default_factory=hooks.Backoff)


# endpoints ------------------------------------------------------------------------------


async def add_endpoint(
    store: Store,
    site: str,
    url: str,
    events: Sequence[str],
    secret: str | None,
    now: int,
    allow: Sequence[ssrf.Network] = (),
    *,
    by: str = CLI,
) -> Endpoint:
    """Checked (`core.webhooks.new_endpoint`), for a known site; a URL whose host is an
    address is checked against the SSRF rules now (a name is, at each delivery). Audited
    under `by` (an agent id, or `cli`)."""
    if await store.directory.site(site) is None:
        raise not_found(f"no site {site!r}")
    endpoint = hooks.new_endpoint(site, url, events, secret, now)
    address = ssrf.literal(urlsplit(url).hostname or "")
    if address is not None:
        reason = ssrf.refusal(address, allow)
        if reason is not None:
            raise bad_request(f"refused: a {reason} (see CHAT_WEBHOOK_ALLOW)")
    await store.webhooks.add_endpoint(endpoint)
    await _audit(store, now, by, "webhook_add", endpoint)
    await refresh(store)
    return endpoint


async def remove_endpoint(
    store: Store, endpoint_id: str, now: int, site: str | None = None, *, by: str = CLI
) -> Endpoint:
    found = [e for e in await store.webhooks.endpoints(site) if e.id == endpoint_id]
    removed = await store.webhooks.remove_endpoint(endpoint_id) if found else None
    if removed is None:
        raise not_found("no such webhook")
    await _audit(store, now, by, "webhook_remove", removed)
    await refresh(store)
    return removed


async def _audit(store: Store, now: int, by: str, action: str, e: Endpoint) -> None:
    detail = json.dumps({"site": e.site, "webhook": e.id, "url": e.url}, separators=(",", ":"))
    await store.audit.record(AuditEntry(now, by, action, None, detail))


async def refresh(store: Store) -> None:
    """This node's cache of the endpoints, at once (others see it within `refresh_s`)."""
    if isinstance(store.conversations, HookedConversations):
        await store.conversations.cache.refresh()


def endpoint_view(e: Endpoint, *, secret: bool = False) -> dict[str, object]:
    """The secret only when asked (right after `add`)."""
    view: dict[str, object] = {
        "id": e.id,
        "site": e.site,
        "url": e.url,
        "events": list(e.events),
        "created": e.created,
    }
    if secret:
        view["secret"] = e.secret
    return view


def delivery_view(d: Delivery) -> dict[str, object]:
    e = d.event
    return {
        "n": d.n,
        "endpoint": d.endpoint,
        "event": {"id": e.id, "type": e.type, "ts": e.ts, "site": e.site, "cid": e.cid},
        "attempts": d.attempts,
        "error": d.error,
    }


# delivery -------------------------------------------------------------------------------


class Deliverer:
    def __init__(self, store: Store, clock: Clock, options: DeliveryOptions) -> None:
        self.store = store
        self.clock = clock
        self.options = options
        self.node_id = new_id("n")
        self._endpoints: dict[str, Endpoint] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.lease_ms = int(max(3 * options.poll_s, options.timeout_s + 5) * 1000)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._workers.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for endpoint_id in list(self._workers):
            with contextlib.suppress(ChatError):
                await self.store.webhooks.release(endpoint_id, self.node_id)

    async def _run(self) -> None:
        while True:
            moved = 0
            try:
                moved = await self.store.webhooks.fan_out()
                self._follow(await self.store.webhooks.endpoints())
            except ChatError as exc:
                log.warning("webhooks: %s", exc.message)
            if not moved:
                await asyncio.sleep(self.options.poll_s)

    def _follow(self, endpoints: list[Endpoint]) -> None:
        """A worker per endpoint: started for new ones, stopped for removed ones."""
        self._endpoints = {e.id: e for e in endpoints}
        for endpoint_id, task in list(self._workers.items()):
            if endpoint_id not in self._endpoints or task.done():
                task.cancel()
                del self._workers[endpoint_id]
        for endpoint_id in self._endpoints:
            if endpoint_id not in self._workers:
                self._workers[endpoint_id] = asyncio.create_task(self._work(endpoint_id))

    async def _work(self, endpoint_id: str) -> None:
        while endpoint_id in self._endpoints:
            posted = 0
            try:
                if await self.store.webhooks.lease(endpoint_id, self.node_id, self.lease_ms):
                    posted = await self.round(endpoint_id)
            except ChatError as exc:
                log.warning("webhooks (%s): %s", endpoint_id, exc.message)
            if not posted:
                await asyncio.sleep(self.options.poll_s)

    async def round(self, endpoint_id: str) -> int:
        """Post each conversation's next due delivery, one at a time; how many were tried."""
        queued = await self.store.webhooks.queued(endpoint_id, SCAN)
        ready = hooks.heads(queued, self.clock.now_ms(), BATCH)
        for delivery in ready:
            endpoint = self._endpoints.get(endpoint_id)
            if endpoint is None:
                break
            if not await self.store.webhooks.lease(endpoint_id, self.node_id, self.lease_ms):
                break  # another node has it now
            await self.deliver(endpoint, delivery)
        return len(ready)

    async def deliver(self, endpoint: Endpoint, delivery: Delivery) -> bool:
        payload = hooks.body(delivery.event)
        now_s = self.clock.now_ms() // 1000
        headers = hooks.headers(endpoint, delivery.event, payload, now_s)
        try:
            await post(
                endpoint.url,
                headers,
                payload,
                timeout_s=self.options.timeout_s,
                allow=self.options.allow,
            )
        except DeliveryFailed as exc:
            await self._failed(delivery, str(exc)[:500])
            return False
        await self.store.webhooks.delivered(delivery)
        return True

    async def _failed(self, delivery: Delivery, error: str) -> None:
        now = self.clock.now_ms()
        attempts = delivery.attempts + 1
        due = self.options.backoff.next_due(attempts, delivery.event.ts, now, random.random())
        if due is None:
            log.warning("webhook %s parked after %d attempts: %s", delivery.n, attempts, error)
            await self.store.webhooks.park(delivery, error)
        else:
            await self.store.webhooks.retry(delivery, due, error)


# wiring -------------------------------------------------------------------------------------


def options_of(settings: Settings) -> DeliveryOptions:
    backoff = hooks.Backoff(
        int(settings.webhook_retry_base_s * 1000),
        int(settings.webhook_retry_cap_s * 1000),
        int(settings.webhook_retry_hours * 3_600_000),
    )
    return DeliveryOptions(
        ssrf.networks(settings.webhook_allow),
        settings.webhook_timeout_s,
        settings.webhook_poll_s,
        backoff,
    )


@contextlib.asynccontextmanager
async def running(store: Store, clock: Clock, settings: Settings) -> AsyncIterator[None]:
    """Webhooks on this node, for the app's lifespan: every conversation write goes through
    `HookedConversations` (events into the outbox), and a `Deliverer` posts them."""
    cache = EndpointCache(store.webhooks, settings.webhook_refresh_s)
    await cache.start()
    store.conversations = HookedConversations(store.conversations, cache)
    deliverer = Deliverer(store, clock, options_of(settings))
    await deliverer.start()
    try:
        yield
    finally:
        await deliverer.stop()
        await cache.stop()
