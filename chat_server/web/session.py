"""The socket loop both endpoints share: decode, check, dispatch, answer, and close.

This is the one place where `ChatError` becomes an `error` frame and `ProtocolClose` a
close code. A reader and a writer run side by side; every frame leaves through the
connection's bounded outbox, so replies and events keep their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.protocol import codec
from chat_server.protocol.codec import Codec, choose_subprotocol
from chat_server.protocol.errors import CloseCode, ProtocolClose
from chat_server.protocol.frames import frame_id, parse
from chat_server.service.session import Session
from chat_server.web.runtime import Runtime

log = logging.getLogger(__name__)


async def refuse(ws: WebSocket, status: int, error: str) -> None:
    """Refuse at the handshake with an HTTP status (no upgrade)."""
    await ws.send_denial_response(JSONResponse({"error": error}, status_code=status))


async def accept_and_serve(
    ws: WebSocket, rt: Runtime, make: Callable[[Codec], Session], hello_timeout_s: float | None
) -> None:
    """Admit the address (HTTP 429 when it has too many sockets), pick the subprotocol,
    accept, and run the session until the socket ends."""
    with rt.connection_slot(ws) as admitted:
        if not admitted:
            await refuse(ws, 429, "rate_limited")
            return
        codec, subprotocol = choose_subprotocol(ws.scope.get("subprotocols", []))
        await ws.accept(subprotocol=subprotocol)
        await serve(ws, make(codec), hello_timeout_s)


async def serve(ws: WebSocket, session: Session, hello_timeout_s: float | None) -> None:
    metrics = session.node.metrics
    metrics.connections.labels(session.role).inc()
    reader = asyncio.create_task(_read(ws, session, hello_timeout_s))
    writer = asyncio.create_task(_write(ws, session), name=f"writer-{session.id}")
    overflow = asyncio.create_task(session.overflow.wait())
    close_code: int | None = None
    try:
        done, _ = await asyncio.wait({reader, overflow}, return_when=asyncio.FIRST_COMPLETED)
        if reader in done:
            reader.result()
        else:
            close_code = CloseCode.SLOW_READER
            metrics.slow_readers.inc()
    except ProtocolClose as close:
        close_code = close.code
    except TimeoutError:
        close_code = CloseCode.UNAUTHENTICATED
    except WebSocketDisconnect:
        pass
    finally:
        metrics.connections.labels(session.role).dec()
        for task in (reader, overflow, writer):
            task.cancel()
        for task in (reader, overflow, writer):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await session.closed()
        if close_code is not None:
            # bounded: a client that does not read cannot hold the handler (or memory)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    if close_code != CloseCode.SLOW_READER:
                        await _flush(ws, session)
                    await ws.close(close_code)


async def _read(ws: WebSocket, session: Session, hello_timeout_s: float | None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + hello_timeout_s if hello_timeout_s else None
    while True:
        if deadline is not None and not session.greeted:
            async with asyncio.timeout_at(deadline):
                message = await ws.receive()
        else:
            message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text")
        if data is None:
            data = message.get("bytes", b"")
        await _one_frame(session, data)


async def _one_frame(session: Session, data: bytes | str) -> None:
    session.node.metrics.frames.labels(session.role).inc()
    re: Any = None
    try:
        try:
            obj = codec.decode(session.codec, data)
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
    elif re is not None:
        session.send({"t": "ok", "re": re, **(result or {})})


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


async def _write(ws: WebSocket, session: Session) -> None:
    while True:
        await session.wakeup.wait()
        session.wakeup.clear()
        while session.outbox and not session.overflowed:
            await _send(ws, session.outbox.popleft())


async def _send(ws: WebSocket, data: bytes | str) -> None:
    if isinstance(data, bytes):
        await ws.send_bytes(data)
    else:
        await ws.send_text(data)


async def _flush(ws: WebSocket, session: Session) -> None:
    """Send what is still queued (an error frame before a close)."""
    while session.outbox and not session.overflowed:
        await _send(ws, session.outbox.popleft())
