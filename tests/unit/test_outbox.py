"""`chat_server/service/hub.py`: a connection's bounded outbox (made on demand, dropped
when drained, overflow told to its outlet) and the hub's channel bookkeeping."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from chat_server.backends.base import Event
from chat_server.backends.embedded.bus import LocalBus
from chat_server.protocol.codec import Codec
from chat_server.service.hub import Connection, Hub


class Outlet:
    def __init__(self) -> None:
        self.wakes = 0
        self.overflows = 0

    def wake(self) -> None:
        self.wakes += 1

    def overflow(self) -> None:
        self.overflows += 1


class SlowBus(LocalBus):
    """A bus whose subscriptions take effect later (like Redis)."""

    async_subscribe = True

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.subscribed: list[str] = []
        self.unsubscribed: list[str] = []

    async def subscribe(self, channel: str) -> None:
        await self.gate.wait()
        self.subscribed.append(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.unsubscribed.append(channel)


def drain(conn: Connection) -> list[bytes | str]:
    out = []
    while (data := conn.pull()) is not None:
        out.append(data)
    return out


async def test_an_idle_connection_holds_no_outbox() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 10)
    assert conn.outbox is None
    outlet = conn.outlet = Outlet()
    conn.send({"t": "a"})
    conn.push("b")
    assert outlet.wakes == 2
    assert drain(conn) == ['{"t":"a"}', "b"]
    assert conn.outbox is None  # dropped once drained
    assert conn.pull() is None


async def test_overflow_drops_the_outbox_and_tells_the_outlet_once() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 2)
    outlet = conn.outlet = Outlet()
    for data in ("1", "2", "3", "4"):
        conn.push(data)
    assert conn.overflowed
    assert outlet.overflows == 1
    assert conn.outbox is None
    assert conn.pull() is None


async def test_the_bound_counts_frames_not_yet_taken() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 2)
    conn.push("1")
    conn.push("2")
    assert conn.pull() == "1"  # taken by the writer: room for one more
    conn.push("3")
    assert not conn.overflowed
    assert drain(conn) == ["2", "3"]


async def test_without_an_outlet_frames_wait_in_the_outbox() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 5)
    conn.push("error frame before a close")
    assert drain(conn) == ["error frame before a close"]


def recorder(conn: Connection) -> Callable[[], list[str]]:
    def frames() -> list[str]:
        return [json.loads(d)["t"] for d in drain(conn) if isinstance(d, str)]

    return frames


async def test_hub_fans_out_in_joining_order_and_skips_the_sender() -> None:
    bus = LocalBus()
    hub = Hub(bus)
    a, b = Connection(hub, Codec.JSON, 10), Connection(hub, Codec.MSGPACK, 10)
    a.subscribe("room")
    b.subscribe("room")
    a.subscribe("room")  # twice is once
    assert a.channels == ("room",)
    assert hub.local("room") == {a, b}
    event: Event = {"frame": {"t": "one"}, "skip": None}
    bus.deliver("room", event)
    bus.deliver("room", {"frame": {"t": "two"}, "skip": b.id})
    assert recorder(a)() == ["one", "two"]
    assert len(drain(b)) == 1


async def test_leaving_the_last_member_ends_the_subscription() -> None:
    bus = SlowBus()
    bus.gate.set()
    hub = Hub(bus)
    a, b = Connection(hub, Codec.JSON, 10), Connection(hub, Codec.JSON, 10)
    for conn in (a, b):
        conn.subscribe("x")
        conn.subscribe("y")
    await hub.ready("x")
    a.unsubscribe("x")
    assert a.channels == ("y",)
    assert hub.local("x") == {b}
    b.unsubscribe_all()
    a.unsubscribe_all()
    assert a.channels == b.channels == ()
    await asyncio.sleep(0)
    assert hub.local("x") == hub.local("y") == set()
    assert sorted(bus.unsubscribed) == ["x", "y"]


async def test_ready_waits_for_the_subscription_then_forgets_it() -> None:
    bus = SlowBus()
    hub = Hub(bus)
    conn = Connection(hub, Codec.JSON, 10)
    conn.subscribe("x")
    waiting = asyncio.create_task(hub.ready("x"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    bus.gate.set()
    await asyncio.wait_for(waiting, 1)
    assert bus.subscribed == ["x"]
    assert hub._ready == {}  # nothing left to wait for: no future kept per channel
    await asyncio.wait_for(hub.ready("x"), 1)


@pytest.mark.parametrize("codec", list(Codec))
async def test_connections_are_slotted(codec: Codec) -> None:
    conn = Connection(Hub(LocalBus()), codec, 1)
    assert not hasattr(conn, "__dict__")
