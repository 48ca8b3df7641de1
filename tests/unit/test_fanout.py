"""`Hub.dispatch` for a channel with thousands of sockets (a site's visitors): the event
reaches `FANOUT_SLICE` sockets a loop turn, so other work runs in between; the events of
one channel reach every socket in order, a socket that left meanwhile gets nothing more,
and each codec still encodes once."""

from __future__ import annotations

import asyncio

import pytest

from chat_server.backends.base import Event
from chat_server.backends.embedded.bus import LocalBus
from chat_server.protocol.codec import Codec, Frame
from chat_server.service import hub as hub_module
from chat_server.service.hub import FANOUT_SLICE, Connection, Hub

MAX_BYTES = 1 << 20
MANY = FANOUT_SLICE * 3 + 10


def event(t: str, skip: str | None = None) -> Event:
    return {"frame": {"t": t}, "skip": skip}


def sockets(hub: Hub, n: int, channel: str = "site:shop") -> list[Connection]:
    conns = [
        Connection(hub, Codec.MSGPACK if i % 2 else Codec.JSON, 10, MAX_BYTES) for i in range(n)
    ]
    for conn in conns:
        conn.subscribe(channel)
    return conns


def queued(conn: Connection) -> int:
    return len(conn.outbox or ())


async def test_a_large_fan_out_goes_a_slice_a_loop_turn() -> None:
    hub = Hub(LocalBus())
    conns = sockets(hub, MANY)
    between: list[int] = []
    hub.dispatch("site:shop", event("availability"))
    asyncio.get_running_loop().call_soon(lambda: between.append(sum(map(queued, conns))))
    assert sum(map(queued, conns)) == FANOUT_SLICE  # the first slice at once
    for _ in range(5):
        await asyncio.sleep(0)
    assert between == [FANOUT_SLICE * 2]  # other work ran between two slices
    assert all(queued(c) == 1 for c in conns)
    assert hub._fanouts == {}


async def test_a_small_fan_out_goes_at_once() -> None:
    hub = Hub(LocalBus())
    conns = sockets(hub, FANOUT_SLICE)
    hub.dispatch("site:shop", event("availability"))
    assert all(queued(c) == 1 for c in conns)
    assert hub._fanouts == {}


async def test_events_of_one_channel_keep_their_order() -> None:
    hub = Hub(LocalBus())
    conns = sockets(hub, MANY)
    hub.dispatch("site:shop", event("first"))
    hub.dispatch("site:shop", event("second"))  # queued behind the first, slice by slice
    for _ in range(10):
        await asyncio.sleep(0)
    for conn in conns:
        frames = [conn.pull() for _ in range(2)]
        assert [b"first" in f if isinstance(f, bytes) else "first" in f for f in frames] == [
            True,
            False,
        ]


async def test_a_socket_that_left_meanwhile_gets_nothing_more() -> None:
    hub = Hub(LocalBus())
    conns = sockets(hub, MANY)
    skipped = conns[1]
    hub.dispatch("site:shop", event("availability", skip=skipped.id))
    gone = conns[-1]
    gone.unsubscribe("site:shop")
    for _ in range(5):
        await asyncio.sleep(0)
    assert queued(gone) == 0 and queued(skipped) == 0
    assert sum(map(queued, conns)) == MANY - 2


async def test_an_event_queued_behind_skips_a_socket_that_left_before_its_turn() -> None:
    hub = Hub(LocalBus())
    conns = sockets(hub, MANY)
    hub.dispatch("site:shop", event("first"))
    hub.dispatch("site:shop", event("second"))
    gone = conns[0]  # reached by the first event's first slice, not yet by the second
    gone.unsubscribe("site:shop")
    for _ in range(10):
        await asyncio.sleep(0)
    assert queued(gone) == 1
    assert all(queued(c) == 2 for c in conns[1:])


async def test_each_codec_encodes_once_across_the_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoded: list[Codec] = []
    real = hub_module.encode_or_log

    def counted(codec: Codec, frame: Frame) -> bytes | str | None:
        encoded.append(codec)
        return real(codec, frame)

    monkeypatch.setattr(hub_module, "encode_or_log", counted)
    hub = Hub(LocalBus())
    sockets(hub, MANY)
    hub.dispatch("site:shop", event("availability"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(codec.name for codec in encoded) == ["JSON", "MSGPACK"]
