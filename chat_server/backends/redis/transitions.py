"""Every conversation write but a message (open, claim, transfer, requeue, close) is one
optimistic step: read the conversation (and what the decision reads, such as an agent's
active count) in one round trip, decide with the same pure transitions as the embedded
store (`core.conversation`, seqs from `conversation.number`), then send the whole write
(the new state, its indexes, its system lines and their PUBLISH) as one script
(`lua/transition.lua`, `lua/open.lua`) that applies it only if what was read is unchanged.
A concurrent write makes the script answer `retry` and the decision is taken again on
fresh state: that is what makes seq allocation, claim and capacity atomic across nodes, and
publish order equal seq order.

A failed write leaves nothing: every row is built before the script is sent, and a script
is one step. When the reply of a script that did run is lost (the connection dropped, or
redis-py sent it again and the guard refused the copy), the next read finds the
conversation as it wrote it and answers as if the reply had come.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server.backends.records import conversation_from_dict, conversation_to_dict, message_row
from chat_server.backends.redis import decoded, lua, rows, stored
from chat_server.backends.redis.batch import Batch
from chat_server.backends.redis.client import RETRIES, Client, contended, redis_errors
from chat_server.backends.redis.webhooks import outbox_key
from chat_server.backends.redis.wire import Arg
from chat_server.backends.roles.conversations import Changed
from chat_server.core import channels, views
from chat_server.core import conversation as flow
from chat_server.core import webhooks as hooks
from chat_server.core.errors import conflict
from chat_server.core.model import Agent, AgentRef, Conversation, Draft, Message, State
from chat_server.core.webhooks import Event, Wants

Decide = Callable[[Conversation], flow.Transition]
LOST = (RedisConnectionError, RedisTimeoutError)
"""How a script whose reply never came fails: it may or may not have run."""


class Transitions:
    def __init__(self, client: Client) -> None:
        self.client = client
        self._open = client.redis.register_script(lua("open.lua"))
        self._transition = client.redis.register_script(lua("transition.lua"))

    async def open(
        self, conv: Conversation, first: Draft, origin: str | None, webhooks: Wants | None = None
    ) -> Message:
        """The visitor's open-conversation key is the lock: written only while it is free."""
        conv, (message,) = flow.number(conv, [first], conv.created)
        open_key = self.client.keys.visitor_open(conv.visitor_id)
        batch = Batch(open_key, publish=self.client.keys.publish)
        batch.set(open_key, conv.id)
        events = hooks.opened(conv, message, webhooks) if webhooks else []
        self.write(batch, None, conv, [message], origin, events=events)
        lost = False
        async with redis_errors():
            for _ in range(RETRIES):
                if lost:  # did it run? (raises `unavailable` if Redis is away)
                    holder = await self.client.redis.get(open_key)
                else:
                    try:
                        reply = await self.run(self._open, batch.keys, batch.commands)
                    except LOST:
                        lost = True
                        continue
                    if decoded(reply[0]) == "ok":
                        return message
                    holder = reply[1]
                if holder is None:
                    lost = False
                    continue
                if decoded(holder) == conv.id:
                    await self.client.replicated()
                    return message  # ours: it ran, and its reply was lost
                raise conflict("you already have an open conversation")
        raise contended()

    async def claim(self, cid: str, agent: Agent, now: int, webhooks: Wants | None) -> Changed:
        hook = ("claim", webhooks) if webhooks else None
        return await self._give(cid, agent, now, flow.claim, capacity=True, hook=hook)

    async def transfer(
        self, cid: str, agent: Agent, now: int, *, ignore_capacity: bool, webhooks: Wants | None
    ) -> Changed:
        hook = ("transfer", webhooks) if webhooks else None
        return await self._give(
            cid, agent, now, flow.transfer, capacity=not ignore_capacity, hook=hook
        )

    async def _give(
        self,
        cid: str,
        agent: Agent,
        now: int,
        give: Callable[[Conversation, AgentRef, int], flow.Transition],
        *,
        capacity: bool,
        hook: tuple[str, Wants] | None,
    ) -> Changed:
        ref = AgentRef(agent.id, agent.name)
        return await self.change(
            cid, lambda c: give(c, ref, now), agent if capacity else None, assigned=now, hook=hook
        )

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None,
        only_agent: str | None,
        webhooks: Wants | None = None,
    ) -> Changed:
        def decide(conv: Conversation) -> flow.Transition:
            if only_agent is not None and not flow.is_agent_of(conv, only_agent):
                raise conflict("the conversation has moved on")
            return flow.requeue(conv, now, reason=reason, front=front, topic=topic)

        hook = (f"requeue:{reason}", webhooks) if webhooks else None
        return await self.change(cid, decide, hook=hook)

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
        return await self.change(
            cid,
            lambda c: flow.close(c, now, by=by, reason=reason, resolved=resolved),
            hook=("close", webhooks) if webhooks else None,
        )

    async def change(
        self,
        cid: str,
        decide: Decide,
        capacity_of: Agent | None = None,
        *,
        assigned: int | None = None,
        hook: tuple[str, Wants] | None = None,
    ) -> Changed:
        """Decide on the conversation as read, and write the outcome if it is unchanged; with
        `capacity_of`, only while that agent has room (checked again by the script).
        `assigned`: when a claim or transfer happens (the new agent's last assignment).
        `hook`: the change's cause and the webhook events the sites take (to the outbox)."""
        k = self.client.keys
        active_key = k.agent_active(capacity_of.id) if capacity_of else None
        attempted: Changed | None = None
        async with redis_errors():
            for _ in range(RETRIES):
                raw, moved, active = await self._read(cid, active_key)
                if raw is None:
                    raise flow.unknown_conversation()
                before = stored.with_live(conversation_from_dict(json.loads(raw)), moved)
                if attempted is not None and before == attempted.conversation:
                    await self.client.replicated()
                    return attempted  # ours: it ran, and its reply was lost
                flow.ensure_open(before)
                if capacity_of and not flow.has_capacity(active, capacity_of.max_chats):
                    raise conflict(f"{capacity_of.name} has no free capacity")
                transition = decide(before)
                now = self.client.clock.now_ms()
                conv, messages = flow.number(transition.conversation, transition.drafts, now)
                guarded = (k.conv(cid), k.live(cid), *([active_key] if active_key else []))
                batch = Batch(*guarded, publish=k.publish)
                events = hooks.changed(hook[0], before, conv, now, hook[1]) if hook else []
                self.write(batch, before, conv, messages, None, assigned=assigned, events=events)
                seq = moved[0] or b""
                guard: list[Arg] = [raw, seq, capacity_of.max_chats if capacity_of else ""]
                attempted = Changed(conv, tuple(messages), before)
                try:
                    reply = await self.run(self._transition, batch.keys, [*guard, *batch.commands])
                except LOST:
                    continue
                if decoded(reply) == "ok":
                    return attempted
        raise contended()

    async def _read(
        self, cid: str, active_key: str | None
    ) -> tuple[bytes | None, list[bytes | None], int]:
        """The conversation's JSON and live fields as stored (the script compares the JSON
        and the seq), and the agent's active count (when asked): one round trip."""
        k = self.client.keys
        async with self.client.redis.pipeline(transaction=False) as pipe:
            pipe.get(k.conv(cid))
            pipe.hmget(k.live(cid), *stored.MOVED)
            if active_key is not None:
                pipe.scard(active_key)
            replies = await pipe.execute()
        return replies[0], replies[1], int(replies[2]) if active_key is not None else 0

    async def run(self, script: Any, keys: list[str], args: Sequence[Arg]) -> Any:
        """Send one script. A reply lost on the way back raises one of `LOST`."""
        return await self.client.run_script(script, keys, args)

    def write(
        self,
        batch: Batch,
        before: Conversation | None,
        conv: Conversation,
        messages: list[Message],
        origin: str | None,
        *,
        assigned: int | None = None,
        events: list[Event] | None = None,
    ) -> None:
        """Queue the conversation, its indexes, its new messages and their publication.
        `assigned`: the time a new agent got it (routing's least recently assigned).
        `events`: webhook events, to the outbox in the same script."""
        k, cid = self.client.keys, conv.id
        batch.set(k.conv(cid), rows.dumps(conversation_to_dict(conv)))
        live, absent = stored.live_fields(conv)
        batch.hset(k.live(cid), mapping=live)
        if absent:
            batch.hdel(k.live(cid), *absent)
        if before is None or before.state is not conv.state:
            if before is not None:
                batch.zrem(k.convs(before.state.value), cid)
            batch.zadd(k.convs(conv.state.value), {cid: stored.state_score(conv)})
            batch.zadd(k.convs(), {cid: conv.created})
            batch.zadd(k.visitor_convs(conv.visitor_id), {cid: conv.created})
        if conv.state is State.QUEUED:
            batch.zadd(k.queue(), {cid: stored.queue_score(conv)})
        else:
            batch.zrem(k.queue(), cid)
        if before is not None and before.agent is not None:
            batch.srem(k.agent_active(before.agent.id), cid)
        if conv.state is State.ACTIVE and conv.agent is not None:
            batch.sadd(k.agent_active(conv.agent.id), cid)
            batch.zadd(k.agent_convs(conv.agent.id), {cid: conv.created})
            if before is None or before.agent != conv.agent:
                when = assigned if assigned is not None else conv.assigned_at or conv.created
                batch.hset(k.last_assigned(), conv.agent.id, when)
        if conv.state is State.CLOSED:
            batch.delete(k.visitor_open(conv.visitor_id))
        self._append_messages(batch, conv, messages, origin)
        for event in events or ():
            batch.xadd(outbox_key(self.client), hooks.event_fields(event), id="*")

    def _append_messages(
        self, batch: Batch, conv: Conversation, messages: list[Message], origin: str | None
    ) -> None:
        """Each message to the stream (id = seq) and its events, in seq order."""
        k, cid = self.client.keys, conv.id
        for m in messages:
            batch.xadd(k.messages(cid), {"m": rows.dumps(message_row(m))}, id=f"{m.seq}-0")
            if m.cmid is not None:
                batch.hset(k.cmids(cid), f"{m.sender.id}|{m.cmid}", m.seq)
            batch.publish(
                k.channel(channels.conversation(cid)), rows.event(views.msg_event(m), origin)
            )
            if views.visible_to_visitor(m):
                batch.publish(
                    k.channel(channels.visitor(conv.visitor_id)),
                    rows.event(views.msg_event(m, for_visitor=True), origin),
                )
