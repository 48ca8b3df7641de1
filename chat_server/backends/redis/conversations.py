"""The conversations role on Redis: the reads and ratings here, the writes in
`transitions.py` (open, claim, transfer, requeue, close) and `append.py` (messages).

Indexes, kept by `Transitions.write`: sorted sets of conversations by state, by agent and
by visitor (score: created), the queue (score: rank, then arrival), each agent's active set
and when each agent was last given one."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing

from chat_server.backends.records import message_from_row
from chat_server.backends.redis import decoded, lua, rows, stored
from chat_server.backends.redis.append import Appender
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.transitions import Transitions
from chat_server.backends.redis.webhooks import outbox_key
from chat_server.backends.redis.wire import Script
from chat_server.backends.roles.conversations import AgentLoad, Appended, Changed, Decide, Quiet
from chat_server.core import routing
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import (
    Agent,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    State,
)
from chat_server.core.webhooks import Event, Wants, event_fields

FIND_BATCH = 200
"""Conversations read and decoded per round trip of `find`: a sweep over thousands (the
inactivity timers read every active chat) leaves the event loop between batches instead
of stalling every socket for the whole read (5,000 at once took over 100 ms)."""
NEVER_QUIET = 2**53
"""`quiet_since`'s time when none is given: after every chat went quiet (a whole number
that a Lua number holds exactly)."""


class RedisConversations:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.keys = client.keys
        self.redis = client.redis
        self.transitions = Transitions(client)
        self.appender = Appender(client)
        self._rate = client.redis.register_script(lua("webhook_rate.lua"))
        self._quiet = Script(client.wire, lua("quiet.lua"))

    # reads ------------------------------------------------------------------------------

    async def get(self, cid: str) -> Conversation | None:
        found = await stored.load_many(self.client, [cid])
        return found[0] if found else None

    async def open_of(self, visitor_id: str) -> Conversation | None:
        async with redis_errors():
            cid = await self.redis.get(self.keys.visitor_open(visitor_id))
        return await self.get(decoded(cid)) if cid else None

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        if visitor_id:
            source = self.keys.visitor_convs(visitor_id)
        elif agent_id:
            source = self.keys.agent_convs(agent_id)
        else:
            source = self.keys.convs(state.value if state else None)
        found: list[Conversation] = []
        batch = min(max(limit, 50), FIND_BATCH)
        async with aclosing(self._newest_first(source, batch)) as pages:
            async for cids in pages:
                for conv in await stored.load_many(self.client, cids):
                    if state is not None and conv.state is not state:
                        continue
                    if agent_id is not None and (conv.agent is None or conv.agent.id != agent_id):
                        continue
                    if visitor_id is not None and conv.visitor_id != visitor_id:
                        continue
                    found.append(conv)
                if len(found) >= limit:
                    break
        return found[:limit]

    async def quiet_since(self, limit: int, before: int | None = None) -> list[Quiet]:
        """From each one's live hash (its JSON is not read), `FIND_BATCH` a round trip, the
        time compared in Redis (`quiet.lua`): only those that can be due come back. A
        conversation whose live hash says nothing of its site or start comes with None and
        0: the sweep reads it whole."""
        found: list[Quiet] = []
        index = self.keys.convs(State.ACTIVE.value)
        until = NEVER_QUIET if before is None else before
        async with aclosing(self._newest_first(index, FIND_BATCH)) as pages:
            async for cids in pages:
                async with redis_errors():
                    due = await self._quiet([self.keys.live(cid) for cid in cids], [until])
                for i in range(0, len(due), 3):
                    site = decoded(due[i + 1])
                    found.append(Quiet(cids[int(due[i]) - 1], site or None, int(due[i + 2])))
                if len(found) >= limit:
                    break
        return found[:limit]

    async def _newest_first(self, index: str, batch: int) -> AsyncGenerator[list[str], None]:
        """The ids in a sorted-set index, newest first, `batch` a round trip (the event loop
        runs between them); each once, though a newer one added meanwhile moves the rest
        down a page."""
        seen: set[str] = set()
        start = 0
        while True:
            async with redis_errors():
                page = await self.redis.zrevrange(index, start, start + batch - 1)
            if not page:
                return
            cids = [cid for cid in map(decoded, page) if cid not in seen]
            seen.update(cids)
            yield cids
            start += batch

    async def waiting(self) -> list[Conversation]:
        async with redis_errors():
            cids = [decoded(c) for c in await self.redis.zrange(self.keys.queue(), 0, -1)]
        return routing.queue_order(await stored.load_many(self.client, cids))

    async def pending(self) -> list[Conversation]:
        """The pending index is scored by `pending_at` (`Transitions.write`)."""
        key, last = self.keys.convs(State.PENDING.value), routing.PENDING_LIST_MAX - 1
        async with redis_errors():
            cids = [decoded(c) for c in await self.redis.zrange(key, 0, last)]
        return routing.pending_order(await stored.load_many(self.client, cids))

    async def active_of(self, agent_id: str) -> list[Conversation]:
        async with redis_errors():
            members = await self.redis.smembers(self.keys.agent_active(agent_id))
        cids = sorted(decoded(c) for c in members)
        return [c for c in await stored.load_many(self.client, cids) if c.state is State.ACTIVE]

    async def loads(self) -> dict[str, AgentLoad]:
        async with redis_errors():
            ids = [decoded(i) for i in await self.redis.smembers(self.keys.agents())]
        return await self.loads_of(ids)

    async def loads_of(self, ids: list[str]) -> dict[str, AgentLoad]:
        """`loads` of these agents (a spread installation's partitions are given the
        directory's, which they do not hold)."""
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.scard(self.keys.agent_active(agent_id))
            pipe.hgetall(self.keys.last_assigned())
            raw = await pipe.execute()
        last = {decoded(k): int(v) for k, v in raw[-1].items()}
        return {
            agent_id: AgentLoad(int(n), last.get(agent_id, 0))
            for agent_id, n in zip(ids, raw[:-1], strict=True)
        }

    async def active_count(self, agent_id: str) -> int:
        """How many chats the agent holds here (`active_of` without reading them)."""
        async with redis_errors():
            return int(await self.redis.scard(self.keys.agent_active(agent_id)))

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        """From the stream, whose entry ids are the seqs: `XRANGE <after + 1>-0 +`."""
        out: list[Message] = []
        start = after + 1
        async with redis_errors():
            while True:
                entries = await self.redis.xrange(
                    self.keys.messages(cid), f"{start}-0", "+", count=limit + 1
                )
                for _, fields in entries:
                    m = message_from_row(tuple(json.loads(fields[b"m"])))
                    if notes or m.kind.value != "note":
                        out.append(m)
                if len(out) > limit or len(entries) <= limit:
                    break
                start = int(entries[-1][0].split(b"-")[0]) + 1
        return out[:limit], len(out) > limit

    async def rating(self, cid: str) -> Rating | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.rating(cid))
        return Rating(*json.loads(raw)) if raw else None

    # writes -----------------------------------------------------------------------------

    async def open(
        self,
        conv: Conversation,
        first: Draft,
        origin: str | None,
        *,
        webhooks: Wants | None = None,
    ) -> Message:
        return await self.transitions.open(conv, first, origin, webhooks)

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
        return await self.appender.append(
            cid, draft, origin, guarded=guarded, audit=audit, webhooks=webhooks
        )

    async def claim(
        self, cid: str, agent: Agent, now: int, *, webhooks: Wants | None = None
    ) -> Changed:
        return await self.transitions.claim(cid, agent, now, webhooks)

    async def transfer(
        self,
        cid: str,
        agent: Agent,
        now: int,
        *,
        ignore_capacity: bool = False,
        webhooks: Wants | None = None,
    ) -> Changed:
        return await self.transitions.transfer(
            cid, agent, now, ignore_capacity=ignore_capacity, webhooks=webhooks
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
        return await self.transitions.requeue(
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
        return await self.transitions.close(
            cid, now, by=by, reason=reason, resolved=resolved, webhooks=webhooks
        )

    async def transition(
        self, cid: str, decide: Decide, *, webhooks: Wants | None = None
    ) -> Changed:
        hook = ("transition", webhooks) if webhooks else None
        return await self.transitions.change(cid, decide, hook=hook)

    async def rate(self, rating: Rating, *, outbox: list[Event] | None = None) -> None:
        """SET NX: the first rating stays. A resent SET whose first run's reply was lost
        finds its own value, and is done. With `outbox`, one script (`webhook_rate.lua`)
        writes the rating and its webhook events."""
        value = rows.rating(rating)
        key = self.keys.rating(rating.cid)
        if outbox:
            width = len(event_fields(outbox[0])) * 2
            args = [
                value,
                width,
                *(x for e in outbox for kv in event_fields(e).items() for x in kv),
            ]
            async with redis_errors():
                if await self._rate(keys=[key, outbox_key(self.client)], args=args):
                    return
            raise ChatError(ErrorCode.ALREADY_RATED, "this conversation was already rated")
        async with redis_errors():
            if await self.redis.set(key, value, nx=True):
                return
            if await self.redis.get(key) == value:
                return  # our SET ran, its reply was lost, and redis-py sent it again
        raise ChatError(ErrorCode.ALREADY_RATED, "this conversation was already rated")
