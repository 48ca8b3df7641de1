"""`chat_server/web/session.py` `serve`: one task per idle socket (the handler reads, a
writer runs only while there is something to send), frames leave in order, what one loop
turn queued leaves in one write behind our own protocol, and every way a socket ends
(disconnect, overflow, hello timeout, cancellation) cleans up.

The session is a real `VisitorSession` on a running server's runtime; the socket is a
stand-in whose sends can block, like a client that stopped reading."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.websockets import WebSocketState

from chat_server.lean_websocket import FRAMES, Inbox, Writable
from chat_server.protocol.codec import Codec
from chat_server.protocol.frames import Envelope
from chat_server.service.session import Handler, Result, Session
from chat_server.service.visitor import VisitorSession
from chat_server.web.session import Pump, serve
from tests.conftest import Live, ServerFactory

WAIT = 5.0


class Socket:
    """What `serve` uses of a Starlette `WebSocket`: frames in, frames out, a close."""

    def __init__(self, *, sends_before_blocking: int | None = None) -> None:
        self.incoming = Inbox()
        self.sent: list[dict[str, Any]] = []
        self.sends_before_blocking = sends_before_blocking
        self.close_code: int | None = None
        self.arrived = asyncio.Event()
        self.scope: dict[str, Any] = {"extensions": {}}
        self.application_state = WebSocketState.CONNECTED

    def client(self, **frame: Any) -> None:
        self.incoming.put_nowait({"type": "websocket.receive", "text": json.dumps(frame)})

    def disconnect(self) -> None:
        self.incoming.put_nowait({"type": "websocket.disconnect", "code": 1000})

    async def receive(self) -> dict[str, Any]:
        return dict(await self.incoming.get())

    async def send_text(self, data: str) -> None:
        lean = self.scope["extensions"].get(FRAMES)
        if lean is not None:  # as uvicorn's `send`: wait while the transport is paused
            await lean.writable.wait()
        if self.sends_before_blocking is not None and len(self.sent) >= self.sends_before_blocking:
            await asyncio.Future()  # the client stopped reading: this send never completes
        self.sent.append(json.loads(data))
        self.arrived.set()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.close_code = code

    async def wait_sent(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            while len(self.sent) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sent


async def open_session(
    live: Live, socket: Socket, hello_timeout_s: float | None = WAIT
) -> tuple[VisitorSession, asyncio.Task[None]]:
    rt = live.runtime
    site = await live.store.directory.site("shop")
    session = VisitorSession(rt.node, rt.dispatcher, Codec.JSON, site)
    task = asyncio.create_task(serve(socket, session, hello_timeout_s))  # type: ignore[arg-type]
    return session, task


def writers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__qualname__ == "Pump._drain"]  # type: ignore[union-attr]


def sample(live: Live, name: str, labels: dict[str, str] | None = None) -> float:
    return live.runtime.node.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_an_idle_socket_runs_no_task_but_its_own(live: Live) -> None:
    socket = Socket()
    session, task = await open_session(live, socket)
    socket.client(t="hello", id=1, name="Idle")
    (ok,) = await socket.wait_sent(1)
    assert ok["t"] == "ok" and ok["re"] == 1
    await asyncio.sleep(0.01)
    assert isinstance(session.outlet, Pump)
    assert session.outlet.writer is None and writers() == []
    assert session.outbox is None
    assert session._abuse is None and session._cobrowse_bucket is None
    assert session in live.runtime.node.hub.connections
    socket.disconnect()
    await asyncio.wait_for(task, WAIT)
    assert socket.close_code is None
    assert session not in live.runtime.node.hub.connections
    assert session.channels == ()
    assert session.outlet is None


async def test_replies_and_events_leave_in_order(live: Live) -> None:
    socket = Socket()
    session, task = await open_session(live, socket)
    socket.client(t="hello", id=1)
    await socket.wait_sent(1)
    session.send({"t": "event", "n": 1})
    socket.client(t="ping", id=2)
    session.send({"t": "event", "n": 2})
    socket.client(t="ping", id=3)
    sent = await socket.wait_sent(5)
    assert [(f["t"], f.get("re", f.get("n"))) for f in sent[1:]] == [
        ("event", 1),
        ("event", 2),
        ("pong", 2),
        ("pong", 3),
    ]
    socket.disconnect()
    await asyncio.wait_for(task, WAIT)


@pytest.mark.parametrize("by", ["events", "own replies"])
async def test_a_reader_that_does_not_read_is_closed_1013(
    start_server: ServerFactory, by: str
) -> None:
    live = await start_server(send_queue=3, chat_rate=1000.0, chat_burst=1000)
    socket = Socket(sends_before_blocking=1)
    session, task = await open_session(live, socket)
    socket.client(t="hello", id=1)
    await socket.wait_sent(1)
    before = sample(live, "chat_slow_readers_disconnected_total")
    if by == "events":  # pushed from another task: the reader is cancelled
        for n in range(10):
            session.send({"t": "event", "n": n})
    else:  # the reader overflows its own outbox: it stops after the frame
        for n in range(10):
            socket.client(t="ping", id=n + 2)
    await asyncio.wait_for(task, WAIT)  # ends normally: the overflow is handled
    assert socket.close_code == 1013
    assert sample(live, "chat_slow_readers_disconnected_total") == before + 1
    assert session not in live.runtime.node.hub.connections
    assert writers() == []


async def test_no_hello_in_time_closes_4401(live: Live) -> None:
    socket = Socket()
    session, task = await open_session(live, socket, hello_timeout_s=0.05)
    await asyncio.wait_for(task, WAIT)
    assert socket.close_code == 4401
    assert not session.greeted


async def test_a_cancelled_handler_cleans_up_and_stays_cancelled(live: Live) -> None:
    socket = Socket(sends_before_blocking=1)
    session, task = await open_session(live, socket)
    socket.client(t="hello", id=1)
    await socket.wait_sent(1)
    session.send({"t": "event"})  # a writer blocked in a send
    await asyncio.sleep(0.01)
    assert len(writers()) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert writers() == []
    assert session not in live.runtime.node.hub.connections
    assert session.channels == ()
    assert sample(live, "chat_connections", {"role": "visitor"}) == 0


class Bare(Session):
    __slots__ = ()

    def handlers(self) -> dict[str, Handler]:
        return {}

    async def cobrowse(self, envelope: Envelope) -> Result:
        return None


async def test_session_state_is_slotted_and_made_on_first_use(live: Live) -> None:
    session = Bare(live.runtime.node, live.runtime.dispatcher, Codec.JSON)
    assert not hasattr(session, "__dict__")
    assert session._seen is session._catching is session._held is None
    msg = {"t": "msg", "cid": "c_1", "seq": 1}
    assert session.first_delivery(msg)
    assert not session.first_delivery(msg)  # seq dedupe
    session.mark_seen("c_2", 5)
    assert not session.first_delivery({"t": "msg", "cid": "c_2", "seq": 4})
    assert session.first_delivery({"t": "cobrowse", "cid": "c_1"})
    assert session.abuse is session.abuse
    assert session.cobrowse_bucket is session.cobrowse_bucket


class Lean:
    """What `Pump` and `serve` use of `LeanWebSocketProtocol`: flow control, one write of
    frames, and reading without a coroutine."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.writable = Writable()
        self.writes: list[list[str]] = []

    def receive_nowait(self) -> dict[str, Any] | None:
        message = self.socket.incoming.pop()
        return None if message is None else dict(message)

    def arrival(self) -> asyncio.Future[None]:
        return self.socket.incoming.arrival()

    def write_frames(self, frames: list[bytes | str]) -> None:
        self.writes.append([f for f in frames if isinstance(f, str)])
        self.socket.sent.extend(json.loads(f) for f in frames)
        self.socket.arrived.set()


async def test_what_one_turn_queues_leaves_in_one_write_without_a_task(live: Live) -> None:
    socket = Socket()
    lean = socket.scope["extensions"][FRAMES] = Lean(socket)
    session, task = await open_session(live, socket)
    socket.client(t="hello", id=1)
    await socket.wait_sent(1)
    assert len(lean.writes) == 1
    for n in range(3):
        session.send({"t": "event", "n": n})
    assert writers() == []  # a callback at the end of the turn, not a task
    await socket.wait_sent(4)
    assert len(lean.writes) == 2 and len(lean.writes[1]) == 3
    assert [f.get("n") for f in socket.sent[1:]] == [0, 1, 2]

    lean.writable.clear()  # the client reads slowly: a task waits for the socket
    session.send({"t": "event", "n": 3})
    await asyncio.sleep(0.01)
    assert len(writers()) == 1 and len(socket.sent) == 4
    lean.writable.set()
    sent = await socket.wait_sent(5)
    assert sent[-1] == {"t": "event", "n": 3} and len(lean.writes) == 2  # sent by the task
    await asyncio.sleep(0.01)
    session.send({"t": "event", "n": 4})
    await socket.wait_sent(6)
    assert len(lean.writes) == 3 and writers() == []
    socket.disconnect()
    await asyncio.wait_for(task, WAIT)
