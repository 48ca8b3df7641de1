"""Bad input (contract §2): every bad frame gets the contract's error or close code, and a
conversation running alongside on the same server is not affected."""

from __future__ import annotations

import json

import msgpack
import pytest
from websockets.exceptions import InvalidStatus

from tests.client import Client, connect_agent, open_ws
from tests.conftest import Live, ServerFactory


@pytest.fixture
async def bystander(live: Live) -> tuple[Client, Client, str]:
    """A healthy dialogue that every test checks again at its end."""
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="I am unaffected"))["conversation"]["id"]
    await agent.event("assigned")
    return agent, visitor, cid


async def still_fine(pair: tuple[Client, Client, str]) -> None:
    agent, visitor, cid = pair
    sent = await visitor.request("msg", cid=cid, text="still fine?", cmid=f"ok-{id(pair)}")
    await agent.event("msg", seq=sent["seq"])
    answer = await agent.request("msg", cid=cid, text="yes", cmid=f"ack-{id(pair)}")
    await visitor.event("msg", seq=answer["seq"])


def raw(codec: str, frame: object) -> bytes | str:
    if codec == "chat.v1.msgpack":
        packed: bytes = msgpack.packb(frame, use_bin_type=True)
        return packed
    return json.dumps(frame)


async def test_undecodable_frames(
    live: Live, codec: str, bystander: tuple[Client, Client, str]
) -> None:
    visitor = await live.visitor(codec=codec)
    garbage: list[bytes | str] = (
        [b"\xc1", b"\x81\xa1t", b"\x93\x01\x02\x03", "text on a binary socket"]
        if codec == "chat.v1.msgpack"
        else ["{nope", "[1,2]", '"just a string"', b"\x00binary"]
    )
    for data in garbage:
        await visitor.send_raw(data)
        error = await visitor.event("error")
        assert error["code"] == "bad_frame" and "re" not in error
        assert "Traceback" not in error["message"]
    assert (await visitor.reply("ping"))["t"] == "pong"
    await still_fine(bystander)


async def test_schema_errors_answer_with_re(
    live: Live, codec: str, bystander: tuple[Client, Client, str]
) -> None:
    visitor = await live.visitor(codec=codec)
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    cases = [
        ({"t": "nope"}, "unknown_type"),
        ({"t": 5}, "bad_request"),
        ({"t": "msg", "cid": cid, "text": "x"}, "bad_request"),  # missing cmid
        ({"t": "msg", "cid": cid, "text": 12, "cmid": "a"}, "bad_request"),  # wrong type
        ({"t": "msg", "cid": [cid], "text": "x", "cmid": "a"}, "bad_request"),
        ({"t": "typing", "cid": cid, "on": "yes"}, "bad_request"),
        ({"t": "read", "cid": cid, "seq": True}, "bad_request"),
        ({"t": "msg", "cid": cid, "text": "x" * 4001, "cmid": "a"}, "too_large"),
        ({"t": "msg", "cid": cid, "text": "nul\x00", "cmid": "a"}, "bad_request"),
        ({"t": "msg", "cid": cid, "text": "   ", "cmid": "a"}, "bad_request"),
        ({"t": "start", "text": "x", "topic": "t" * 201}, "too_large"),
        ({"t": "rate", "cid": cid, "csat": 9}, "bad_request"),
        ({"t": "msg", "cid": "c_missing", "text": "x", "cmid": "a"}, "not_found"),
        ({"t": "claim", "cid": cid}, "unknown_type"),  # an agent frame on the visitor socket
        ({"t": "hello"}, "conflict"),  # a second hello
    ]
    for i, (frame, code) in enumerate(cases, start=100):
        await visitor.send_raw(raw(codec, {**frame, "id": i}))
        error = await visitor.event("error", re=i)
        assert error["code"] == code, (frame, error)
    await visitor.send_raw(raw(codec, {"t": "nope"}))
    assert "re" not in await visitor.event("error", code="unknown_type")
    await visitor.send_raw(raw(codec, {"t": "ping", "id": "str-id"}))
    assert (await visitor.event("pong"))["re"] == "str-id"
    await visitor.send_raw(raw(codec, {"t": "ping", "id": ["bad"]}))
    assert "re" not in await visitor.event("error", code="bad_request")
    await still_fine(bystander)


async def test_hello_first(live: Live, codec: str) -> None:
    client = await connect_agent(live.ws, codec=codec)
    live.clients.append(client)
    assert await client.error("status", state="online") == "unauthorized"
    assert await client.error("ping") == "unauthorized"
    from tests.client import connect_visitor

    visitor = await connect_visitor(
        live.ws, site="shop", origin="https://shop.example", codec=codec
    )
    live.clients.append(visitor)
    assert await visitor.error("start", text="hi") == "unauthorized"
    await visitor.request("hello")
    await visitor.request("start", text="now it works")


async def test_agent_without_auth_is_closed_4401(start_server: ServerFactory) -> None:
    live = await start_server(hello_timeout_s=0.5)
    silent = await connect_agent(live.ws, codec="chat.v1.json")
    live.clients.append(silent)
    assert await silent.close_code() == 4401
    wrong = await connect_agent(live.ws, codec="chat.v1.json")
    live.clients.append(wrong)
    answer = await wrong.reply("hello", token="cat_forged")
    assert answer["t"] == "error" and answer["code"] == "unauthorized"
    assert await wrong.close_code() == 4401
    anonymous = await connect_agent(live.ws, codec="chat.v1.json")
    live.clients.append(anonymous)
    await anonymous.reply("hello")
    assert await anonymous.close_code() == 4401


async def test_visitor_hello_timeout(start_server: ServerFactory) -> None:
    live = await start_server(hello_timeout_s=0.5)
    from tests.client import connect_visitor

    idle = await connect_visitor(
        live.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
    )
    live.clients.append(idle)
    assert await idle.close_code() == 4401


@pytest.mark.parametrize(
    ("site", "origin"),
    [
        ("shop", "https://evil.example"),
        ("shop", "http://shop.example"),  # scheme differs
        ("shop", "https://shop.example:8443"),  # port differs
        ("shop", None),
        ("nosuchsite", "https://shop.example"),
        ("", "https://shop.example"),
    ],
)
async def test_visitor_origin_refused_with_403(live: Live, site: str, origin: str | None) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(f"{live.ws}/ws/visitor?site={site}", codec="chat.v1.json", origin=origin)
    assert refused.value.response.status_code == 403


async def test_frame_over_the_cap_closes_1009(start_server: ServerFactory) -> None:
    live = await start_server(max_frame_bytes=64 * 1024)
    visitor = await live.visitor(codec="chat.v1.msgpack")
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    other = await live.visitor()
    await visitor.send_raw(
        msgpack.packb({"t": "msg", "cid": cid, "cmid": "big", "text": "x" * (70 * 1024)})
    )
    assert await visitor.close_code() == 1009
    assert (await other.reply("ping"))["t"] == "pong"


async def test_no_subprotocol_means_json(live: Live) -> None:
    ws = await open_ws(f"{live.ws}/ws/visitor?site=shop", codec=None, origin="https://shop.example")
    try:
        assert ws.subprotocol is None
        await ws.send(json.dumps({"t": "hello", "id": 1}))
        answer = json.loads(await ws.recv())
        assert answer["t"] == "ok" and answer["re"] == 1
    finally:
        await ws.close()


async def test_unknown_subprotocol_means_json(live: Live) -> None:
    ws = await open_ws(f"{live.ws}/ws/agent", codec="chat.v9.xml")
    try:
        await ws.send(json.dumps({"t": "ping", "id": 1}))
        assert json.loads(await ws.recv())["code"] == "unauthorized"
    finally:
        await ws.close()
