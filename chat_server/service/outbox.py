"""Webhook events into the outbox, in the same step as the change (issue 17).

`HookedConversations` stands in for `store.conversations` (set up in `app.py`), so every
service (visitor, agent, bots, dispatcher, sweeper) gets webhook events without a change:
on each write it passes the store the event types each site's endpoints take
(`core.webhooks.Wants`) and the store adds the events to the outbox in the write's own
transaction or script. With no endpoint taking a write's events it passes nothing, and
the write is exactly as before (sites without webhooks pay nothing).

`EndpointCache` is what this node knows of the endpoints: read at start, again after each
change made through this node, and every `refresh_s` (another node's change is seen here
within that delay)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from chat_server.backends.roles.conversations import (
    AgentLoad,
    Appended,
    Changed,
    Conversations,
    Decide,
    Quiet,
)
from chat_server.backends.roles.webhooks import Webhooks
from chat_server.core import webhooks as hooks
from chat_server.core.errors import ChatError
from chat_server.core.model import (
    Agent,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    State,
)
from chat_server.core.webhooks import Event, Wants

log = logging.getLogger(__name__)

CONVERSATION_TYPES = (
    hooks.ASSIGNED,
    hooks.TRANSFERRED,
    hooks.CLOSED,
    hooks.OFFLINE,
)


class EndpointCache:
    def __init__(self, webhooks: Webhooks, refresh_s: float) -> None:
        self._webhooks = webhooks
        self._refresh_s = refresh_s
        self.wants = Wants()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> None:
        self.wants = hooks.wants_of(await self._webhooks.endpoints())

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.refresh()
            except ChatError as exc:  # the store is away: keep what was known
                log.warning("webhook endpoints not refreshed: %s", exc.message)

    def taking(self, *types: str) -> Wants | None:
        """The wants, when some site takes one of `types`; else None (the plain write)."""
        return self.wants if self.wants.any(types) else None


class HookedConversations:
    """`Conversations`, with each write's webhook events (see the module's docstring)."""

    def __init__(self, inner: Conversations, cache: EndpointCache) -> None:
        self.inner = inner
        self.cache = cache

    def __getattr__(self, name: str) -> Any:
        """Anything else the store's role has (reads added later) is the store's own."""
        return getattr(self.inner, name)

    # reads ------------------------------------------------------------------------------

    async def get(self, cid: str) -> Conversation | None:
        return await self.inner.get(cid)

    async def open_of(self, visitor_id: str) -> Conversation | None:
        return await self.inner.open_of(visitor_id)

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        return await self.inner.find(
            state=state, agent_id=agent_id, visitor_id=visitor_id, limit=limit
        )

    async def quiet_since(self, limit: int, before: int | None = None) -> list[Quiet]:
        return await self.inner.quiet_since(limit, before)

    async def waiting(self) -> list[Conversation]:
        return await self.inner.waiting()

    async def pending(self) -> list[Conversation]:
        return await self.inner.pending()

    async def active_of(self, agent_id: str) -> list[Conversation]:
        return await self.inner.active_of(agent_id)

    async def loads(self) -> dict[str, AgentLoad]:
        return await self.inner.loads()

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        return await self.inner.history(cid, after, limit, notes=notes)

    async def rating(self, cid: str) -> Rating | None:
        return await self.inner.rating(cid)

    # writes -----------------------------------------------------------------------------

    async def open(
        self,
        conv: Conversation,
        first: Draft,
        origin: str | None,
        *,
        webhooks: Wants | None = None,
    ) -> Message:
        wants = webhooks or self.cache.taking(hooks.STARTED, hooks.OFFLINE, hooks.MESSAGE)
        return await self.inner.open(conv, first, origin, webhooks=wants)

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
        webhooks: Wants | None = None,
    ) -> Appended:
        type_ = hooks.message_type(draft.kind)
        wants = webhooks or (self.cache.taking(type_) if type_ else None)
        return await self.inner.append(
            cid, draft, origin, guarded=guarded, audit=audit, webhooks=wants
        )

    async def claim(
        self, cid: str, agent: Agent, now: int, *, webhooks: Wants | None = None
    ) -> Changed:
        wants = webhooks or self.cache.taking(*CONVERSATION_TYPES)
        return await self.inner.claim(cid, agent, now, webhooks=wants)

    async def transfer(
        self,
        cid: str,
        agent: Agent,
        now: int,
        *,
        ignore_capacity: bool = False,
        webhooks: Wants | None = None,
    ) -> Changed:
        wants = webhooks or self.cache.taking(*CONVERSATION_TYPES)
        return await self.inner.transfer(
            cid, agent, now, ignore_capacity=ignore_capacity, webhooks=wants
        )

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None = None,
        only_agent: str | None = None,
        webhooks: Wants | None = None,
    ) -> Changed:
        wants = webhooks or self.cache.taking(*CONVERSATION_TYPES)
        return await self.inner.requeue(
            cid,
            now,
            reason=reason,
            front=front,
            topic=topic,
            only_agent=only_agent,
            webhooks=wants,
        )

    async def close(
        self,
        cid: str,
        now: int,
        *,
        by: str,
        reason: str,
        resolved: bool | None,
        webhooks: Wants | None = None,
    ) -> Changed:
        wants = webhooks or self.cache.taking(hooks.CLOSED)
        return await self.inner.close(
            cid, now, by=by, reason=reason, resolved=resolved, webhooks=wants
        )

    async def transition(
        self, cid: str, decide: Decide, *, webhooks: Wants | None = None
    ) -> Changed:
        wants = webhooks or self.cache.taking(*CONVERSATION_TYPES)
        return await self.inner.transition(cid, decide, webhooks=wants)

    async def rate(self, rating: Rating, *, outbox: list[Event] | None = None) -> None:
        """The conversation is read for its site only when some site takes ratings."""
        if outbox is None and self.cache.taking(hooks.RATING):
            conv = await self.inner.get(rating.cid)
            if conv is not None:
                outbox = hooks.rated(rating, conv.site, self.cache.wants)
        await self.inner.rate(rating, outbox=outbox or None)
