"""The socket loop both endpoints share: decode, check, dispatch, answer, and close.

This is the one place where `ChatError` becomes an `error` frame and `ProtocolClose` a
close code. Every frame leaves through the connection's bounded outbox, so replies and
events keep their order.

Idle sockets are the common case, so one costs one task, the ASGI handler's, which reads:
the outbox is drained by a task that exists only while there is something to send, and an
overflow cancels the reader instead of a task waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.lean_websocket import FRAMES, LeanWebSocketProtocol
from chat_server.protocol import codec
from chat_server.protocol.codec import Codec, InvalidText, choose_subprotocol
from chat_server.protocol.errors import CloseCode, ProtocolClose
from chat_server.protocol.frames import frame_id, parse
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.service.session import Session
from chat_server.web.runtime import Runtime

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH = 64
"""At most this many queued frames in one socket write (the outbox bounds their bytes)."""


async def refuse(ws: WebSocket, status: int, error: str) -> None:
    """Refuse at the handshake with an HTTP status (no upgrade)."""
    await ws.send_denial_response(JSONResponse({"error": error}, status_code=status))


class SocketEndpoint:
    """A WebSocket route's ASGI app (a decorator): runs `handler(ws)`.

    Starlette wraps a plain function in `websocket_session`: a second `WebSocket`, a
    route-level exception wrapper that repeats the app's, and their coroutine frames, all
    held for the socket's life (about 2 KiB an idle socket). An ASGI object it calls as is.
    """

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[WebSocket], Awaitable[None]]) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(WebSocket(scope, receive, send))


async def accept_and_serve(
    ws: WebSocket,
    rt: Runtime,
    session_type: Callable[[Node, Dispatcher, Codec, T], Session],
    subject: T,
    hello_timeout_s: float | None,
) -> None:
    """Admit the address (HTTP 429 when it has too many sockets), pick the subprotocol,
    accept, and run a `session_type` for `subject` (its site, its agent) until the socket
    ends. (A class and its argument rather than a closure, which every socket would hold.)"""
    address = rt.admit(ws)
    if address is None:
        await refuse(ws, 429, "rate_limited")
        return
    try:
        codec, subprotocol = choose_subprotocol(ws.scope.get("subprotocols", []))
        await ws.accept(subprotocol=subprotocol)
        await serve(ws, session_type(rt.node, rt.dispatcher, codec, subject), hello_timeout_s)
    finally:
        rt.release(address)


class SlowReader(Exception):
    """The outbox overflowed while the reader itself was sending (close 1013)."""


class Pump:
    """A session's outlet: sends its outbox to the socket, and ends the reader (the calling
    task) when it overflows.

    Behind our own protocol (`LeanWebSocketProtocol`) what a loop turn queued leaves in one
    write, from a callback at the end of the turn, while the socket takes writes; otherwise
    (paused by flow control, another server) a task drains it, and runs only while there
    are frames to send."""

    __slots__ = ("cut", "lean", "reader", "session", "writer", "ws")

    def __init__(self, ws: WebSocket, session: Session) -> None:
        self.ws = ws
        self.session = session
        reader = asyncio.current_task()
        assert reader is not None
        self.reader = reader
        self.lean: LeanWebSocketProtocol | None = ws.scope.get("extensions", {}).get(FRAMES)
        self.writer: asyncio.Task[None] | asyncio.Handle | None = None
        """The write or drain to come, or running; kept once one failed (a dead socket), so
        none restarts."""
        self.cut = False
        """The reader was cancelled for an overflow (not by someone else)."""
        session.outlet = self

    def wake(self) -> None:
        if self.writer is None:
            loop = asyncio.get_running_loop()
            if self.lean is not None:
                self.writer = loop.call_soon(self._write)
            else:
                self.writer = loop.create_task(self._drain())

    def overflow(self) -> None:
        # the reader overflowing its own outbox checks `overflowed` after the frame:
        # cancelling the running task would only hit it at some later await
        if self.reader is not asyncio.current_task() and not self.cut:
            self.cut = True
            self.reader.cancel()

    def detach(self) -> None:
        """No more waking or cancelling: the socket loop is ending."""
        self.session.outlet = None

    def slow_reader(self) -> bool:
        """Whether a `CancelledError` in the reader was this pump's (then it is handled)."""
        return self.cut and self.reader.uncancel() == 0

    async def stop(self) -> None:
        writer = self.writer
        if writer is not None:
            writer.cancel()
        if isinstance(writer, asyncio.Task):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    def _write(self) -> None:
        """Send up to `BATCH` queued frames in one write, now, if the socket takes it."""
        lean, ws, session = self.lean, self.ws, self.session
        assert lean is not None
        loop = asyncio.get_running_loop()
        if not lean.writable.is_set() or ws.application_state is not WebSocketState.CONNECTED:
            self.writer = loop.create_task(self._drain())  # waits for the socket
            return
        frames: list[bytes | str] = []
        while len(frames) < BATCH and (data := session.pull()) is not None:
            frames.append(data)
        if not frames:
            self.writer = None
            return
        try:
            lean.write_frames(frames)
        except OSError:  # the peer is gone: the reader hears it; this pump stays stopped
            ws.application_state = WebSocketState.DISCONNECTED
            return
        self.writer = loop.call_soon(self._write) if len(frames) == BATCH else None

    async def _drain(self) -> None:
        session, ws = self.session, self.ws
        while (data := session.pull()) is not None:
            await _send(ws, data)
        self.writer = None  # only when drained: a failed send leaves the pump stopped


async def serve(ws: WebSocket, session: Session, hello_timeout_s: float | None) -> None:
    """Read and handle frames in this task until the socket ends; then leave the channels
    and close with the code the ending calls for."""
    metrics = session.node.metrics
    metrics.connections.labels(session.role).inc()
    pump = Pump(ws, session)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hello_timeout_s if hello_timeout_s else None
    close_code: int | None = None
    lean = pump.lean
    try:
        while True:
            if deadline is not None and not session.greeted:
                async with asyncio.timeout_at(deadline):
                    message = await ws.receive()
            elif lean is None:
                message = await ws.receive()
            else:  # waits on one future, no coroutine (`receive_nowait` says why)
                while (arrived := lean.receive_nowait()) is None:
                    await lean.arrival()
                message = arrived
            if message["type"] == "websocket.disconnect":
                ws.client_state = WebSocketState.DISCONNECTED  # as `ws.receive` does
                break
            await _one_frame(session, message)
            del message  # not held while waiting for the next frame
            if session.overflowed:
                raise SlowReader
    except asyncio.CancelledError:
        if not pump.slow_reader():
            raise
        close_code = CloseCode.SLOW_READER
    except SlowReader:
        close_code = CloseCode.SLOW_READER
    except ProtocolClose as close:
        close_code = close.code
    except TimeoutError:
        close_code = CloseCode.UNAUTHENTICATED
    except WebSocketDisconnect:
        pass
    finally:
        pump.detach()
        metrics.connections.labels(session.role).dec()
        if close_code == CloseCode.SLOW_READER:
            metrics.slow_readers.inc()
        await pump.stop()
        with contextlib.suppress(Exception):
            await session.closed()
        if close_code is not None:
            # bounded: a client that does not read cannot hold the handler (or memory)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    if close_code != CloseCode.SLOW_READER:
                        await _flush(ws, session)
                    await ws.close(close_code)


async def _one_frame(session: Session, message: Message) -> None:
    data: bytes | str | None = message.get("text")
    if data is None:
        data = message.get("bytes", b"")
    session.node.metrics.frames.labels(session.role).inc()
    re: Any = None
    try:
        try:
            obj = codec.decode(session.codec, data)
        except InvalidText as invalid:  # decoded: answer its id, count it as its type
            re = frame_id(invalid.frame)
            _admit(session, invalid.frame.get("t"))
            raise
        except ChatError:
            _admit(session, None)  # undecodable frames count against the chat rate too
            raise
        re = frame_id(obj)
        _admit(session, obj.get("t"))
        envelope = parse(obj, session.schemas)
        result = await session.handle(envelope)
    except ProtocolClose as close:
        if close.error is not None:
            _send_error(session, close.error, re)
        raise
    except ChatError as error:
        _send_error(session, error, re)
        return
    except Exception:
        log.exception("frame handler failed")
        _send_error(
            session,
            ChatError(ErrorCode.UNAVAILABLE, "the server could not handle this frame, retry later"),
            re,
        )
        return
    if envelope.t == "ping":
        session.send({"t": "pong", "re": re} if re is not None else {"t": "pong"})
    elif re is not None and not session.send({"t": "ok", "re": re, **(result or {})}):
        # the answer could not be encoded (logged): the id still gets exactly one answer
        _send_error(session, ChatError(ErrorCode.UNAVAILABLE, "could not send the answer"), re)


def _admit(session: Session, t: Any) -> None:
    """Per-connection token buckets, co-browse apart from chat (contract §2 limits)."""
    now = time.monotonic_ns() // 1_000_000
    bucket = session.cobrowse_bucket if t == "cobrowse" else session.chat_bucket
    if bucket.take(now):
        return
    if session.abuse.refused(now):
        raise ProtocolClose(CloseCode.RATE_ABUSED, "rate limit abused")
    raise ChatError(ErrorCode.RATE_LIMITED, "too many frames: slow down")


def _send_error(session: Session, error: ChatError, re: Any) -> None:
    session.node.metrics.errors.labels(error.code.value).inc()
    frame: dict[str, Any] = {"t": "error", "code": error.code.value, "message": error.message}
    if re is not None:
        frame["re"] = re
    session.send(frame)


async def _send(ws: WebSocket, data: bytes | str) -> None:
    if isinstance(data, bytes):
        await ws.send_bytes(data)
    else:
        await ws.send_text(data)


async def _flush(ws: WebSocket, session: Session) -> None:
    """Send what is still queued (an error frame before a close)."""
    while (data := session.pull()) is not None:
        await _send(ws, data)
