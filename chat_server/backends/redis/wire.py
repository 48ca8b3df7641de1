"""A lean Redis connection for the per-message path: RESP over one socket.

Every message costs an append script, a figure or audit write, and two pub/sub
deliveries. Through redis-py each command also pays for a pool checkout, a timeout, a retry
wrapper and its own socket write; here the commands that coroutines issue during one turn
of the event loop leave in one write (auto-pipelining) and the replies come back in order
through hiredis. redis-py stays for everything else: transactions, reads, admin.

A connection that drops fails what is in flight (`ConnectionError`; the callers answer
`unavailable`, never a silent drop) and the next call connects again. A reply that takes
longer than `timeout` drops the connection the same way, so a Redis that hangs cannot hold
a message forever.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
import time
from collections.abc import Callable
from typing import Any, cast

import hiredis
from redis.asyncio.connection import parse_url

Arg = bytes | str | int | float
Push = Callable[[list[Any]], None]


class ReplyError(Exception):
    """Redis answered the command with an error (`-ERR ...`)."""


def pack(args: tuple[Arg, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        elif not isinstance(arg, bytes):
            arg = repr(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(parts)


class Wire(asyncio.Protocol):
    """One connection. With `push`, it is a subscriber: pub/sub `message`s go to `push`
    and every other reply answers a command in order (so subscribe one channel per
    command: each gets exactly one confirmation)."""

    def __init__(self, url: str, *, push: Push | None = None, timeout: float = 5.0) -> None:
        self._url = url
        self._options: dict[str, Any] = dict(parse_url(url))
        self._push = push
        self.timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._ready = False
        """Connected and past AUTH/SELECT: only then may commands other than those go out
        (another task must not slip one in before them, to the wrong database)."""
        self._reader = hiredis.Reader()
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._connecting: asyncio.Lock | None = None
        self.lost: asyncio.Future[None] | None = None
        """Done when the current connection ends (subscribers wait on it)."""

    @property
    def connected(self) -> bool:
        return self._ready

    # commands --------------------------------------------------------------------------

    async def execute(self, *args: Arg) -> Any:
        """Send one command (with every other of this loop turn) and return its reply."""
        if not self._ready:
            await self.connect()
        reply = await self.send(*args)
        if isinstance(reply, hiredis.ReplyError):
            raise ReplyError(str(reply))
        return reply

    def send(self, *args: Arg) -> asyncio.Future[Any]:
        """Queue a command now, in order with every other; the future gets its raw reply
        (a `hiredis.ReplyError` for an error), or `ConnectionError` when not connected."""
        if not self._ready:
            return _failed(ConnectionError("not connected to Redis"))
        return self._send(pack(args))

    def _send(self, command: bytes) -> asyncio.Future[Any]:
        if self._transport is None:
            return _failed(ConnectionError("Redis connection lost"))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._out.append(command)
        self._waiting.append((future, time.monotonic()))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self.flush)
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.timeout, self._check)
        return future

    def flush(self) -> None:
        """Write what is queued now, not at the next loop turn (it is also called then)."""
        self._flush_scheduled = False
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def _check(self) -> None:
        """The oldest command has waited too long: give the connection up."""
        self._watchdog = None
        if not self._waiting:
            return
        waited = time.monotonic() - self._waiting[0][1]
        if waited >= self.timeout and self._transport is not None:
            self._transport.abort()
            return
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(max(0.01, self.timeout - waited), self._check)

    # connection ------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._ready:
                return
            loop = asyncio.get_running_loop()
            options = self._options
            try:
                async with asyncio.timeout(self.timeout):
                    if "path" in options:
                        await loop.create_unix_connection(lambda: self, options["path"])
                    else:
                        secure = (
                            ssl.create_default_context() if self._url.startswith("rediss") else None
                        )
                        await loop.create_connection(
                            lambda: self,
                            options.get("host", "localhost"),
                            options.get("port", 6379),
                            ssl=secure,
                        )
            except (OSError, TimeoutError) as exc:
                raise ConnectionError(f"cannot reach Redis: {exc}") from None
            if options.get("password"):
                auth = [options["password"]]
                if options.get("username"):
                    auth.insert(0, options["username"])
                await self._handshake("AUTH", *auth)
            if options.get("db"):
                await self._handshake("SELECT", options["db"])
            self._ready = self._transport is not None

    async def _handshake(self, *args: Arg) -> None:
        reply = await self._send(pack(args))
        if isinstance(reply, hiredis.ReplyError):
            self.close()
            raise ConnectionError(f"Redis refused {args[0]!s}: {reply}")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._reader = hiredis.Reader()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._ready = False
        self._out.clear()
        waiting, self._waiting = self._waiting, collections.deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(ConnectionError("Redis connection lost"))
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        push = self._push
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                assert self._transport is not None
                self._transport.abort()
                return
            if reply is False:
                return
            if push is not None and type(reply) is list and reply and reply[0] == b"message":
                push(reply)
                continue
            if not self._waiting:
                continue  # nothing asked for it (a reply after a timeout gave up)
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_result(reply)


def _failed(exc: Exception) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


def _is_error(reply: Any) -> bool:
    return isinstance(reply, hiredis.ReplyError)


class Script:
    """A Lua script run by its SHA1, sent whole only when Redis does not know it yet."""

    def __init__(self, wire: Wire, source: str) -> None:
        self.wire = wire
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Arg]) -> Any:
        if not self.wire.connected:
            await self.wire.connect()
        return await self.send(keys, args)

    def send(self, keys: list[str], args: list[Arg]) -> asyncio.Future[Any]:
        """Run it, queued now on the wire; the future gets the reply or the error."""
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def finish(sent: asyncio.Future[Any]) -> None:
            failure = sent.exception()
            if result.done():
                return
            if failure is not None:
                result.set_exception(failure)
            elif _is_error(sent.result()):
                result.set_exception(ReplyError(str(sent.result())))
            else:
                result.set_result(sent.result())

        def first(sent: asyncio.Future[Any]) -> None:
            if sent.exception() is None and str(sent.result()).startswith("NOSCRIPT"):
                again = self.wire.send("EVAL", self.source, len(keys), *keys, *args)
                again.add_done_callback(finish)
            else:
                finish(sent)

        self.wire.send("EVALSHA", self.sha, len(keys), *keys, *args).add_done_callback(first)
        return result
