"""The conversations role of a spread installation (`partitions.py`).

A conversation, its transcript and its visitor's indexes live in its partition, and every
write to it is that partition's atomic step, unchanged. Lists (the queue, the pending
ones, an agent's, by state) merge every partition's, in the order one partition gives.

An agent's capacity is the one thing shared across partitions: each partition counts the
chats it gave the agent, so a claim or a transfer there is checked, in that partition's
step, against what is left of `max_chats` after the agent's chats in the others. A lock
per agent under the installation's own prefix (`capacity_lock`) makes the agent's claims
and transfers one at a time, so that count cannot grow meanwhile (a chat the agent leaves
meanwhile only makes the check stricter than it need be). A node that stalls past
`LOCK_MS` while holding it loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace

from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.conversations import RedisConversations
from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.spread_roles import each
from chat_server.backends.roles.conversations import AgentLoad, Appended, Changed, Decide, Quiet
from chat_server.core import routing
from chat_server.core.errors import unavailable
from chat_server.core.ids import new_id
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

LOCK_MS = 5_000
"""How long an agent's capacity lock lasts, at most: far above a claim's few round trips."""
LOCK_WAIT_S = 5.0
"""How long a claim waits for another claim of the same agent before it is `unavailable`."""


class SpreadConversations:
    def __init__(
        self, parts: Sequence[RedisConversations], where: Partitions, accounts: Client
    ) -> None:
        """`accounts`: the installation's own client, where the agents are."""
        self.parts, self.where, self.accounts = parts, where, accounts
        self._release = accounts.redis.register_script(lua("lock_release.lua"))

    def _of(self, ident: str) -> RedisConversations:
        return self.parts[self.where.of(ident)]

    # reads ------------------------------------------------------------------------------

    async def get(self, cid: str) -> Conversation | None:
        return await self._of(cid).get(cid)

    async def open_of(self, visitor_id: str) -> Conversation | None:
        return await self._of(visitor_id).open_of(visitor_id)

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        if visitor_id:
            part = self._of(visitor_id)
            return await part.find(
                state=state, agent_id=agent_id, visitor_id=visitor_id, limit=limit
            )
        lists = await each(p.find(state=state, agent_id=agent_id, limit=limit) for p in self.parts)
        merged = (c for found in lists for c in found)
        return heapq.nlargest(limit, merged, key=lambda c: (c.created, c.id))

    async def quiet_since(self, limit: int, before: int | None = None) -> list[Quiet]:
        """Taken from the partitions in turn: past `limit` none is left out whole."""
        lists = await each(p.quiet_since(limit, before) for p in self.parts)
        turns = itertools.zip_longest(*lists)
        return list(itertools.islice((q for turn in turns for q in turn if q), limit))

    async def waiting(self) -> list[Conversation]:
        lists = await each(p.waiting() for p in self.parts)
        return routing.queue_order(c for found in lists for c in found)

    async def pending(self) -> list[Conversation]:
        lists = await each(p.pending() for p in self.parts)
        return routing.pending_order(c for found in lists for c in found)

    async def active_of(self, agent_id: str) -> list[Conversation]:
        lists = await each(p.active_of(agent_id) for p in self.parts)
        return sorted((c for found in lists for c in found), key=lambda c: c.id)

    async def loads(self) -> dict[str, AgentLoad]:
        """The agents are the directory's; each partition counts its chats."""
        base = self.accounts
        async with redis_errors():
            ids = [decoded(i) for i in await base.redis.smembers(base.keys.agents())]
        counts = await each(p.loads_of(ids) for p in self.parts)
        return {
            agent_id: AgentLoad(
                sum(c[agent_id].active for c in counts),
                max(c[agent_id].last_assigned for c in counts),
            )
            for agent_id in ids
        }

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        return await self._of(cid).history(cid, after, limit, notes=notes)

    async def rating(self, cid: str) -> Rating | None:
        return await self._of(cid).rating(cid)

    # writes -----------------------------------------------------------------------------

    async def open(
        self,
        conv: Conversation,
        first: Draft,
        origin: str | None,
        *,
        webhooks: Wants | None = None,
    ) -> Message:
        if self.where.of(conv.id) != self.where.of(conv.visitor_id):
            raise ValueError(
                f"conversation {conv.id} is not in the partition of its visitor "
                f"{conv.visitor_id}: make its id with ids.conversation_id(visitor_id)"
            )
        return await self._of(conv.id).open(conv, first, origin, webhooks=webhooks)

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
        return await self._of(cid).append(
            cid, draft, origin, guarded=guarded, audit=audit, webhooks=webhooks
        )

    async def claim(
        self, cid: str, agent: Agent, now: int, *, webhooks: Wants | None = None
    ) -> Changed:
        async with self._one_at_a_time(agent.id):
            left = await self._capacity_left(agent, cid)
            return await self._of(cid).claim(cid, left, now, webhooks=webhooks)

    async def transfer(
        self,
        cid: str,
        agent: Agent,
        now: int,
        *,
        ignore_capacity: bool = False,
        webhooks: Wants | None = None,
    ) -> Changed:
        if ignore_capacity:
            return await self._of(cid).transfer(
                cid, agent, now, ignore_capacity=True, webhooks=webhooks
            )
        async with self._one_at_a_time(agent.id):
            left = await self._capacity_left(agent, cid)
            return await self._of(cid).transfer(cid, left, now, webhooks=webhooks)

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, agent_id: str) -> AsyncIterator[None]:
        """The agent's capacity lock, held for the block (waiting `LOCK_WAIT_S` at most)."""
        base = self.accounts
        key, token = base.keys.capacity_lock(agent_id), new_id("lock")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        while True:
            async with redis_errors():
                if await base.redis.set(key, token, nx=True, px=LOCK_MS):
                    break
            if loop.time() > deadline:
                raise unavailable("another change of this agent's chats is under way, retry")
            await asyncio.sleep(0.002 + 0.008 * random.random())
        try:
            yield
        finally:
            async with redis_errors():
                await self._release(keys=[key], args=[token])

    async def _capacity_left(self, agent: Agent, cid: str) -> Agent:
        """`agent` with the chats it holds in the other partitions taken off `max_chats`:
        what the claim's own partition may still give it."""
        here = self.where.of(cid)
        others = [p for i, p in enumerate(self.parts) if i != here]
        if not others:
            return agent

        elsewhere = sum(await each(p.active_count(agent.id) for p in others))
        return replace(agent, max_chats=max(agent.max_chats - elsewhere, 0)) if elsewhere else agent

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
        return await self._of(cid).requeue(
            cid,
            now,
            reason=reason,
            front=front,
            topic=topic,
            only_agent=only_agent,
            webhooks=webhooks,
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
        return await self._of(cid).close(
            cid, now, by=by, reason=reason, resolved=resolved, webhooks=webhooks
        )

    async def transition(
        self, cid: str, decide: Decide, *, webhooks: Wants | None = None
    ) -> Changed:
        return await self._of(cid).transition(cid, decide, webhooks=webhooks)

    async def rate(self, rating: Rating, *, outbox: list[Event] | None = None) -> None:
        await self._of(rating.cid).rate(rating, outbox=outbox)
