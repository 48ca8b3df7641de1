"""ASGI middleware at the HTTP edge: request bodies bounded in size and time before any
route reads them, the pages' security headers on every response, and compression of
everything but file downloads.

Request heads are bounded by the HTTP protocol itself (`chat_server/guarded_http.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """The request body passed its route's bound while being read (answered 413)."""


class BodyTooSlow(Exception):
    """The request body did not arrive within `body_timeout_s` (answered 408)."""


class BodyLimit:
    """Every HTTP request body at most `max_bytes` (or its path's bound in `per_path`, the
    hook for routes that take more, such as uploads) and complete within `timeout_s` (or
    its path's time in `per_path_timeout`: an upload of many MiB takes longer).

    A declared `Content-Length` over the bound is answered 413 before anything is read; a
    chunked body is counted as the route reads it, and the read that passes the bound ends
    the request with 413. Either way the rest of the body is never handed to the app (the
    HTTP protocol drops it for a moment, so the client reads the answer, then closes the
    connection: `GuardedH11Protocol`). Nothing is buffered here: routes still read the
    body themselves.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        timeout_s: float,
        per_path: Mapping[str, int] | None = None,
        per_path_timeout: Mapping[str, float] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.per_path = dict(per_path or {})
        self.per_path_timeout = dict(per_path_timeout or {})

    def limit_for(self, path: str) -> int:
        return self.per_path.get(path, self.max_bytes)

    def timeout_for(self, path: str) -> float:
        return self.per_path_timeout.get(path, self.timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is None:
            await _refuse(send, 400, b"bad Content-Length")
            return
        if declared > limit:
            await _refuse(send, 413, b"request body too large")
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_for(scope["path"])
        guard = _BodyGuard(receive, send, limit, deadline)
        try:
            await self.app(scope, guard.receive, guard.send)
        except (BodyTooLarge, BodyTooSlow) as exc:
            if guard.started:
                raise
            too_large = isinstance(exc, BodyTooLarge)
            await _refuse(
                send,
                413 if too_large else 408,
                b"request body too large" if too_large else b"request body not sent in time",
            )


class _BodyGuard:
    """One request's body count and deadline, and whether its response has started."""

    __slots__ = ("_receive", "_send", "complete", "deadline", "limit", "received", "started")

    def __init__(self, receive: Receive, send: Send, limit: int, deadline: float) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.deadline = deadline
        self.received = 0
        self.complete = False
        self.started = False

    async def receive(self) -> Message:
        if self.complete:  # only `http.disconnect` is left: no deadline on waiting for it
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            raise BodyTooSlow from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise BodyTooLarge
            self.complete = not message.get("more_body", False)
        else:
            self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _content_length(scope: Scope) -> int | None:
    """The declared body length (0 when none is declared); None when it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return 0


async def _refuse(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """The pages' security headers on every HTTP response that does not set its own: HTML
    from any route, the static mount or an error page is never frameable by another origin
    (and the headers are harmless on JSON, scripts and styles)."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = [(k.lower(), v) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                for name, value in self.headers:
                    headers.setdefault(name, value)
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class GZipExcept:
    """Starlette's compression for HTTP answers, except under `skip_prefix` (file downloads,
    issue 15): their bytes go out as stored, with their `Content-Length` (a client shows
    progress; no CPU is spent on PDFs and images that are compressed already).

    It hands each request on without a frame of its own: a WebSocket keeps every
    middleware's frame for its whole life (an `async def` layer cost 0.4 KiB per idle
    socket), and WebSockets skip the compression layer altogether."""

    def __init__(self, app: ASGIApp, *, minimum_size: int, skip_prefix: str) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)
        self.skip_prefix = skip_prefix

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and not scope["path"].startswith(self.skip_prefix):
            return self.gzip(scope, receive, send)
        return self.app(scope, receive, send)
