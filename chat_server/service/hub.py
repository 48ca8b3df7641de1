"""This node's connections by channel: the one place where events fan out to sockets.

Each event is encoded once per codec, not once per socket; a frame that cannot be encoded
is logged and skipped for those sockets, never ending the fan-out, the socket or the
node. Every connection has an outbox bounded in frames and in bytes; one that overflows
tells its `Outlet` and `web/session.serve` ends it with 1013 (the client reconnects and
resumes with `sync`): a slow reader cannot grow memory.

An idle connection is the common case (thousands of visitors with the widget open), so a
`Connection` holds no outbox, task or event while it has nothing to send: the outbox is
made by the first frame and dropped once drained, and the outlet is told when to drain.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from chat_server.backends.base import Bus, Event
from chat_server.protocol.codec import Codec, Frame, encode, repaired
from chat_server.service.metrics import Metrics
from chat_server.service.resync import Resync

log = logging.getLogger(__name__)


def encode_or_log(codec: Codec, frame: Frame) -> bytes | str | None:
    """The frame encoded, or None when it cannot be (logged with its type): one frame
    that fails for one codec never stops the others, the socket or the node."""
    try:
        return encode(codec, frame)
    except Exception:
        log.exception("could not encode a %r frame for %s sockets", frame.get("t"), codec.name)
        return None


class Outlet(Protocol):
    """Where a connection's outbox drains to (the socket loop in `web/session`)."""

    def wake(self) -> None:
        """The outbox has frames to send (called for each one: a running drain ignores it)."""

    def overflow(self) -> None:
        """The outbox overflowed and was dropped: end the connection (1013)."""


class Connection:
    """One WebSocket as the services see it: an id, a codec, its channels and an outbox."""

    __slots__ = (
        "channels",
        "codec",
        "hub",
        "id",
        "max_bytes",
        "max_queue",
        "outbox",
        "outlet",
        "overflowed",
        "queued",
    )

    def __init__(self, hub: Hub, codec: Codec, max_queue: int, max_bytes: int) -> None:
        self.id = uuid.uuid4().hex
        self.hub = hub
        self.codec = codec
        self.max_queue = max_queue
        self.max_bytes = max_bytes
        self.outbox: deque[bytes | str] | None = None
        """Frames not sent yet, in order (None while there are none)."""
        self.queued = 0
        """The size of the frames in the outbox: bytes, or characters of JSON text."""
        self.overflowed = False
        self.channels: tuple[str, ...] = ()
        """A tuple: most connections have one to a few channels (a set is 216 bytes)."""
        self.outlet: Outlet | None = None

    def accept(self, channel: str, frame: Frame) -> bool:
        """Whether this connection wants an event it is subscribed to (subclasses filter)."""
        return True

    def send(self, frame: Frame) -> bool:
        """Queue one frame; False (logged) when it could not be encoded, which leaves the
        connection as it was."""
        data = encode_or_log(self.codec, frame)
        if data is None:
            return False
        self.push(data)
        return True

    def push(self, data: bytes | str) -> None:
        """Queue encoded bytes; overflow at `max_queue` frames or past `max_bytes` (an
        empty outbox takes one frame of any size, so a big frame still gets through)."""
        if self.overflowed:
            return
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = deque()
        size = len(data)
        if len(outbox) >= self.max_queue or (outbox and self.queued + size > self.max_bytes):
            self.overflowed = True
            self.outbox = None
            self.queued = 0
            if self.outlet is not None:
                self.outlet.overflow()
            return
        outbox.append(data)
        self.queued += size
        if self.outlet is not None:
            self.outlet.wake()

    def pull(self) -> bytes | str | None:
        """The next frame to send, in order; None once drained (the outbox is dropped, so
        an idle connection does not keep one) or after an overflow."""
        outbox = self.outbox
        if outbox:
            data = outbox.popleft()
            self.queued -= len(data)
            return data
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

    def deafen(self) -> None:
        """This node's bus stopped hearing (subclasses hold live messages from now on)."""

    def resync(self, report: Resync) -> None:
        """The bus lost events for a while and hears again (subclasses catch up from the
        store and tell the client the current state); `report.finish` once done."""
        report.finish(0)

    def unsubscribe(self, channel: str) -> None:
        if channel in self.channels:
            self.channels = tuple(c for c in self.channels if c != channel)
            self.hub.leave(channel, self)

    def unsubscribe_all(self) -> None:
        for channel in self.channels:
            self.unsubscribe(channel)


FANOUT_SLICE = 256
"""Sockets one event reaches per loop turn. An event for thousands (a site's availability
to its visitors) went out in one turn, some 15 µs a socket: 5,000 visitors held every
chat on the node 75 ms. A larger fan-out goes a slice a turn, the events of one channel
in order; a socket that left the channel meanwhile is skipped."""


@dataclass(slots=True)
class _Fanout:
    event: Event
    targets: list[Connection]
    sent: int = 0
    encoded: dict[Codec, bytes | str | None] = field(default_factory=dict)


def _deliver(
    channel: str,
    event: Event,
    targets: list[Connection],
    encoded: dict[Codec, bytes | str | None],
    *,
    recheck: bool,
) -> None:
    """Queue the event's frame on each target that wants it, encoded once per codec
    (`encoded`: failures included, logged once, the others still get it); `recheck`:
    only those still on the channel (a slice sent after the dispatch's turn)."""
    frame: Frame = event["frame"]
    skip = event.get("skip")
    for conn in targets:
        if conn.id == skip or (recheck and channel not in conn.channels):
            continue
        if not conn.accept(channel, frame):
            continue
        if conn.codec in encoded:
            data = encoded[conn.codec]
        else:
            data = encoded[conn.codec] = encode_or_log(conn.codec, frame)
        if data is not None:
            conn.push(data)


class Hub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._channels: dict[str, list[Connection]] = {}
        """Members by channel, in joining order; lists, as most channels have one member
        (a visitor's, the tabs of one visitor) and a set is 216 bytes."""
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._fanouts: dict[str, deque[_Fanout]] = {}
        """Per channel, the events still going out a slice a turn (`FANOUT_SLICE`)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.connections: set[Connection] = set()
        self.metrics: Metrics | None = None
        self.listening = bus.ready()
        """This node's bus hears every channel it is subscribed to (False from a loss until
        it has subscribed again)."""
        self.epoch = 0
        """Bus losses so far: a catch-up whose read spans a loss is done again."""
        self._heard = asyncio.Event()
        if self.listening:
            self._heard.set()
        self._lost_at: float | None = None
        self._after_resync: list[Callable[[], None]] = []
        bus.set_handler(self.dispatch)
        bus.set_reconnect_handler(self.resync_all)
        bus.set_lost_handler(self.lost_all)

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

    async def hearing(self, channel: str | None = None) -> None:
        """Wait until the bus hears (after a loss: resubscribed) and, for a channel, until
        this node's subscription to it is in place."""
        while True:
            await self._heard.wait()
            if channel is not None:
                await self.ready(channel)
            if self._heard.is_set():
                return

    def lost_all(self) -> None:
        """The bus stopped hearing: every connection holds its live messages from now."""
        self.epoch += 1
        self.listening = False
        self._heard.clear()
        self._lost_at = asyncio.get_running_loop().time()
        for conn in list(self.connections):
            conn.deafen()

    def resync_all(self) -> None:
        """The bus hears again: catch every connection up and tell it the state."""
        self.listening = True
        self._heard.set()
        loop = asyncio.get_running_loop()
        down_s = None if self._lost_at is None else loop.time() - self._lost_at
        self._lost_at = None
        connections = list(self.connections)
        report = Resync(len(connections), down_s, self.metrics, loop.time())
        for conn in connections:
            conn.resync(report)
        for callback in self._after_resync:
            callback()

    def after_resync(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever the bus hears again after a loss (the dispatcher
        routes again: agents of this node may have been skipped meanwhile)."""
        self._after_resync.append(callback)

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
        fanouts = self._fanouts.get(channel)
        if fanouts is None and len(members) <= FANOUT_SLICE:
            _deliver(channel, event, list(members), {}, recheck=False)
            return
        fanout = _Fanout(event, list(members))
        if fanouts is not None:  # an earlier event still going out: this one follows it
            fanouts.append(fanout)
            return
        self._fanouts[channel] = deque((fanout,))
        self._fan_out(channel)

    def _fan_out(self, channel: str) -> None:
        """Send the channel's pending events to the next `FANOUT_SLICE` sockets, then let
        the loop turn (what came meanwhile goes first) before the next slice."""
        fanouts = self._fanouts[channel]
        budget = FANOUT_SLICE
        while fanouts and budget:
            fanout = fanouts[0]
            end = min(len(fanout.targets), fanout.sent + budget)
            targets = fanout.targets[fanout.sent : end]
            _deliver(channel, fanout.event, targets, fanout.encoded, recheck=True)
            budget -= end - fanout.sent
            fanout.sent = end
            if end == len(fanout.targets):
                fanouts.popleft()
        if fanouts:
            asyncio.get_running_loop().call_soon(self._fan_out, channel)
        else:
            del self._fanouts[channel]

    async def publish(self, channel: str, frame: Frame, skip: str | None = None) -> None:
        try:
            await self.bus.publish(channel, {"frame": frame, "skip": skip})
        except UnicodeEncodeError:  # a bus that packs (Redis), data stored before the fix
            log.warning("a %r event held a lone surrogate: published as U+FFFD", frame.get("t"))
            await self.bus.publish(channel, {"frame": repaired(frame), "skip": skip})

    def _background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hub task failed", exc_info=task.exception())
