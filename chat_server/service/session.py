"""What visitor and agent sessions share: `hello` first, dispatch by frame type, `sync`."""

from __future__ import annotations

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

Result = dict[str, Any] | None
Handler = Callable[[Any], Awaitable[Result]]
SYNC_PAGE = 200


class Session(Connection, ABC):
    """Slotted, and what most sockets never use (co-browse limits, abuse counting, seq
    bookkeeping) is made on first use: an idle visitor should cost little memory."""

    __slots__ = (
        "_abuse",
        "_catching",
        "_cobrowse_bucket",
        "_held",
        "_seen",
        "chat_bucket",
        "dispatcher",
        "greeted",
        "node",
        "store",
    )
    role = "session"
    schemas: ClassVar[dict[str, type]] = {}

    def __init__(self, node: Node, dispatcher: Dispatcher, codec: Codec) -> None:
        super().__init__(node.hub, codec, node.settings.send_queue)
        self.node = node
        self.store = node.store
        self.dispatcher = dispatcher
        self.greeted = False
        settings = node.settings
        self.chat_bucket = TokenBucket(settings.chat_rate, settings.chat_burst)
        self._cobrowse_bucket: TokenBucket | None = None
        self._abuse: Abuse | None = None
        self._seen: dict[str, int] | None = None
        """The last seq given per conversation (None until there is one)."""
        self._catching: dict[str, list[Frame]] | None = None
        self._held: dict[str, list[Frame]] | None = None

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
        held = self._catching.get(cid) if self._catching is not None else None
        if held is not None:
            held.append(frame)
            return False
        seen = self._seen
        if seen is None:
            seen = self._seen = {}
        if seq <= seen.get(cid, 0):
            return False
        seen[cid] = seq
        return True

    # catching up (buses whose subscriptions take effect later, or that reconnected) ------

    def catch_up_targets(self, channel: str | None) -> list[str]:
        """The conversations to catch up for a joined channel (None: all of them)."""
        return []

    def joined(self, channel: str) -> None:
        for cid in self.catch_up_targets(channel):
            self.catch_up(cid, channel)

    def resync(self) -> None:
        for cid in self.catch_up_targets(None):
            self.catch_up(cid, None)

    def catch_up(self, cid: str, channel: str | None) -> None:
        """Send what was stored after the last seq this connection saw, then what arrived
        live meanwhile, in seq order, each once."""
        if self._catching is None:
            self._catching = {}
        elif cid in self._catching:
            return
        self._catching[cid] = []
        self.hub.spawn(self._catch_up(cid, channel))

    async def _catch_up(self, cid: str, channel: str | None) -> None:
        frames: list[Frame] = []
        try:
            if channel is not None:
                await self.hub.ready(channel)
            for_visitor = self.role == "visitor"
            after = self._seen.get(cid, 0) if self._seen is not None else 0
            while True:
                page, more = await self.store.messages_after(
                    cid, after, SYNC_PAGE, notes=not for_visitor
                )
                frames += [views.msg_event(m, for_visitor=for_visitor) for m in page]
                if not more or not page:
                    break
                after = page[-1].seq
        finally:
            if self._catching is not None:
                frames += self._catching.pop(cid, [])
            for frame in sorted(frames, key=lambda f: f["seq"]):
                if self.first_delivery(frame):
                    self.send(frame)

    def mark_seen(self, cid: str, seq: int) -> None:
        if self._seen is None:
            self._seen = {}
        self._seen[cid] = max(seq, self._seen.get(cid, 0))

    async def require(self, cid: str) -> Conversation:
        conv = await self.store.conversation(cid)
        if conv is None:
            raise flow.unknown_conversation()
        return conv

    async def sync_page(self, f: Sync, *, for_visitor: bool) -> Result:
        limit = min(f.limit or SYNC_PAGE, SYNC_PAGE)
        messages, more = await self.store.messages_after(
            f.cid, f.after, limit, notes=not for_visitor
        )
        return {
            "messages": [views.message(m, for_visitor=for_visitor) for m in messages],
            "more": more,
        }
