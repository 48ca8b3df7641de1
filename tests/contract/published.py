"""What a store publishes, as a test sees it: each event, its channel, and whether its
message was durably stored when it was published ("publish after commit").

`settle()` returns once every event published so far has been seen: at once with the
embedded store (its `LocalBus` delivers during the write), after a marker published behind
the writes has come back with Redis (one subscriber connection hears in publish order)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
from redis.asyncio import Redis

from chat_server.backends.base import Event, Store
from chat_server.backends.redis.keys import Keys

MARK = "contract:settled"


@dataclass
class Seen:
    channel: str
    event: Event
    durable: bool


@dataclass
class Published:
    seen: list[Seen] = field(default_factory=list)

    async def settle(self) -> None:
        """Every event published so far has been seen."""

    def on(self, channel: str) -> list[dict[str, Any]]:
        return [s.event["frame"] for s in self.seen if s.channel == channel]

    def skips(self) -> set[Any]:
        return {s.event["skip"] for s in self.seen}

    def all_durable(self) -> bool:
        return all(s.durable for s in self.seen)

    async def clear(self) -> None:
        await self.settle()
        self.seen.clear()


class LocalPublished(Published):
    """The embedded store's bus handler: a message's row is looked up, when its event is
    delivered, with a second SQLite connection (which sees only committed rows)."""

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def __call__(self, channel: str, event: Event) -> None:
        frame = event["frame"]
        durable = True
        if frame.get("t") == "msg":
            conn = sqlite3.connect(self.db_path)
            try:
                row = conn.execute(
                    "SELECT 1 FROM messages WHERE cid = ? AND seq = ?", (frame["cid"], frame["seq"])
                ).fetchone()
            finally:
                conn.close()
            durable = row is not None
        self.seen.append(Seen(channel, event, durable))


class RedisPublished(Published):
    """Subscribed to every channel under the test's key prefix; a message is looked up in
    the store as its event arrives."""

    def __init__(self, url: str, prefix: str, store: Store) -> None:
        super().__init__()
        self.store = store
        self.head = Keys(prefix).channel("")
        self.redis: Any = Redis.from_url(url)
        self.pubsub: Any = self.redis.pubsub()
        self.task: asyncio.Task[None] | None = None
        self.marks: dict[str, asyncio.Future[None]] = {}

    async def start(self) -> None:
        await self.pubsub.psubscribe(self.head + "*")
        while True:  # subscribed for sure before any write is made
            reply = await self.pubsub.get_message(timeout=5)
            if reply is not None and reply["type"] == "psubscribe":
                break
        self.task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.pubsub.aclose()
        await self.redis.aclose()

    async def settle(self) -> None:
        assert self.task is not None and not self.task.done(), "the subscriber stopped"
        token = str(len(self.marks))
        self.marks[token] = asyncio.get_running_loop().create_future()
        await self.redis.publish(self.head + MARK, token)
        await asyncio.wait_for(self.marks[token], 10)

    async def _read(self) -> None:
        async for reply in self.pubsub.listen():
            if reply["type"] != "pmessage":
                continue
            channel = reply["channel"].decode()[len(self.head) :]
            if channel == MARK:
                self.marks[reply["data"].decode()].set_result(None)
                continue
            event = msgpack.unpackb(reply["data"], raw=False)
            frame = event["frame"]
            durable = True
            if frame.get("t") == "msg":
                stored, _ = await self.store.conversations.history(
                    frame["cid"], frame["seq"] - 1, 1, notes=True
                )
                durable = [m.seq for m in stored] == [frame["seq"]]
            self.seen.append(Seen(channel, event, durable))
