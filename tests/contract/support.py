"""Builders and assertions the contract tests share: agents, senders, drafts, an opened
conversation, an expected refusal."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.backends.redis.client import Client
from chat_server.backends.redis.spread_store import SpreadStore
from chat_server.backends.redis.store import RedisStore
from chat_server.core import conversation as flow
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent, AgentRole, Draft, Kind, Message, Role, Sender


def agent(aid: str = "a_ann", max_chats: int = 3) -> Agent:
    return Agent(
        aid, f"{aid}@example.com", aid.removeprefix("a_").title(), AgentRole.AGENT, max_chats
    )


def visitor(vid: str = "v_1") -> Sender:
    return Sender(Role.VISITOR, vid, "Vera")


def speaker(a: Agent) -> Sender:
    return Sender(Role.AGENT, a.id, a.name)


def text(sender: Sender, body: str = "hello", cmid: str | None = None) -> Draft:
    return Draft(Kind.TEXT, sender, body, cmid)


def note(sender: Sender, body: str = "internal", cmid: str | None = None) -> Draft:
    return Draft(Kind.NOTE, sender, body, cmid)


def redis_clients(store: Store) -> list[Client]:
    """A Redis store's clients: its one, or one per partition (`SpreadStore`), each at the
    primary of its partition's slot (key names from its `keys`)."""
    if isinstance(store, SpreadStore):
        return list(store.clients)
    assert isinstance(store, RedisStore)
    return [store.client]


async def open_conv(
    store: Store,
    clock: Clock,
    cid: str = "c_1",
    vid: str = "v_1",
    *,
    topic: str | None = None,
    cmid: str | None = None,
    origin: str | None = None,
) -> Message:
    """A conversation's id ends as its visitor's (as `ids.conversation_id` makes it), so
    both are in one partition of a spread store: `c_2_1` is a second conversation of
    `v_1`."""
    conv = flow.open_conversation(cid, "shop", vid, topic, clock.now_ms())
    return await store.conversations.open(conv, text(visitor(vid), "first", cmid), origin)


async def expect(code: ErrorCode, awaitable: Awaitable[Any]) -> ChatError:
    with pytest.raises(ChatError) as info:
        await awaitable
    assert info.value.code is code
    return info.value


async def seqs(store: Store, cid: str) -> list[int]:
    return [m.seq for m in (await store.conversations.history(cid, 0, 1000, notes=True))[0]]


def assert_gap_free(numbers: list[int]) -> None:
    assert numbers == list(range(1, len(numbers) + 1)), numbers
