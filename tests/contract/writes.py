"""A scene and every conversation write on it, for the write-failure contract (issue 21,
flaw 2) and each backend's own failure tests: a failed write leaves the store as it was.

"As it was" is what every reader sees through the roles (`snapshot`): conversations,
transcripts, each visitor's open conversation, the queue, each agent's active set and load."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent, AgentRole, AuditEntry, Draft, Kind, Role, Sender
from tests.contract.support import seqs

FailNext = Callable[[BaseException], contextlib.AbstractContextManager[None]]
"""Within the block, the store's next durable write fails with the given exception."""

FAILURES: list[BaseException] = [
    RuntimeError("injected"),
    ValueError("injected"),
    KeyError("injected"),
    MemoryError(),
    OSError("injected"),
    asyncio.CancelledError(),
    sqlite3.OperationalError("disk I/O error"),
    RedisConnectionError("injected"),
    RedisTimeoutError("injected"),
]
"""What any backend may meet (each backend's own library errors too, on every backend)."""

ANN = Agent("a_ann", "ann@example.com", "Ann", AgentRole.AGENT, 3)
BOB = Agent("a_bob", "bob@example.com", "Bob", AgentRole.AGENT, 3)
VISITORS = ("v_queued", "v_active", "v_new")
CIDS = ("c_queued", "c_active", "c_new")


def visitor(vid: str) -> Sender:
    return Sender(Role.VISITOR, vid, "Vera")


def agent_sender(agent: Agent) -> Sender:
    return Sender(Role.AGENT, agent.id, agent.name)


async def scene(store: Store, clock: Clock) -> None:
    """Two agents; `c_queued` waits, `c_active` is Ann's and has three messages."""
    for agent in (ANN, BOB):
        await store.directory.add_agent(agent)
    for cid, vid in (("c_queued", "v_queued"), ("c_active", "v_active")):
        conv = flow.open_conversation(cid, "shop", vid, None, clock.now_ms())
        await store.conversations.open(conv, Draft(Kind.TEXT, visitor(vid), "hi", f"{cid}-1"), None)
    await store.conversations.claim("c_active", ANN, clock.now_ms())
    await store.conversations.append(
        "c_active", Draft(Kind.TEXT, agent_sender(ANN), "hello", "ann-1")
    )


async def start(store: Store, clock: Clock) -> None:
    conv = flow.open_conversation("c_new", "shop", "v_new", "billing", clock.now_ms())
    await store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_new"), "help", "new-1"), None)


async def append(store: Store, clock: Clock) -> None:
    draft = Draft(Kind.TEXT, visitor("v_active"), "more", "v-2")
    await store.conversations.append("c_active", draft, guarded=True)


async def note(store: Store, clock: Clock) -> None:
    entry = AuditEntry(clock.now_ms(), ANN.id, "note", "c_active", "")
    draft = Draft(Kind.NOTE, agent_sender(ANN), "internal", "note-1")
    await store.conversations.append("c_active", draft, guarded=True, audit=entry)


async def claim(store: Store, clock: Clock) -> None:
    await store.conversations.claim("c_queued", BOB, clock.now_ms())


async def transfer(store: Store, clock: Clock) -> None:
    await store.conversations.transfer("c_active", BOB, clock.now_ms())


async def requeue(store: Store, clock: Clock) -> None:
    await store.conversations.requeue("c_active", clock.now_ms(), reason="agent_left", front=True)


async def close(store: Store, clock: Clock) -> None:
    await store.conversations.close(
        "c_active", clock.now_ms(), by="agent", reason="done", resolved=True
    )


WRITES: dict[str, Callable[[Store, Clock], Awaitable[None]]] = {
    "start": start,
    "append": append,
    "note": note,
    "claim": claim,
    "transfer": transfer,
    "requeue": requeue,
    "close": close,
}
"""Every conversation write; each is repeatable once it has failed."""


async def snapshot(store: Store, *, last_assigned: bool = True) -> dict[str, Any]:
    """What readers see (`last_assigned` is memory only in the embedded store: a fresh load
    of it starts from zero), the audit trail included."""
    loads = await store.conversations.loads()
    return {
        "conversations": {cid: await store.conversations.get(cid) for cid in CIDS},
        "transcripts": {
            cid: (await store.conversations.history(cid, 0, 1000, notes=True))[0] for cid in CIDS
        },
        "open_of": {vid: await store.conversations.open_of(vid) for vid in VISITORS},
        "waiting": [c.id for c in await store.conversations.waiting()],
        "active": {
            a.id: [c.id for c in await store.conversations.active_of(a.id)] for a in (ANN, BOB)
        },
        "loads": {
            aid: (load.active, load.last_assigned if last_assigned else 0)
            for aid, load in loads.items()
            if load.active or (last_assigned and load.last_assigned)
        },
        "audit": await store.audit.log(),
    }


async def assert_gap_free(store: Store) -> None:
    for cid in CIDS:
        numbers = await seqs(store, cid)
        assert numbers == list(range(1, len(numbers) + 1)), (cid, numbers)


@contextlib.contextmanager
def refused(injected: BaseException) -> Iterator[None]:
    """The caller hears of the failure: `unavailable`, or the very exception."""
    with pytest.raises((ChatError, type(injected))) as info:
        yield
    if isinstance(info.value, ChatError) and not isinstance(injected, ChatError):
        assert info.value.code is ErrorCode.UNAVAILABLE
