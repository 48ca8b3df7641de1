"""How a conversation is kept in Redis: its JSON (rewritten only by transitions) and its
live hash (`Keys.live`), which messages move (append.lua) and which is the truth for
`last_seq`, `first_response_at`, `visitor_turn_at` and `last_active`."""

from __future__ import annotations

import json
from dataclasses import replace

from chat_server.backends.records import conversation_from_dict
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.core.model import Conversation, State

MOVED = ("seq", "frt", "turn", "act")
"""The live fields that messages move (append.lua), read over the conversation's JSON."""


def live_fields(conv: Conversation) -> tuple[dict[str, str | int], list[str]]:
    """The live hash of a conversation, and the fields it lacks."""
    values = {
        "seq": conv.last_seq,
        "state": conv.state.value,
        "visitor": conv.visitor_id,
        "agent": conv.agent.id if conv.agent else None,
        "created": conv.created,
        "topic": conv.topic,
        "frt": conv.first_response_at,
        "turn": conv.visitor_turn_at,
        "act": conv.last_active,
        "pend": conv.pending_at,
        "site": conv.site,
    }
    return {k: v for k, v in values.items() if v is not None}, [
        k for k, v in values.items() if v is None
    ]


def with_live(conv: Conversation, moved: list[bytes | None]) -> Conversation:
    """The conversation's JSON, updated with what messages moved since it was written."""
    seq, frt, turn, act = moved
    if seq is None:
        return conv
    return replace(
        conv,
        last_seq=int(seq),
        first_response_at=opt_int(frt),
        visitor_turn_at=opt_int(turn),
        last_active=opt_int(act),
    )


def opt_int(value: bytes | str | None) -> int | None:
    return int(value) if value else None


def state_score(conv: Conversation) -> int:
    """A conversation's score in its state's index: when it was created, except in the
    pending index, which is served oldest offline message first (`pending_at`)."""
    if conv.state is State.PENDING and conv.pending_at is not None:
        return conv.pending_at
    return conv.created


def queue_score(conv: Conversation) -> float:
    """The queue's sort order: rank first (0: put back in front), then arrival."""
    return conv.queue_rank * 10**13 + conv.queued_at


async def load_many(client: Client, cids: list[str]) -> list[Conversation]:
    """The conversations that exist among `cids`, in that order, in one round trip."""
    if not cids:
        return []
    async with redis_errors(), client.redis.pipeline(transaction=False) as pipe:
        for cid in cids:
            pipe.get(client.keys.conv(cid))
            pipe.hmget(client.keys.live(cid), *MOVED)
        raw = await pipe.execute()
    return [
        with_live(conversation_from_dict(json.loads(raw[i])), raw[i + 1])
        for i in range(0, len(raw), 2)
        if raw[i] is not None
    ]
