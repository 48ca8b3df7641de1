"""Issue 14 end to end, both backends: offline messages (`leave`), the agents' pending list,
claiming one, the visitor coming back to the answer (`conversation`, then `last`), pending
surviving a restart (embedded) or seen by another node (Redis) and the visitor timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from chat_server.app import create_app
from chat_server.core.clock import ManualClock
from chat_server.core.model import Hours, Site, State
from chat_server.server import uvicorn_config
from tests.client import connect_visitor
from tests.conftest import Live, ServerFactory, listening_socket, redis_like, server_settings

FAST: dict[str, Any] = {"sweep_interval_s": 0.05, "queue_interval_s": 0.05}


async def test_an_offline_message_is_claimed_and_the_visitor_comes_back_to_the_answer(
    start_server: ServerFactory,
) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, visitor_timeout_s=60, **FAST)
    alice = await live.agent(name="Alice")
    vera = await live.visitor()
    token = vera.hello["token"]
    assert vera.hello["last"] is None
    left = await vera.request(
        "leave", email="vera@example.com", name="Vera", text="Do you ship to Norway?"
    )
    conv = left["conversation"]
    cid = conv["id"]
    assert (conv["state"], conv["last_seq"]) == ("pending", 1)
    assert conv["visitor"]["email"] == "vera@example.com"

    event = await alice.event("pending")
    (entry,) = event["pending"]
    assert entry["cid"] == cid and entry["preview"] == "Do you ship to Norway?"
    assert entry["visitor"] == {"name": "Vera", "email": "vera@example.com"}
    await alice.no_event("assigned", within=0.3)  # never routed, though Alice is free
    await vera.close()

    # gone longer than the visitor timeout: an offline message stays open
    clock.advance(120)
    await asyncio.sleep(0.3)
    bob = await live.agent(name="Bob")
    assert [p["cid"] for p in bob.hello["pending"]] == [cid]
    assert bob.hello["pending"][0]["waited_s"] == 120
    assert bob.hello["waiting"] == []

    claimed = await alice.request("claim", cid=cid)
    assert claimed["conversation"]["state"] == "active"
    assert (await alice.event("pending"))["pending"] == []
    answer = await alice.request("msg", cid=cid, text="We do!", cmid="a-1")

    back = await live.visitor(token=token)
    assert back.hello["conversation"]["id"] == cid
    assert back.hello["conversation"]["state"] == "active" and back.hello["last"] is None
    synced = await back.request("sync", cid=cid, after=0)
    assert synced["messages"][-1]["text"] == "We do!"
    await back.close()

    await alice.request("close", cid=cid, resolved=True)
    again = await live.visitor(token=token)
    assert again.hello["conversation"] is None
    last = again.hello["last"]
    assert last["id"] == cid and last["state"] == "closed" and last["last_seq"] >= answer["seq"]
    synced = await again.request("sync", cid=cid, after=0)
    assert "We do!" in [m["text"] for m in synced["messages"]]

    # a week later it is no longer shown
    clock.advance(7 * 86_400 + 1)
    await again.close()
    later = await live.visitor(token=await fresh_token(live, token))
    assert later.hello["last"] is None


async def fresh_token(live: Live, token: str) -> str:
    """The visitor's token expires with the week: a new one for the same visitor."""
    from chat_server.core import tokens

    node = live.runtime.node
    vid = tokens.verify_visitor(node.secret, token, "shop", 0)
    assert vid is not None
    return tokens.sign_visitor(node.secret, vid, "shop", node.clock.now_ms() + 3_600_000)


async def test_leave_turns_a_queued_conversation_pending(start_server: ServerFactory) -> None:
    live = await start_server(**FAST)
    vera = await live.visitor()
    started = await vera.request("start", text="Anyone there?")
    cid = started["conversation"]["id"]
    assert started["conversation"]["state"] == "queued"

    assert await vera.error("leave", email="not-an-email", cid=cid) == "bad_request"
    assert await vera.error("leave", email="v@example.com", text="x") == "conflict"  # one open
    left = await vera.request("leave", email="vera@example.com", cid=cid, text="Call me back")
    assert left["conversation"]["state"] == "pending"
    line = await vera.event("msg", cid=cid, seq=2)
    assert line["kind"] == "event"
    assert line["text"] == "We'll answer here and by email at vera@example.com."
    assert left["conversation"]["last_seq"] == 3
    assert left["conversation"]["visitor"]["email"] == "vera@example.com"

    ann = await live.agent(name="Ann")
    assert ann.hello["waiting"] == []
    assert [p["cid"] for p in ann.hello["pending"]] == [cid]
    assert ann.hello["pending"][0]["preview"] == "Anyone there?"
    # the visitor can still write in it
    await vera.request("msg", cid=cid, text="my number is 123", cmid="v-9")
    other = await live.visitor()
    assert await other.error("leave", email="o@example.com", cid=cid) == "not_found"
    assert await other.error("leave", email="o@example.com") == "bad_request"  # no text


async def test_pending_survives_a_restart_or_shows_on_another_node(
    start_server: ServerFactory, backend: str, tmp_path: Path
) -> None:
    if redis_like(backend):
        live = await start_server(**FAST)
        vera = await live.visitor()
        cid = (await vera.request("leave", email="v@example.com", text="hi"))["conversation"]["id"]
        second = await start_server(**FAST)
        ann = await second.agent(name="Ann")
        assert [p["cid"] for p in ann.hello["pending"]] == [cid]
        await ann.request("claim", cid=cid)
        await vera.event("assigned", cid=cid)
        return
    data = tmp_path / "kept"
    async with serving(data) as first:
        vera = await first.visitor()
        cid = (await vera.request("leave", email="v@example.com", text="hi"))["conversation"]["id"]
        token = vera.hello["token"]
    async with serving(data) as second:
        ann = await second.agent(name="Ann")
        assert [p["cid"] for p in ann.hello["pending"]] == [cid]
        back = await second.visitor(token=token)
        assert back.hello["conversation"]["state"] == "pending"


@contextlib.asynccontextmanager
async def serving(data: Path) -> AsyncIterator[Live]:
    """An embedded server on `data`, stopped (and so restartable on it) at the end."""
    sock, port = listening_socket()
    settings = server_settings(port=port, data=data, **FAST)
    app = create_app(settings, None)
    server = uvicorn.Server(uvicorn_config(settings, app))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "server did not start"
        await asyncio.sleep(0.01)
    live = Live(settings, app.state.runtime)
    await live.store.directory.put_site(Site("shop", ("https://shop.example",)))
    try:
        yield live
    finally:
        for client in live.clients:
            await client.close()
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.mark.slow  # about 5 s embedded, 11 s Redis
@pytest.mark.long(20)
async def test_a_thousand_offline_messages_in_a_minute_lose_none(
    start_server: ServerFactory,
) -> None:
    """A closed site with 1,000 offline messages arriving in a minute loses none: 100
    sockets at once, each for 10 visitors one after another, half of them writing as if
    for a chat (`start`: the closed site makes it pending) and half with the offline form
    (`leave`). The per-address rates are raised: here every visitor comes from 127.0.0.1."""
    live = await start_server(
        handshake_rate=10_000,
        handshake_burst=10_000,
        new_visitor_rate=10_000,
        new_visitor_burst=10_000,
        max_connections_per_address=1_000,
    )
    site = await live.store.directory.site("shop")
    assert site is not None
    await live.store.directory.put_site(replace(site, hours=Hours("UTC", ((),) * 7)))
    loop = asyncio.get_running_loop()
    began = loop.time()

    async def visitors(lane: int) -> list[str]:
        cids = []
        for i in range(10):
            client = await connect_visitor(
                live.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
            )
            try:
                hello = await client.request("hello")
                assert hello["availability"]["open"] is False
                text = f"message {lane}-{i}"
                if i % 2:
                    left = await client.request("start", text=text)
                else:
                    left = await client.request(
                        "leave", email=f"v{lane}-{i}@example.com", text=text
                    )
                assert left["conversation"]["state"] == "pending"
                cids.append(left["conversation"]["id"])
            finally:
                await client.close()
        return cids

    lanes = await asyncio.gather(*(visitors(lane) for lane in range(100)))
    took = loop.time() - began
    assert took < 60, took
    cids = {cid for lane in lanes for cid in lane}
    assert len(cids) == 1000
    stored = await live.store.conversations.find(state=State.PENDING, limit=2000)
    assert {c.id for c in stored} == cids
    texts: dict[str, Any] = {}
    for conv in stored:
        first, _ = await live.store.conversations.history(conv.id, 0, 1, notes=False)
        texts[conv.id] = first[0].text
    assert sorted(texts.values()) == sorted(
        f"message {a}-{i}" for a in range(100) for i in range(10)
    )
    assert len(await live.store.conversations.pending()) == 200  # the list agents get
