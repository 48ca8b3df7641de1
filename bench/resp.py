"""Commands to Redis in bulk for `bench/reports_bench.py`: packed as RESP where the year is
computed (the second process), sent down one plain connection, the replies only checked.
redis-py costs a few hundred microseconds of Python per command; a million conversations
are seven million commands."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from chat_server.backends.base import Store

Arg = str | bytes | int | float


def pack(*args: Arg) -> bytes:
    """One command in RESP (values as redis-py sends them: numbers in decimal)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class ReplyError(Exception):
    """Redis answered `-ERR ...` to a command sent in bulk."""


class Raw:
    """One connection, its commands pipelined."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def send(self, payload: bytes, commands: int) -> list[object]:
        """Send packed commands and read their `commands` replies; the first error raises
        (after every reply is read)."""
        assert self.reader is not None and self.writer is not None
        self.writer.write(payload)
        await self.writer.drain()
        replies = [await self._reply() for _ in range(commands)]
        for reply in replies:
            if isinstance(reply, ReplyError):
                raise reply
        return replies

    async def call(self, *args: Arg) -> object:
        return (await self.send(pack(*args), 1))[0]

    async def _reply(self) -> object:
        assert self.reader is not None
        line = await self.reader.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest
        if kind == b":":
            return int(rest)
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else (await self.reader.readexactly(size + 2))[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [await self._reply() for _ in range(count)]
        raise ReplyError(f"unexpected reply {line[:40]!r}")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class ScriptCalls:
    """Stands in for a role's registered script (redis-py `AsyncScript`): each call is kept
    with the keys and arguments the role gave it and answered at once; `send` runs them
    all as EVALSHA down a `Raw` connection, in call order."""

    def __init__(self, script: object) -> None:
        self.source: str | bytes = getattr(script, "script")  # noqa: B009
        self.sha = ""
        self.calls: list[bytes] = []

    async def __call__(
        self, keys: Sequence[str] = (), args: Sequence[Arg] = (), client: object = None
    ) -> int:
        self.calls.append(pack("EVALSHA", self.sha, len(keys), *keys, *args))
        return 1

    async def load(self, raw: Raw) -> None:
        sha = await raw.call("SCRIPT", "LOAD", self.source)
        assert isinstance(sha, bytes)
        self.sha = sha.decode()

    async def send(self, raw: Raw) -> None:
        calls, self.calls = self.calls, []
        if calls:
            await raw.send(b"".join(calls), len(calls))


class BulkVisits:
    """Redis: the role's `visit` calls as they are (its keys, arguments and script), their
    script calls kept and sent in bulk once per batch instead of one round trip each
    through redis-py (`ScriptCalls`): the fill's main cost otherwise."""

    def __init__(self, calls: ScriptCalls, raw: Raw) -> None:
        self.calls = calls
        self.raw = raw

    @classmethod
    async def attach(cls, store: Store, url: str) -> BulkVisits | None:
        rollups: Any = store.rollups
        script = getattr(rollups, "_visit", None)
        if script is None:  # the role changed: every visit is its own round trip
            return None
        raw = Raw(url)
        await raw.connect()
        calls = ScriptCalls(script)
        await calls.load(raw)
        rollups._visit = calls
        return cls(calls, raw)

    async def send(self) -> None:
        await self.calls.send(self.raw)
