"""What a store publishes, as a test sees it: each event, its channel, and whether its
message was durably stored when it was published ("publish after commit").

`settle()` returns once every event published so far has been seen: at once with the
embedded store (its `LocalBus` delivers during the write), after a marker published behind
the writes has come back with Redis (one subscriber connection hears in publish order).
On a Redis Cluster, whose sharded pub/sub has no pattern subscriptions, the slot's primary
is watched with `MONITOR` instead (it shows each `SPUBLISH`, those of scripts too)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hiredis
import msgpack
from redis.asyncio import Redis

from chat_server.backends.base import Event, Store
from chat_server.backends.redis import cluster
from chat_server.backends.redis.keys import Keys, for_url
from chat_server.backends.redis.wire import Wire

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
            await self._seen(channel, reply["data"])

    async def _seen(self, channel: str, data: bytes) -> None:
        event = msgpack.unpackb(data, raw=False)
        frame = event["frame"]
        durable = True
        if frame.get("t") == "msg":
            stored, _ = await self.store.conversations.history(
                frame["cid"], frame["seq"] - 1, 1, notes=True
            )
            durable = [m.seq for m in stored] == [frame["seq"]]
        self.seen.append(Seen(channel, event, durable))


class ShardedPublished(RedisPublished):
    """On a cluster: every `SPUBLISH` to the test's channels, as `MONITOR` at the slot's
    primary shows it (pattern subscriptions do not exist for shard channels)."""

    def __init__(self, url: str, prefix: str, store: Store) -> None:
        Published.__init__(self)
        self.store = store
        self.task = None
        self.marks = {}
        self.head = for_url(url, prefix).channel("")
        self.resolve = cluster.Resolver(cluster.parse(url), cluster.key_slot(self.head))
        self.publisher = Wire(url, slot=self.resolve.slot)
        self.writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        host, port = await self.resolve()
        reader, self.writer = await asyncio.open_connection(host, port)
        self.writer.write(hiredis.pack_command(("MONITOR",)))
        parser = hiredis.Reader()
        while (reply := parser.gets()) is False:  # monitoring for sure before any write
            parser.feed(await reader.read(65536))
        assert reply == b"OK", reply
        self.task = asyncio.create_task(self._monitor(reader, parser))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.writer is not None:
            self.writer.close()
        self.publisher.close()

    async def settle(self) -> None:
        assert self.task is not None and not self.task.done(), "the monitor stopped"
        token = str(len(self.marks))
        self.marks[token] = asyncio.get_running_loop().create_future()
        await self.publisher.execute("SPUBLISH", self.head + MARK, token)
        await asyncio.wait_for(self.marks[token], 10)

    async def _monitor(self, reader: asyncio.StreamReader, parser: hiredis.Reader) -> None:
        while data := await reader.read(65536):
            parser.feed(data)
            while (line := parser.gets()) is not False:
                args = monitored_args(line)
                if len(args) != 3 or args[0].upper() != b"SPUBLISH":
                    continue
                channel = args[1].decode()
                if not channel.startswith(self.head):
                    continue
                channel = channel[len(self.head) :]
                if channel == MARK:
                    self.marks[args[2].decode()].set_result(None)
                    continue
                await self._seen(channel, args[2])


class SpreadPublished(Published):
    """On a spread installation (`partitions=N`): what each partition's slot publishes,
    watched at its primary, into one list."""

    def __init__(self, url: str, prefixes: Sequence[str], store: Store) -> None:
        super().__init__()
        self.parts = [ShardedPublished(url, prefix, store) for prefix in prefixes]
        for part in self.parts:
            part.seen = self.seen

    async def start(self) -> None:
        for part in self.parts:
            await part.start()

    async def stop(self) -> None:
        for part in self.parts:
            await part.stop()

    async def settle(self) -> None:
        for part in self.parts:
            await part.settle()

    async def clear(self) -> None:
        await self.settle()
        self.seen.clear()


ESCAPES = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("a"): 7, ord("b"): 8}


def monitored_args(line: bytes) -> list[bytes]:
    """A `MONITOR` line's command and arguments, each quoted and escaped by Redis:
    `1700000000.123 [0 lua] "SPUBLISH" "ch" "\\x81..."`."""
    args: list[bytes] = []
    i = line.find(b"] ")
    if i < 0:
        return args
    i += 2
    while i < len(line):
        if line[i] != ord('"'):
            i += 1
            continue
        i += 1
        arg = bytearray()
        while line[i] != ord('"'):
            if line[i] == ord("\\"):
                nxt = line[i + 1]
                if nxt == ord("x"):
                    arg.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                    continue
                arg.append(ESCAPES.get(nxt, nxt))
                i += 2
                continue
            arg.append(line[i])
            i += 1
        args.append(bytes(arg))
        i += 1
    return args
