"""Issue 21, flaw 1: strings from the network are valid Unicode, and one frame that cannot
be encoded never stops delivery. A lone UTF-16 surrogate (JSON `"\\ud800"`) used to pass
validation, be stored, and then break every later encode: agents' `hello`, the queue
announcements, `GET /api/conversations`, and delivery to JSON sockets."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.records import conversation_to_dict
from chat_server.core import ids
from chat_server.core.clock import SystemClock
from chat_server.core.model import Conversation, Site, State
from tests.client import Client, open_ws
from tests.conftest import Live, ServerFactory
from tests.http import http_client

SURROGATE = "\ud800"
ORIGIN = "https://shop.example"


async def raw_reply(client: Client, frame: dict[str, Any]) -> dict[str, Any]:
    """Send `frame` as JSON text with escapes (as a browser's JSON.stringify would write a
    lone surrogate) and return the answer to its id."""
    assert client.codec == "chat.v1.json"
    frame_id = next(client.ids)
    future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    client.replies[frame_id] = future
    await client.send_raw(json.dumps({**frame, "id": frame_id}))  # ensure_ascii: "\ud800"
    return await asyncio.wait_for(future, 5)


async def queued(live: Live, token: str) -> list[dict[str, Any]]:
    async with http_client(base_url=live.base) as http:
        answer = await http.get(
            "/api/conversations",
            params={"state": "queued"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 200, answer.text
    conversations: list[dict[str, Any]] = answer.json()["conversations"]
    return conversations


async def test_a_lone_surrogate_in_start_is_refused_and_nothing_breaks(live: Live) -> None:
    watcher = await live.agent(name="Watcher", max_chats=0)  # sees the queue, gets nothing
    visitor = await live.visitor()
    answer = await raw_reply(visitor, {"t": "start", "text": "hi", "topic": SURROGATE})
    assert answer["t"] == "error" and answer["code"] == "bad_request", answer
    assert "Unicode" in answer["message"]

    late = await live.agent(name="Late", max_chats=0)  # hello still completes
    assert late.hello["t"] == "ok"
    assert await queued(live, await live.token(late.agent)) == []
    other = await live.visitor()
    cid = (await other.request("start", text="still served?"))["conversation"]["id"]
    for agent in (watcher, late):  # the queue announcements still reach agents
        await agent.event("queue", timeout=5)
    assert [c["id"] for c in await queued(live, await live.token(late.agent))] == [cid]


async def test_a_lone_surrogate_in_typing_does_not_stop_json_delivery(live: Live) -> None:
    agent = await live.agent(codec="chat.v1.json")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hello"))["conversation"]["id"]
    await agent.event("assigned")
    answer = await raw_reply(visitor, {"t": "typing", "cid": cid, "on": True, "preview": SURROGATE})
    assert answer["t"] == "error" and answer["code"] == "bad_request", answer
    sent = await visitor.request("msg", cid=cid, text="after the bad preview", cmid="m1")
    assert (await agent.event("msg", seq=sent["seq"]))["text"] == "after the bad preview"


async def test_surrogates_in_keys_and_nested_payloads_are_refused(live: Live) -> None:
    visitor = await live.visitor()
    frames: list[dict[str, Any]] = [
        {"t": "hello", "name": SURROGATE},
        {"t": "ping", SURROGATE: 1},
        {"t": "ping", "x": [{"y": {"z": "ok" + SURROGATE}}]},
        {"t": "page", "url": "https://shop.example/", "title": "\udfff"},
    ]
    for frame in frames:
        answer = await raw_reply(visitor, frame)
        assert answer["t"] == "error" and answer["code"] == "bad_request", (frame, answer)
    assert (await visitor.reply("ping"))["t"] == "pong"  # the socket stays open


async def test_a_surrogate_in_the_id_gets_an_error_without_re(live: Live) -> None:
    visitor = await live.visitor()
    await visitor.send_raw(json.dumps({"t": "ping", "id": "x" + SURROGATE}))
    error = await visitor.event("error")
    assert error["code"] == "bad_request" and "re" not in error
    assert (await visitor.reply("ping"))["t"] == "pong"


async def test_non_characters_rtl_marks_and_astral_text_are_accepted(live: Live) -> None:
    agent = await live.agent(codec="chat.v1.msgpack")
    visitor = await live.visitor()
    text = "\ufffe\uffff\ufdd0 \u202eabc\u202c \U0001f600 \U0010ffff"
    cid = (await visitor.request("start", text=text, topic="\u200f"))["conversation"]["id"]
    assigned = await agent.event("assigned")
    assert assigned["messages"][0]["text"] == text
    sent = await raw_reply(visitor, {"t": "msg", "cid": cid, "text": text, "cmid": "n1"})
    assert sent["t"] == "ok"
    assert (await agent.event("msg", seq=sent["seq"]))["text"] == text


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_bad_strings_stored_before_the_fix_do_not_brick_hello_or_rest(
    start_server: ServerFactory, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A conversation whose stored JSON holds a lone surrogate (as `start {topic}` could
    store before this fix): agents still say hello, REST still answers, the queue is still
    announced, and the bad character is shown as U+FFFD."""
    data = tmp_path / "data0"
    store = EmbeddedStore(data, LocalBus(), SystemClock())
    await store.start()
    await store.directory.put_site(Site("shop", ("https://shop.example",)))
    await store.stop()
    cid = ids.new_id("c")
    conv = Conversation(
        cid, "shop", "v_legacy", State.QUEUED, 1, last_seq=1, topic=SURROGATE + "topic"
    )
    with sqlite3.connect(data / "chat.sqlite3") as db:
        db.execute(
            "INSERT INTO conversations (id, visitor_id, state, agent_id, created, data) "
            "VALUES (?, ?, 'queued', NULL, 1, ?)",
            (cid, "v_legacy", json.dumps(conversation_to_dict(conv))),
        )
        db.execute(
            "INSERT INTO messages (cid, seq, ts, kind, role, sender_id, sender_name, text, cmid)"
            " VALUES (?, 1, 1, 'text', 'visitor', 'v_legacy', NULL, 'hello', NULL)",
            (cid,),
        )
    caplog.set_level(logging.WARNING, logger="chat_server")
    live = await start_server()
    for codec in ("chat.v1.json", "chat.v1.msgpack"):
        agent = await live.agent(codec=codec, max_chats=0)
        waiting = agent.hello["waiting"]
        assert [w["topic"] for w in waiting] == ["\ufffdtopic"]
    token = await live.token(agent.agent)
    assert [c["topic"] for c in await queued(live, token)] == ["\ufffdtopic"]
    visitor = await live.visitor()
    await visitor.request("start", text="a new one")
    await agent.event("queue", timeout=5)
    assert any("lone surrogate" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_a_text_frame_that_is_not_utf8_closes_1007_with_one_info_line(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can send invalid UTF-8: uvicorn logged each as an ERROR with a traceback."""
    caplog.set_level(logging.INFO)
    uvicorn_log = logging.getLogger("uvicorn.error")  # uvicorn's loggers do not propagate
    uvicorn_log.addHandler(caplog.handler)
    try:
        ws = await open_ws(f"{live.ws}/ws/visitor?site=shop", codec=None, origin=ORIGIN)
        await ws.send(b'{"t": "ping", "x": "\xff"}', text=True)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1007
    finally:
        uvicorn_log.removeHandler(caplog.handler)
    lines = [r for r in caplog.records if "not UTF-8" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in lines] == [(logging.INFO, None)]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    bystander = await live.visitor()
    assert (await bystander.reply("ping"))["t"] == "pong"


async def test_a_lone_surrogate_in_a_login_body_is_bad_request(live: Live) -> None:
    async with http_client(base_url=live.base) as http:
        for fields in (
            {"email": "a\ud800@x.example", "password": "p"},
            {"email": "a@x", "password": "\udfff"},
        ):
            answer = await http.post("/api/login", content=json.dumps(fields))  # "\ud800"
            assert (answer.status_code, answer.json()) == (400, {"error": "bad_request"})
        form = await http.post(  # percent-encoded surrogate bytes decode to U+FFFD: a wrong email
            "/api/login",
            content=b"email=a%ED%A0%80%40x&password=secret-enough",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert form.status_code == 401
