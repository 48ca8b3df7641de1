"""A failed write leaves the store exactly as it was (issue 21, flaw 2): both stores run these
checks, each making its next durable write fail at its own seam (`FailNext`).

The checks read only through the `Store` protocol, so "as it was" means what every reader
sees: conversations, transcripts, each visitor's open conversation, the queue, each agent's
active set and load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import (
    Agent,
    AgentRole,
    AgentStatus,
    AuditEntry,
    Draft,
    Kind,
    Page,
    Rating,
    Role,
    Sender,
    Visitor,
)

FailNext = Callable[[BaseException], contextlib.AbstractContextManager[None]]
"""Within the block, the store's next durable write fails with the given exception."""

FAILURES: list[BaseException] = [
    RuntimeError("injected"),
    ValueError("injected"),
    KeyError("injected"),
    MemoryError(),
    OSError("injected"),
    asyncio.CancelledError(),
]
"""What any backend may meet; each backend's tests add their own library's errors."""

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
        await store.add_agent(agent)
    for cid, vid in (("c_queued", "v_queued"), ("c_active", "v_active")):
        conv = flow.open_conversation(cid, "shop", vid, None, clock.now_ms())
        await store.open_conversation(conv, Draft(Kind.TEXT, visitor(vid), "hi", f"{cid}-1"), None)
    await store.assign("c_active", ANN, clock.now_ms(), reassign=False, enforce_capacity=True)
    await store.append("c_active", Draft(Kind.TEXT, agent_sender(ANN), "hello", "ann-1"))


async def start(store: Store, clock: Clock) -> None:
    conv = flow.open_conversation("c_new", "shop", "v_new", "billing", clock.now_ms())
    await store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_new"), "help", "new-1"), None)


async def append(store: Store, clock: Clock) -> None:
    draft = Draft(Kind.TEXT, visitor("v_active"), "more", "v-2")
    await store.append("c_active", draft, guarded=True)


async def note(store: Store, clock: Clock) -> None:
    entry = AuditEntry(clock.now_ms(), ANN.id, "note", "c_active", "")
    draft = Draft(Kind.NOTE, agent_sender(ANN), "internal", "note-1")
    await store.append("c_active", draft, guarded=True, audit=entry)


async def claim(store: Store, clock: Clock) -> None:
    await store.assign("c_queued", BOB, clock.now_ms(), reassign=False, enforce_capacity=True)


async def transfer(store: Store, clock: Clock) -> None:
    await store.assign("c_active", BOB, clock.now_ms(), reassign=True, enforce_capacity=True)


async def requeue(store: Store, clock: Clock) -> None:
    await store.requeue("c_active", clock.now_ms(), reason="agent_left", front=True)


async def close(store: Store, clock: Clock) -> None:
    await store.close("c_active", clock.now_ms(), by="agent", reason="done", resolved=True)


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
    of it starts from zero)."""
    loads = await store.loads()
    return {
        "conversations": {cid: await store.conversation(cid) for cid in CIDS},
        "transcripts": {
            cid: (await store.messages_after(cid, 0, 1000, notes=True))[0] for cid in CIDS
        },
        "open_of": {vid: await store.open_conversation_of(vid) for vid in VISITORS},
        "waiting": [c.id for c in await store.waiting()],
        "active": {a.id: [c.id for c in await store.active_of(a.id)] for a in (ANN, BOB)},
        "loads": {
            aid: (load.active, load.last_assigned if last_assigned else 0)
            for aid, load in loads.items()
            if load.active or (last_assigned and load.last_assigned)
        },
    }


async def seqs(store: Store, cid: str) -> list[int]:
    return [m.seq for m in (await store.messages_after(cid, 0, 1000, notes=True))[0]]


@contextlib.contextmanager
def refused(injected: BaseException) -> Iterator[None]:
    """The caller hears of the failure: `unavailable`, or the very exception."""
    with pytest.raises((ChatError, type(injected))) as info:
        yield
    if isinstance(info.value, ChatError) and not isinstance(injected, ChatError):
        assert info.value.code is ErrorCode.UNAVAILABLE


async def failed_write_changes_nothing(
    store: Store, clock: Clock, fail_next: FailNext, write: str, injected: BaseException
) -> dict[str, Any]:
    """The write fails and nothing of it shows; done again, it goes through with the seqs
    it would have had. Returns the state after the retry."""
    await scene(store, clock)
    before = await snapshot(store)
    with refused(injected), fail_next(injected):
        await WRITES[write](store, clock)
    assert await snapshot(store) == before
    await WRITES[write](store, clock)
    for cid in CIDS:
        numbers = await seqs(store, cid)
        assert numbers == list(range(1, len(numbers) + 1)), (cid, numbers)
    return await snapshot(store)


async def append_after_a_failed_append_takes_the_next_seq(
    store: Store, clock: Clock, fail_next: FailNext
) -> None:
    """The issue's case: a RuntimeError during an append used up a seq (sync said [1, 3])."""
    conv = flow.open_conversation("c_1", "shop", "v_1", None, clock.now_ms())
    await store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    with refused(RuntimeError()), fail_next(RuntimeError("injected")):
        await store.append("c_1", Draft(Kind.TEXT, visitor("v_1"), "lost", "m-2"))
    again = await store.append("c_1", Draft(Kind.TEXT, visitor("v_1"), "kept", "m-2"))
    assert again.created is True
    assert again.message.seq == 2
    assert await seqs(store, "c_1") == [1, 2]


async def failed_start_leaves_nothing_to_claim(
    store: Store, clock: Clock, fail_next: FailNext
) -> None:
    """The issue's other case: a start that failed to be stored was still claimable, and
    answered with acknowledged messages that were gone after close."""
    await store.add_agent(ANN)
    conv = flow.open_conversation("c_ghost", "shop", "v_1", None, clock.now_ms())
    with refused(RuntimeError()), fail_next(RuntimeError("injected")):
        await store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    assert await store.waiting() == []
    assert await store.open_conversation_of("v_1") is None
    assert await store.conversation("c_ghost") is None
    with pytest.raises(ChatError) as info:
        await store.assign("c_ghost", ANN, clock.now_ms(), reassign=False, enforce_capacity=True)
    assert info.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(ChatError) as info:
        await store.append("c_ghost", Draft(Kind.TEXT, agent_sender(ANN), "hello?"))
    assert info.value.code is ErrorCode.NOT_FOUND
    # the visitor may start again (the failed start holds no place of theirs)
    retry = flow.open_conversation("c_real", "shop", "v_1", None, clock.now_ms())
    await store.open_conversation(retry, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    assert [c.id for c in await store.waiting()] == ["c_real"]


async def failed_simple_writes_change_nothing(
    store: Store, clock: Clock, fail_next: FailNext, injected: BaseException
) -> None:
    """Agents, their status, visitors and ratings: a failed write leaves no trace that
    refuses its retry (an email kept without its agent would refuse every later
    `add_agent`, a rating kept half-way would answer `already_rated`)."""
    with refused(injected), fail_next(injected):
        await store.add_agent(ANN)
    assert await store.agent_by_email(ANN.email) is None
    assert await store.agent(ANN.id) is None
    await store.add_agent(ANN)
    assert await store.agent_by_email(ANN.email) == ANN
    assert [a.id for a in await store.agents()] == [ANN.id]

    with refused(injected), fail_next(injected):
        await store.set_agent_status(ANN.id, AgentStatus.ONLINE)
    assert await store.agent(ANN.id) == ANN
    await store.set_agent_status(ANN.id, AgentStatus.ONLINE)
    assert await store.agent(ANN.id) == replace(ANN, status=AgentStatus.ONLINE)

    guest = Visitor("v_1", "shop", clock.now_ms(), "Vera", None, Page("https://shop.example/"))
    with refused(injected), fail_next(injected):
        await store.put_visitor(guest)
    assert await store.visitor("v_1") is None
    await store.put_visitor(guest)
    assert await store.visitor("v_1") == guest

    rating = Rating("c_1", clock.now_ms(), 5, None, None, "thanks", ANN.id, None)
    with refused(injected), fail_next(injected):
        await store.rate(rating)
    assert await store.rating("c_1") is None
    await store.rate(rating)
    assert await store.rating("c_1") == rating


async def unstorable_text_uses_no_seq(store: Store, clock: Clock) -> None:
    """No injection: a lone surrogate, which neither SQLite nor msgpack encodes, in a
    message (the decoder refuses it too, issue 21 flaw 1; the store does not rely on that)."""
    await scene(store, clock)
    before = await snapshot(store)
    with pytest.raises((ValueError, ChatError)):
        await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "\ud800", "s-1"))
    conv = flow.open_conversation("c_new", "shop", "v_new", None, clock.now_ms())
    with pytest.raises((ValueError, ChatError)):
        await store.open_conversation(conv, Draft(Kind.TEXT, visitor("v_new"), "\udfff"), None)
    assert await snapshot(store) == before
    again = await store.append("c_active", Draft(Kind.TEXT, visitor("v_active"), "ok", "s-1"))
    assert (again.created, again.message.seq) == (True, 4)
