"""The collector after `gc_tuning.settle` (issue 20): start-up's objects frozen, higher
thresholds, and what comes later still collected: closed connections leave no session."""

from __future__ import annotations

import asyncio
import gc
import types
from collections.abc import Iterator

import pytest

from chat_server import gc_tuning
from chat_server.service.session import Session
from tests.conftest import ServerFactory


@pytest.fixture
def restore_gc() -> Iterator[None]:
    yield
    gc_tuning.defaults()


def sessions() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Session))


async def test_closed_connections_are_collected_after_the_freeze(
    start_server: ServerFactory, restore_gc: None
) -> None:
    live = await start_server(gc_freeze=True, new_visitor_rate=1000.0, new_visitor_burst=100)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (gc_tuning.YOUNG, gc_tuning.MIDDLE, gc_tuning.OLD)
    before = sessions()
    visitors = [await live.visitor() for _ in range(30)]
    agent = await live.agent()
    for v in visitors[:5]:
        await v.request("start", text="hello")
    assert sessions() >= before + 31
    for client in [*visitors, agent]:
        await client.close()
    live.clients.clear()
    for _ in range(100):  # the server ends each session after its socket closes
        if sessions() <= before:
            break
        await asyncio.sleep(0.05)
    assert sessions() == before


async def test_the_freeze_can_be_turned_off(start_server: ServerFactory) -> None:
    await start_server(gc_freeze=False)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == (700, 10, 10)


def receive_coroutines() -> int:
    """The server's coroutines waiting in a `receive` or `get` (Starlette's, uvicorn's,
    the inbox's; the test's own clients run in this process too)."""
    return sum(
        1
        for o in gc.get_objects()
        if type(o) is types.CoroutineType
        and o.cr_frame is not None
        and o.cr_code.co_name in {"receive", "get"}
        and any(part in o.cr_code.co_filename for part in SERVER_CODE)
    )


SERVER_CODE = ("starlette", "uvicorn", "lean_websocket")


async def test_a_waiting_socket_holds_no_receive_coroutine(start_server: ServerFactory) -> None:
    """Each socket waiting for its next frame held three coroutines (Starlette's and
    uvicorn's `receive`, the inbox's `get`): with thousands of sockets, most of what the
    young collections walked. A greeted socket now waits on a future alone."""
    live = await start_server()
    before = receive_coroutines()
    visitors = [await live.visitor() for _ in range(10)]
    await live.agent()
    for v in visitors[:3]:
        await v.request("start", text="hello")
    await asyncio.sleep(0.05)
    assert receive_coroutines() == before
