"""Files (issue 15), the role: an upload is kept whole or not at all, read back exactly in
pieces of at most `CHUNK_BYTES`, removed when unsent for too long or when its conversation
is forgotten, and seen by every store on the same storage."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chat_server.backends.base import Store
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.redis.files import STAGING_TTL_MS, RedisFiles
from chat_server.backends.redis.store import RedisStore
from chat_server.backends.roles.files import CHUNK_BYTES
from chat_server.core import files
from chat_server.core.clock import ManualClock
from chat_server.core.errors import ErrorCode
from chat_server.core.model import FileRef, StoredFile
from tests.contract.conftest import Storage
from tests.contract.support import expect, redis_clients

HOUR_MS = 3_600_000


def local(tmp_path: Path, body: bytes, name: str = "up") -> Path:
    """A file the caller (the upload pipeline) made, as `put` gets it."""
    path = tmp_path / "uploads" / f"{name}-{os.urandom(4).hex()}"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(body)
    return path


def stored_file(
    clock: ManualClock,
    cid: str = "c_1",
    owner: str = "visitor:v_1",
    *,
    size: int = 0,
    thumb: bool = False,
) -> StoredFile:
    ref = FileRef(files.new_file_id(cid), "shöt 😀.png", "png", size, 40, 30)
    return StoredFile(ref, cid, "shop", owner, clock.now_ms(), thumb)


async def put(
    store: Store,
    clock: ManualClock,
    tmp_path: Path,
    body: bytes = b"\x89PNG\r\n\x1a\nbytes",
    thumb: bytes | None = None,
    **options: str,
) -> StoredFile:
    stored = stored_file(clock, size=len(body), thumb=thumb is not None, **options)
    thumb_path = local(tmp_path, thumb) if thumb is not None else None
    await store.files.put(stored, local(tmp_path, body), thumb_path)
    return stored


async def read(store: Store, file_id: str, *, thumb: bool = False) -> bytes:
    return b"".join([chunk async for chunk in store.files.read(file_id, thumb=thumb)])


FILE_KEYS = (":files", ":file:", ":thumb:", ":upload")


async def leftovers(store: Store, storage: Storage) -> list[str]:
    """What of any file the storage holds: the data directory's `files/`, or Redis's keys
    (records, bytes, staging) and unsent index."""
    if isinstance(store, EmbeddedStore):
        return sorted(os.listdir(storage.path / "files"))
    found: list[str] = []
    for client in redis_clients(store):
        redis, k = client.redis, client.keys
        keys = [key.decode() for key in await redis.keys(f"{k.prefix}:*")]
        found += [
            key for key in keys if any(p in key for p in (":files", ":file:", ":thumb:", ":upload"))
        ]
        unsent = await redis.zrange(k.unsent_files(), 0, -1)
        found += [f"unsent {m.decode()}" for m in unsent]
    return sorted(found)


async def test_a_file_is_kept_and_read_back_exactly(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    body, small = os.urandom(1000), os.urandom(100)
    data, thumb = local(tmp_path, body), local(tmp_path, small)
    stored = stored_file(clock, size=len(body), thumb=True)
    await store.files.put(stored, data, thumb)
    assert data.read_bytes() == body  # the caller's files are still the caller's
    assert thumb.exists()
    assert await store.files.get(stored.id) == stored
    assert await read(store, stored.id) == body
    assert await read(store, stored.id, thumb=True) == small
    assert await store.files.count("c_1") == 1
    other = await put(store, clock, tmp_path, b"%PDF-1.4 plain")
    assert await store.files.count("c_1") == 2
    assert await store.files.many("c_1", [other.id, stored.id]) == [other, stored]
    assert await read(store, other.id, thumb=True) == b""  # no thumbnail kept


async def test_a_big_file_is_read_in_pieces(
    store: Store, clock: ManualClock, tmp_path: Path
) -> None:
    body = os.urandom(CHUNK_BYTES * 2 + 12345)
    stored = await put(store, clock, tmp_path, body)
    chunks = [chunk async for chunk in store.files.read(stored.id)]
    assert len(chunks) == 3
    assert all(0 < len(chunk) <= CHUNK_BYTES for chunk in chunks)
    assert b"".join(chunks) == body


async def test_an_unknown_file_is_nothing(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    unknown = files.new_file_id("c_1")
    assert await store.files.get(unknown) is None
    assert await read(store, unknown) == b""
    assert await read(store, unknown, thumb=True) == b""
    assert await store.files.count("c_1") == 0
    elsewhere = await put(store, clock, tmp_path, cid="c_2")
    # another conversation's file is not this one's
    assert await store.files.many("c_1", [unknown, elsewhere.id]) == [None, None]
    assert await store.files.many("c_2", [elsewhere.id]) == [elsewhere]


@pytest.mark.parametrize("missing", ["data", "thumb"])
async def test_a_failed_put_leaves_nothing(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path, missing: str
) -> None:
    kept = await put(store, clock, tmp_path, thumb=b"t")
    before = await leftovers(store, storage)
    stored = stored_file(clock, size=4, thumb=True)
    data, thumb = local(tmp_path, b"data"), local(tmp_path, b"thumb")
    (data if missing == "data" else thumb).unlink()
    await expect(ErrorCode.UNAVAILABLE, store.files.put(stored, data, thumb))
    assert await store.files.get(stored.id) is None
    assert await read(store, stored.id) == b""
    assert await store.files.count("c_1") == 1
    assert await leftovers(store, storage) == before
    assert await read(store, kept.id, thumb=True) == b"t"


async def test_expire_unsent_removes_only_old_uploads(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    old = [await put(store, clock, tmp_path, thumb=b"t"), await put(store, clock, tmp_path)]
    clock.advance(1800)
    young = await put(store, clock, tmp_path, b"young")
    clock.advance(1801)
    cut = clock.now_ms() - HOUR_MS
    assert await store.files.expire_unsent(cut) == 2
    for gone in old:
        assert await store.files.get(gone.id) is None
        assert await read(store, gone.id) == b""
    assert await store.files.get(young.id) == young
    assert await read(store, young.id) == b"young"
    assert await store.files.expire_unsent(cut) == 0
    assert await store.files.count("c_1") == 1
    assert not [k for k in await leftovers(store, storage) if old[0].id in k or old[1].id in k]


async def test_forget_removes_every_file_of_a_conversation(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    mine = [await put(store, clock, tmp_path, thumb=b"t"), await put(store, clock, tmp_path)]
    other = await put(store, clock, tmp_path, b"other", cid="c_2")
    await store.files.forget("c_1")
    for gone in mine:
        assert await store.files.get(gone.id) is None
        assert await read(store, gone.id) == b""
    assert await store.files.count("c_1") == 0
    assert await read(store, other.id) == b"other"
    assert [k for k in await leftovers(store, storage) if "c_1" in k] == []
    await store.files.forget("c_1")  # nothing left: no error
    assert await store.files.expire_unsent(clock.now_ms() + 1) == 1  # c_2's alone


async def test_another_store_sees_the_file(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    stored = await put(store, clock, tmp_path, b"shared", thumb=b"small")
    async with storage.another() as other:
        assert await other.files.get(stored.id) == stored
        assert await read(other, stored.id) == b"shared"
        assert await read(other, stored.id, thumb=True) == b"small"
        assert await other.files.count("c_1") == 1


@pytest.mark.parametrize("backend", ["embedded"])
async def test_embedded_start_removes_bytes_without_a_record(
    store: Store, storage: Storage, clock: ManualClock, tmp_path: Path
) -> None:
    """An interrupted put, or records deleted by the retention SQL (docs/operations.md)."""
    kept = await put(store, clock, tmp_path, b"kept", thumb=b"t")
    dropped = await put(store, clock, tmp_path, b"dropped")
    directory = storage.path / "files"
    (directory / f"{files.new_file_id('c_1')}.part").write_bytes(b"half")
    (directory / files.new_file_id("c_1")).write_bytes(b"no record")
    (directory / f"{files.new_file_id('c_1')}.thumb").write_bytes(b"no record")
    with contextlib.closing(sqlite3.connect(storage.db_path)) as db, db:
        db.execute("DELETE FROM files WHERE id = ?", (dropped.id,))
    async with storage.another() as other:
        assert sorted(os.listdir(directory)) == sorted([kept.id, f"{kept.id}.thumb"])
        assert await read(other, kept.id) == b"kept"
        assert await other.files.get(dropped.id) is None


@pytest.mark.parametrize("backend", ["redis"])
async def test_redis_stages_an_upload_in_expiring_keys(
    store: Store,
    storage: Storage,
    clock: ManualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Until the one step that keeps it, an upload is only keys that expire (a node that
    dies leaves nothing for good); a put that fails there removes them."""
    assert isinstance(store, RedisStore)
    role = store.files
    assert isinstance(role, RedisFiles)
    body = os.urandom(CHUNK_BYTES + 10)
    stored = stored_file(clock, size=len(body), thumb=True)
    staged: dict[str, tuple[int, bytes]] = {}

    async def cut_off(keys: list[str], args: list[object]) -> None:
        for key in keys[2::2]:
            staged[key] = (await store.redis.pttl(key), await store.redis.get(key))
        raise RedisConnectionError("the node lost Redis")

    monkeypatch.setattr(role, "_put_script", cut_off)
    await expect(
        ErrorCode.UNAVAILABLE,
        role.put(stored, local(tmp_path, body), local(tmp_path, b"thumb")),
    )
    k = store.keys
    assert list(staged) == [
        k.file_staging("c_1", stored.id),
        k.file_staging("c_1", stored.id, thumb=True),
    ]
    assert [value for _, value in staged.values()] == [body, b"thumb"]
    assert all(0 < ttl <= STAGING_TTL_MS for ttl, _ in staged.values())
    assert await leftovers(store, storage) == []
