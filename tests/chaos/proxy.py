"""A small asyncio TCP proxy on 127.0.0.1 that makes a network slow and broken, seeded.

One `Proxy` stands in front of one node. Every chunk it forwards is held back by a latency
plus a random jitter (in order: a chunk never passes an earlier one). Once `faults` runs,
at random moments it picks one open connection and either stalls it (it forwards nothing,
either way, for a while, as when packets are lost and retransmitted; what arrives
meanwhile waits) or cuts it (both sides closed at once with a reset, as when a NAT or a
mobile network drops a flow). Bounded: a connection that buffers more than `max_buffer`
bytes is cut; `stop` closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

CHUNK = 65536


@dataclass
class ProxyStats:
    connections: int = 0
    cuts: int = 0
    stalls: int = 0
    stalled_s: float = 0.0
    chunks: int = 0
    delay_s: float = 0.0
    """The latency and jitter added to the chunks, summed (stalls apart)."""
    refused: int = 0
    """Connections whose node did not answer (it was down)."""
    overflows: int = 0
    late: int = 0
    """Chunks delivered after the side that sent them had gone."""


@dataclass(eq=False)
class Pipe:
    """One client connection and its connection to the node."""

    number: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    stalled_until: float = 0.0
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    closed: bool = False

    def cut(self) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class Proxy:
    def __init__(
        self,
        target_port: int,
        rng: random.Random,
        *,
        latency_s: float = 0.01,
        jitter_s: float = 0.02,
        max_buffer: int = 1 << 20,
    ) -> None:
        self.target_port = target_port
        self.rng = rng
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.max_buffer = max_buffer
        self.stats = ProxyStats()
        self.pipes: set[Pipe] = set()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self.pipes):
            pipe.cut()  # its handler then returns by itself
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        for task in list(self._handlers):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    async def faults(
        self, duration_s: float, *, cuts_per_s: float, stalls_per_s: float, stall_s: float
    ) -> None:
        """For `duration_s`: cuts and stalls (each 0.2 to 1 times `stall_s`) of random open
        connections, at random moments, at the given mean rates."""
        end = time.monotonic() + duration_s
        total = cuts_per_s + stalls_per_s
        while total > 0:
            wait = self.rng.expovariate(total)
            if time.monotonic() + wait >= end:
                await asyncio.sleep(max(0.0, end - time.monotonic()))
                return
            await asyncio.sleep(wait)
            open_pipes = sorted((p for p in self.pipes if not p.closed), key=lambda p: p.number)
            if not open_pipes:
                continue
            pipe = self.rng.choice(open_pipes)
            if self.rng.random() < cuts_per_s / total:
                self.stats.cuts += 1
                pipe.cut()
            else:
                length = stall_s * self.rng.uniform(0.2, 1.0)
                self.stats.stalls += 1
                self.stats.stalled_s += length
                pipe.stalled_until = max(pipe.stalled_until, time.monotonic() + length)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.stats.connections += 1
        pipe = Pipe(self.stats.connections, writer)
        self.pipes.add(pipe)
        try:
            connecting = asyncio.create_task(self._connect())
            pipe.tasks = [connecting]  # a cut (or `stop`) while connecting cancels it
            try:
                up_reader, up_writer = await connecting
            except (OSError, TimeoutError):
                self.stats.refused += 1
                return
            except asyncio.CancelledError:
                if not connecting.cancelled():
                    raise
                return
            pipe.upstream = up_writer
            pipe.tasks = [
                asyncio.create_task(self._pump(pipe, reader, up_writer)),
                asyncio.create_task(self._pump(pipe, up_reader, writer)),
            ]
            await asyncio.gather(*pipe.tasks, return_exceptions=True)
        finally:
            pipe.cut()
            self.pipes.discard(pipe)
            self._handlers.discard(task)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The upstream connection, made only once its task runs: a task cut before it
        started never leaves an `open_connection` coroutine unawaited (a warning that
        failed the test)."""
        async with asyncio.timeout(5):
            return await asyncio.open_connection("127.0.0.1", self.target_port)

    async def _pump(
        self, pipe: Pipe, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Read one way and forward after the delay (and any stall), in order. When the
        sending side goes (closed, or reset), what it sent is still delivered, late, as
        packets already on their way are; only a cut drops it."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        buffered = 0
        due = 0.0
        ended = False

        async def forward() -> None:
            nonlocal buffered
            while True:
                at, data = await queue.get()
                # a stall may be lengthened meanwhile: look again after each sleep
                while (wait := max(at, pipe.stalled_until) - time.monotonic()) > 0:  # noqa: ASYNC110
                    await asyncio.sleep(wait)
                if not data:  # the other side finished: pass the end on
                    with contextlib.suppress(Exception):
                        writer.write_eof()
                    return
                if ended:
                    self.stats.late += 1
                writer.write(data)
                buffered -= len(data)
                await writer.drain()

        sender = asyncio.create_task(forward())
        try:
            while not pipe.closed:
                try:
                    data = await reader.read(CHUNK)
                except (OSError, ConnectionError):
                    data = b""
                delay = self.latency_s + self.rng.random() * self.jitter_s
                due = max(due, time.monotonic() + delay)
                queue.put_nowait((due, data))
                if not data:
                    break
                self.stats.chunks += 1
                self.stats.delay_s += delay
                buffered += len(data)
                if buffered > self.max_buffer:
                    self.stats.overflows += 1
                    pipe.cut()
                    return
            ended = True
            with contextlib.suppress(OSError, ConnectionError):
                await sender
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
