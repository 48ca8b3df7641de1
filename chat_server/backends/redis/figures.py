"""The rolling figures: one hash per window, dimension and bucket, expiring with the window.

Each agent reply adds figures under three windows and two or three dimensions, a dozen
hash fields each. `FigureBuffer` adds up what the messages of `FLUSH_S` contribute and
queues it on the store's `Wire` as `record_figures.lua` calls of `CHUNK` buckets, whose
only argument is the increments packed by msgpack (in C): under load, one increment per
field and bucket for thousands of messages, no command packed per field in Python, and no
round trip in any request. The figures kept over time (`rollups.py`, issue 16) are more
entries of the same call: their hour, day and month buckets, expiring `rollup_days` after
their end. An agent's buckets wait `AGENT_HOLD_S`, and the figures over time
`ROLLUP_HOLD_S`, each from when it was first added (`backends/held.py` says why). Figures
are statistics, not acknowledged data: a failed write is logged, and a node killed
outright loses what it held (a stopped one writes it all).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Iterator
from typing import Any

import msgpack

from chat_server.backends.held import Held
from chat_server.backends.redis import lua, rows
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.wire import Arg, Script, Wire
from chat_server.backends.unwritten import Group, Unwritten
from chat_server.core import metrics
from chat_server.core.clock import Clock
from chat_server.core.metrics import Figures
from chat_server.core.rollups import KEEP_DAYS, Bucket, Calendar

log = logging.getLogger(__name__)
Window = tuple[str, str, int]
"""A rolling window's bucket: window, dimension, bucket start."""
FLUSH_S = 1.0
"""How long figures wait for more before they are written. Written each event-loop turn,
they were half of Redis's work under load: a script of a few hundred increments every few
messages, each logged to the AOF, because every agent is a dimension of its own and the
turns were too short to add much up. Held a second, a busy node writes them once a second.
A read on this node writes them first; another node's `stats` push (every second) may be
one push behind."""
CHUNK = 64
"""Buckets in one `record_figures.lua` call (`FigureBuffer._write`): about a millisecond
of Redis's time."""
IN_FLIGHT = 4
"""`record_figures.lua` calls sent and not answered yet, at most (`FigureBuffer._pump`),
when a whole write is waiting behind; one at a time otherwise (four at once doubled the
p99 at 500 msgs/s, from about 4 ms to 7-8)."""
GROUPS = 6
"""Groups of figures over time spread in one go (`FigureBuffer._calls`): each is up to three
dimensions in an hour, a day and a month, so six are about a call's worth."""
AGENT_HOLD_S = 10.0
"""How long an agent's bucket of the rolling windows waits for more of their replies before
it is written: a read of an agent's figures on this node writes them all first; another
node's read may miss the last `AGENT_HOLD_S` of them."""
ROLLUP_HOLD_S = 60.0
"""How long a group of figures over time waits for more: reports read past hours and days
(a report on this node writes them all first), so a minute costs nothing there; each
agent's hour, day and month are then written about once a minute, not at each reply."""
AGENT = "agent:"
"""The dimensions whose rolling buckets wait `AGENT_HOLD_S`: one per agent."""
WRITTEN_MAX = 20_000
"""Buckets over time remembered for sealing: an hour between two sweeps writes a few per
dimension."""


class RedisFigures:
    def __init__(
        self, client: Client, calendar: Calendar | None = None, keep_days: int = KEEP_DAYS
    ) -> None:
        self.client = client
        self.buffer = FigureBuffer(
            client.wire, client.keys, client.clock, calendar or Calendar(), keep_days
        )

    async def record(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Added up with the other figures of this loop turn and queued, without a round
        trip of its own (`FigureBuffer`)."""
        self.buffer.add(ts, dims, figures)

    async def read(self, window: str, now: int, dim: str) -> Figures:
        starts = metrics.window_buckets(window, now)
        await self.buffer.settled(dim)  # this node's own figures are in what it reads
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
            # the end is kept too: Redis expires by its own clock, the store's may differ
            value = rows.dumps([ts, list(dims), ts + ttl_ms])
            await self.client.redis.set(key, value, px=max(1, ttl_ms))

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        async with redis_errors():
            raw = await self.client.redis.getdel(self.client.keys.resolved(visitor_id))
        if raw is None:
            return None
        ts, dims, *end = json.loads(raw)
        if end and int(end[0]) <= now:
            return None
        return int(ts), tuple(dims)

    async def checkpoint(self, periodic: bool = False) -> None:
        """Every write goes to Redis as it falls due: write what is held too (but for the
        node's `periodic` call) and wait for it to land."""
        await self.buffer.settled("all" if periodic else None)


class FigureBuffer:
    def __init__(
        self, wire: Wire, keys: Keys, clock: Clock, calendar: Calendar, keep_days: int
    ) -> None:
        self.keys = keys
        self.clock = clock
        self.wire = wire
        self.calendar = calendar
        self.keep_days = keep_days
        self._script = Script(wire, lua("record_figures.lua"))
        self._pending: Held[Window] = Held()
        """The other dimensions' buckets, all written by the next write."""
        self._agents: Held[Window] = Held()
        """Agents' buckets, written `AGENT_HOLD_S` after each was first added."""
        self.rollups = Unwritten(calendar, keep_days)
        self.rollups_written: dict[tuple[str, Bucket], None] = {}
        """The buckets of figures over time this node wrote, oldest first, until
        `RedisRollups.prune` seals them once finished (at most `WRITTEN_MAX`: the oldest
        beyond it are left to the first read to seal)."""
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: collections.deque[Iterator[tuple[list[str], list[tuple[int, Figures]]]]] = (
            collections.deque()
        )
        """The writes not wholly sent yet (`_write`), oldest first, each its calls to come."""
        self._in_flight: set[asyncio.Future[Any]] = set()

    def add(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Count `figures` at `ts` under `dims`, in the next write (an agent's buckets: the
        first after `AGENT_HOLD_S`)."""
        now = self.clock.now_ms()
        for window, (length, size) in metrics.WINDOWS.items():
            start = metrics.bucket_start(ts, size)
            if start <= now - length:
                continue  # that bucket is no longer read by the window
            for dim in dims:
                held = self._agents if dim.startswith(AGENT) else self._pending
                held.add((window, dim, start), figures)
        self._schedule()

    def add_rollup(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Count `figures` in the hour, day and month of `ts` under `dims`, in the next
        write (a bucket already past its `keep_days` is left out: Redis would drop it)."""
        self.rollups.add(ts, dims, figures)
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_S, self._write)

    def _write(self, agents: bool = False, rollups: bool = False) -> None:
        """Queue what is due (and all the agents' buckets, or all the figures over time,
        when asked) as `record_figures.lua` calls of at most `CHUNK` buckets each, made up
        and sent a call at a time (`_calls`, `_pump`): a second of a busy node is hundreds
        of buckets, milliseconds of work here and in Redis, which must not hold the
        messages all at once. Each call counts whole, or not at all."""
        if self._timer is None:
            return
        self._timer.cancel()
        self._timer = None
        pending = self._pending.take()
        held = self._agents
        pending.update(held.take() if agents else held.take_due(AGENT_HOLD_S, FLUSH_S, CHUNK))
        over_time = self.rollups.groups
        groups = over_time.take() if rollups else over_time.take_due(ROLLUP_HOLD_S, FLUSH_S, GROUPS)
        self._flushes.append(self._calls(self.clock.now_ms(), pending, groups))
        self._pump()
        if self._agents or self.rollups:
            self._schedule()  # the next write takes those that fall due by then

    def _calls(
        self, now: int, pending: dict[Window, Figures], groups: dict[Group, Figures]
    ) -> Iterator[tuple[list[str], list[tuple[int, Figures]]]]:
        """One write's calls, each made up when it is sent. The figures over time are
        spread to their hours, days and months a few groups at a time: a dimension that
        many groups share ("all") may then be in several calls, which add up the same."""
        keys: list[str] = []
        entries: list[tuple[int, Figures]] = []
        for (window, dim, start), figures in pending.items():
            length, size = metrics.WINDOWS[window]
            keys.append(self.keys.figures(window, dim, start))
            # relative: the clock is injectable, Redis's own clock is not
            entries.append((max(1, start + size + length + 60_000 - now), figures))
            if len(keys) == CHUNK:
                yield keys, entries
                keys, entries = [], []
        items = list(groups.items())
        for i in range(0, len(items), GROUPS):
            for (dim, bucket), figures in self.rollups.by_bucket(
                now, dict(items[i : i + GROUPS])
            ).items():
                ttl = self.rollups.expires(bucket) - now
                if ttl > 0:
                    keys.append(self.keys.rollup(dim, bucket.tier, bucket.key))
                    entries.append((ttl, figures))
                    self._written((dim, bucket))
                if len(keys) == CHUNK:
                    yield keys, entries
                    keys, entries = [], []
        if keys:
            yield keys, entries

    def _pump(self) -> None:
        """Send the next call once the one before is answered: what the messages sent
        meanwhile wait for in Redis is one call, never the whole second. Behind by a
        whole write (thousands of agents' figures a second), up to `IN_FLIGHT`."""
        limit = IN_FLIGHT if len(self._flushes) > 1 else 1
        while len(self._in_flight) < limit and self._flushes:
            call = next(self._flushes[0], None)
            if call is None:
                self._flushes.popleft()
                continue
            sent = self._send(*call)
            self._in_flight.add(sent)
            sent.add_done_callback(self._landed)

    def _landed(self, sent: asyncio.Future[Any]) -> None:
        self._in_flight.discard(sent)
        self._pump()

    def _send(self, keys: list[str], entries: list[tuple[int, Figures]]) -> asyncio.Future[Any]:
        args: list[Arg] = [msgpack.packb([(ttl, figures.to_fields()) for ttl, figures in entries])]
        if self.wire.connected:  # with the other commands of this loop turn
            sent = self._script.send(keys, args)
        else:  # connect first (the wire keeps the order once it is up)
            sent = asyncio.ensure_future(self._script(keys, args))
        sent.add_done_callback(_report)
        return sent

    def _written(self, key: tuple[str, Bucket]) -> None:
        written = self.rollups_written
        written[key] = None
        if len(written) > WRITTEN_MAX:
            del written[next(iter(written))]

    async def settled(self, dim: str | None = None) -> None:
        """Wait until what was added so far is written (or failed): everything (`dim`
        None); for a read of `dim`, what it reads (an agent's: every agent's held buckets)
        and what is due, not the rest held. The calls still go at the pace of `_pump`, so a
        read (every second, for availability) does not queue a second's figures in front
        of the messages; writes queued after it are not waited for (but for a call of
        theirs that is out with its last)."""
        self._write(agents=dim is None or dim.startswith(AGENT), rollups=dim is None)
        mine = list(self._flushes)
        while any(flush in self._flushes for flush in mine) and self._in_flight:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))


def _report(written: asyncio.Future[Any]) -> None:
    if not written.cancelled() and written.exception() is not None:
        log.warning("figures not recorded: %s", written.exception())
