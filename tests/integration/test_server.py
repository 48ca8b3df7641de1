"""`chat_server/server.py`: the lightened uvicorn WebSocket protocol behaves like uvicorn's
(echo, keepalive pings, frame cap, handshake refusals) while holding less per socket, and
sends several frames at once (`write_frames`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from chat_server.lean_websocket import (
    FRAMES,
    PING_GRID_S,
    Inbox,
    LeanWebSocketProtocol,
    Writable,
)
from chat_server.server import uvicorn_config
from tests.conftest import listening_socket, server_settings

# --- Inbox -------------------------------------------------------------------------------


async def test_inbox_hands_messages_over_in_order() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait({"type": "websocket.connect"})
    inbox.put_nowait({"type": "websocket.receive", "text": "a"})
    assert not inbox.empty()
    assert (await inbox.get())["type"] == "websocket.connect"
    assert (await inbox.get()) == {"type": "websocket.receive", "text": "a"}
    assert inbox.empty()


async def test_inbox_get_waits_for_a_message() -> None:
    inbox = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not getter.done()
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert await asyncio.wait_for(getter, 1) == {"type": "websocket.disconnect", "code": 1000}


async def test_a_cancelled_get_loses_nothing() -> None:
    inbox = Inbox()
    getter = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    inbox.put_nowait({"type": "websocket.receive", "bytes": b"x"})
    getter.cancel()  # before it ran: the message stays for the next get
    with pytest.raises(asyncio.CancelledError):
        await getter
    assert await inbox.get() == {"type": "websocket.receive", "bytes": b"x"}


async def test_inbox_has_one_reader_at_a_time() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await inbox.get()
    inbox.put_nowait({"type": "websocket.connect"})
    assert (await first)["type"] == "websocket.connect"


async def test_inbox_without_a_coroutine() -> None:
    """`pop` and `arrival`, as `web/session.serve` reads a greeted socket."""
    inbox = Inbox()
    assert inbox.pop() is None
    arrival = inbox.arrival()
    with pytest.raises(RuntimeError):
        inbox.arrival()  # one reader at a time
    inbox.put_nowait({"type": "websocket.receive", "text": "a"})
    assert arrival.done()
    assert inbox.pop() == {"type": "websocket.receive", "text": "a"}
    assert inbox.pop() is None
    inbox.arrival().cancel()  # a reader cancelled while waiting: the next one may wait
    late = inbox.arrival()
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert late.done() and inbox.pop() == {"type": "websocket.disconnect", "code": 1000}


# --- Writable ----------------------------------------------------------------------------


async def test_writable_starts_set_and_waits_only_while_cleared() -> None:
    writable = Writable()
    assert writable.is_set()
    assert await writable.wait()
    writable.clear()
    assert not writable.is_set()
    waiters = [asyncio.create_task(writable.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    writable.set()
    assert await asyncio.gather(*waiters) == [True, True]
    assert writable.is_set()


async def test_a_cancelled_waiter_is_forgotten() -> None:
    writable = Writable()
    writable.clear()
    cancelled = asyncio.create_task(writable.wait())
    waiting = asyncio.create_task(writable.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    writable.set()
    assert await waiting


# --- the protocol under uvicorn ----------------------------------------------------------


@dataclass
class Running:
    server: uvicorn.Server
    url: str

    def protocol(self) -> LeanWebSocketProtocol:
        (proto,) = self.server.server_state.connections
        assert isinstance(proto, LeanWebSocketProtocol)
        return proto


async def echo(ws: WebSocket) -> None:
    if ws.query_params.get("refuse") == "429":
        await ws.send_denial_response(PlainTextResponse("no", status_code=429))
        return
    if ws.query_params.get("refuse") == "close":
        await ws.close(1008)
        return
    offered = "chat.v1.json" in ws.scope["subprotocols"]
    await ws.accept(subprotocol="chat.v1.json" if offered else None)
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"])
            else:
                await ws.send_bytes(message["bytes"])


async def burst(ws: WebSocket) -> None:
    """`n` text frames and a binary one through `write_frames`, then one as usual."""
    await ws.accept()
    lean: LeanWebSocketProtocol = ws.scope["extensions"][FRAMES]
    count = int(await ws.receive_text())
    lean.write_frames([*(f"f{i}" for i in range(count)), b"\x00"])
    await ws.send_text("after")
    with contextlib.suppress(WebSocketDisconnect):
        await ws.receive_text()


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    async with serving(ping_interval_s=0.05, ping_timeout_s=5.0) as server:
        yield server


@contextlib.asynccontextmanager
async def serving(*, ping_interval_s: float, ping_timeout_s: float) -> AsyncIterator[Running]:
    # no protocol number, as uvicorn's `bind_socket` (`--workers`) makes it: on asyncio's
    # loop its connections keep Nagle's algorithm unless the protocol turns it off
    sock, port = listening_socket(proto=0)
    settings = server_settings(
        port=port,
        ping_interval_s=ping_interval_s,
        ping_timeout_s=ping_timeout_s,
        max_frame_bytes=1024,
    )
    server = uvicorn.Server(
        uvicorn_config(
            settings,
            Starlette(routes=[WebSocketRoute("/echo", echo), WebSocketRoute("/burst", burst)]),
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started
    yield Running(server, f"ws://127.0.0.1:{settings.port}/echo")
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 10)


async def test_echoes_and_keeps_no_handshake_or_instance_dict(running: Running) -> None:
    async with connect(running.url, subprotocols=[Subprotocol("chat.v1.json")]) as ws:
        assert ws.subprotocol == "chat.v1.json"
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01")
        assert await ws.recv() == b"\x00\x01"
        proto = running.protocol()
        # every attribute uvicorn sets is a slot (a new one would land here), and the
        # handshake's request and response are gone
        assert proto.__dict__ == {}
        assert not hasattr(proto, "request")
        assert not hasattr(proto, "response")
        assert isinstance(proto.queue, Inbox)
        assert isinstance(proto.writable, Writable)


async def test_nagle_is_off_on_every_websocket(running: Running) -> None:
    """On asyncio's loop with a socket that uvicorn's `--workers` makes, Nagle's algorithm
    stayed on: a reply written after an event to the same socket waited 40 ms for the
    client's delayed ACK (every claim and close in the tests)."""
    assert isinstance(asyncio.get_running_loop(), asyncio.BaseEventLoop)  # not uvloop
    async with connect(running.url) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        sock = running.protocol().transport.get_extra_info("socket")
        assert sock.proto == 0
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


async def test_keepalive_pings_are_sent_and_answered(running: Running) -> None:
    async with connect(running.url) as ws:
        proto = running.protocol()
        for _ in range(200):
            if proto.last_ping_rtt > 0:
                break
            await asyncio.sleep(0.01)
        assert proto.last_ping_rtt > 0
        await ws.send("still open")
        assert await ws.recv() == "still open"


async def test_keepalive_pings_fall_on_the_grid(running: Running) -> None:
    """Every socket's ping timer is due on a tenth of a second of loop time, so those due
    in the same tenth are sent in one turn of the loop; the pings are answered as ever."""

    def on_the_grid(proto: LeanWebSocketProtocol) -> bool:
        assert proto.ping_timer is not None
        ticks = proto.ping_timer.when() / PING_GRID_S
        return abs(ticks - round(ticks)) < 1e-6

    async with connect(running.url) as one, connect(running.url) as two:
        await one.send("a")
        await two.send("b")
        assert (await one.recv(), await two.recv()) == ("a", "b")
        connections = running.server.server_state.connections
        protos = [p for p in connections if isinstance(p, LeanWebSocketProtocol)]
        assert len(protos) == 2
        assert all(on_the_grid(p) for p in protos)
        for _ in range(300):  # the next ones too, scheduled after a pong
            if all(p.last_ping_rtt > 0 for p in protos):
                break
            await asyncio.sleep(0.01)
        assert all(p.last_ping_rtt > 0 for p in protos)
        for _ in range(100):
            if all(p.ping_timer is not None for p in protos):
                break
            await asyncio.sleep(0.01)
        assert all(on_the_grid(p) for p in protos)


async def test_a_silent_peer_that_does_not_answer_pings_is_closed_1011() -> None:
    """A raw client that completes the handshake and then reads nothing and answers
    nothing: pinged after one interval, closed with 1011 after the timeout."""
    async with serving(ping_interval_s=0.1, ping_timeout_s=0.2) as running:
        host, port = running.url.removeprefix("ws://").split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        # unanswered, the ping is followed by the close; then the server ends the connection
        received = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        ping, close = received[:6], received[6:]
        assert ping[:2] == b"\x89\x04"  # a ping with uvicorn's 4-byte payload
        assert close[0] == 0x88 and int.from_bytes(close[2:4], "big") == 1011


async def test_a_frame_over_the_cap_closes_1009(running: Running) -> None:
    async with connect(running.url) as ws:
        await ws.send("x" * 2000)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009


@pytest.mark.parametrize(("refuse", "status"), [("429", 429), ("close", 403)])
async def test_handshake_refusals(running: Running, refuse: str, status: int) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{running.url}?refuse={refuse}"):
            pass
    assert refused.value.response.status_code == status


async def test_several_frames_in_one_write_arrive_whole_and_in_order(running: Running) -> None:
    async with connect(running.url.replace("/echo", "/burst")) as ws:
        await ws.send("20")
        frames = [await ws.recv() for _ in range(22)]
    assert frames == [*(f"f{i}" for i in range(20)), b"\x00", "after"]


@pytest.mark.parametrize("path", ["/echo", "/burst"])
async def test_a_closed_socket_is_freed_without_a_collection(running: Running, path: str) -> None:
    """Reference counting alone frees a closed socket's protocol: a cycle through it kept
    each one (with its transport and parser) until a full collection, which the tuned
    thresholds make rare, and RSS climbed by waves under many short-lived sockets."""

    def protocols() -> int:
        return sum(1 for o in gc.get_objects() if isinstance(o, LeanWebSocketProtocol))

    gc.collect()
    gc.disable()
    try:
        before = protocols()
        async with connect(running.url.replace("/echo", path)) as ws:
            await ws.send("1")
            await ws.recv()
            assert protocols() == before + 1
        for _ in range(200):
            if not running.server.server_state.connections and protocols() == before:
                break
            await asyncio.sleep(0.01)
        assert protocols() == before
    finally:
        gc.enable()
