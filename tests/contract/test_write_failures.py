"""A failed write leaves the store exactly as it was (issue 21, flaw 2): every write, every
kind of failure, at each backend's seams (`seams.py`). Done again, the write goes through
with the seqs it would have had; another store on the same storage (a fresh load of the
embedded store's disk, another Redis node) sees what this one does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import AgentStatus, Draft, Kind, Page, Rating, Visitor
from tests.contract import writes
from tests.contract.conftest import Storage
from tests.contract.seams import SEAMS
from tests.contract.support import expect, seqs
from tests.contract.writes import ANN, FAILURES, WRITES, FailNext, refused, snapshot, visitor

CONVERSATION_SEAMS = pytest.mark.parametrize(
    ("backend", "seam"),
    [("embedded", "sql"), ("redis", "row"), ("redis", "queued")],
    ids=["embedded-sql", "redis-row", "redis-queued"],
)
"""Direct parametrization of `backend` (tests/conftest.py) with each backend's seams."""
SIMPLE_SEAMS = pytest.mark.parametrize(
    ("backend", "seam"), [("embedded", "sql"), ("redis", "row")], ids=["embedded-sql", "redis-row"]
)
BY_FAILURE = pytest.mark.parametrize("injected", FAILURES, ids=lambda e: type(e).__name__)


@pytest.fixture
def fail_next(store: Store, seam: str, monkeypatch: pytest.MonkeyPatch) -> FailNext:
    return SEAMS[seam](store, monkeypatch)


async def same_elsewhere(store: Store, storage: Storage) -> None:
    async with storage.another() as other:
        assert await snapshot(other, last_assigned=False) == await snapshot(
            store, last_assigned=False
        )


@CONVERSATION_SEAMS
@BY_FAILURE
@pytest.mark.parametrize("write", list(WRITES))
async def test_a_failed_write_changes_nothing(
    store: Store,
    storage: Storage,
    clock: ManualClock,
    fail_next: FailNext,
    write: str,
    injected: BaseException,
) -> None:
    await writes.scene(store, clock)
    before = await snapshot(store)
    with refused(injected), fail_next(injected):
        await WRITES[write](store, clock)
    assert await snapshot(store) == before
    await WRITES[write](store, clock)
    await writes.assert_gap_free(store)
    await same_elsewhere(store, storage)
    assert await store.ready()


@CONVERSATION_SEAMS
async def test_append_after_a_failed_append_takes_the_next_seq(
    store: Store, clock: ManualClock, fail_next: FailNext
) -> None:
    """The issue's case: a RuntimeError during an append used up a seq (sync said [1, 3])."""
    conv = flow.open_conversation("c_1", "shop", "v_1", None, clock.now_ms())
    await store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    with refused(RuntimeError()), fail_next(RuntimeError("injected")):
        await store.conversations.append("c_1", Draft(Kind.TEXT, visitor("v_1"), "lost", "m-2"))
    again = await store.conversations.append("c_1", Draft(Kind.TEXT, visitor("v_1"), "kept", "m-2"))
    assert again.created is True
    assert again.message.seq == 2
    assert await seqs(store, "c_1") == [1, 2]


@CONVERSATION_SEAMS
async def test_a_failed_start_leaves_nothing_to_claim(
    store: Store, storage: Storage, clock: ManualClock, fail_next: FailNext
) -> None:
    """The issue's other case: a start that failed to be stored was still claimable, and
    answered with acknowledged messages that were gone after close."""
    await store.directory.add_agent(ANN)
    conv = flow.open_conversation("c_ghost", "shop", "v_1", None, clock.now_ms())
    with refused(RuntimeError()), fail_next(RuntimeError("injected")):
        await store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    assert await store.conversations.waiting() == []
    assert await store.conversations.open_of("v_1") is None
    assert await store.conversations.get("c_ghost") is None
    await expect(ErrorCode.NOT_FOUND, store.conversations.claim("c_ghost", ANN, clock.now_ms()))
    await expect(
        ErrorCode.NOT_FOUND,
        store.conversations.append("c_ghost", Draft(Kind.TEXT, writes.agent_sender(ANN), "?")),
    )
    await same_elsewhere(store, storage)
    # the visitor may start again (the failed start holds no place of theirs)
    retry = flow.open_conversation("c_real", "shop", "v_1", None, clock.now_ms())
    await store.conversations.open(retry, Draft(Kind.TEXT, visitor("v_1"), "hi"), None)
    assert [c.id for c in await store.conversations.waiting()] == ["c_real"]


@SIMPLE_SEAMS
@BY_FAILURE
async def test_failed_simple_writes_change_nothing(
    store: Store, clock: ManualClock, fail_next: FailNext, injected: BaseException
) -> None:
    """Agents, their status, visitors and ratings: a failed write leaves no trace that
    refuses its retry (an email kept without its agent would refuse every later
    `add_agent`, a rating kept half-way would answer `already_rated`)."""
    with refused(injected), fail_next(injected):
        await store.directory.add_agent(ANN)
    assert await store.directory.agent_by_email(ANN.email) is None
    assert await store.directory.agent(ANN.id) is None
    await store.directory.add_agent(ANN)
    assert await store.directory.agent_by_email(ANN.email) == ANN
    assert [a.id for a in await store.directory.agents()] == [ANN.id]

    with refused(injected), fail_next(injected):
        await store.directory.set_agent_status(ANN.id, AgentStatus.ONLINE)
    assert await store.directory.agent(ANN.id) == ANN
    await store.directory.set_agent_status(ANN.id, AgentStatus.ONLINE)
    assert await store.directory.agent(ANN.id) == replace(ANN, status=AgentStatus.ONLINE)

    guest = Visitor("v_1", "shop", clock.now_ms(), "Vera", None, Page("https://shop.example/"))
    with refused(injected), fail_next(injected):
        await store.directory.put_visitor(guest)
    assert await store.directory.visitor("v_1") is None
    await store.directory.put_visitor(guest)
    assert await store.directory.visitor("v_1") == guest

    rating = Rating("c_1", clock.now_ms(), 5, None, None, "thanks", ANN.id, None)
    with refused(injected), fail_next(injected):
        await store.conversations.rate(rating)
    assert await store.conversations.rating("c_1") is None
    await store.conversations.rate(rating)
    assert await store.conversations.rating("c_1") == rating


async def test_an_unstorable_text_uses_no_seq(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    """No injection: a lone surrogate, which neither SQLite nor msgpack encodes, in a
    message (the decoder refuses it too, issue 21 flaw 1; the store does not rely on that)."""
    await writes.scene(store, clock)
    before = await snapshot(store)
    with pytest.raises((ValueError, ChatError)):
        await store.conversations.append(
            "c_active", Draft(Kind.TEXT, visitor("v_active"), "\ud800", "s-1")
        )
    conv = flow.open_conversation("c_new", "shop", "v_new", None, clock.now_ms())
    with pytest.raises((ValueError, ChatError)):
        await store.conversations.open(conv, Draft(Kind.TEXT, visitor("v_new"), "\udfff"), None)
    assert await snapshot(store) == before
    again = await store.conversations.append(
        "c_active", Draft(Kind.TEXT, visitor("v_active"), "ok", "s-1")
    )
    assert (again.created, again.message.seq) == (True, 4)
    await same_elsewhere(store, storage)
