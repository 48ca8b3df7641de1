"""The contract's fixtures: a started store of each backend (the `backend` fixture of
`tests/conftest.py`: embedded, Redis on the session's redis-server, then a Redis Cluster
with the installation spread over its shards, `SpreadStore`),
its manual clock, what it publishes, and a second store on the same storage."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chat_server.backends.base import Store
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.redis.spread_store import SpreadStore, redis_store
from chat_server.core import ids
from chat_server.core.clock import ManualClock
from tests.conftest import backend_url, redis_like
from tests.contract.published import (
    LocalPublished,
    Published,
    RedisPublished,
    ShardedPublished,
    SpreadPublished,
)

DB_NAME = "chat.sqlite3"


@dataclass
class Storage:
    """Where a test's stores keep their state: a directory, or a key prefix in Redis."""

    backend: str
    path: Path
    clock: ManualClock
    redis_url: str
    prefix: str

    @property
    def db_path(self) -> Path:
        return self.path / DB_NAME

    def make(self, **options: Any) -> Store:
        """A store on this storage, not started (`options`: the backend's own)."""
        if self.backend == "embedded":
            return EmbeddedStore(self.path, LocalBus(), self.clock, **options)
        return redis_store(self.redis_url, self.clock, prefix=self.prefix, **options)

    @contextlib.asynccontextmanager
    async def another(self) -> AsyncIterator[Store]:
        """A second store on the same state: a fresh load of the embedded store's disk, or
        another Redis node."""
        other = self.make()
        await other.start()
        try:
            yield other
        finally:
            await other.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def storage(
    backend: str, tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest
) -> Storage:
    url = backend_url(backend, request) if redis_like(backend) else ""
    return Storage(backend, tmp_path, clock, url, ids.new_id("k"))


@pytest.fixture
async def store(storage: Storage) -> AsyncIterator[Store]:
    s = storage.make()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def published(store: Store, storage: Storage) -> AsyncIterator[Published]:
    """Every event `store` publishes from now on."""
    if isinstance(store, EmbeddedStore):
        local = LocalPublished(storage.db_path)
        store.bus.set_handler(local)
        yield local
        return
    remote: RedisPublished | SpreadPublished
    if isinstance(store, SpreadStore):
        remote = SpreadPublished(storage.redis_url, store.where.prefixes, store)
    elif storage.backend == "cluster":
        remote = ShardedPublished(storage.redis_url, storage.prefix, store)
    else:
        remote = RedisPublished(storage.redis_url, storage.prefix, store)
    await remote.start()
    try:
        yield remote
    finally:
        await remote.stop()
