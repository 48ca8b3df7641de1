"""Abuse limits (issue: security): per-connection rates, connections per address, slow
readers. Each defence is attacked and a bystander's chat keeps working."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chat_server.core.model import Site
from tests.client import open_ws
from tests.conftest import Live, ServerFactory
from tests.http import http_client


async def test_flooding_gets_rate_limited_then_closed_4429(start_server: ServerFactory) -> None:
    live = await start_server(chat_rate=5.0, chat_burst=10, abuse_refusals=20)
    agent = await live.agent()
    bystander = await live.visitor()
    cid = (await bystander.request("start", text="hello"))["conversation"]["id"]
    await agent.event("assigned")

    flooder = await live.visitor()
    answers = await asyncio.gather(*(flooder.reply("ping") for _ in range(25)))
    kinds = [a["t"] for a in answers]
    assert kinds.count("pong") >= 9 and kinds.count("error") >= 10
    limited = [a for a in answers if a["t"] == "error"]
    assert {a["code"] for a in limited} == {"rate_limited"}
    assert all("re" in a for a in limited)  # every frame with an id gets its one answer
    for _ in range(40):  # keeps hammering after being told
        await flooder.send({"t": "ping"})
    assert await flooder.close_code() == 4429

    sent = await bystander.request("msg", cid=cid, text="unaffected", cmid="b1")
    await agent.event("msg", seq=sent["seq"])


async def test_connections_per_address(start_server: ServerFactory) -> None:
    live = await start_server(max_connections_per_address=3)
    held = [await live.visitor() for _ in range(3)]
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(
            f"{live.ws}/ws/visitor?site=shop", codec="chat.v1.json", origin="https://shop.example"
        )
    assert refused.value.response.status_code == 429
    await held[0].close()
    await asyncio.sleep(0.1)
    again = await live.visitor()  # a slot was freed
    assert again.hello["visitor"]["id"]


async def test_default_rates_allow_a_fast_human(live: Live) -> None:
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    for i in range(30):
        await visitor.request("typing", cid=cid, on=True, preview="x" * i)
    await visitor.request("msg", cid=cid, text="done typing", cmid="m")


@pytest.mark.long(12)
async def test_a_client_that_never_reads_is_disconnected(start_server: ServerFactory) -> None:
    """Its send queue overflows: the server drops it (1013) instead of buffering forever,
    and everyone else carries on."""
    import json

    live = await start_server(send_queue=20, chat_rate=100000.0, chat_burst=100000)
    # typing previews reach agents only with sneak peek on (issue 14)
    await live.store.directory.put_site(Site("shop", ("https://shop.example",), sneak_peek=True))
    agent = await live.add_agent("Slow", max_chats=1)
    slow = await open_ws(f"{live.ws}/ws/agent", codec="chat.v1.json")
    slow_token = await live.token(agent)
    await slow.send(json.dumps({"t": "hello", "id": 1, "token": slow_token}))
    await slow.recv()
    await slow.send(json.dumps({"t": "status", "id": 2, "state": "online"}))
    await slow.recv()
    # from here on the slow agent never reads again

    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    big = "x" * 4000
    disconnected = False
    async with http_client(base_url=live.base) as http:
        # typing previews reach the agent without being stored; the kernel's loopback
        # buffers take a few MB before the server's own queue starts to fill
        for i in range(5000):
            await visitor.request("typing", cid=cid, on=True, preview=big)
            if i % 100 == 99:
                metrics = (await http.get("/metrics")).text
                if "chat_slow_readers_disconnected_total 1.0" in metrics:
                    disconnected = True
                    break
        assert disconnected, "the slow reader was never disconnected"
        metrics = (await http.get("/metrics")).text
        assert 'chat_connections{role="agent"} 0.0' in metrics
    assert (await visitor.reply("ping"))["t"] == "pong"
    await slow.close()


async def test_a_slow_cobrowse_viewer_is_disconnected_by_bytes(start_server: ServerFactory) -> None:
    """Issue 21, flaw 4: co-browse frames of 512 KiB to an agent who does not read. The
    outbox's byte bound (`send_queue_bytes`) closes it with 1013 long before its frame
    bound (`send_queue`, 1,000) would, and the visitor carries on."""
    import json

    live = await start_server(
        send_queue_bytes=1024 * 1024, cobrowse_rate=1000.0, cobrowse_burst=1000
    )
    agent = await live.add_agent("Viewer", max_chats=1)
    slow = await open_ws(f"{live.ws}/ws/agent", codec="chat.v1.json")

    async def answer(frame_id: int) -> None:
        while True:
            frame = json.loads(await slow.recv())
            if frame.get("re") == frame_id:
                assert frame["t"] == "ok", frame
                return

    await slow.send(json.dumps({"t": "hello", "id": 1, "token": await live.token(agent)}))
    await answer(1)
    await slow.send(json.dumps({"t": "status", "id": 2, "state": "online"}))
    await answer(2)
    visitor = await live.visitor(codec="chat.v1.msgpack")
    cid = (await visitor.request("start", text="look at my screen"))["conversation"]["id"]
    await asyncio.sleep(0.2)  # routed to the viewer
    await slow.send(json.dumps({"t": "cobrowse", "id": 3, "cid": cid, "op": "request"}))
    await answer(3)
    await visitor.event("cobrowse", op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    # from here on the viewer never reads

    batch = [{"type": 3, "data": {"source": 0, "text": "x" * 512 * 1024}, "timestamp": 1}]
    sent = 0
    try:
        async with http_client(base_url=live.base) as http:
            while (
                "chat_slow_readers_disconnected_total 1.0" not in (await http.get("/metrics")).text
            ):
                assert sent < 200, "the slow viewer was never disconnected"
                for _ in range(5):  # the kernel's loopback buffers take a few MiB first
                    await visitor.request("cobrowse", cid=cid, op="events", events=batch)
                sent += 5
        assert sent < live.settings.send_queue  # the byte bound, not the frame bound
        with pytest.raises(ConnectionClosed):
            while True:  # what the kernel buffered, then the close
                await asyncio.wait_for(slow.recv(), 5)
        assert slow.close_code == 1013
    finally:  # a viewer that does not read would hold the server's shutdown
        slow.transport.abort()
    assert (await visitor.reply("ping"))["t"] == "pong"
