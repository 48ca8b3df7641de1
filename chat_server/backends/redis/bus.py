"""The Redis bus: one pub/sub connection per node, whatever the number of sockets.

Channels are subscribed and unsubscribed as local interest comes and goes, one channel per
command, in the order the hub asks (one connection keeps that order). When the connection
to Redis drops, the bus tells the hub at once (its sessions hold live messages from then
on), reconnects promptly (backoff from 0.05 s to at most 0.5 s), subscribes again to every
channel and, once every subscription is confirmed, tells the hub, which catches its
sessions up from the store (pub/sub is at-most-once; the store's streams are the history).
Both directions use the lean `Wire`: a message's delivery is one hiredis parse and one
handler call.

On a Redis Cluster the channels are shard channels in the installation's slot
(`SPUBLISH`, `SSUBSCRIBE`, at the slot's primary); when the slot moves (a failover) Redis
unsubscribes them unasked, which the wire takes as a lost connection: the bus reconnects
to the new owner and subscribes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

import msgpack

from chat_server.backends.base import Event, Handler
from chat_server.backends.redis import cluster
from chat_server.backends.redis.keys import for_url
from chat_server.backends.redis.wire import ReplyError, Wire
from chat_server.core.errors import unavailable

log = logging.getLogger(__name__)
PING_S = 5.0
"""How often an idle subscriber checks that Redis still answers."""
RETRY_MIN_S = 0.05
RETRY_MAX_S = 0.5
"""Reconnection backoff: a refused connection costs nothing, and every moment without
pub/sub is a moment this node's sockets are deaf, so a Redis that comes back is heard
again within half a second."""
Failure = (ConnectionError, ReplyError, OSError, TimeoutError)


class RedisBus:
    async_subscribe = True
    """Subscriptions take effect after the call returns: sessions catch up after them."""

    def __init__(self, url: str, *, prefix: str = "chat") -> None:
        self.url = url
        self.keys = for_url(url, prefix)
        self._slot = cluster.key_slot(self.keys.prefix)
        sharded = self.keys.sharded
        self._commands = {
            "SUBSCRIBE": "SSUBSCRIBE" if sharded else "SUBSCRIBE",
            "UNSUBSCRIBE": "SUNSUBSCRIBE" if sharded else "UNSUBSCRIBE",
            "NUMSUB": "SHARDNUMSUB" if sharded else "NUMSUB",
        }
        self._publisher = Wire(url, slot=self._slot)
        self._subscriber: Wire | None = None
        self._handler: Handler | None = None
        self._on_reconnect: Callable[[], None] | None = None
        self._on_lost: Callable[[], None] | None = None
        self._channels: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        """The subscriber may be sent commands (set before the resubscription is confirmed,
        so that channels joined meanwhile are sent after it, in order)."""
        self._hearing = False
        """Connected and every channel's subscription confirmed."""
        self._lost_at: float | None = None

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        self._on_reconnect = callback

    def set_lost_handler(self, callback: Callable[[], None]) -> None:
        self._on_lost = callback

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 5)

    async def stop(self) -> None:
        self._hearing = False  # closing is not losing: sessions are ending anyway
        self._on_lost = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._subscriber is not None:
            self._subscriber.close()
        self._publisher.close()

    def ready(self) -> bool:
        return self._hearing

    async def publish(self, channel: str, event: Event) -> None:
        payload = msgpack.packb(event, use_bin_type=True)
        try:
            await self._publisher.execute(self.keys.publish, self.keys.channel(channel), payload)
        except Failure:
            raise unavailable() from None

    async def listening(self, channels: Iterable[str]) -> set[str]:
        """`PUBSUB NUMSUB` (`SHARDNUMSUB` on a cluster, asked at the slot's primary where
        the subscribers are): subscriptions live on each node's connection, so a channel
        with none is one no node would hear now (Redis restarted and not resubscribed yet,
        or the pub/sub connection of every node holding it is cut)."""
        names = list(channels)
        if not names:
            return set()
        try:
            reply = await self._publisher.execute(
                "PUBSUB", self._commands["NUMSUB"], *(self.keys.channel(n) for n in names)
            )
        except Failure:
            raise unavailable() from None
        return {name for name, count in zip(names, reply[1::2], strict=True) if int(count) > 0}

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        await self._tell("SUBSCRIBE", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._tell("UNSUBSCRIBE", channel)

    async def _tell(self, command: str, channel: str) -> None:
        """Sent at once, in call order; while disconnected, the reconnect subscribes to
        whatever `_channels` holds then. A subscription that fails makes the bus deaf
        before this returns (so nobody takes it for in place), and one that Redis refuses
        starts the connection again (the reconnect subscribes to everything)."""
        subscriber = self._subscriber
        if subscriber is None or not self.connected.is_set():
            return
        try:
            reply = await subscriber.send(self._commands[command], self.keys.channel(channel))
        except Failure as exc:
            self._lose(subscriber, exc)
            return
        if isinstance(reply, Exception):
            log.warning("Redis refused %s %s: %s; reconnecting pub/sub", command, channel, reply)
            self._lose(subscriber, reply)

    async def _listen(self) -> None:
        delay = RETRY_MIN_S
        while True:
            subscriber: Wire | None = None
            try:
                subscriber = await self._connect()
                delay = RETRY_MIN_S
                self._heard(subscriber)
                await self._watch(subscriber)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not isinstance(exc, Failure):
                    log.exception("Redis pub/sub listener failed")
                self._lose(subscriber or self._subscriber, exc)
                await asyncio.sleep(delay * (0.5 + 0.5 * random.random()))
                delay = min(delay * 2, RETRY_MAX_S)

    async def _connect(self) -> Wire:
        """A fresh connection subscribed to every channel, each subscription confirmed."""
        if self._subscriber is not None:
            self._subscriber.close()
        subscriber = self._subscriber = Wire(self.url, push=self._on_push, slot=self._slot)
        await subscriber.connect()
        # one channel always subscribed keeps the connection in pub/sub mode; every
        # channel is queued before `connected` is set, so none falls between the two
        names = ["_", *self._channels]
        command = self._commands["SUBSCRIBE"]
        confirmations = [subscriber.send(command, self.keys.channel(n)) for n in names]
        self.connected.set()
        for reply in await asyncio.gather(*confirmations):
            if isinstance(reply, Exception):
                raise ReplyError(str(reply))
        if subscriber.lost is None or subscriber.lost.done():
            raise ConnectionError("Redis pub/sub connection closed while subscribing")
        # a drop is told to the hub at once, not when the listener next wakes
        subscriber.lost.add_done_callback(
            lambda _: self._lose(subscriber, ConnectionError("Redis pub/sub connection closed"))
        )
        return subscriber

    def _heard(self, subscriber: Wire) -> None:
        """Every subscription is in place: the hub catches its sessions up."""
        if subscriber is not self._subscriber:
            return
        self._hearing = True
        loop = asyncio.get_running_loop()
        if self._lost_at is not None:
            log.warning(
                "pub/sub back after %.2f s, resubscribed %d channels",
                loop.time() - self._lost_at,
                len(self._channels),
            )
        self._lost_at = None
        if self._on_reconnect is not None:
            try:
                self._on_reconnect()
            except Exception:  # the listener must outlive a failing handler
                log.exception("pub/sub reconnect handler failed")

    def _lose(self, subscriber: Wire | None, exc: BaseException) -> None:
        """This connection no longer hears (idempotent; a stale connection is ignored)."""
        if subscriber is not None and subscriber is not self._subscriber:
            return
        self.connected.clear()
        if subscriber is not None:
            subscriber.close()
        if self._lost_at is None:
            self._lost_at = asyncio.get_running_loop().time()
        if not self._hearing:
            return
        self._hearing = False
        log.warning("lost Redis pub/sub: %s; reconnecting", exc)
        if self._on_lost is not None:
            try:
                self._on_lost()
            except Exception:
                log.exception("pub/sub lost handler failed")

    async def _watch(self, subscriber: Wire) -> None:
        """Return (raising) when the subscriber's connection ends; ping it while idle."""
        assert subscriber.lost is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(subscriber.lost), PING_S)
                raise ConnectionError("Redis pub/sub connection closed")
            reply = await subscriber.send("PING")
            if isinstance(reply, Exception):
                raise ReplyError(str(reply))

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
