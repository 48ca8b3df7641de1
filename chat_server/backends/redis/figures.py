"""The rolling figures: one hash per window, dimension and bucket, expiring with the window.

Each agent reply adds figures under three windows and two or three dimensions, a dozen
hash fields each. `FigureBuffer` adds up what the messages of one event-loop turn
contribute and queues it on the store's `Wire` as one `record_figures.lua` call, whose only
argument is the increments packed by msgpack (in C): under load, one `HINCRBYFLOAT` per
field and bucket for many messages, no command packed per field in Python, and no round
trip in any request. Figures are statistics, not acknowledged data: a failed write is
logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import msgpack

from chat_server.backends.redis import lua, rows
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import Arg, Script, Wire
from chat_server.core import metrics
from chat_server.core.clock import Clock
from chat_server.core.metrics import Figures

log = logging.getLogger(__name__)


class RedisFigures:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.buffer = FigureBuffer(client.wire, client.keys, client.clock)

    async def record(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Added up with the other figures of this loop turn and queued, without a round
        trip of its own (`FigureBuffer`)."""
        self.buffer.add(ts, dims, figures)

    async def read(self, window: str, now: int, dim: str) -> Figures:
        starts = metrics.window_buckets(window, now)
        await self.buffer.settled()  # this node's own figures are in what it reads
        keys = self.client.keys
        async with redis_errors(), self.client.redis.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(keys.figures(window, dim, start))
            buckets = await pipe.execute()
        total = Figures()
        for fields in buckets:
            if fields:
                total.merge(Figures.from_fields(fields))
        return total

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        key = self.client.keys.resolved(visitor_id)
        async with redis_errors():
            await self.client.redis.set(key, rows.dumps([ts, list(dims)]), px=max(1, ttl_ms))

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        async with redis_errors():
            raw = await self.client.redis.getdel(self.client.keys.resolved(visitor_id))
        if raw is None:
            return None
        ts, dims = json.loads(raw)
        return int(ts), tuple(dims)

    async def checkpoint(self) -> None:
        return None  # every write already went to Redis


class FigureBuffer:
    def __init__(self, wire: Wire, keys: Keys, clock: Clock) -> None:
        self.keys = keys
        self.clock = clock
        self.wire = wire
        self._script = Script(wire, lua("record_figures.lua"))
        self._pending: dict[tuple[str, str, int], Figures] = {}
        self._scheduled = False
        self._last: asyncio.Future[Any] | None = None

    def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Count `figures` at `ts` under `dims`, in the next write."""
        now = self.clock.now_ms()
        for window, (length, size) in metrics.WINDOWS.items():
            start = metrics.bucket_start(ts, size)
            if start <= now - length:
                continue  # that bucket is no longer read by the window
            for dim in dims:
                bucket = self._pending.get((window, dim, start))
                if bucket is None:
                    bucket = self._pending[(window, dim, start)] = Figures()
                bucket.merge(figures)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write)

    def _write(self) -> None:
        """Queue this turn's figures as one `record_figures.lua` call (all of it counts, or none),
        ahead of the replies of the requests that counted them: what a request counted
        reaches Redis before the client hears back, whichever node it asks next."""
        if not self._scheduled:
            return
        self._scheduled = False
        pending, self._pending = self._pending, {}
        if not pending:
            return
        now = self.clock.now_ms()
        keys, entries = [], []
        for (window, dim, start), figures in pending.items():
            length, size = metrics.WINDOWS[window]
            keys.append(self.keys.figures(window, dim, start))
            # relative: the clock is injectable, Redis's own clock is not
            entries.append((max(1, start + size + length + 60_000 - now), figures.to_fields()))
        args: list[Arg] = [msgpack.packb(entries)]
        if self.wire.connected:
            self._last = self._script.send(keys, args)
            self.wire.flush()  # runs before the replies' writers, which were woken after it
        else:  # connect first (the wire keeps the order once it is up)
            self._last = asyncio.ensure_future(self._script(keys, args))
        self._last.add_done_callback(_report)

    async def settled(self) -> None:
        """Wait until what was added so far is written (or failed)."""
        self._write()
        if self._last is not None and not self._last.done():
            await asyncio.wait([self._last])


def _report(written: asyncio.Future[Any]) -> None:
    if not written.cancelled() and written.exception() is not None:
        log.warning("figures not recorded: %s", written.exception())
