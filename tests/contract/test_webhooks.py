"""Webhooks (issue 17), the role on both backends: endpoints per site; the outbox filled by
the conversation writes in their own step (only for a site that takes the event);
fan-out to each endpoint's queue once, whichever store does it; the queue in order per
conversation, retries, parking and replay; the lease, one holder at a time."""

from __future__ import annotations

import json

from chat_server.backends.base import Store
from chat_server.core import conversation as flow
from chat_server.core import webhooks as w
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import Rating
from tests.contract.conftest import Storage
from tests.contract.support import agent, expect, note, open_conv, speaker, text, visitor

ANN = agent()
BOB = agent("a_bob")


def endpoint(site: str = "shop", events: tuple[str, ...] = w.EVENT_TYPES, n: int = 1) -> w.Endpoint:
    return w.Endpoint(f"wh_{site}{n}", site, f"https://{site}.example/{n}", "s" * 16, events, n)


async def wants(store: Store) -> w.Wants:
    return w.wants_of(await store.webhooks.endpoints())


async def delivered_types(store: Store, endpoint_id: str) -> list[tuple[str, str]]:
    await store.webhooks.fan_out()
    return [(d.event.type, d.event.cid) for d in await store.webhooks.queued(endpoint_id, 100)]


async def test_endpoints_per_site(store: Store) -> None:
    a, b, c = endpoint(), endpoint(n=2), endpoint("blog", n=3)
    for e in (a, b, c):
        await store.webhooks.add_endpoint(e)
    assert await store.webhooks.endpoints() == [a, b, c]
    assert await store.webhooks.endpoints("shop") == [a, b]
    assert await store.webhooks.remove_endpoint(a.id) == a
    assert await store.webhooks.remove_endpoint(a.id) is None
    assert await store.webhooks.endpoints("shop") == [b]


async def test_every_write_adds_its_event_in_order(store: Store, clock: ManualClock) -> None:
    e = endpoint()
    await store.webhooks.add_endpoint(e)
    hook = await wants(store)
    c = store.conversations
    conv = flow.open_conversation("c_1", "shop", "v_1", None, clock.now_ms())
    await c.open(conv, text(visitor(), "first"), None, webhooks=hook)
    await c.append("c_1", text(visitor(), "hello"), webhooks=hook)
    await c.append("c_1", text(visitor(), "plain"))  # no wants: no event
    await c.claim("c_1", ANN, clock.now_ms(), webhooks=hook)
    await c.append("c_1", note(speaker(ANN)), webhooks=hook)
    await c.transfer("c_1", BOB, clock.now_ms(), webhooks=hook)
    await c.requeue("c_1", clock.now_ms(), reason="x", front=True, webhooks=hook)
    await c.close("c_1", clock.now_ms(), by="agent", reason="done", resolved=True, webhooks=hook)
    rating = Rating("c_1", clock.now_ms(), csat=5)
    await c.rate(rating, outbox=w.rated(rating, "shop", hook))
    other = Rating("c_1", 1, csat=1)
    await expect(ErrorCode.ALREADY_RATED, c.rate(other, outbox=w.rated(other, "shop", hook)))
    assert await delivered_types(store, e.id) == [
        (w.STARTED, "c_1"),
        (w.MESSAGE, "c_1"),
        (w.MESSAGE, "c_1"),
        (w.ASSIGNED, "c_1"),
        (w.NOTE, "c_1"),
        (w.TRANSFERRED, "c_1"),
        (w.TRANSFERRED, "c_1"),  # back to the queue
        (w.CLOSED, "c_1"),
        (w.RATING, "c_1"),
    ]
    queued = await store.webhooks.queued(e.id, 100)
    requeued = json.loads(w.body(queued[6].event))["data"]
    assert requeued["reason"] == "x" and requeued["from"]["id"] == BOB.id
    assert requeued["agent"] is None
    message = json.loads(w.body(queued[2].event))
    assert message["site"] == "shop" and message["data"]["text"] == "hello"
    assert message["data"]["seq"] == 2
    assert len({d.event.id for d in queued}) == len(queued)


async def test_offline_and_other_sites(store: Store, clock: ManualClock) -> None:
    e = endpoint(events=(w.OFFLINE, w.MESSAGE))
    await store.webhooks.add_endpoint(e)
    await store.webhooks.add_endpoint(endpoint("blog", (w.MESSAGE,)))
    hook = await wants(store)
    await open_conv(store, clock, "c_1")
    now = clock.now_ms()
    await store.conversations.transition(
        "c_1", lambda conv: flow.to_pending(conv, now, "v@example.com"), webhooks=hook
    )
    conv = flow.open_conversation("c_2", "elsewhere", "v_2", None, clock.now_ms())
    await store.conversations.open(conv, text(visitor("v_2")), None, webhooks=hook)
    await store.conversations.append("c_2", text(visitor("v_2")), webhooks=hook)
    assert await delivered_types(store, e.id) == [(w.OFFLINE, "c_1")]


async def test_fan_out_once_by_any_store(store: Store, storage: Storage) -> None:
    a, b = endpoint(), endpoint(n=2, events=(w.RATING,))
    await store.webhooks.add_endpoint(a)
    await store.webhooks.add_endpoint(b)
    gone = endpoint(n=3)
    await store.webhooks.add_endpoint(gone)
    events = [w.Event(f"evt_{i}", w.MESSAGE, i, "shop", "c_1", "{}", i) for i in range(5)]
    await store.webhooks.record(events)
    await store.webhooks.remove_endpoint(gone.id)  # before the fan-out: nothing for it
    async with storage.another() as other:
        moved = await other.webhooks.fan_out(limit=3) + await store.webhooks.fan_out()
        assert moved == 5
        assert await other.webhooks.fan_out() == 0
    queued = await store.webhooks.queued(a.id, 100)
    assert [d.event for d in queued] == events
    assert await store.webhooks.queued(b.id, 100) == []
    assert await store.webhooks.queued(gone.id, 100) == []


async def test_retry_park_replay(store: Store) -> None:
    e = endpoint()
    await store.webhooks.add_endpoint(e)
    await store.webhooks.record(
        [w.Event(f"evt_{i}", w.MESSAGE, i, "shop", f"c_{i}", "{}") for i in range(3)]
    )
    await store.webhooks.fan_out()
    first, second, third = await store.webhooks.queued(e.id, 100)
    await store.webhooks.retry(first, 500, "HTTP 500")
    again = (await store.webhooks.queued(e.id, 100))[0]
    assert (again.n, again.attempts, again.due, again.error) == (first.n, 1, 500, "HTTP 500")
    await store.webhooks.delivered(second)
    await store.webhooks.park(third, "timeout")
    assert [d.n for d in await store.webhooks.queued(e.id, 100)] == [first.n]
    (parked,) = await store.webhooks.parked()
    assert (parked.n, parked.error, parked.attempts) == (third.n, "timeout", 1)
    assert await store.webhooks.parked("blog") == []
    assert await store.webhooks.replay(third.n) == 1
    assert await store.webhooks.parked() == []
    back = await store.webhooks.queued(e.id, 100)
    assert [(d.n, d.attempts, d.due) for d in back] == [(first.n, 1, 500), (third.n, 0, 0)]
    await store.webhooks.park(back[0], "x")
    await store.webhooks.park(back[1], "y")
    await store.webhooks.remove_endpoint(e.id)
    assert len(await store.webhooks.parked()) == 2
    assert await store.webhooks.replay() == 0  # the endpoint is gone: dropped
    assert await store.webhooks.parked() == []


async def test_forget_a_conversation_queued_parked_and_not_yet_fanned_out(store: Store) -> None:
    """Retention and erase: nothing of the conversation is left to deliver (its text)."""
    e = endpoint()
    await store.webhooks.add_endpoint(e)
    events = [w.Event(f"evt_{i}", w.MESSAGE, i, "shop", f"c_{i % 2}", "{}") for i in range(4)]
    await store.webhooks.record(events[:3])
    await store.webhooks.fan_out()
    await store.webhooks.park((await store.webhooks.queued(e.id, 100))[0], "HTTP 500")  # c_0
    await store.webhooks.record(events[3:])  # c_1, still in the outbox
    assert await store.webhooks.forget("c_0") == 2
    assert await store.webhooks.forget("c_1") == 2
    assert await store.webhooks.forget("c_1") == 0
    await store.webhooks.fan_out()
    assert await store.webhooks.queued(e.id, 100) == []
    assert await store.webhooks.parked() == []


async def test_lease(store: Store, clock: ManualClock) -> None:
    assert await store.webhooks.lease("wh_1", "n_a", 10_000)
    assert not await store.webhooks.lease("wh_1", "n_b", 10_000)
    assert await store.webhooks.lease("wh_1", "n_a", 10_000)  # renewed
    assert await store.webhooks.lease("wh_2", "n_b", 10_000)
    await store.webhooks.release("wh_1", "n_b")  # not the holder: nothing
    assert not await store.webhooks.lease("wh_1", "n_b", 10_000)
    await store.webhooks.release("wh_1", "n_a")
    assert await store.webhooks.lease("wh_1", "n_b", 10_000)
