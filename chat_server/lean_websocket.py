"""uvicorn's websockets sans-I/O protocol with a lighter per-socket state
(`LeanWebSocketProtocol`): most sockets are idle visitors, and uvicorn's per-socket state
was about half of what one cost. Unchanged on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
from typing import TYPE_CHECKING, Any, cast

import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.exceptions import InvalidState

from chat_server.protocol.errors import CloseCode

if TYPE_CHECKING:
    from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
    from websockets.http11 import Request

log = logging.getLogger(__name__)
PING_GRID_S = 0.1
"""Keepalive pings are sent on this grid of loop time (`schedule_ping`)."""
FRAMES = "chat_server.frames"
"""The scope extension (`scope["extensions"][FRAMES]`) that holds a socket's protocol, for
`write_frames`: absent when another server or protocol runs the app."""


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
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            await self.arrival()
        return self._items.pop(0)

    def pop(self) -> ASGIReceiveEvent | None:
        """The next message, or None when none has come."""
        return self._items.pop(0) if self._items else None

    def arrival(self) -> asyncio.Future[None]:
        """A future done when the next message comes (its reader awaits it: a cancelled
        wait leaves the message for the next one)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            raise RuntimeError("a WebSocket's messages have one reader at a time")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        return waiter

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
    frame cap, close handshake), holding less per socket and waking less often:

    - its attributes in slots: uvicorn sets more than a shared-key instance dict holds
      (30), so each socket had a 1.5 KiB dict of its own;
    - `Inbox` and `Writable` instead of `asyncio.Queue` and `asyncio.Event`;
    - the handshake's request and response (websockets' parsed headers, about 4.5 KiB)
      dropped once the handshake is over: the ASGI scope has its own copy of the headers;
    - keepalive pings sent together (`schedule_ping`), not one loop wake-up each.
    """

    # uvicorn 0.54's attributes (one it adds later lands in the instance dict: it works,
    # and tests/integration/test_server.py notices)
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """uvicorn's, with Nagle's algorithm off (`TCP_NODELAY`), whatever made the socket.
        uvloop turns it off on every TCP socket, but asyncio's own loop only on a socket
        whose protocol number says TCP, and uvicorn's `bind_socket` (`--workers`) and a
        plain `socket.socket()` leave it 0: there, a reply that followed an event on the
        same socket (a claim's `assigned` then its `ok`) waited for the client's delayed
        ACK, 40 ms on Linux."""
        super().connection_made(transport)
        no_delay(transport)

    def schedule_ping(self) -> None:
        """uvicorn's, with the ping put off to the next `PING_GRID_S` of loop time (at most
        0.1 s later): the sockets whose pings fall due in the same tenth of a second are
        pinged in one turn of the loop. Each socket had a timer of its own, so an idle
        server woke up for every ping: at 5,000 idle conversations (6,000 sockets, a ping
        each every 20 s) that took half of its CPU, 9.6% of a core, and 5.6% on the grid
        (4.8% with no pings at all; docs/performance.md)."""
        assert self.ping_interval is not None
        delay = max(0.0, self.ping_interval - self.last_ping_rtt)
        when = math.ceil((self.loop.time() + delay) / PING_GRID_S) * PING_GRID_S
        self.ping_timer = self.loop.call_at(when, self.send_keepalive_ping)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        extensions: dict[str, Any] = self.scope["extensions"]
        extensions[FRAMES] = self
        # Read by nothing after this (the scope has its own copy of the headers), but
        # websockets' handshake parser keeps the request in its frame for the socket's
        # life: empty its headers as well as dropping uvicorn's reference.
        del self.request
        event.headers.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, then the scope's reference to this protocol dropped: the protocol
        holds the scope, so that reference made a cycle that kept each closed socket's
        state (about 6 KiB with its transport and websockets' parser) until a full
        collection, which the tuned thresholds make rare. The session took the protocol
        from the scope when it began."""
        super().connection_lost(exc)
        scope: dict[str, Any] | None = getattr(self, "scope", None)  # set by the handshake
        if scope is not None:
            scope["extensions"].pop(FRAMES, None)

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            del self.response  # only the accept reads it

    def receive_nowait(self) -> dict[str, Any] | None:
        """uvicorn's `receive` without a coroutine: the next message, or None when none
        has come (then await `arrival`). A socket waiting for its next frame holds one
        future, where Starlette's and uvicorn's `receive` held three coroutines besides:
        with thousands of sockets those were most of what the young garbage collections
        walked (`web/session.serve` reads this way)."""
        inbox = cast(Inbox, self.queue)
        message = inbox.pop()
        if message is not None and self.read_paused and inbox.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return cast("dict[str, Any] | None", message)

    def arrival(self) -> asyncio.Future[None]:
        return cast(Inbox, self.queue).arrival()

    def write_frames(self, frames: list[bytes | str]) -> None:
        """Send data frames with one `transport.write`, where an ASGI `send` per frame goes
        through Starlette's and uvicorn's layers and makes one each (uvloop gathers a
        turn's writes to a socket into one system call either way): what a loop turn
        queued for one socket leaves together. For a socket that takes writes now
        (`writable`); the same states as `send` after the accept: nothing once a close is
        sent, `ClientDisconnected` once the peer is gone."""
        if self.disconnected:
            raise ClientDisconnected()
        if self.close_sent or not self.handshake_complete:
            return
        conn = self.conn
        try:
            for data in frames:
                if isinstance(data, bytes):
                    conn.send_binary(data)
                else:
                    conn.send_text(data.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(conn.data_to_send()))

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, except for a text message that is not UTF-8: anyone can send one,
        and uvicorn logs each as an ERROR with a traceback. Here it is one INFO line, and
        the socket is still closed with 1007 (RFC 6455: data not consistent with its type)."""
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames.clear()  # `data` is its own object: no new list per message
        if self.close_sent:  # past `websocket.close`: dropped, as uvicorn does
            return
        message: ASGIReceiveEvent
        if self.curr_msg_data_type == "text":
            try:
                message = {"type": "websocket.receive", "text": data.decode()}
            except UnicodeDecodeError:
                address = self.client[0] if self.client else "unknown"
                log.info("closed a WebSocket from %s with 1007: text that is not UTF-8", address)
                self.conn.send_close(CloseCode.INVALID_DATA)
                self.handle_parser_exception()
                return
        else:
            message = {"type": "websocket.receive", "bytes": data}
        self.queue.put_nowait(message)
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport (a Unix socket has none)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer may be gone already
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
