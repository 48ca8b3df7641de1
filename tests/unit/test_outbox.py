"""`chat_server/service/hub.py`: a connection's bounded outbox (made on demand, dropped
when drained, overflow told to its outlet, bounded in frames and in bytes), the hub's
channel bookkeeping, and a frame that cannot be encoded never stopping a fan-out."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import msgpack
import pytest

from chat_server.backends.base import Event
from chat_server.backends.embedded.bus import LocalBus
from chat_server.protocol.codec import Codec
from chat_server.service.hub import Connection, Hub

MAX_BYTES = 8 * 1024 * 1024


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
    conn = Connection(Hub(LocalBus()), Codec.JSON, 10, MAX_BYTES)
    assert conn.outbox is None
    outlet = conn.outlet = Outlet()
    conn.send({"t": "a"})
    conn.push("b")
    assert outlet.wakes == 2
    assert drain(conn) == ['{"t":"a"}', "b"]
    assert conn.outbox is None  # dropped once drained
    assert conn.pull() is None


async def test_overflow_drops_the_outbox_and_tells_the_outlet_once() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 2, MAX_BYTES)
    outlet = conn.outlet = Outlet()
    for data in ("1", "2", "3", "4"):
        conn.push(data)
    assert conn.overflowed
    assert outlet.overflows == 1
    assert conn.outbox is None
    assert conn.pull() is None


async def test_the_bound_counts_frames_not_yet_taken() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 2, MAX_BYTES)
    conn.push("1")
    conn.push("2")
    assert conn.pull() == "1"  # taken by the writer: room for one more
    conn.push("3")
    assert not conn.overflowed
    assert drain(conn) == ["2", "3"]


async def test_without_an_outlet_frames_wait_in_the_outbox() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 5, MAX_BYTES)
    conn.push("error frame before a close")
    assert drain(conn) == ["error frame before a close"]


async def test_the_outbox_is_bounded_in_bytes_too() -> None:
    conn = Connection(Hub(LocalBus()), Codec.MSGPACK, 1000, 10)
    outlet = conn.outlet = Outlet()
    conn.push(b"123456")
    conn.push(b"7890")  # exactly 10 bytes queued: still fits
    assert conn.queued == 10 and not conn.overflowed
    assert conn.pull() == b"123456"  # taken by the writer: its bytes are free again
    conn.push(b"abcdef")
    assert conn.queued == 10 and not conn.overflowed
    conn.push(b"!")  # 11 bytes
    assert conn.overflowed and outlet.overflows == 1
    assert conn.outbox is None and conn.queued == 0
    assert conn.pull() is None


async def test_an_empty_outbox_takes_one_frame_bigger_than_the_bound() -> None:
    conn = Connection(Hub(LocalBus()), Codec.MSGPACK, 1000, 10)
    conn.push(b"x" * 100)  # a frame over the bound still gets through, alone
    assert not conn.overflowed
    assert conn.pull() == b"x" * 100
    assert conn.pull() is None and conn.queued == 0
    conn.push(b"y" * 100)
    conn.push(b"z")  # but nothing is queued behind it
    assert conn.overflowed


async def test_json_text_counts_its_characters() -> None:
    conn = Connection(Hub(LocalBus()), Codec.JSON, 1000, 20)
    assert conn.send({"t": "a"})
    assert conn.queued == len('{"t":"a"}')
    assert drain(conn) == ['{"t":"a"}']
    assert conn.queued == 0


async def test_a_frame_that_cannot_be_encoded_leaves_the_connection_as_it_was(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Connection(Hub(LocalBus()), Codec.MSGPACK, 10, MAX_BYTES)
    assert not conn.send({"t": "bad", "value": object()})
    assert "'bad'" in caplog.text
    assert conn.outbox is None and not conn.overflowed
    assert conn.send({"t": "good"})
    assert len(drain(conn)) == 1


async def test_a_lone_surrogate_is_sent_as_the_replacement_character(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Data stored before decode refused surrogates still reaches every socket."""
    bus = LocalBus()
    hub = Hub(bus)
    conns = [Connection(hub, codec, 10, MAX_BYTES) for codec in (Codec.JSON, Codec.MSGPACK)]
    for conn in conns:
        conn.subscribe("room")
    with caplog.at_level(logging.WARNING):
        bus.deliver("room", {"frame": {"t": "queue", "topic": "a\ud800", "\udfff": 1}})
    as_json, as_msgpack = drain(conns[0]), drain(conns[1])
    assert json.loads(as_json[0]) == {"t": "queue", "topic": "a\ufffd", "\ufffd": 1}
    assert isinstance(as_msgpack[0], bytes)
    assert msgpack.unpackb(as_msgpack[0]) == {"t": "queue", "topic": "a\ufffd", "\ufffd": 1}
    assert "lone surrogate" in caplog.text and "'queue'" in caplog.text


async def test_a_frame_one_codec_cannot_encode_still_reaches_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """msgpack cannot say an int of 2**64; JSON can: the JSON sockets still get it, and
    the failure is logged once for all the msgpack sockets."""
    bus = LocalBus()
    hub = Hub(bus)
    packed = [Connection(hub, Codec.MSGPACK, 10, MAX_BYTES) for _ in range(3)]
    text = Connection(hub, Codec.JSON, 10, MAX_BYTES)
    for conn in (*packed, text):
        conn.subscribe("room")
    bus.deliver("room", {"frame": {"t": "huge", "n": 2**64}})
    bus.deliver("room", {"frame": {"t": "next"}})
    assert [json.loads(d)["t"] for d in drain(text) if isinstance(d, str)] == ["huge", "next"]
    for conn in packed:
        assert [msgpack.unpackb(d)["t"] for d in drain(conn) if isinstance(d, bytes)] == ["next"]
        assert not conn.overflowed
    assert caplog.text.count("could not encode a 'huge' frame") == 1


class PackingBus(LocalBus):
    """A bus that packs each event before delivering it, as the Redis bus does."""

    async def publish(self, channel: str, event: Event) -> None:
        self.deliver(channel, msgpack.unpackb(msgpack.packb(event, use_bin_type=True)))


async def test_publishing_stored_bad_text_on_a_packing_bus_still_announces(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = Hub(PackingBus())
    conn = Connection(hub, Codec.JSON, 10, MAX_BYTES)
    conn.subscribe("queue")
    await hub.publish("queue", {"t": "queue", "waiting": [{"topic": "\ud800"}]})
    assert [json.loads(d) for d in drain(conn)] == [
        {"t": "queue", "waiting": [{"topic": "\ufffd"}]}
    ]
    assert "lone surrogate" in caplog.text


def recorder(conn: Connection) -> Callable[[], list[str]]:
    def frames() -> list[str]:
        return [json.loads(d)["t"] for d in drain(conn) if isinstance(d, str)]

    return frames


async def test_hub_fans_out_in_joining_order_and_skips_the_sender() -> None:
    bus = LocalBus()
    hub = Hub(bus)
    a, b = Connection(hub, Codec.JSON, 10, MAX_BYTES), Connection(hub, Codec.MSGPACK, 10, MAX_BYTES)
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
    a, b = Connection(hub, Codec.JSON, 10, MAX_BYTES), Connection(hub, Codec.JSON, 10, MAX_BYTES)
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
    conn = Connection(hub, Codec.JSON, 10, MAX_BYTES)
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
    conn = Connection(Hub(LocalBus()), codec, 1, MAX_BYTES)
    assert not hasattr(conn, "__dict__")
    conn.push(b"x" if codec is Codec.MSGPACK else "x")
    assert conn.pull() is not None and conn.pull() is None
    assert not hasattr(conn, "__dict__")
