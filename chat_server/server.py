"""The uvicorn configuration every way of running the app shares (CLI, tests, bench).

It runs uvicorn's websockets sans-I/O protocol with a lighter per-socket state
(`LeanWebSocketProtocol`): most sockets are idle visitors, and uvicorn's per-socket
state was about half of what one cost.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from chat_server.config import Settings

if TYPE_CHECKING:
    from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
    from websockets.http11 import Request


class Inbox:
    """The part of `asyncio.Queue` uvicorn's protocol uses (`put_nowait`, `get`, `empty`),
    for its one reader (the ASGI handler) and without its three deques and `Event` (about
    3 KiB): it holds a message or two at most, since uvicorn pauses reading meanwhile."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[ASGIReceiveEvent] = []
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a WebSocket's messages have one reader at a time")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items


class Writable:
    """`asyncio.Event` as uvicorn's protocol uses it for flow control (set while the
    transport takes writes): no waiter deque unless writing is actually paused."""

    __slots__ = ("_paused",)

    def __init__(self) -> None:
        self._paused: list[asyncio.Future[None]] | None = None
        """None while writable; the senders waiting for it otherwise."""

    def is_set(self) -> bool:
        return self._paused is None

    def set(self) -> None:
        waiters, self._paused = self._paused, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        if self._paused is None:
            self._paused = []

    async def wait(self) -> bool:
        paused = self._paused
        if paused is None:
            return True
        waiter = asyncio.get_running_loop().create_future()
        paused.append(waiter)
        try:
            await waiter
        finally:
            if waiter in paused:
                paused.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets sans-I/O protocol, unchanged on the wire (keepalive pings,
    frame cap, close handshake), holding less per socket:

    - its attributes in slots: uvicorn sets more than a shared-key instance dict holds
      (30), so each socket had a 1.5 KiB dict of its own;
    - `Inbox` and `Writable` instead of `asyncio.Queue` and `asyncio.Event`;
    - the handshake's request and response (websockets' parsed headers, about 4.5 KiB)
      dropped once the handshake is over: the ASGI scope has its own copy of the headers.
    """

    # uvicorn 0.54's attributes (one it adds later lands in the instance dict: it works,
    # and tests/unit/test_server.py notices)
    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "client",
        "close_sent",
        "close_timeout",
        "close_timer",
        "config",
        "conn",
        "connections",
        "curr_msg_data_type",
        "default_headers",
        "disconnected",
        "frames",
        "handshake_complete",
        "handshake_initiated",
        "initial_response",
        "last_ping_rtt",
        "logger",
        "loop",
        "pending_ping_payload",
        "ping_interval",
        "ping_sent_at",
        "ping_timeout",
        "ping_timer",
        "pong_timer",
        "queue",
        "read_paused",
        "request",
        "response",
        "root_path",
        "scheme",
        "scope",
        "server",
        "tasks",
        "transport",
        "writable",
    )

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Writable()  # type: ignore[assignment]

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # Read by nothing after this (the scope has its own copy of the headers), but
        # websockets' handshake parser keeps the request in its frame for the socket's
        # life: empty its headers as well as dropping uvicorn's reference.
        del self.request
        event.headers.clear()

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            del self.response  # only the accept reads it


def uvicorn_config(
    settings: Settings, app: Starlette, *, log_level: str | None = None
) -> uvicorn.Config:
    """websockets' sans-I/O protocol (lightened, see `LeanWebSocketProtocol`), the frame
    cap enforced by it (close 1009), no permessage-deflate (compression bombs; CPU), proxy
    headers only when asked."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=LeanWebSocketProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        lifespan="on",
        proxy_headers=settings.behind_proxy,
        log_level=log_level or settings.log_level,
        loop="auto",
        http="auto",
    )
