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

Behind Sentinel (`redis+sentinel://`, `sentinel.py`) each connect asks the Sentinels where
the primary is and checks `ROLE`; a `-READONLY` reply (the primary was demoted) drops the
connection like a failure, so the next command finds the new one. On a Redis Cluster
(`redis+cluster://`, `cluster.py`) each connect asks which primary serves the slot, and
`-MOVED`, `-ASK`, `-CLUSTERDOWN`, `-TRYAGAIN` drop it the same way; scripts publish with
`SPUBLISH` there. With `replicas_ack` N, the durable scripts' replies wait for `WAIT N`
(one per flush, after everything it sent): fewer than N in time fails them (`NotReplicated`).
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

from chat_server.backends.redis import cluster

Arg = bytes | str | int | float
Push = Callable[[list[Any]], None]
PUSHES = (b"message", b"smessage")  # `smessage`: sharded pub/sub, on a cluster


class ReplyError(Exception):
    """Redis answered the command with an error (`-ERR ...`)."""


class Loading(ReplyError, ConnectionError):
    """`-LOADING`: a restarted Redis still reading its AOF or RDB cannot serve yet, as if
    it were down (redis-py's `BusyLoadingError` is a `ConnectionError` too): callers answer
    `unavailable`, not "could not handle this frame" with a traceback per frame."""


def reply_error(reply: Any) -> ReplyError:
    text = str(reply)
    return Loading(text) if text.startswith("LOADING") else ReplyError(text)


class NotReplicated(ConnectionError):
    """The write is on the primary, but fewer than `replicas_ack` replicas confirmed it in
    time: not acknowledged (a resend with the same cmid finds it)."""


WAIT_MS = 500
"""How long a durable write waits for its replicas (`WAIT`) before it is refused."""


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
    command: each gets exactly one confirmation). On a cluster `slot` is the
    installation's (`keys.Keys.prefix`'s); a sharded subscriber's unrequested
    `sunsubscribe` (the slot moved) drops the connection."""

    def __init__(
        self,
        url: str,
        *,
        push: Push | None = None,
        timeout: float = 5.0,
        replicas_ack: int = 0,
        slot: int = 0,
    ) -> None:
        self._url = url
        self._resolve, self._options = cluster.endpoint(url, slot)
        self.sharded = cluster.is_cluster(url)  # scripts and publishes are sharded
        self._unsubscribing = cluster.Unsubscribing()
        self.replicas_ack = replicas_ack
        """`WAIT` for this many replicas after the durable scripts (0: never)."""
        self._ack: asyncio.Future[Any] | None = None
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
            raise reply_error(reply)
        return reply

    def send(self, *args: Arg) -> asyncio.Future[Any]:
        """Queue a command now, in order with every other; the future gets its raw reply
        (a `hiredis.ReplyError` for an error), or `ConnectionError` when not connected."""
        if not self._ready:
            return _failed(ConnectionError("not connected to Redis"))
        if self._push is not None:  # a subscriber: its own SUNSUBSCRIBEs are expected
            self._unsubscribing.asked(args)
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
        if self._ack is not None:
            self._queue_wait()
        if self._out and self._transport is not None:
            self._transport.write(b"".join(self._out))
        self._out.clear()

    def replicated(self) -> asyncio.Future[Any]:
        """The reply of a `WAIT replicas_ack` sent after every command queued so far: one
        per flush, however many durable writes it carries."""
        if self._ack is None:
            loop = asyncio.get_running_loop()
            self._ack = loop.create_future()
            self._ack.add_done_callback(_retrieved)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self.flush)
        return self._ack

    def _queue_wait(self) -> None:
        ack, self._ack = self._ack, None
        assert ack is not None
        if self._transport is None or not self._ready:
            ack.set_exception(ConnectionError("Redis connection lost"))
            return
        self._out.append(pack(("WAIT", self.replicas_ack, WAIT_MS)))
        self._waiting.append((ack, time.monotonic()))
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self.timeout, self._check)

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
                    if self._resolve is not None:
                        host, port = await self._resolve()
                        await loop.create_connection(lambda: self, host, port)
                    elif "path" in options:
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
            if self._resolve is not None:
                await self._primary()
            self._ready = self._transport is not None

    async def _handshake(self, *args: Arg) -> None:
        reply = await self._send(pack(args))
        if isinstance(reply, hiredis.ReplyError):
            self.close()
            raise ConnectionError(f"Redis refused {args[0]!s}: {reply}")

    async def _primary(self) -> None:
        """The Sentinels may name a primary that has just been demoted: check."""
        reply = await self._send(pack(("ROLE",)))
        if not isinstance(reply, list) or not reply or reply[0] != b"master":
            self.close()
            raise ConnectionError("the server named as the primary is not the primary (yet)")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._reader = hiredis.Reader()
        self._unsubscribing.clear()
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
        if self._ack is not None:
            ack, self._ack = self._ack, None
            ack.set_exception(ConnectionError("Redis connection lost"))
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        push = self._push
        demotable = self._resolve is not None
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                assert self._transport is not None
                self._transport.abort()
                return
            if reply is False:
                return
            if push is not None and type(reply) is list and reply:
                if reply[0] in PUSHES:
                    push(reply)
                    continue
                if reply[0] == b"sunsubscribe" and not self._unsubscribing.answered(reply[1]):
                    assert self._transport is not None
                    self._transport.abort()  # the slot moved: resubscribe at its new owner
                    return
            if not self._waiting:
                continue  # nothing asked for it (a reply after a timeout gave up)
            if demotable and type(reply) is hiredis.ReplyError and cluster.moved(reply):
                assert self._transport is not None
                self._transport.abort()  # fails it and all in flight; the next connect finds
                return  # the new primary
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_result(reply)


def _failed(exc: Exception) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_exception(exc)
    return future


def _is_error(reply: Any) -> bool:
    return isinstance(reply, hiredis.ReplyError)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A `WAIT` shared by several writes: its failure is theirs, not an unread one."""
    if not future.cancelled():
        future.exception()


class Script:
    """A Lua script run by its SHA1, sent whole only when Redis does not know it yet.

    `durable`: its reply becomes a client's `ok` for something stored, so with the wire's
    `replicas_ack` it also waits for that many replicas (`NotReplicated` otherwise). On a
    cluster its `PUBLISH`es become `SPUBLISH` (`cluster.sharded`)."""

    def __init__(self, wire: Wire, source: str, *, durable: bool = False) -> None:
        self.wire = wire
        self.source = cluster.sharded(source) if wire.sharded else source
        self.sha = hashlib.sha1(source.encode()).hexdigest()
        self.durable = durable

    async def __call__(self, keys: list[str], args: list[Arg]) -> Any:
        if not self.wire.connected:
            await self.wire.connect()
        return await self.send(keys, args)

    def send(self, keys: list[str], args: list[Arg]) -> asyncio.Future[Any]:
        """Run it, queued now on the wire; the future gets the reply or the error."""
        result: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        wire = self.wire
        ack: asyncio.Future[Any] | None = None

        def finish(sent: asyncio.Future[Any]) -> None:
            failure = sent.exception()
            if result.done():
                return
            if failure is not None:
                result.set_exception(failure)
            elif _is_error(sent.result()):
                result.set_exception(reply_error(sent.result()))
            elif ack is not None:
                ack.add_done_callback(lambda done: _confirmed(result, sent.result(), done, wire))
            else:
                result.set_result(sent.result())

        def first(sent: asyncio.Future[Any]) -> None:
            nonlocal ack
            if sent.exception() is None and str(sent.result()).startswith("NOSCRIPT"):
                again = wire.send("EVAL", self.source, len(keys), *keys, *args)
                ack = wire.replicated() if ack is not None else None
                again.add_done_callback(finish)
            else:
                finish(sent)

        wire.send("EVALSHA", self.sha, len(keys), *keys, *args).add_done_callback(first)
        if self.durable and wire.replicas_ack:
            ack = wire.replicated()
        return result


def _confirmed(
    result: asyncio.Future[Any], reply: Any, ack: asyncio.Future[Any], wire: Wire
) -> None:
    """The script's reply, once `WAIT` says enough replicas have it."""
    if result.done():
        return
    failure = ack.exception()
    if failure is not None:
        result.set_exception(failure)
        return
    short = too_few(ack.result(), wire.replicas_ack)
    if short is None:
        result.set_result(reply)
    else:
        result.set_exception(short)


def too_few(count: Any, wanted: int) -> NotReplicated | None:
    """`WAIT`'s reply judged: the failure when fewer than `wanted` replicas confirmed."""
    if isinstance(count, int) and count >= wanted:
        return None
    return NotReplicated(f"{count} of {wanted} replicas within {WAIT_MS} ms")
