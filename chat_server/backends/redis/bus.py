"""The Redis bus: one pub/sub connection per node, whatever the number of sockets.

Channels are subscribed and unsubscribed as local interest comes and goes, one channel per
command, in the order the hub asks (one connection keeps that order). When the connection
to Redis drops, the listener reconnects with backoff, subscribes again to every channel,
and tells the hub, which catches its sessions up from the store (pub/sub is at-most-once;
the store's streams are the history). Both directions use the lean `Wire`: a message's
delivery is one hiredis parse and one handler call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import msgpack

from chat_server.backends.base import Event, Handler
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import ReplyError, Wire
from chat_server.core.errors import unavailable

log = logging.getLogger(__name__)
PING_S = 5.0
"""How often an idle subscriber checks that Redis still answers."""
Failure = (ConnectionError, ReplyError, OSError, TimeoutError)


class RedisBus:
    async_subscribe = True
    """Subscriptions take effect after the call returns: sessions catch up after them."""

    def __init__(self, url: str, *, prefix: str = "chat") -> None:
        self.url = url
        self.keys = Keys(prefix)
        self._publisher = Wire(url)
        self._subscriber: Wire | None = None
        self._handler: Handler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._channels: set[str] = set()
        self._task: asyncio.Task[None] | None = None
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
        if self._subscriber is not None:
            self._subscriber.close()
        self._publisher.close()

    def ready(self) -> bool:
        return self.connected.is_set()

    async def publish(self, channel: str, event: Event) -> None:
        payload = msgpack.packb(event, use_bin_type=True)
        try:
            await self._publisher.execute("PUBLISH", self.keys.channel(channel), payload)
        except Failure:
            raise unavailable() from None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        await self._tell("SUBSCRIBE", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._tell("UNSUBSCRIBE", channel)

    async def _tell(self, command: str, channel: str) -> None:
        """Sent at once, in call order; while disconnected, the reconnect subscribes to
        whatever `_channels` holds then."""
        subscriber = self._subscriber
        if subscriber is not None and self.connected.is_set():
            with contextlib.suppress(*Failure):
                await subscriber.execute(command, self.keys.channel(channel))

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
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Failure as exc:
                if self.connected.is_set():
                    log.warning("lost Redis pub/sub: %s; reconnecting", exc)
                self.connected.clear()
                first = False
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        if self._subscriber is not None:
            self._subscriber.close()
        subscriber = self._subscriber = Wire(self.url, push=self._on_push)
        await subscriber.connect()
        # one channel always subscribed keeps the connection in pub/sub mode; every
        # channel is queued before `connected` is set, so none falls between the two
        names = ["_", *self._channels]
        confirmations = [subscriber.send("SUBSCRIBE", self.keys.channel(n)) for n in names]
        self.connected.set()
        for reply in await asyncio.gather(*confirmations):
            if isinstance(reply, Exception):
                raise ReplyError(str(reply))

    async def _watch(self) -> None:
        """Return (raising) when the subscriber's connection ends; ping it while idle."""
        subscriber = self._subscriber
        assert subscriber is not None and subscriber.lost is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(subscriber.lost), PING_S)
                raise ConnectionError("Redis pub/sub connection closed")
            await subscriber.execute("PING")

    def _on_push(self, reply: list[Any]) -> None:
        _, raw_channel, data = reply
        if self._handler is None:
            return
        try:
            event = msgpack.unpackb(data, raw=False)
        except Exception:
            log.warning("undecodable event on %r", raw_channel)
            return
        try:
            self._handler(self.keys.channel_name(raw_channel.decode()), event)
        except Exception:  # one bad event must not end the subscription
            log.exception("event handler failed on %r", raw_channel)
