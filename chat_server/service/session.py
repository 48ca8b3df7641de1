"""What visitor and agent sessions share: `hello` first, dispatch by frame type, `sync`,
and the seq bookkeeping that keeps every socket gap-free across a bus that drops events
(each message once, in order): catch-up from the store, and the `state` frame after a
reconnect."""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from chat_server.core import conversation as flow
from chat_server.core import views
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.limits import Abuse, TokenBucket
from chat_server.core.model import Conversation
from chat_server.protocol.codec import Codec, Frame
from chat_server.protocol.frames import Envelope, Sync
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Connection
from chat_server.service.node import Node
from chat_server.service.resync import Resync

log = logging.getLogger(__name__)
Result = dict[str, Any] | None
Handler = Callable[[Any], Awaitable[Result]]
FollowUp = Callable[[], None]
SYNC_PAGE = 200
RETRY_MIN_S = 0.05
RETRY_MAX_S = 1.0
"""Backoff of a catch-up (or `state`) read that failed: the store may come back after the
bus (Redis loading its AOF, a pool reconnecting); the read is retried until it succeeds or
the socket closes, never dropped."""


async def backoff(delay: float) -> float:
    """Sleep about `delay` (with jitter); the next delay."""
    await asyncio.sleep(delay * (0.5 + random.random()))
    return min(delay * 2, RETRY_MAX_S)


class CatchUp:
    """One conversation being caught up on one connection. Its live `msg` events are held
    meanwhile, and sent with the stored ones only after a pass that read the store while
    this node's subscription was in place from before the read until after it: a held
    later seq never passes one that was lost."""

    __slots__ = ("again", "channel", "done", "held", "reading")

    def __init__(self, channel: str | None) -> None:
        self.channel = channel
        """The channel whose subscription the read waits for (None: the bus as a whole)."""
        self.held: list[Frame] = []
        self.reading = False
        self.again = False
        """Asked for again during a read (a subscription changed): one more pass."""
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        """The number of messages sent once released (0 if the socket closed first)."""


class Session(Connection, ABC):
    """Slotted, and what most sockets never use (co-browse limits, abuse counting, seq
    bookkeeping) is made on first use: an idle visitor should cost little memory."""

    __slots__ = (
        "_abuse",
        "_catching",
        "_cobrowse_bucket",
        "_deaf",
        "_held",
        "_seen",
        "_sent",
        "chat_bucket",
        "dispatcher",
        "greeted",
        "node",
        "store",
    )
    role = "session"
    schemas: ClassVar[dict[str, type]] = {}

    def __init__(self, node: Node, dispatcher: Dispatcher, codec: Codec) -> None:
        settings = node.settings
        super().__init__(node.hub, codec, settings.send_queue, settings.send_queue_bytes)
        self.node = node
        self.store = node.store
        self.dispatcher = dispatcher
        self.greeted = False
        self.chat_bucket = TokenBucket(settings.chat_rate, settings.chat_burst)
        self._cobrowse_bucket: TokenBucket | None = None
        self._abuse: Abuse | None = None
        self._seen: dict[str, int] | None = None
        """Per conversation, the seq up to which the client has everything (delivered,
        or known otherwise: its own messages, `hello`, `assigned`, `watch`)."""
        self._sent: dict[str, list[int]] | None = None
        """Seqs of this connection's own messages above `_seen` (a lower one may still be
        on its way): they are never sent back, and never mark a lower seq seen."""
        self._catching: dict[str, CatchUp] | None = None
        self._held: dict[str, list[Frame]] | None = None
        self._deaf = False
        """The bus lost events since this was last resynced: hold every live `msg`."""

    @property
    def cobrowse_bucket(self) -> TokenBucket:
        """Co-browse frames have their own rate (contract §2 limits)."""
        if self._cobrowse_bucket is None:
            settings = self.node.settings
            self._cobrowse_bucket = TokenBucket(settings.cobrowse_rate, settings.cobrowse_burst)
        return self._cobrowse_bucket

    @property
    def abuse(self) -> Abuse:
        """Refusals counted since the first one."""
        if self._abuse is None:
            self._abuse = Abuse(self.node.settings.abuse_refusals, 10_000)
        return self._abuse

    @abstractmethod
    def handlers(self) -> dict[str, Handler]:
        """The frame handlers of this role, by frame type."""

    async def handle(self, envelope: Envelope) -> Result:
        """Run one client frame; returns the `ok` fields (None: `ok` alone, or `pong`)."""
        if not self.greeted and envelope.t != "hello":
            raise ChatError(ErrorCode.UNAUTHORIZED, "the first frame must be hello")
        if envelope.t == "ping":
            return None
        if envelope.t == "cobrowse":  # its fields depend on the op: the relay reads them
            return await self.cobrowse(envelope)
        return await self.handlers()[envelope.t](envelope.body)

    @abstractmethod
    async def cobrowse(self, envelope: Envelope) -> Result:
        """Relay this role's co-browse ops (their fields depend on the op)."""

    def replay_cobrowse(self, cid: str) -> None:
        """A viewer joining an active co-browse gets the replay buffer before any live
        co-browse frame (contract §5 Replay): live ones are held until it is sent."""
        if self._held is None:
            self._held = {}
        elif cid in self._held:
            return
        self._held[cid] = []
        self.hub.spawn(self._replay(cid))

    async def _replay(self, cid: str) -> None:
        frames: list[Frame] = []
        try:
            frames = await self.node.cobrowse.replay_frames(cid)
        finally:
            held = self._held.pop(cid, []) if self._held is not None else []
            for frame in [*frames, *held]:
                self.send(frame)

    async def closed(self) -> None:
        """The socket is gone: leave every channel."""
        self.hub.connections.discard(self)
        self.unsubscribe_all()

    def greet(self) -> None:
        self.greeted = True
        self.hub.connections.add(self)
        if not self.hub.listening:
            self._deaf = True  # greeted while the bus is deaf: hold until the resync

    @property
    def alive(self) -> bool:
        """Greeted and not closed: worth catching up."""
        return self in self.hub.connections

    def first_delivery(self, frame: Frame) -> bool:
        """Drop a `msg` event this connection has already been given (seq dedupe);
        hold it back while its conversation is catching up, to keep seq order (and hold
        co-browse frames while a replay is being sent)."""
        if frame.get("t") == "cobrowse":
            held = self._held.get(frame.get("cid", "")) if self._held is not None else None
            if held is not None:
                held.append(frame)
                return False
            return True
        if frame.get("t") != "msg":
            return True
        cid, seq = frame["cid"], frame["seq"]
        if self._deaf or (self._catching and cid in self._catching):
            entry = self._holding(cid)
            if entry is not None:
                entry.held.append(frame)
                return False
        seen = self._seen
        if seen is None:
            seen = self._seen = {}
        if seq <= seen.get(cid, 0):
            return False
        if self._sent:
            self._advance(cid, seq)
        else:
            seen[cid] = seq
        return True

    def _holding(self, cid: str) -> CatchUp | None:
        """The catch-up holding `cid`'s live messages, if any; while the bus is deaf, one
        is started for any conversation that gets a message (it reads once the bus is
        back)."""
        entry = self._catching.get(cid) if self._catching is not None else None
        if entry is None and self._deaf:
            entry = self.catch_up(cid, None)
        return entry

    def _advance(self, cid: str, last: int) -> None:
        """Everything up to `last` is the client's; so are own seqs right after it."""
        own = self._sent.get(cid) if self._sent is not None else None
        if own:
            taken = 0
            for seq in own:
                if seq > last + 1:
                    break
                last = max(last, seq)
                taken += 1
            del own[:taken]
            if not own and self._sent is not None:
                del self._sent[cid]
        if self._seen is None:
            self._seen = {}
        self._seen[cid] = last

    # catching up (buses whose subscriptions take effect later, or that reconnected) ------

    def catch_up_targets(self, channel: str | None) -> list[str]:
        """The conversations to catch up for a joined channel (None: all of them)."""
        return []

    def joined(self, channel: str) -> None:
        for cid in self.catch_up_targets(channel):
            self.catch_up(cid, channel)

    def deafen(self) -> None:
        """The node's bus stopped hearing: from now until this connection is caught up
        after the bus is back, live `msg` events are held (a later seq delivered first
        would hide the lost ones)."""
        self._deaf = True

    def resync(self, report: Resync) -> None:
        """The bus hears again (every subscription in place): catch up every conversation
        followed, and any held, then send the `state` frame."""
        self._deaf = False
        entries = [self.catch_up(cid, None) for cid in self.catch_up_targets(None)]
        if self._catching:
            entries += [e for e in self._catching.values() if e not in entries]
        self.hub.spawn(self._resync(entries, report))

    async def _resync(self, entries: list[CatchUp], report: Resync) -> None:
        sent = 0
        try:
            for entry in entries:
                sent += await asyncio.shield(entry.done)
            await self._send_state()
        finally:
            report.finish(sent)

    async def _send_state(self) -> None:
        delay, failed = RETRY_MIN_S, False
        while self.alive:
            try:
                made = await self.state()
            except Exception:
                if not failed:
                    log.warning("state for a %s socket failed; retrying", self.role, exc_info=True)
                failed = True
                delay = await backoff(delay)
                continue
            if made is not None and self.alive:
                frame, follow_up = made
                self.send(frame)
                follow_up()
            return

    async def state(self) -> tuple[Frame, FollowUp] | None:
        """The `state` frame after a reconnect (docs/protocol.md), and what to do right
        after sending it (follow what became this connection's meanwhile)."""
        return None

    def catch_up(self, cid: str, channel: str | None) -> CatchUp:
        """Send what was stored after the last seq this connection saw, then what arrived
        live meanwhile, in seq order, each once (asked again while reading: read again)."""
        if self._catching is None:
            self._catching = {}
        entry = self._catching.get(cid)
        if entry is not None:
            entry.again = entry.again or entry.reading
            entry.channel = channel or entry.channel
            return entry
        entry = self._catching[cid] = CatchUp(channel)
        self.hub.spawn(self._catch_up(cid, entry))
        return entry

    async def _catch_up(self, cid: str, entry: CatchUp) -> None:
        frames: list[Frame] | None = None
        try:
            frames = await self._read_through(cid, entry)
        finally:
            if self._catching is not None and self._catching.get(cid) is entry:
                del self._catching[cid]
            sent = self._release(cid, frames, entry.held) if frames is not None else 0
            if not entry.done.done():
                entry.done.set_result(sent)

    async def _read_through(self, cid: str, entry: CatchUp) -> list[Frame] | None:
        """The stored messages after `_seen`, read while the subscription was in place
        throughout (else read again); a failed read is retried with backoff until it
        succeeds or the socket closes (None)."""
        delay, failed = RETRY_MIN_S, False
        while self.alive:
            await self.hub.hearing(entry.channel)
            epoch = self.hub.epoch
            entry.again, entry.reading = False, True
            try:
                frames = await self._stored_after(cid)
            except Exception as exc:
                if not failed:
                    log.warning("catch-up read of %s failed (%s); retrying", cid, exc)
                failed = True
                delay = await backoff(delay)
                continue
            finally:
                entry.reading = False
            if entry.again or epoch != self.hub.epoch or not self.hub.listening:
                continue
            return frames
        return None

    async def _stored_after(self, cid: str) -> list[Frame]:
        for_visitor = self.role == "visitor"
        after = self._seen.get(cid, 0) if self._seen is not None else 0
        frames: list[Frame] = []
        while True:
            page, more = await self.store.conversations.history(
                cid, after, SYNC_PAGE, notes=not for_visitor
            )
            frames += [views.msg_event(m, for_visitor=for_visitor) for m in page]
            if not more or not page:
                return frames
            after = page[-1].seq

    def _release(self, cid: str, stored: list[Frame], held: list[Frame]) -> int:
        """Send the stored and held messages in seq order, each once, never the client's
        own (it has them from their `ok`); returns how many were sent."""
        own = set(self._sent.get(cid, ())) if self._sent is not None else set()
        last = self._seen.get(cid, 0) if self._seen is not None else 0
        sent = 0
        for frame in sorted([*stored, *held], key=lambda f: int(f["seq"])):
            seq = frame["seq"]
            if seq <= last:
                continue
            last = seq
            if seq not in own:
                self.send(frame)
                sent += 1
        self._advance(cid, last)
        return sent

    def mark_seen(self, cid: str, seq: int) -> None:
        """The client has everything up to `seq` (from `hello`, `assigned`, `watch`)."""
        self._advance(cid, max(seq, self._seen.get(cid, 0) if self._seen is not None else 0))

    def mark_sent(self, cid: str, seq: int) -> None:
        """A message this connection sent (its `ok` gave the client the seq): never sent
        back, and it marks nothing below it seen (a lower seq may still be on its way)."""
        last = self._seen.get(cid, 0) if self._seen is not None else 0
        if seq <= last:
            return
        if self._sent is None:
            self._sent = {}
        bisect.insort(self._sent.setdefault(cid, []), seq)
        self._advance(cid, last)

    async def require(self, cid: str) -> Conversation:
        conv = await self.store.conversations.get(cid)
        if conv is None:
            raise flow.unknown_conversation()
        return conv

    async def sync_page(self, f: Sync, *, for_visitor: bool) -> Result:
        limit = min(f.limit or SYNC_PAGE, SYNC_PAGE)
        messages, more = await self.store.conversations.history(
            f.cid, f.after, limit, notes=not for_visitor
        )
        return {
            "messages": [views.message(m, for_visitor=for_visitor) for m in messages],
            "more": more,
        }
