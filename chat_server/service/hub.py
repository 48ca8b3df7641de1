"""This node's connections by channel: the one place where events fan out to sockets.

Each event is encoded once per codec, not once per socket. Every connection has a bounded
outbox; one that overflows tells its `Outlet` and `web/session.serve` ends it with 1013
(the client reconnects and resumes with `sync`): a slow reader cannot grow memory.

An idle connection is the common case (thousands of visitors with the widget open), so a
`Connection` holds no outbox, task or event while it has nothing to send: the outbox is
made by the first frame and dropped once drained, and the outlet is told when to drain.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from typing import Any, Protocol

from chat_server.backends.base import Bus, Event
from chat_server.protocol.codec import Codec, Frame, encode

log = logging.getLogger(__name__)


class Outlet(Protocol):
    """Where a connection's outbox drains to (the socket loop in `web/session`)."""

    def wake(self) -> None:
        """The outbox has frames to send (called for each one: a running drain ignores it)."""

    def overflow(self) -> None:
        """The outbox overflowed and was dropped: end the connection (1013)."""


class Connection:
    """One WebSocket as the services see it: an id, a codec, its channels and an outbox."""

    __slots__ = ("channels", "codec", "hub", "id", "max_queue", "outbox", "outlet", "overflowed")

    def __init__(self, hub: Hub, codec: Codec, max_queue: int) -> None:
        self.id = uuid.uuid4().hex
        self.hub = hub
        self.codec = codec
        self.max_queue = max_queue
        self.outbox: deque[bytes | str] | None = None
        """Frames not sent yet, in order (None while there are none)."""
        self.overflowed = False
        self.channels: tuple[str, ...] = ()
        """A tuple: most connections have one to a few channels (a set is 216 bytes)."""
        self.outlet: Outlet | None = None

    def accept(self, channel: str, frame: Frame) -> bool:
        """Whether this connection wants an event it is subscribed to (subclasses filter)."""
        return True

    def send(self, frame: Frame) -> None:
        self.push(encode(self.codec, frame))

    def push(self, data: bytes | str) -> None:
        if self.overflowed:
            return
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = deque()
        if len(outbox) >= self.max_queue:
            self.overflowed = True
            self.outbox = None
            if self.outlet is not None:
                self.outlet.overflow()
            return
        outbox.append(data)
        if self.outlet is not None:
            self.outlet.wake()

    def pull(self) -> bytes | str | None:
        """The next frame to send, in order; None once drained (the outbox is dropped, so
        an idle connection does not keep one) or after an overflow."""
        outbox = self.outbox
        if outbox:
            return outbox.popleft()
        self.outbox = None
        return None

    def subscribe(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels = (*self.channels, channel)
            self.hub.join(channel, self)
            if self.hub.bus.async_subscribe:
                self.joined(channel)

    def joined(self, channel: str) -> None:
        """A new channel, over a bus whose subscriptions take effect later (subclasses
        catch up on what was published meanwhile)."""

    def resync(self) -> None:
        """The bus lost events for a while (subclasses catch up from the store)."""

    def unsubscribe(self, channel: str) -> None:
        if channel in self.channels:
            self.channels = tuple(c for c in self.channels if c != channel)
            self.hub.leave(channel, self)

    def unsubscribe_all(self) -> None:
        for channel in self.channels:
            self.unsubscribe(channel)


class Hub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._channels: dict[str, list[Connection]] = {}
        """Members by channel, in joining order; lists, as most channels have one member
        (a visitor's, the tabs of one visitor) and a set is 216 bytes."""
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: set[Connection] = set()
        bus.set_handler(self.dispatch)
        bus.set_reconnect_handler(self.resync_all)

    def join(self, channel: str, conn: Connection) -> None:
        members = self._channels.get(channel)
        if members is None:
            self._channels[channel] = [conn]
            ready = self._ready[channel] = asyncio.get_running_loop().create_future()
            self._background(self._subscribe(channel, ready))
        elif conn not in members:
            members.append(conn)

    async def _subscribe(self, channel: str, ready: asyncio.Future[None]) -> None:
        try:
            await self.bus.subscribe(channel)
        finally:
            if not ready.done():
                ready.set_result(None)
            # in place: `ready()` has nothing left to wait for (one future less per channel)
            if self._ready.get(channel) is ready:
                del self._ready[channel]

    async def ready(self, channel: str) -> None:
        """Wait until this node's subscription to `channel` is in place."""
        ready = self._ready.get(channel)
        if ready is not None:
            await asyncio.shield(ready)

    def resync_all(self) -> None:
        for conn in list(self.connections):
            conn.resync()

    def spawn(self, coro: Any) -> None:
        """Run a side task owned by the hub (logged if it fails)."""
        self._background(coro)

    def leave(self, channel: str, conn: Connection) -> None:
        members = self._channels.get(channel)
        if members is None:
            return
        if conn in members:
            members.remove(conn)
        if not members:
            del self._channels[channel]
            self._ready.pop(channel, None)
            self._background(self.bus.unsubscribe(channel))

    def local(self, channel: str) -> set[Connection]:
        return set(self._channels.get(channel, ()))

    def dispatch(self, channel: str, event: Event) -> None:
        members = self._channels.get(channel)
        if not members:
            return
        frame: Frame = event["frame"]
        skip = event.get("skip")
        encoded: dict[Codec, bytes | str] = {}
        for conn in list(members):
            if conn.id == skip or not conn.accept(channel, frame):
                continue
            data = encoded.get(conn.codec)
            if data is None:
                data = encoded[conn.codec] = encode(conn.codec, frame)
            conn.push(data)

    async def publish(self, channel: str, frame: Frame, skip: str | None = None) -> None:
        await self.bus.publish(channel, {"frame": frame, "skip": skip})

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())
