"""The Redis bus: one pub/sub connection per node, whatever the number of sockets.

Channels are subscribed and unsubscribed as local interest comes and goes. When the
connection to Redis drops, the listener reconnects with backoff, subscribes again to
every channel, and tells the hub, which catches its sessions up from the store
(pub/sub is at-most-once; the store's streams are the history).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import msgpack
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from chat_server.backends.base import Event, Handler
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.store import connect
from chat_server.core.errors import unavailable

log = logging.getLogger(__name__)


class RedisBus:
    async_subscribe = True
    """Subscriptions take effect after the call returns: sessions catch up after them."""

    def __init__(self, url: str, *, prefix: str = "chat") -> None:
        # no silent retries: a dropped pub/sub connection must surface, so that the
        # sessions catch up on what was published meanwhile
        self.redis: Redis = connect(url, retries=0)
        self.keys = Keys(prefix)
        self._handler: Handler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._channels: set[str] = set()
        self._pubsub: PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.connected = asyncio.Event()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        self._on_reconnect = callback

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        await self.redis.aclose()

    def ready(self) -> bool:
        return self.connected.is_set()

    async def publish(self, channel: str, event: Event) -> None:
        payload = msgpack.packb(event, use_bin_type=True)
        try:
            await self.redis.publish(self.keys.channel(channel), payload)
        except (RedisError, OSError):
            raise unavailable() from None

    async def subscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.add(channel)
            if self._pubsub is not None and self.connected.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.subscribe(self.keys.channel(channel))

    async def unsubscribe(self, channel: str) -> None:
        async with self._lock:
            self._channels.discard(channel)
            if self._pubsub is not None and self.connected.is_set():
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self.keys.channel(channel))

    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while True:
            try:
                await self._connect()
                delay = 0.1
                if not first and self._on_reconnect is not None:
                    self._on_reconnect()
                first = False
                await self._pump()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("lost Redis pub/sub: %s; reconnecting", exc)
                self.connected.clear()
                first = False
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        async with self._lock:
            if self._pubsub is not None:
                with contextlib.suppress(Exception):
                    await self._pubsub.aclose()
            self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            # one channel always subscribed keeps the connection in pub/sub mode (and readable)
            await self._pubsub.subscribe(
                self.keys.channel("_"), *(self.keys.channel(c) for c in self._channels)
            )
            self.connected.set()

    async def _pump(self) -> None:
        assert self._pubsub is not None
        pubsub = self._pubsub
        while True:
            message: dict[str, Any] | None = await pubsub.get_message(timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            self._deliver(message["channel"], message["data"])

    def _deliver(self, raw_channel: bytes, data: bytes) -> None:
        if self._handler is None:
            return
        try:
            event = msgpack.unpackb(data, raw=False)
        except Exception:
            log.warning("undecodable event on %r", raw_channel)
            return
        self._handler(self.keys.channel_name(raw_channel.decode()), event)
