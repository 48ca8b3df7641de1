"""Tags (issue 17), the role on both backends: a change is applied whole or not at all,
reads of many conversations at once, finding by tag newest first and paged, and retention
taking a conversation's tags with it."""

from __future__ import annotations

import asyncio
import sqlite3

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.tags import TAGS_MAX
from tests.contract.conftest import Storage
from tests.contract.support import expect, open_conv, redis_clients


async def created(store: Store, cid: str) -> int:
    conv = await store.conversations.get(cid)
    assert conv is not None
    return conv.created


async def test_add_remove_and_replace(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    at = await created(store, "c_1")
    tags = store.tags
    assert await tags.change("c_1", at, add=["vip", "billing"]) == ("billing", "vip")
    assert await tags.change("c_1", at, add=["refund"], remove=["vip", "absent"]) == (
        "billing",
        "refund",
    )
    assert await tags.change("c_1", at, add=["x"], remove=["x"]) == ("billing", "refund")
    assert await tags.change("c_1", at, add=["new"], replace=True) == ("new",)
    assert await tags.of(["c_1"]) == {"c_1": ("new",)}
    assert await tags.find("billing", before=None, limit=10) == []
    assert await tags.find("new", before=None, limit=10) == ["c_1"]
    assert await tags.change("c_1", at, replace=True) == ()
    assert await tags.find("new", before=None, limit=10) == []


async def test_the_cap_refuses_the_whole_change(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    at = await created(store, "c_1")
    full = [f"t{i:02}" for i in range(TAGS_MAX)]
    assert len(await store.tags.change("c_1", at, add=full)) == TAGS_MAX
    await expect(ErrorCode.BAD_REQUEST, store.tags.change("c_1", at, add=["more"], remove=[]))
    await expect(
        ErrorCode.BAD_REQUEST, store.tags.change("c_1", at, add=[*full, "x"], replace=True)
    )
    assert (await store.tags.of(["c_1"]))["c_1"] == tuple(full)
    assert await store.tags.find("more", before=None, limit=5) == []
    # a swap within the cap is fine
    assert "more" in await store.tags.change("c_1", at, add=["more"], remove=["t00"])


async def test_an_unknown_conversation_is_not_found(store: Store) -> None:
    await expect(ErrorCode.NOT_FOUND, store.tags.change("c_nope", 1, add=["x"]))
    assert await store.tags.find("x", before=None, limit=5) == []
    assert await store.tags.of(["c_nope"]) == {"c_nope": ()}
    assert await store.tags.of([]) == {}


async def test_find_is_newest_first_and_paged(store: Store, clock: ManualClock) -> None:
    for n in range(5):
        await open_conv(store, clock, f"c_{n}", f"v_{n}")
        if n != 2:
            await store.tags.change(f"c_{n}", await created(store, f"c_{n}"), add=["sale"])
        clock.advance(1)
    first = await store.tags.find("sale", before=None, limit=2)
    assert first == ["c_4", "c_3"]
    after = await created(store, first[-1])
    assert await store.tags.find("sale", before=after, limit=2) == ["c_1", "c_0"]
    assert await store.tags.find("sale", before=await created(store, "c_0"), limit=2) == []
    found = await store.tags.of(["c_0", "c_2", "c_4", "c_0"])
    assert found == {"c_0": ("sale",), "c_2": (), "c_4": ("sale",)}


async def test_concurrent_changes_all_land(store: Store, clock: ManualClock) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    at = await created(store, "c_1")
    await asyncio.gather(*(store.tags.change("c_1", at, add=[f"t{i}"]) for i in range(12)))
    assert len((await store.tags.of(["c_1"]))["c_1"]) == 12


async def test_another_store_sees_the_tags(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    await open_conv(store, clock, "c_1", "v_1")
    await store.tags.change("c_1", await created(store, "c_1"), add=["kept"])
    async with storage.another() as other:
        assert await other.tags.of(["c_1"]) == {"c_1": ("kept",)}
        assert await other.tags.find("kept", before=None, limit=5) == ["c_1"]


async def test_retention_removes_the_tags(
    store: Store, storage: Storage, clock: ManualClock
) -> None:
    for cid, vid in (("c_1", "v_1"), ("c_2", "v_2")):
        await open_conv(store, clock, cid, vid)
        await store.tags.change(cid, await created(store, cid), add=["gone", cid.replace("_", "-")])
        await store.conversations.close(
            cid, clock.now_ms(), by="visitor", reason="x", resolved=None
        )
    assert await store.retention.remove("c_1") is True
    assert await store.tags.of(["c_1", "c_2"]) == {"c_1": (), "c_2": ("c-2", "gone")}
    assert await store.tags.find("gone", before=None, limit=5) == ["c_2"]
    assert await store.tags.find("c-1", before=None, limit=5) == []
    await expect(ErrorCode.NOT_FOUND, store.tags.change("c_1", 1, add=["back"]))
    if isinstance(store, EmbeddedStore):
        con = sqlite3.connect(storage.db_path)
        try:
            rows = con.execute("SELECT tag FROM conv_tags WHERE cid = 'c_1'").fetchall()
        finally:
            con.close()
        assert rows == []
    else:
        left = [
            k.decode()
            for client in redis_clients(store)
            for k in await client.redis.keys(f"{client.keys.prefix}:*")
            if "c_1" in k.decode()
            or (await client.redis.type(k) == b"zset" and await client.redis.zscore(k, "c_1"))
        ]
        assert left == []
