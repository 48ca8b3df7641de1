"""The lean Redis connection (`backends/redis/wire.py`) against a real redis-server:
order, errors, transactions, pub/sub pushes, and what happens when Redis goes away."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgpack
import pytest

from chat_server.backends.records import message_row
from chat_server.backends.redis.client import redis_errors
from chat_server.backends.redis.rows import spliced_event, spliced_row
from chat_server.backends.redis.wire import ReplyError, Script, Wire, pack
from chat_server.core import ids, views
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Kind, Message, Role, Sender
from tests.conftest import free_port, require_tool
from tests.redis_server import RedisServer


@pytest.fixture
async def wire(redis_server: RedisServer) -> AsyncIterator[Wire]:
    w = Wire(redis_server.url)
    await w.connect()
    yield w
    w.close()


def test_pack_is_resp() -> None:
    assert pack(("SET", "k", b"v\r\n", 12, 0.5)) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\n12\r\n$3\r\n0.5\r\n"
    )


async def test_commands_of_one_turn_keep_their_order(wire: Wire) -> None:
    key = ids.new_id("w")
    replies = await asyncio.gather(*(wire.execute("RPUSH", key, i) for i in range(200)))
    assert replies == list(range(1, 201))
    assert await wire.execute("LRANGE", key, 0, -1) == [str(i).encode() for i in range(200)]


async def test_an_error_reply_raises_and_the_connection_goes_on(wire: Wire) -> None:
    with pytest.raises(ReplyError, match="unknown command"):
        await wire.execute("NOSUCHCOMMAND")
    assert await wire.execute("PING") == b"PONG"


async def test_a_script_is_sent_whole_only_once(wire: Wire) -> None:
    script = Script(wire, f"return {{KEYS[1], ARGV[1], '{ids.new_id('s')}'}}")
    assert (await script(["k"], [7]))[:2] == [b"k", b"7"]
    assert await wire.execute("SCRIPT", "EXISTS", script.sha) == [1]
    assert (await script(["k2"], ["x"]))[:2] == [b"k2", b"x"]
    await wire.execute("SCRIPT", "FLUSH")  # Redis forgot it (a restart): sent whole again
    assert (await script.send(["k3"], [1]))[:2] == [b"k3", b"1"]
    with pytest.raises(ReplyError):
        await Script(wire, "return redis.error_reply('no')").send([], [])


async def test_subscriber_gets_pushes(redis_server: RedisServer, wire: Wire) -> None:
    got: list[list[Any]] = []
    sub = Wire(redis_server.url, push=got.append)
    await sub.connect()
    channel = ids.new_id("ch")
    assert (await sub.execute("SUBSCRIBE", channel))[0] == b"subscribe"
    for i in range(3):
        await wire.execute("PUBLISH", channel, f"m{i}")
    assert (await sub.execute("PING"))[0] == b"pong"  # replies still match, in order
    assert got == [[b"message", channel.encode(), f"m{i}".encode()] for i in range(3)]
    sub.close()


async def test_a_lost_connection_fails_what_is_in_flight_then_reconnects(
    wire: Wire, redis_server: RedisServer
) -> None:
    killer = Wire(redis_server.url)
    client_id = await wire.execute("CLIENT", "ID")
    blocked = asyncio.ensure_future(wire.execute("BLPOP", ids.new_id("never"), 0))
    await asyncio.sleep(0.05)
    await killer.execute("CLIENT", "KILL", "ID", client_id)
    with pytest.raises(ConnectionError):
        await blocked
    assert wire.lost is not None and wire.lost.done()
    assert await wire.execute("PING") == b"PONG"  # the next call connects again
    killer.close()


async def test_a_redis_that_does_not_answer_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    wire = Wire(f"redis://127.0.0.1:{port}", timeout=0.2)
    with pytest.raises(ConnectionError):
        await wire.execute("PING")
    assert not wire.connected
    server.close()


async def test_not_connected_fails_at_once() -> None:
    wire = Wire("redis://127.0.0.1:1")
    with pytest.raises(ConnectionError):
        await wire.send("PING")
    with pytest.raises(ConnectionError):
        await wire.execute("PING")


@pytest.mark.parametrize("seq", [1, 127, 128, 65_535, 70_000, 2**33])
def test_a_spliced_event_is_the_event_with_its_seq(seq: int) -> None:
    """append.lua puts `cmsgpack.pack(seq)` between head and tail; msgpack-python's
    packing of an int is what cmsgpack produces for an integral number."""
    m = Message("c_1", 0, 1700, Kind.TEXT, Sender(Role.VISITOR, "v_1", "Vera"), "héllo", "m1")
    frame = views.msg_event(m, for_visitor=True)
    head, tail = spliced_event(frame, "conn-1")
    event = msgpack.unpackb(head + msgpack.packb(seq) + tail, raw=False)
    assert event == {"frame": {**frame, "seq": seq}, "skip": "conn-1"}
    head, tail = spliced_event(frame, None)
    assert msgpack.unpackb(head + msgpack.packb(seq) + tail)["skip"] is None


def test_a_spliced_row_is_the_row_with_its_seq() -> None:
    m = Message("c_1", 0, 1700, Kind.NOTE, Sender(Role.AGENT, "a_1", 'Ann "A"'), "x,]", None)
    head, tail = spliced_row(m)
    assert tuple(json.loads(head + b"42" + tail)) == message_row(replace(m, seq=42))


async def test_commands_go_to_the_urls_database_even_while_it_connects(
    redis_server: RedisServer,
) -> None:
    """Nothing slips in before SELECT: commands issued at every loop turn while a new wire
    connects all land in database 3."""
    key = ids.new_id("db")
    wire = Wire(redis_server.url.rsplit("/", 1)[0] + "/3")
    sent = []
    for i in range(20):
        sent.append(asyncio.ensure_future(wire.execute("SADD", key, i)))
        await asyncio.sleep(0)
    await asyncio.gather(*sent)
    plain = Wire(redis_server.url)
    assert await plain.execute("EXISTS", key) == 0
    assert await plain.execute("SELECT", 3) == b"OK"
    assert await plain.execute("SCARD", key) == 20
    wire.close()
    plain.close()


def _slow_loading(binary: str, port: int, directory: Path) -> subprocess.Popen[bytes]:
    """redis-server on that AOF, read slowly (its hidden test settings: 2 ms a key)."""
    return subprocess.Popen(
        [
            *(binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes", "--dir", str(directory), "--key-load-delay", "2000"),
            *("--loading-process-events-interval-bytes", "1024"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_redis_still_loading_its_data_is_unavailable(tmp_path: Path) -> None:
    """Found by the Redis restart chaos scenario (issue 18): a restarted Redis answers
    `-LOADING` while it reads its AOF, and a message sent then failed as "frame handler
    failed" (a traceback per frame) instead of as Redis being away (`unavailable`)."""
    binary = require_tool("redis-server", "apt-get install redis-server")
    first = RedisServer(binary, tmp_path, free_port())
    first.start()
    wire = Wire(first.url)
    await wire.execute("EVAL", "for i = 1, 3000 do redis.call('SET', 'k' .. i, i) end", 0)
    await wire.execute("BGREWRITEAOF")  # into an RDB preamble, which loads key by key
    for _ in range(250):
        info = await wire.execute("INFO", "persistence")
        if b"aof_rewrite_in_progress:0" in info and b"aof_rewrite_scheduled:0" in info:
            break
        await asyncio.sleep(0.02)
    wire.close()
    first.stop(kill=True)
    loading = _slow_loading(binary, first.port, tmp_path)
    try:
        wire = Wire(first.url)
        for _ in range(100):  # until it accepts connections (it answers LOADING then)
            try:
                await wire.connect()
                break
            except ConnectionError:
                await asyncio.sleep(0.05)
        with pytest.raises(ConnectionError, match="LOADING"):
            await wire.execute("GET", "k1")
        with pytest.raises(ChatError) as refused:
            async with redis_errors():
                await Script(wire, "return redis.call('GET', KEYS[1])")(["k1"], [])
        assert refused.value.code is ErrorCode.UNAVAILABLE
        wire.close()
    finally:
        loading.kill()
        loading.wait(10)
