"""What visitor and agent sessions share: `hello` first, dispatch by frame type, `sync`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from chat_server.core import views
from chat_server.core.errors import ChatError, ErrorCode, not_found
from chat_server.core.model import Conversation
from chat_server.protocol.codec import Codec, Frame
from chat_server.protocol.frames import Envelope, Sync
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Connection
from chat_server.service.node import Node

Result = dict[str, Any] | None
Handler = Callable[[Any], Awaitable[Result]]
SYNC_PAGE = 200


class Session(Connection):
    role = "session"
    schemas: ClassVar[dict[str, type]] = {}

    def __init__(self, node: Node, dispatcher: Dispatcher, codec: Codec) -> None:
        super().__init__(node.hub, codec, node.settings.send_queue)
        self.node = node
        self.store = node.store
        self.dispatcher = dispatcher
        self.greeted = False
        self._seen: dict[str, int] = {}

    def handlers(self) -> dict[str, Handler]:
        raise NotImplementedError  # each role names its own  # pragma: no cover

    async def handle(self, envelope: Envelope) -> Result:
        """Run one client frame; returns the `ok` fields (None: `ok` alone, or `pong`)."""
        if not self.greeted and envelope.t != "hello":
            raise ChatError(ErrorCode.UNAUTHORIZED, "the first frame must be hello")
        if envelope.t == "ping":
            return None
        return await self.handlers()[envelope.t](envelope.body)

    async def closed(self) -> None:
        """The socket is gone: leave every channel."""
        self.unsubscribe_all()

    def first_delivery(self, frame: Frame) -> bool:
        """Drop a `msg` event this connection has already been given (seq dedupe)."""
        if frame.get("t") != "msg":
            return True
        cid, seq = frame["cid"], frame["seq"]
        if seq <= self._seen.get(cid, 0):
            return False
        self._seen[cid] = seq
        return True

    def mark_seen(self, cid: str, seq: int) -> None:
        self._seen[cid] = max(seq, self._seen.get(cid, 0))

    async def require(self, cid: str) -> Conversation:
        conv = await self.store.conversation(cid)
        if conv is None:
            raise not_found("no such conversation")
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
