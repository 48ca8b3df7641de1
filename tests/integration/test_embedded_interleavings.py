"""The embedded store under any interleaving of writes and failures (hypothesis): seqs stay
gap-free, a visitor has one open conversation at most, and memory ends as what a fresh load
of the disk gives (cmids included)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.model import Draft, Kind
from tests.contract.writes import ANN, BOB, visitor

Step = tuple[str, int, int, bool]
"""(write kind, conversation or visitor index, agent index, fails)."""

steps = st.tuples(
    st.sampled_from(["start", "append", "claim", "transfer", "requeue", "close"]),
    st.integers(0, 1),
    st.integers(0, 1),
    st.booleans(),
)


async def run_batches(path: Path, batches: list[list[Step]], synchronous: str) -> None:
    """Each batch's writes are decided on one loop turn (so they share a commit); those
    marked fail raise inside the transaction. After each: no gap, one open conversation
    per visitor at most; at the end memory is what a fresh load of the disk gives."""
    clock = ManualClock()
    store = EmbeddedStore(path, LocalBus(), clock, synchronous=synchronous)
    await store.start()
    for agent in (ANN, BOB):
        await store.directory.add_agent(agent)
    plan: list[bool] = []
    real = store.db.submit

    def submit(op: Any, *args: Any, **kwargs: Any) -> Any:
        if plan and plan.pop(0):

            def failing(conn: sqlite3.Connection) -> Any:
                op(conn)
                raise RuntimeError("injected")

            return real(failing, *args, **kwargs)
        return real(op, *args, **kwargs)

    store.db.submit = submit  # type: ignore[method-assign]
    started = 0
    try:
        for batch in batches:
            plan[:] = [fails for *_, fails in batch]
            calls = []
            for step in batch:
                started += step[0] == "start"
                calls.append(asyncio.ensure_future(await one_write(store, step, started)))
            await asyncio.gather(*calls, return_exceptions=True)
            clock.advance(1)
            for conv in await store.conversations.find(limit=1000):
                numbers = [
                    m.seq
                    for m in (await store.conversations.history(conv.id, 0, 1000, notes=True))[0]
                ]
                assert numbers == list(range(1, conv.last_seq + 1)), (conv.id, numbers)
            open_ones = [
                c.visitor_id for c in await store.conversations.find(limit=1000) if c.is_open
            ]
            assert len(open_ones) == len(set(open_ones))
        store.db.submit = real  # type: ignore[method-assign]
        mine = await everything(store)
    finally:
        await store.stop()
    fresh = EmbeddedStore(path, LocalBus(), clock)
    await fresh.start()
    try:
        assert await everything(fresh) == mine
    finally:
        await fresh.stop()


async def one_write(store: EmbeddedStore, step: Step, started: int) -> Coroutine[Any, Any, Any]:
    """The write a step asks for, on the visitor's open conversation (or a missing one)."""
    kind, index, agent_index, _ = step
    agent, now, vid = (ANN, BOB)[agent_index], store.clock.now_ms(), f"v_{index}"
    open_conv = await store.conversations.open_of(vid)
    cid = open_conv.id if open_conv else f"c_{index}_none"
    if kind == "start":
        conv = flow.open_conversation(f"c_{index}_{started}", "shop", vid, None, now)
        return store.conversations.open(conv, Draft(Kind.TEXT, visitor(vid), "hi"), None)
    if kind == "append":
        return store.conversations.append(cid, Draft(Kind.TEXT, visitor(vid), "m", f"m{started}"))
    if kind == "claim":
        return store.conversations.claim(cid, agent, now)
    if kind == "transfer":
        return store.conversations.transfer(cid, agent, now)
    if kind == "requeue":
        return store.conversations.requeue(cid, now, reason="r", front=True)
    return store.conversations.close(cid, now, by="agent", reason="done", resolved=None)


async def everything(store: EmbeddedStore) -> dict[str, Any]:
    convs = await store.conversations.find(limit=1000)
    return {
        "conversations": sorted(convs, key=lambda c: c.id),
        "open_of": {c.visitor_id: await store.conversations.open_of(c.visitor_id) for c in convs},
        "waiting": [c.id for c in await store.conversations.waiting()],
        "active": {
            a.id: [c.id for c in await store.conversations.active_of(a.id)] for a in (ANN, BOB)
        },
        "loads": {
            aid: load.active
            for aid, load in (await store.conversations.loads()).items()
            if load.active
        },
        "cmids": {c.id: await cmids_of(store, c.id) for c in convs if c.is_open},
    }


async def cmids_of(store: EmbeddedStore, cid: str) -> dict[str, int]:
    """Each cmid of the conversation as a resend sees it: the seq it is answered with."""
    messages, _ = await store.conversations.history(cid, 0, 1000, notes=True)
    found: dict[str, int] = {}
    for m in messages:
        if m.cmid is not None:
            again = await store.conversations.append(cid, Draft(m.kind, m.sender, m.text, m.cmid))
            assert again.created is False
            found[m.cmid] = again.message.seq
    return found


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_any_interleaving_of_writes_and_failures_keeps_memory_equal_to_disk(
    tmp_path_factory: pytest.TempPathFactory, synchronous: str
) -> None:
    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.lists(steps, min_size=1, max_size=6), min_size=2, max_size=8))
    def check(batches: list[list[Step]]) -> None:
        asyncio.run(run_batches(tmp_path_factory.mktemp("any"), batches, synchronous))

    check()
