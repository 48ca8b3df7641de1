"""`chat_server/backends/embedded/store.py`: memory + SQLite, on a temporary directory."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chat_server.backends.base import Appended, Changed, Event
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import channels
from chat_server.core import conversation as flow
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import (
    Agent,
    AgentRole,
    Draft,
    Kind,
    Message,
    Rating,
    Role,
    Sender,
    State,
)
from tests import presence_contract

DB_NAME = "chat.sqlite3"


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


async def open_conv(
    store: EmbeddedStore,
    cid: str = "c_1",
    vid: str = "v_1",
    *,
    topic: str | None = None,
    cmid: str | None = None,
    origin: str | None = None,
) -> Message:
    conv = flow.open_conversation(cid, "shop", vid, topic, store.clock.now_ms())
    return await store.open_conversation(conv, text(visitor(vid), "first", cmid), origin)


def advance(store: EmbeddedStore, seconds: float) -> None:
    assert isinstance(store.clock, ManualClock)
    store.clock.advance(seconds)


async def expect(code: ErrorCode, awaitable: Any) -> ChatError:
    with pytest.raises(ChatError) as info:
        await awaitable
    assert info.value.code is code
    return info.value


@contextlib.contextmanager
def raw_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A second, independent connection: sees only what is committed."""
    conn = sqlite3.connect(path / DB_NAME)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EmbeddedStore]:
    s = EmbeddedStore(tmp_path, LocalBus(), ManualClock())
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


class Recorder:
    """A bus handler that notes each event and whether its message was committed then."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: list[tuple[str, Event, bool]] = []

    def __call__(self, channel: str, event: Event) -> None:
        frame = event["frame"]
        durable = False
        if frame.get("t") == "msg":
            with raw_db(self.path) as conn:
                row = conn.execute(
                    "SELECT 1 FROM messages WHERE cid = ? AND seq = ?", (frame["cid"], frame["seq"])
                ).fetchone()
                durable = row is not None
        self.events.append((channel, event, durable))

    def on(self, channel: str) -> list[dict[str, Any]]:
        return [event["frame"] for ch, event, _ in self.events if ch == channel]


@pytest.fixture
def recorder(store: EmbeddedStore, tmp_path: Path) -> Recorder:
    rec = Recorder(tmp_path)
    store.bus.set_handler(rec)
    return rec


# --- opening -------------------------------------------------------------------------


async def test_open_conversation_gives_seq_1(store: EmbeddedStore) -> None:
    first = await open_conv(store)
    assert first.seq == 1
    assert first.cid == "c_1"
    assert first.ts == store.clock.now_ms()
    conv = await store.conversation("c_1")
    assert conv is not None
    assert conv.state is State.QUEUED
    assert conv.last_seq == 1
    assert await store.open_conversation_of("v_1") == conv
    assert [c.id for c in await store.waiting()] == ["c_1"]
    messages, more = await store.messages_after("c_1", 0, 10, notes=True)
    assert messages == [first]
    assert more is False


async def test_second_open_for_the_same_visitor_is_conflict(store: EmbeddedStore) -> None:
    await open_conv(store, "c_1", "v_1")
    await expect(ErrorCode.CONFLICT, open_conv(store, "c_2", "v_1"))
    assert await store.conversation("c_2") is None
    # Another visitor is not affected.
    assert (await open_conv(store, "c_3", "v_2")).seq == 1


async def test_a_new_conversation_after_close(store: EmbeddedStore) -> None:
    await open_conv(store, "c_1", "v_1")
    await store.close("c_1", 1, by="visitor", reason="visitor_closed", resolved=None)
    assert await store.open_conversation_of("v_1") is None
    assert (await open_conv(store, "c_2", "v_1")).seq == 1


async def test_unknown_conversation_is_not_found(store: EmbeddedStore) -> None:
    await expect(ErrorCode.NOT_FOUND, store.append("c_nope", text(visitor())))
    await expect(
        ErrorCode.NOT_FOUND,
        store.assign("c_nope", agent(), 1, reassign=False, enforce_capacity=True),
    )
    assert await store.conversation("c_nope") is None


# --- appending -----------------------------------------------------------------------


async def test_append_allocates_gap_free_seqs(store: EmbeddedStore) -> None:
    await open_conv(store)
    ann = agent()
    seqs = []
    for draft in [
        text(visitor()),
        note(speaker(ann)),
        text(speaker(ann)),
        text(visitor(), cmid="x"),
    ]:
        appended = await store.append("c_1", draft)
        assert appended.created is True
        seqs.append(appended.message.seq)
        assert appended.message.text == draft.text
        assert appended.message.kind is draft.kind
    assert seqs == [2, 3, 4, 5]
    conv = await store.conversation("c_1")
    assert conv is not None and conv.last_seq == 5
    stored, _ = await store.messages_after("c_1", 0, 100, notes=True)
    assert [m.seq for m in stored] == [1, 2, 3, 4, 5]


async def test_same_cmid_from_the_same_sender_is_deduplicated(store: EmbeddedStore) -> None:
    await open_conv(store)
    first = await store.append("c_1", text(visitor(), "once", cmid="m1"))
    advance(store, 5)
    again = await store.append("c_1", text(visitor(), "once (retry)", cmid="m1"))
    assert first.created is True
    assert again == Appended(first.message, created=False)
    stored, _ = await store.messages_after("c_1", 0, 100, notes=True)
    assert [m.seq for m in stored] == [1, 2]
    conv = await store.conversation("c_1")
    assert conv is not None and conv.last_seq == 2
    # The next message follows without a gap.
    assert (await store.append("c_1", text(visitor(), cmid="m2"))).message.seq == 3


async def test_same_cmid_from_another_sender_is_a_new_message(store: EmbeddedStore) -> None:
    await open_conv(store)
    ann = agent()
    a = await store.append("c_1", text(visitor(), cmid="m1"))
    b = await store.append("c_1", text(speaker(ann), cmid="m1"))
    assert (a.message.seq, b.message.seq) == (2, 3)
    assert b.created is True


async def test_concurrent_duplicate_cmids_create_one_message(store: EmbeddedStore) -> None:
    await open_conv(store)
    results = await asyncio.gather(
        *(store.append("c_1", text(visitor(), cmid="same")) for _ in range(5))
    )
    assert {r.message.seq for r in results} == {2}
    assert sum(r.created for r in results) == 1
    stored, _ = await store.messages_after("c_1", 0, 100, notes=True)
    assert len(stored) == 2


async def test_cmid_of_the_opening_message_is_deduplicated(store: EmbeddedStore) -> None:
    first = await open_conv(store, cmid="m0")
    again = await store.append("c_1", text(visitor(), "first", cmid="m0"))
    assert again == Appended(first, created=False)
    assert (await store.append("c_1", text(visitor(), cmid="m1"))).message.seq == 2


async def test_concurrent_appends_get_distinct_consecutive_seqs(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store)
    recorder.events.clear()
    results = await asyncio.gather(
        *(store.append("c_1", text(visitor(), f"m{i}", cmid=f"m{i}")) for i in range(50))
    )
    seqs = sorted(r.message.seq for r in results)
    assert seqs == list(range(2, 52))
    assert all(r.created for r in results)
    stored, more = await store.messages_after("c_1", 0, 200, notes=True)
    assert [m.seq for m in stored] == list(range(1, 52))
    assert not more
    # Published in seq order, each one already committed.
    published = recorder.on(channels.conversation("c_1"))
    assert [frame["seq"] for frame in published] == list(range(2, 52))
    assert all(durable for _, _, durable in recorder.events)


# --- publication ---------------------------------------------------------------------


async def test_msg_event_is_published_after_commit_and_before_ack(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store)
    recorder.events.clear()
    ann = agent()
    appended = await store.append("c_1", text(speaker(ann), "hi there", cmid="a1"), origin="conn-9")
    # Delivered before append returned, and only once the row was committed.
    assert recorder.events, "append returned before publishing"
    assert all(durable for _, _, durable in recorder.events)
    conv_frames = recorder.on(channels.conversation("c_1"))
    visitor_frames = recorder.on(channels.visitor("v_1"))
    assert conv_frames == [
        {
            "t": "msg",
            "cid": "c_1",
            "seq": appended.message.seq,
            "ts": appended.message.ts,
            "kind": "text",
            "from": {"role": "agent", "id": "a_ann", "name": "Ann"},
            "text": "hi there",
            "cmid": "a1",
        }
    ]
    assert len(visitor_frames) == 1
    assert visitor_frames[0]["from"] == {"role": "agent", "name": "Ann"}
    assert "a_ann" not in repr(visitor_frames[0])
    assert {event["skip"] for _, event, _ in recorder.events} == {"conn-9"}


async def test_notes_are_not_published_to_the_visitor(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store)
    recorder.events.clear()
    ann = agent()
    await store.append("c_1", note(speaker(ann), "VIP", cmid="n1"))
    assert [f["kind"] for f in recorder.on(channels.conversation("c_1"))] == ["note"]
    assert recorder.on(channels.visitor("v_1")) == []


async def test_opening_message_is_published_after_commit(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store, origin="conn-1")
    assert [f["seq"] for f in recorder.on(channels.conversation("c_1"))] == [1]
    assert [f["seq"] for f in recorder.on(channels.visitor("v_1"))] == [1]
    assert all(durable for _, _, durable in recorder.events)


async def test_a_deduplicated_append_publishes_nothing(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store)
    await store.append("c_1", text(visitor(), cmid="m1"))
    before = len(recorder.events)
    await store.append("c_1", text(visitor(), cmid="m1"))
    assert len(recorder.events) == before


async def test_system_lines_of_transitions_are_published(
    store: EmbeddedStore, recorder: Recorder
) -> None:
    await open_conv(store)
    recorder.events.clear()
    changed = await store.assign("c_1", agent(), 5, reassign=False, enforce_capacity=True)
    assert [m.kind for m in changed.messages] == [Kind.EVENT]
    frames = recorder.on(channels.visitor("v_1"))
    assert [(f["kind"], f["seq"]) for f in frames] == [("event", 2)]
    assert frames[0]["from"]["role"] == "system"
    assert all(durable for _, _, durable in recorder.events)


# --- assignment ------------------------------------------------------------------------


async def test_assign_makes_the_conversation_active(store: EmbeddedStore) -> None:
    await open_conv(store)
    ann = agent()
    changed = await store.assign("c_1", ann, 777, reassign=False, enforce_capacity=True)
    assert isinstance(changed, Changed)
    assert changed.previous.state is State.QUEUED
    assert changed.conversation.state is State.ACTIVE
    assert changed.conversation.agent is not None
    assert changed.conversation.agent.id == "a_ann"
    assert changed.conversation.assigned_at == 777
    assert changed.conversation.last_seq == 2  # the "joined" line
    assert [c.id for c in await store.active_of("a_ann")] == ["c_1"]
    assert await store.waiting() == []
    assert (await store.loads())["a_ann"].active == 1


async def test_assign_enforces_capacity(store: EmbeddedStore) -> None:
    solo = agent("a_solo", max_chats=1)
    await open_conv(store, "c_1", "v_1")
    await open_conv(store, "c_2", "v_2")
    await store.assign("c_1", solo, 1, reassign=False, enforce_capacity=True)
    await expect(
        ErrorCode.CONFLICT, store.assign("c_2", solo, 2, reassign=False, enforce_capacity=True)
    )
    c2 = await store.conversation("c_2")
    assert c2 is not None and c2.state is State.QUEUED
    # Once the first is closed, the slot is free again.
    await store.close("c_1", 3, by="agent", reason="agent_closed", resolved=True)
    await store.assign("c_2", solo, 4, reassign=False, enforce_capacity=True)


async def test_assign_without_capacity_enforcement(store: EmbeddedStore) -> None:
    solo = agent("a_solo", max_chats=1)
    await open_conv(store, "c_1", "v_1")
    await open_conv(store, "c_2", "v_2")
    await store.assign("c_1", solo, 1, reassign=False, enforce_capacity=True)
    changed = await store.assign("c_2", solo, 2, reassign=False, enforce_capacity=False)
    assert changed.conversation.state is State.ACTIVE


async def test_claim_of_an_active_conversation_is_conflict(store: EmbeddedStore) -> None:
    await open_conv(store)
    await store.assign("c_1", agent("a_ann"), 1, reassign=False, enforce_capacity=True)
    await expect(
        ErrorCode.CONFLICT,
        store.assign("c_1", agent("a_bob"), 2, reassign=False, enforce_capacity=True),
    )
    conv = await store.conversation("c_1")
    assert conv is not None and conv.agent is not None and conv.agent.id == "a_ann"
    assert await store.active_of("a_bob") == []


async def test_reassign_moves_the_conversation_between_agents(store: EmbeddedStore) -> None:
    await open_conv(store)
    await store.assign("c_1", agent("a_ann"), 1, reassign=False, enforce_capacity=True)
    changed = await store.assign("c_1", agent("a_bob"), 2, reassign=True, enforce_capacity=False)
    assert changed.messages[0].text == "Transferred to Bob"
    assert await store.active_of("a_ann") == []
    assert [c.id for c in await store.active_of("a_bob")] == ["c_1"]


async def test_concurrent_assigns_to_two_agents_exactly_one_wins(store: EmbeddedStore) -> None:
    await open_conv(store)
    results = await asyncio.gather(
        store.assign("c_1", agent("a_ann"), 1, reassign=False, enforce_capacity=True),
        store.assign("c_1", agent("a_bob"), 1, reassign=False, enforce_capacity=True),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, Changed)]
    losses = [r for r in results if isinstance(r, ChatError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].code is ErrorCode.CONFLICT
    winner = wins[0].conversation.agent
    assert winner is not None
    conv = await store.conversation("c_1")
    assert conv is not None and conv.agent == winner
    loser = "a_bob" if winner.id == "a_ann" else "a_ann"
    assert await store.active_of(loser) == []
    stored, _ = await store.messages_after("c_1", 0, 10, notes=True)
    assert [m.seq for m in stored] == [1, 2]  # one "joined" line


async def test_concurrent_assigns_respect_capacity(store: EmbeddedStore) -> None:
    solo = agent("a_solo", max_chats=1)
    for i in range(5):
        await open_conv(store, f"c_{i}", f"v_{i}")
    results = await asyncio.gather(
        *(store.assign(f"c_{i}", solo, 1, reassign=False, enforce_capacity=True) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Changed) for r in results) == 1
    assert len(await store.active_of("a_solo")) == 1


# --- requeue and close -------------------------------------------------------------------


async def test_requeue_puts_it_back_at_the_front(store: EmbeddedStore) -> None:
    await open_conv(store, "c_1", "v_1")
    await open_conv(store, "c_2", "v_2")
    await store.assign("c_1", agent(), 1, reassign=False, enforce_capacity=True)
    advance(store, 60)
    changed = await store.requeue(
        "c_1", store.clock.now_ms(), reason="agent_left", front=True, only_agent="a_ann"
    )
    assert changed.conversation.state is State.QUEUED
    assert "a_ann" not in changed.conversation.excluded_agents
    assert [c.id for c in await store.waiting()] == ["c_1", "c_2"]
    assert await store.active_of("a_ann") == []


async def test_requeue_with_only_agent_mismatch_is_conflict(store: EmbeddedStore) -> None:
    await open_conv(store)
    await store.assign("c_1", agent("a_ann"), 1, reassign=False, enforce_capacity=True)
    await expect(
        ErrorCode.CONFLICT,
        store.requeue("c_1", 2, reason="agent_left", front=True, only_agent="a_bob"),
    )
    conv = await store.conversation("c_1")
    assert conv is not None and conv.state is State.ACTIVE


async def test_requeue_of_a_queued_conversation_is_conflict(store: EmbeddedStore) -> None:
    await open_conv(store)
    await expect(ErrorCode.CONFLICT, store.requeue("c_1", 2, reason="transferred", front=False))
    await expect(
        ErrorCode.CONFLICT,
        store.requeue("c_1", 2, reason="agent_left", front=True, only_agent="a_ann"),
    )


async def test_close_then_append_is_closed(store: EmbeddedStore) -> None:
    await open_conv(store)
    await store.assign("c_1", agent(), 1, reassign=False, enforce_capacity=True)
    changed = await store.close("c_1", 9, by="agent", reason="agent_closed", resolved=True)
    assert changed.conversation.state is State.CLOSED
    assert changed.conversation.resolved is True
    assert await store.open_conversation_of("v_1") is None
    assert await store.active_of("a_ann") == []
    await expect(ErrorCode.CLOSED, store.append("c_1", text(visitor(), cmid="late")))
    await expect(ErrorCode.CLOSED, store.close("c_1", 10, by="visitor", reason="x", resolved=None))
    await expect(
        ErrorCode.CLOSED,
        store.assign("c_1", agent("a_bob"), 10, reassign=True, enforce_capacity=False),
    )
    await expect(ErrorCode.CLOSED, store.requeue("c_1", 10, reason="transferred", front=True))
    stored = await store.conversation("c_1")
    assert stored is not None and stored.state is State.CLOSED
    assert (stored.closed_by, stored.close_reason, stored.closed_at) == ("agent", "agent_closed", 9)


async def test_rate_twice_is_already_rated(store: EmbeddedStore) -> None:
    await open_conv(store)
    await store.close("c_1", 9, by="visitor", reason="visitor_closed", resolved=None)
    rating = Rating("c_1", 10, csat=5, nps=9, ces=6, comment="thanks")
    await store.rate(rating)
    assert await store.rating("c_1") == rating
    await expect(ErrorCode.ALREADY_RATED, store.rate(Rating("c_1", 11, csat=1)))
    assert await store.rating("c_1") == rating
    assert await store.rating("c_other") is None


# --- reading back ------------------------------------------------------------------------


async def test_messages_after_pages_with_more(store: EmbeddedStore) -> None:
    await open_conv(store)
    for i in range(6):
        await store.append("c_1", text(visitor(), f"m{i}"))  # seqs 2..7
    page, more = await store.messages_after("c_1", 0, 3, notes=True)
    assert [m.seq for m in page] == [1, 2, 3]
    assert more is True
    page, more = await store.messages_after("c_1", 3, 3, notes=True)
    assert [m.seq for m in page] == [4, 5, 6]
    assert more is True
    page, more = await store.messages_after("c_1", 6, 3, notes=True)
    assert [m.seq for m in page] == [7]
    assert more is False
    page, more = await store.messages_after("c_1", 7, 3, notes=True)
    assert (page, more) == ([], False)
    page, more = await store.messages_after("c_1", 4, 3, notes=True)
    assert [m.seq for m in page] == [5, 6, 7]
    assert more is False  # exactly the limit left: nothing more


async def test_messages_after_without_notes(store: EmbeddedStore) -> None:
    await open_conv(store)
    ann = agent()
    await store.append("c_1", note(speaker(ann)))  # 2
    await store.append("c_1", text(speaker(ann)))  # 3
    await store.append("c_1", note(speaker(ann)))  # 4
    await store.append("c_1", note(speaker(ann)))  # 5
    await store.append("c_1", text(visitor()))  # 6
    everything, _ = await store.messages_after("c_1", 0, 10, notes=True)
    assert [m.seq for m in everything] == [1, 2, 3, 4, 5, 6]
    visible, more = await store.messages_after("c_1", 0, 10, notes=False)
    assert [m.seq for m in visible] == [1, 3, 6]
    assert all(m.kind is not Kind.NOTE for m in visible)
    assert more is False
    page, more = await store.messages_after("c_1", 1, 1, notes=False)
    assert [m.seq for m in page] == [3]
    assert more is True


async def test_first_response_is_recorded_on_the_first_agent_text(store: EmbeddedStore) -> None:
    await open_conv(store)
    ann = agent()
    await store.assign("c_1", ann, 1, reassign=False, enforce_capacity=True)
    await store.append("c_1", note(speaker(ann)))
    conv = await store.conversation("c_1")
    assert conv is not None and conv.first_response_at is None
    advance(store, 30)
    reply = await store.append("c_1", text(speaker(ann)))
    conv = await store.conversation("c_1")
    assert conv is not None and conv.first_response_at == reply.message.ts


# --- presence ----------------------------------------------------------------------------


async def test_presence_connected_and_disconnected(store: EmbeddedStore) -> None:
    await presence_contract.connected_and_disconnected(store)


async def test_gone_since(store: EmbeddedStore) -> None:
    await store.connected("agent", "a_ann", "conn-1", 100)
    await store.disconnected("agent", "a_ann", "conn-1", 300)
    assert await store.gone_since("agent", 300) == []  # gone at 300, not before it
    assert await store.gone_since("agent", 301) == ["a_ann"]
    assert await store.gone_since("visitor", 10_000) == []
    # Coming back cancels the absence.
    await store.connected("agent", "a_ann", "conn-4", 400)
    assert await store.gone_since("agent", 10_000) == []


async def test_forget_gone(store: EmbeddedStore) -> None:
    await store.connected("visitor", "v_1", "conn-1", 100)
    await store.disconnected("visitor", "v_1", "conn-1", 200)
    assert await store.gone_since("visitor", 1_000) == ["v_1"]
    await store.forget_gone("visitor", "v_1")
    assert await store.gone_since("visitor", 1_000) == []
    await store.forget_gone("visitor", "v_never")  # no error


async def test_online_among(store: EmbeddedStore) -> None:
    await store.connected("visitor", "v_1", "conn-1", 100)
    await store.heartbeat(150)  # nothing to renew in one process
    assert await store.online("visitor", among=["v_1", "v_2"]) == {"v_1"}
    assert await store.online("visitor", among=[]) == set()
    assert await store.online("agent", among=["v_1"]) == set()


async def test_disconnecting_an_unknown_connection_counts_zero(store: EmbeddedStore) -> None:
    assert await store.disconnected("agent", "a_ghost", "conn-x", 5) == 0


# --- restart -----------------------------------------------------------------------------


async def test_open_state_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    first = EmbeddedStore(tmp_path, LocalBus(), clock)
    await first.start()
    try:
        await open_conv(first, "c_1", "v_1", cmid="m0")
        await open_conv(first, "c_2", "v_2")
        ann = agent()
        await first.assign("c_2", ann, 1, reassign=False, enforce_capacity=True)  # seq 2
        await first.append("c_1", text(visitor(), "two", cmid="m1"))  # seq 2
        await first.append("c_1", text(visitor(), "three", cmid="m2"))  # seq 3
        await first.append("c_2", text(speaker(ann), "hi", cmid="a1"))  # seq 3
        await first.close("c_2", 5, by="agent", reason="agent_closed", resolved=True)
    finally:
        await first.stop()

    second = EmbeddedStore(tmp_path, LocalBus(), clock)
    await second.start()
    try:
        conv = await second.conversation("c_1")
        assert conv is not None
        assert conv.state is State.QUEUED
        assert conv.last_seq == 3
        assert await second.open_conversation_of("v_1") == conv
        assert [c.id for c in await second.waiting()] == ["c_1"]
        # cmid dedupe survived, the opening message's too.
        again = await second.append("c_1", text(visitor(), "two", cmid="m1"))
        assert (again.message.seq, again.created) == (2, False)
        opening = await second.append("c_1", text(visitor(), "first", cmid="m0"))
        assert (opening.message.seq, opening.created) == (1, False)
        # And seqs go on without a gap.
        assert (await second.append("c_1", text(visitor(), cmid="m3"))).message.seq == 4
        # The closed one stays closed.
        closed = await second.conversation("c_2")
        assert closed is not None and closed.state is State.CLOSED
        await expect(ErrorCode.CLOSED, second.append("c_2", text(visitor("v_2"))))
        assert await second.open_conversation_of("v_2") is None
        messages, _ = await second.messages_after("c_1", 0, 10, notes=True)
        assert [(m.seq, m.text) for m in messages] == [
            (1, "first"),
            (2, "two"),
            (3, "three"),
            (4, "hello"),
        ]
    finally:
        await second.stop()


async def test_active_assignment_and_first_response_survive_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    first = EmbeddedStore(tmp_path, LocalBus(), clock)
    await first.start()
    ann = agent("a_ann", max_chats=1)
    try:
        await open_conv(first)
        await first.assign("c_1", ann, 1, reassign=False, enforce_capacity=True)
        reply = await first.append("c_1", text(speaker(ann)))
    finally:
        await first.stop()

    second = EmbeddedStore(tmp_path, LocalBus(), clock)
    await second.start()
    try:
        conv = await second.conversation("c_1")
        assert conv is not None
        assert conv.state is State.ACTIVE
        assert conv.agent is not None and conv.agent.id == "a_ann"
        assert conv.first_response_at == reply.message.ts
        assert [c.id for c in await second.active_of("a_ann")] == ["c_1"]
        # Capacity still counts it.
        await open_conv(second, "c_2", "v_2")
        await expect(
            ErrorCode.CONFLICT, second.assign("c_2", ann, 2, reassign=False, enforce_capacity=True)
        )
        # Nobody is connected after a restart: the people of open chats count as gone.
        assert await second.gone_since("agent", clock.now_ms() + 1) == ["a_ann"]
        assert await second.gone_since("visitor", clock.now_ms() + 1) == ["v_1"]
    finally:
        await second.stop()


async def test_acknowledged_messages_are_on_disk(store: EmbeddedStore, tmp_path: Path) -> None:
    await open_conv(store)
    appended = await store.append("c_1", text(visitor(), "durable", cmid="d1"))
    with raw_db(tmp_path) as conn:
        row = conn.execute(
            "SELECT text, cmid FROM messages WHERE cid = ? AND seq = ?",
            ("c_1", appended.message.seq),
        ).fetchone()
    assert row == ("durable", "d1")
