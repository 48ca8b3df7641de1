"""Co-browsing: each conversation's consent state, changed only by compare-and-set (a
concurrent change makes the other lose), and the bounded replay buffer."""

from __future__ import annotations

import asyncio

from chat_server.backends.base import Store
from chat_server.core.cobrowse import NONE, CobrowseState, Session

REQUESTED = Session(CobrowseState.REQUESTED, "a_ann")
ACTIVE = Session(CobrowseState.ACTIVE, "a_ann")


async def test_a_conversation_without_cobrowse_has_none(store: Store) -> None:
    assert await store.cobrowse.session("c_1") == NONE
    assert await store.cobrowse.replay("c_1") == []
    await store.cobrowse.forget("c_1")  # no error


async def test_change_is_compare_and_set(store: Store) -> None:
    assert await store.cobrowse.change("c_1", NONE, REQUESTED) is True
    assert await store.cobrowse.session("c_1") == REQUESTED
    assert await store.cobrowse.session("c_2") == NONE  # per conversation
    # expected is not what is there: nothing changes
    assert (
        await store.cobrowse.change("c_1", NONE, Session(CobrowseState.REQUESTED, "a_bob")) is False
    )
    assert (
        await store.cobrowse.change("c_1", Session(CobrowseState.REQUESTED, "a_bob"), ACTIVE)
        is False
    )
    assert await store.cobrowse.session("c_1") == REQUESTED
    assert await store.cobrowse.change("c_1", REQUESTED, ACTIVE) is True
    assert await store.cobrowse.session("c_1") == ACTIVE
    assert await store.cobrowse.change("c_1", ACTIVE, NONE) is True  # ended
    assert await store.cobrowse.session("c_1") == NONE
    assert await store.cobrowse.change("c_1", NONE, REQUESTED) is True  # and again


async def test_concurrent_changes_exactly_one_wins(store: Store) -> None:
    asks = [Session(CobrowseState.REQUESTED, f"a_{i}") for i in range(5)]
    results = await asyncio.gather(*(store.cobrowse.change("c_1", NONE, ask) for ask in asks))
    assert sum(results) == 1
    winner = asks[results.index(True)]
    assert await store.cobrowse.session("c_1") == winner


async def test_a_change_loses_to_one_made_meanwhile(store: Store) -> None:
    """Accept and end at once: whichever is first, the other finds the state moved on."""
    await store.cobrowse.change("c_1", NONE, REQUESTED)
    accepted, ended = await asyncio.gather(
        store.cobrowse.change("c_1", REQUESTED, ACTIVE),
        store.cobrowse.change("c_1", REQUESTED, NONE),
    )
    assert [accepted, ended].count(True) == 1
    assert await store.cobrowse.session("c_1") == (ACTIVE if accepted else NONE)


async def test_replay_keeps_the_newest_snapshot_and_what_follows(store: Store) -> None:
    bound = 100
    assert await store.cobrowse.record("c_1", b"before", restarts=False, max_bytes=bound)
    assert await store.cobrowse.replay("c_1") == []  # nothing to replay before a snapshot
    assert await store.cobrowse.record("c_1", b"snap-1", restarts=True, max_bytes=bound)
    assert await store.cobrowse.record("c_1", b"next", restarts=False, max_bytes=bound)
    assert await store.cobrowse.replay("c_1") == [b"snap-1", b"next"]
    assert await store.cobrowse.record("c_1", b"snap-2", restarts=True, max_bytes=bound)
    assert await store.cobrowse.replay("c_1") == [b"snap-2"]
    assert await store.cobrowse.replay("c_2") == []
    await store.cobrowse.forget("c_1")
    assert await store.cobrowse.replay("c_1") == []


async def test_replay_is_dropped_when_its_bound_is_passed(store: Store) -> None:
    bound = 10
    assert await store.cobrowse.record("c_1", b"snap", restarts=True, max_bytes=bound)
    assert await store.cobrowse.record("c_1", b"123456", restarts=False, max_bytes=bound)
    assert await store.cobrowse.replay("c_1") == [b"snap", b"123456"]  # exactly the bound
    assert await store.cobrowse.record("c_1", b"x", restarts=False, max_bytes=bound) is False
    assert await store.cobrowse.replay("c_1") == []
    # until the next snapshot, nothing is kept
    assert await store.cobrowse.record("c_1", b"y", restarts=False, max_bytes=bound) is True
    assert await store.cobrowse.replay("c_1") == []
    assert await store.cobrowse.record("c_1", b"snap-2", restarts=True, max_bytes=bound)
    assert await store.cobrowse.replay("c_1") == [b"snap-2"]
    # a snapshot alone over the bound is not kept either
    assert await store.cobrowse.record("c_1", b"x" * 11, restarts=True, max_bytes=bound) is False
    assert await store.cobrowse.replay("c_1") == []
