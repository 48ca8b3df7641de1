"""The directory's visitors for export and erase (issue 16): found by email (whatever the
ASCII case and surrounding spaces, every visitor id with it, the current email only), and
forgotten whole: the record and every way to find it by an email, on either store, once."""

from __future__ import annotations

import asyncio
import sqlite3

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core.clock import ManualClock
from chat_server.core.model import Page, Visitor
from tests.contract.conftest import Storage
from tests.contract.support import redis_clients

EMAIL = "Vera.Lind@Example.com"


def visitor(vid: str, clock: ManualClock, email: str | None = EMAIL, site: str = "shop") -> Visitor:
    return Visitor(vid, site, clock.now_ms(), "Vera", email, Page("https://shop.example/", "Shop"))


async def traces(store: Store, storage: Storage, *needles: str) -> list[str]:
    """Whatever the storage still holds that names one of `needles`: rows, or keys and
    set members."""
    if isinstance(store, EmbeddedStore):
        con = sqlite3.connect(storage.db_path)
        try:
            rows = con.execute("SELECT id, email FROM visitors").fetchall()
        finally:
            con.close()
        return [repr(r) for r in rows if any(n.lower() in repr(r).lower() for n in needles)]
    found = []
    for client in redis_clients(store):
        redis = client.redis
        for raw in await redis.keys(f"{client.keys.prefix}:*"):
            key = raw.decode()
            if any(n.lower() in key.lower() for n in needles):
                found.append(key)
            elif await redis.type(key) == b"set":
                members = {m.decode() for m in await redis.smembers(key)}
                found += [f"{key} has {n}" for n in needles if n in members]
    return found


async def test_visitors_are_found_by_email_whatever_its_case(
    store: Store, clock: ManualClock
) -> None:
    for v in (
        visitor("v_2", clock),
        visitor("v_1", clock, "  vera.lind@example.COM ", site="blog"),
        visitor("v_3", clock, "someone@example.com"),
        visitor("v_4", clock, None),
    ):
        await store.directory.put_visitor(v)
    found = await store.directory.visitors_by_email("vera.lind@example.com")
    assert [v.id for v in found] == ["v_1", "v_2"]  # by id, across sites
    assert found[1] == visitor("v_2", clock)  # whole records
    assert [v.id for v in await store.directory.visitors_by_email(" VERA.LIND@EXAMPLE.COM")] == [
        "v_1",
        "v_2",
    ]
    assert await store.directory.visitors_by_email("vera@example.com") == []
    assert await store.directory.visitors_by_email("") == []


async def test_only_the_current_email_finds_a_visitor(store: Store, clock: ManualClock) -> None:
    await store.directory.put_visitor(visitor("v_1", clock))
    await store.directory.put_visitor(visitor("v_1", clock, "new@example.com"))
    assert await store.directory.visitors_by_email(EMAIL) == []
    assert [v.id for v in await store.directory.visitors_by_email("NEW@example.com")] == ["v_1"]
    await store.directory.put_visitor(visitor("v_1", clock, None))  # the email is not kept
    assert await store.directory.visitor("v_1") == visitor("v_1", clock, None)
    assert await store.directory.visitors_by_email("new@example.com") == []


async def test_a_forgotten_visitor_leaves_nothing_that_finds_it(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    await store.directory.put_visitor(visitor("v_1", clock, "old@example.com"))
    await store.directory.put_visitor(visitor("v_1", clock))  # an email given before, too
    await store.directory.put_visitor(visitor("v_2", clock))  # the same person elsewhere
    assert await store.directory.forget_visitor("v_1") is True
    assert await store.directory.visitor("v_1") is None
    assert [v.id for v in await store.directory.visitors_by_email(EMAIL)] == ["v_2"]
    assert await traces(store, storage, "v_1", "old@example.com") == []
    assert await store.directory.visitor("v_2") == visitor("v_2", clock)

    assert await store.directory.forget_visitor("v_1") is False  # twice: nothing to do
    assert await store.directory.forget_visitor("v_nobody") is False
    assert await store.directory.forget_visitor("v_2") is True
    assert await traces(store, storage, "v_2", EMAIL) == []
    assert await store.directory.visitors_by_email(EMAIL) == []


async def test_another_store_finds_and_forgets_the_same(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    await store.directory.put_visitor(visitor("v_1", clock))
    async with storage.another() as other:
        assert await other.directory.visitors_by_email(EMAIL) == [visitor("v_1", clock)]
        assert await other.directory.forget_visitor("v_1") is True
    assert await store.directory.visitors_by_email(EMAIL) == []
    assert await store.directory.visitor("v_1") is None


async def test_concurrent_forgets_forget_once(store: Store, clock: ManualClock) -> None:
    await store.directory.put_visitor(visitor("v_1", clock))
    results = await asyncio.gather(*(store.directory.forget_visitor("v_1") for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await store.directory.visitors_by_email(EMAIL) == []


async def test_a_visitor_stored_again_after_being_forgotten_is_found_again(
    store: Store, clock: ManualClock
) -> None:
    """A visitor who comes back after an erase starts over: new data, found as such."""
    await store.directory.put_visitor(visitor("v_1", clock))
    await store.directory.forget_visitor("v_1")
    await store.directory.put_visitor(visitor("v_1", clock, "back@example.com"))
    assert [v.id for v in await store.directory.visitors_by_email("back@example.com")] == ["v_1"]
    assert await store.directory.visitors_by_email(EMAIL) == []
