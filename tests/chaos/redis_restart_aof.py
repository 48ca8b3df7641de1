"""The Redis side of the Redis restart scenario (`redis_restart.py`): a restart that loads
for a while, as a big Redis does, and PING polled to tell when it answers again.

A small test Redis loads its AOF in milliseconds, so the nodes would never meet a Redis
that accepts connections but answers `-LOADING`. redis-server has hidden test settings
for that (`key-load-delay`, microseconds of sleep per key or AOF command loaded, and
`loading-process-events-interval-bytes`, so it answers while it loads); a wrapper script
adds them and execs the same binary. The delay is set before each restart from what the
AOF holds, and the AOF is rewritten a few seconds before each SIGKILL, so loading takes
about `loading_s` (more on a busy machine) whatever the run wrote before.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from pathlib import Path

import redis.asyncio as aioredis

from tests.redis_server import RedisServer

FILLER = 1_000
"""Keys in the AOF's RDB preamble, so that loading is not all in the last commands."""
SLEEP_US = 110
"""What redis-server's shortest sleep (`usleep(1)`) costs, measured here (more when busy)."""


async def fill(url: str, prefix: str) -> None:
    """FILLER keys, then the AOF rewritten into an RDB preamble."""
    admin = aioredis.Redis.from_url(url)
    try:
        script = "for i = 1, tonumber(ARGV[2]) do redis.call('SET', ARGV[1] .. i, 'x') end"
        await admin.eval(script, 0, f"{prefix}:filler:", FILLER)
    finally:
        await admin.aclose()
    await compact(url)


async def compact(url: str) -> int:
    """Rewrite the AOF (`BGREWRITEAOF`, waited for): what follows is the RDB preamble, one
    unit a key, and the few commands written since, so loading takes a foreseeable time.
    Returns the number of keys (about what the preamble holds)."""
    admin = aioredis.Redis.from_url(url)
    try:
        await admin.bgrewriteaof()
        for _ in range(500):
            state = await admin.info("persistence")
            if not (state["aof_rewrite_in_progress"] or state["aof_rewrite_scheduled"]):
                break
            await asyncio.sleep(0.02)
        keys: int = await admin.dbsize()
        return keys
    finally:
        await admin.aclose()


def aof_commands(directory: Path) -> int:
    """The commands in the AOF's incremental files (RESP arrays, counted by walking them)."""
    folder = directory / "appendonlydir"
    manifest = (folder / "appendonly.aof.manifest").read_text().split("\n")
    count = 0
    for line in manifest:
        words = line.split()
        if len(words) >= 2 and words[1].endswith(".aof"):
            data = (folder / words[1]).read_bytes()
            at = 0
            while at < len(data) and data[at : at + 1] == b"*":
                end = data.index(b"\r\n", at)
                args, at = int(data[at + 1 : end]), end + 2
                for _ in range(args):
                    end = data.index(b"\r\n", at)
                    at = end + 2 + int(data[at + 1 : end]) + 2
                count += 1
    return count


def slow_restarts(redis: RedisServer, binary: str, loading_s: float, keys: int) -> None:
    """From now on `redis.start()` loads for about `loading_s` (call it before each one,
    with the keys `compact` found)."""
    wrapper = redis.directory.parent / "redis-server-slow-load"
    per_unit = loading_s * 1_000_000 / (keys + aof_commands(redis.directory))
    if per_unit > 2 * SLEEP_US:
        delay_us = int(per_unit - SLEEP_US)
    else:  # negative: a 1 µs sleep once in that many units, at random
        delay_us = -max(1, round(SLEEP_US / per_unit))
    wrapper.write_text(
        f'#!/bin/sh\nexec {shlex.quote(binary)} "$@" --key-load-delay {delay_us}'
        " --loading-process-events-interval-bytes 1024\n"
    )
    wrapper.chmod(0o755)
    redis.binary = str(wrapper)


async def wait_pong(port: int, timeout: float = 20) -> tuple[float, float]:
    """Poll PING until redis-server answers PONG: (when the last failed attempt ended, when
    PONG came). Before the first, Redis was certainly not answering (down, or LOADING)."""
    failed = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.5)
            writer.write(b"PING\r\n")
            if (await asyncio.wait_for(reader.readline(), 0.5)).startswith(b"+PONG"):
                return failed, time.time()
        except (OSError, TimeoutError):
            pass
        finally:
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        failed = time.time()
        await asyncio.sleep(0.01)
    raise RuntimeError(f"redis-server on port {port} did not answer PING")
