"""Conversations, what they publish: each new message (opening, appended, system line)
once it is durably stored, in seq order, to the conversation's channel and, unless it is a
note, to the visitor's (without the agent's id); nothing for a deduplicated resend."""

from __future__ import annotations

import asyncio

from chat_server.backends.base import Store
from chat_server.core import channels
from chat_server.core.clock import ManualClock
from tests.contract.published import Published
from tests.contract.support import agent, note, open_conv, speaker, text, visitor

CONV, VISITOR = channels.conversation("c_1"), channels.visitor("v_1")


async def test_a_message_is_published_after_it_is_stored(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await published.clear()
    appended = await store.conversations.append(
        "c_1", text(speaker(agent()), "hi there", cmid="a1"), origin="conn-9"
    )
    await published.settle()
    assert published.all_durable()
    assert published.on(CONV) == [
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
    to_visitor = published.on(VISITOR)
    assert len(to_visitor) == 1
    assert to_visitor[0]["from"] == {"role": "agent", "name": "Ann"}
    assert to_visitor[0]["seq"] == appended.message.seq
    assert "a_ann" not in repr(to_visitor[0])
    assert published.skips() == {"conn-9"}


async def test_notes_are_not_published_to_the_visitor(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await published.clear()
    await store.conversations.append("c_1", note(speaker(agent()), "VIP", cmid="n1"))
    await published.settle()
    assert [f["kind"] for f in published.on(CONV)] == ["note"]
    assert published.on(VISITOR) == []


async def test_the_opening_message_is_published_after_it_is_stored(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock, origin="conn-1")
    await published.settle()
    assert [f["seq"] for f in published.on(CONV)] == [1]
    assert [f["seq"] for f in published.on(VISITOR)] == [1]
    assert published.all_durable()
    assert published.skips() == {"conn-1"}


async def test_a_deduplicated_append_publishes_nothing(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await store.conversations.append("c_1", text(visitor(), cmid="m1"))
    await published.clear()
    await store.conversations.append("c_1", text(visitor(), cmid="m1"))
    await published.settle()
    assert published.seen == []


async def test_refused_writes_publish_nothing(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await store.conversations.claim("c_1", agent(), 1)
    await published.clear()
    results = await asyncio.gather(
        store.conversations.claim("c_1", agent("a_bob"), 2),
        store.conversations.append("c_1", text(visitor("v_2")), guarded=True),
        store.conversations.requeue("c_1", 2, reason="r", front=True, only_agent="a_bob"),
        return_exceptions=True,
    )
    assert all(isinstance(r, Exception) for r in results)
    await published.settle()
    assert published.seen == []


async def test_system_lines_of_transitions_are_published(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await published.clear()
    changed = await store.conversations.claim("c_1", agent(), 5)
    await store.conversations.close("c_1", 6, by="agent", reason="done", resolved=None)
    await published.settle()
    frames = published.on(VISITOR)
    assert [(f["kind"], f["seq"]) for f in frames] == [("event", 2), ("event", 3)]
    assert frames[0]["from"]["role"] == "system"
    assert frames[0]["text"] == changed.messages[0].text
    assert [f["seq"] for f in published.on(CONV)] == [2, 3]
    assert published.all_durable()


async def test_concurrent_appends_are_published_in_seq_order(
    store: Store, clock: ManualClock, published: Published
) -> None:
    await open_conv(store, clock)
    await published.clear()
    ann = agent()
    await asyncio.gather(
        *(
            store.conversations.append("c_1", text(visitor(), f"m{i}", cmid=f"m{i}"))
            for i in range(30)
        ),
        store.conversations.claim("c_1", ann, 1),
        *(store.conversations.append("c_1", note(speaker(ann), f"n{i}")) for i in range(20)),
    )
    await published.settle()
    assert [f["seq"] for f in published.on(CONV)] == list(range(2, 53))
    to_visitor = [f["seq"] for f in published.on(VISITOR)]
    assert to_visitor == sorted(to_visitor) and len(to_visitor) == 31  # no notes
    assert published.all_durable()
