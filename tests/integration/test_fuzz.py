"""Hostile input at a live server (issue: security): thousands of random and mutated frames
in both encodings. The server never crashes, never leaks internals, answers every frame
that has an `id` exactly once, and a normal chat alongside keeps working."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_server.app import create_app
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.core import ids, tokens
from chat_server.core.clock import SystemClock
from chat_server.core.model import Agent, AgentRole, Site
from chat_server.server import uvicorn_config
from tests.client import connect_agent, connect_visitor, open_ws
from tests.conftest import free_port, password_hash, server_settings
from tests.http import http_client

pytestmark = [pytest.mark.slow, pytest.mark.long(15)]
ORIGIN = "https://shop.example"
TYPES = [
    "hello",
    "start",
    "msg",
    "typing",
    "read",
    "sync",
    "page",
    "close",
    "rate",
    "cobrowse",
    "ping",
    "status",
    "claim",
    "note",
    "transfer",
    "assign",
    "watch",
    "subscribe",
]
LEAKS = ("Traceback", 'File "', "sqlite", "redis.", "Error(", "/chat_server/")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.text(max_size=50)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.dictionaries(
    st.sampled_from(
        [
            "cid",
            "text",
            "cmid",
            "on",
            "preview",
            "seq",
            "after",
            "url",
            "title",
            "csat",
            "nps",
            "ces",
            "state",
            "to",
            "topic",
            "resolved",
            "stats",
            "op",
            "token",
            "name",
            "limit",
            "page",
            "x",
        ]
    ),
    json_values,
    max_size=6,
)
frames = st.builds(
    lambda t, body: {**body, "t": t}, st.sampled_from(TYPES) | st.text(max_size=12), fields
)


class ThreadServer:
    """The real app under uvicorn in a thread of its own (hypothesis drives it from sync
    test functions, one event loop per example)."""

    def __init__(self, data: Path) -> None:
        self.settings = server_settings(
            port=free_port(),
            data=data,
            chat_rate=1e6,
            chat_burst=10**6,
            # every example is a new socket (and visitor) from 127.0.0.1, faster than the
            # per-address defaults allow one client
            handshake_rate=1e6,
            handshake_burst=10**6,
            new_visitor_rate=1e6,
            new_visitor_burst=10**6,
            hello_timeout_s=30,
        )
        self.server = uvicorn.Server(uvicorn_config(self.settings, create_app(self.settings)))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}"


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, str]]:
    data = tmp_path_factory.mktemp("fuzz")
    token = tokens.new_secret_token("cat")

    async def seed() -> None:
        store = EmbeddedStore(data, LocalBus(), SystemClock())
        await store.start()
        await store.directory.put_site(Site("shop", (ORIGIN,)))
        agent = Agent(
            ids.agent_id(),
            "fuzz@x.example",
            "Fuzz",
            AgentRole.SUPERVISOR,
            2,
            password_hash=password_hash(),
        )
        await store.directory.add_agent(agent)
        await store.directory.add_credential(tokens.hash_secret(token), agent.id, "token", None)
        await store.stop()

    asyncio.run(seed())
    server = ThreadServer(data)
    server.start()
    yield server, token
    server.stop()
    assert not server.thread.is_alive()


async def exchange(
    server: ThreadServer, role: str, codec: str, batch: list[dict[str, Any]], token: str
) -> None:
    if role == "visitor":
        path, greet = "/ws/visitor?site=shop", {"t": "hello", "id": "greet"}
    else:
        path, greet = "/ws/agent", {"t": "hello", "id": "greet", "token": token}
    ws = await open_ws(server.ws + path, codec=codec, origin=ORIGIN)

    def encode(frame: Any) -> bytes | str:
        return msgpack.packb(frame) if codec == "chat.v1.msgpack" else json.dumps(frame)

    try:
        await ws.send(encode(greet))
        for i, frame in enumerate(batch):
            await ws.send(encode({**frame, "id": i}))
        answers: dict[Any, int] = {}
        deadline = asyncio.get_running_loop().time() + 10
        while len([k for k in answers if isinstance(k, int)]) < len(batch):
            remaining = deadline - asyncio.get_running_loop().time()
            raw = await asyncio.wait_for(ws.recv(), max(0.01, remaining))
            reply = msgpack.unpackb(raw) if isinstance(raw, bytes) else json.loads(raw)
            assert isinstance(reply, dict) and isinstance(reply.get("t"), str)
            if reply["t"] == "error":
                assert not any(leak in reply["message"] for leak in LEAKS), reply
            if reply["t"] in {"ok", "error", "pong"} and "re" in reply:
                answers[reply["re"]] = answers.get(reply["re"], 0) + 1
        with_duplicates = {k: n for k, n in answers.items() if n != 1}
        assert not with_duplicates, with_duplicates
    finally:
        await ws.close()


@pytest.mark.parametrize("role", ["visitor", "agent"])
@pytest.mark.parametrize("codec", ["chat.v1.json", "chat.v1.msgpack"])
def test_random_frames(fuzz_target: tuple[ThreadServer, str], role: str, codec: str) -> None:
    server, token = fuzz_target

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.lists(frames, min_size=20, max_size=40))
    def run(batch: list[dict[str, Any]]) -> None:
        asyncio.run(exchange(server, role, codec, batch, token))

    run()
    asyncio.run(check_still_serving(server, token))


async def check_still_serving(server: ThreadServer, token: str) -> None:
    """After the storm: the process is up and a normal dialogue works end to end."""
    async with http_client() as http:
        health = await http.get(f"http://127.0.0.1:{server.settings.port}/healthz")
        assert health.status_code == 200
    agent = await connect_agent(server.ws, codec="chat.v1.msgpack")
    visitor = await connect_visitor(server.ws, site="shop", origin=ORIGIN, codec="chat.v1.json")
    try:
        me = (await agent.request("hello", token=token))["agent"]["id"]
        await visitor.request("hello")
        cid = (await visitor.request("start", text="still fine?"))["conversation"]["id"]
        await agent.request("assign", cid=cid, to=me)
        sent = await visitor.request("msg", cid=cid, text="hello after the storm", cmid="b1")
        assert (await agent.event("msg", seq=sent["seq"]))["text"] == "hello after the storm"
        reply = await agent.request("msg", cid=cid, text="all good", cmid="b2")
        await visitor.event("msg", seq=reply["seq"])
        await agent.request("close", cid=cid, resolved=True)
    finally:
        await agent.close()
        await visitor.close()
