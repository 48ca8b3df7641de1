"""Issue 21: arbitrary Unicode (lone surrogates, non-characters, NUL, bidi marks, astral
characters) in every string field of every client frame and every REST body, on both
backends, against one running server per backend. After each batch the node, a bystander
conversation, `GET /api/conversations` and a fresh agent `hello` are unaffected.

The frames are built from the schemas in `chat_server/protocol/frames.py`: every frame
type of both roles, every string field (nested ones too) fuzzed, every other field given
a valid value so the strings reach the services and the stores. A new frame or field is
covered without touching this file. REST: every POST/PUT route of the app, with a JSON
and a form body, and the list and detail routes with fuzzed query strings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import threading
import time
import typing
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import msgpack
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from chat_server.app import create_app
from chat_server.config import Settings
from chat_server.core import ids, tokens
from chat_server.core.model import Agent, AgentRole, Site
from chat_server.protocol import frames as schemas
from chat_server.protocol.codec import is_text
from chat_server.protocol.schema import base_type
from chat_server.server import uvicorn_config
from tests.client import Client, open_ws
from tests.conftest import backend_url, free_port, password_hash, redis_like, server_settings
from tests.http import http_client

ORIGIN = "https://shop.example"
T = TypeVar("T")
LEAKS = ("Traceback", 'File "', "sqlite", "redis.", "Error(", "/chat_server/")
SPECIAL = [
    "\ud800",
    "\udfff",
    "a\udc80b",
    "\ud83d",  # half of an emoji, as `slice` in JavaScript can leave it
    "\ufffe",
    "\uffff",
    "\ufdd0",
    "\U0010ffff",
    "\x00",
    "\u202e",
    "\u200f",
    "\u2066x\u2069",
    "\U0001f600",
    "\ufeff",
    "",
    " ",
]
unicode = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(SPECIAL)
"""Any code point, surrogates included (hypothesis leaves them out by default)."""


# --- one server per backend, in a thread of its own ---------------------------------------


class ThreadServer:
    """The real app under uvicorn on its own event loop and thread: hypothesis runs
    examples from a synchronous test, and the server outlives them all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.server = uvicorn.Server(uvicorn_config(settings, self.app))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.02)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the server's loop (its store belongs to it)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}"


class Errors(logging.Handler):
    """Every ERROR the server's code logs (an exception in a handler, a failed encode)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclasses.dataclass
class Target:
    """A running server, the client loop driving it, and the bystander chat."""

    server: ThreadServer
    loop: asyncio.AbstractEventLoop
    supervisor: Agent
    supervisor_token: str
    agent_token: str
    bystanders: tuple[Client, Client, str] | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


def _limits() -> dict[str, Any]:
    """Rates and per-address caps that this one client, opening a few sockets and logins
    per example, would hit (only those this version of Settings has)."""
    wanted = {
        "chat_rate": 1e6,
        "chat_burst": 10**6,
        "cobrowse_rate": 1e6,
        "cobrowse_burst": 10**6,
        "abuse_refusals": 10**6,
        "login_attempts": 10**6,
        "handshake_rate": 1e6,
        "handshake_burst": 10**6,
        "new_visitor_rate": 1e6,
        "new_visitor_burst": 10**6,
    }
    names = {f.name for f in dataclasses.fields(Settings)}
    return {k: v for k, v in wanted.items() if k in names}


@pytest.fixture(scope="module", params=["embedded", "redis", "cluster"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    overrides: dict[str, Any] = {"data": tmp_path_factory.mktemp("unicode")}
    if redis_like(request.param):
        url = backend_url(request.param, request)
        overrides |= {"redis_url": url, "redis_prefix": ids.new_id("u")}
    settings = server_settings(port=free_port(), **overrides, **_limits())
    server = ThreadServer(settings)
    errors = Errors()
    logging.getLogger("chat_server").addHandler(errors)
    server.start()
    loop = asyncio.new_event_loop()
    client_thread = threading.Thread(target=loop.run_forever, daemon=True)
    client_thread.start()
    store = server.app.state.runtime.node.store
    supervisor = agent_record("Fuzz", AgentRole.SUPERVISOR, 0)
    bystander = agent_record("Bystander", AgentRole.AGENT, 1)
    supervisor_token, agent_token = tokens.new_secret_token("cat"), tokens.new_secret_token("cat")

    async def seed() -> None:
        await store.directory.put_site(Site("shop", (ORIGIN,)))
        for agent, token in ((supervisor, supervisor_token), (bystander, agent_token)):
            await store.directory.add_agent(agent)
            await store.directory.add_credential(tokens.hash_secret(token), agent.id, "token", None)

    server.call(seed())
    found = Target(server, loop, supervisor, supervisor_token, agent_token)
    found.bystanders = found.run(bystander_chat(found))
    yield found
    found.run(close_bystanders(found))
    loop.call_soon_threadsafe(loop.stop)
    client_thread.join(5)
    server.stop()
    logging.getLogger("chat_server").removeHandler(errors)
    assert not server.thread.is_alive()
    assert [r.getMessage() for r in errors.records] == []


def agent_record(name: str, role: AgentRole, max_chats: int) -> Agent:
    return Agent(
        ids.agent_id(),
        f"{name.lower()}-{ids.new_id('x')}@test.example",
        name,
        role,
        max_chats,
        password_hash=password_hash(),
    )


# --- clients that can send what a browser's JSON.stringify or a sloppy packer would --------


class FuzzClient(Client):
    """msgpack frames packed with `surrogatepass`: a lone surrogate goes out as the (not
    UTF-8) bytes a careless client would send. JSON writes it as a `\\ud800` escape."""

    def encode(self, frame: dict[str, Any]) -> bytes | str:
        if self.codec == "chat.v1.msgpack":
            packed: bytes = msgpack.packb(frame, use_bin_type=True, unicode_errors="surrogatepass")
            return packed
        return json.dumps(frame)


async def connect(target: Target, path: str, codec: str) -> FuzzClient:
    ws = await open_ws(f"{target.server.ws}{path}", codec=codec, origin=ORIGIN)
    return FuzzClient(ws, codec)


async def bystander_chat(target: Target) -> tuple[Client, Client, str]:
    agent = await connect(target, "/ws/agent", "chat.v1.msgpack")
    await agent.request("hello", token=target.agent_token)
    await agent.request("status", state="online")
    visitor = await connect(target, "/ws/visitor?site=shop", "chat.v1.json")
    await visitor.request("hello", name="Bystander")
    cid = (await visitor.request("start", text="I am just chatting"))["conversation"]["id"]
    await agent.event("assigned", timeout=10)
    return visitor, agent, cid


async def close_bystanders(target: Target) -> None:
    assert target.bystanders is not None
    for client in target.bystanders[:2]:
        await client.close()


# --- frames built from the schemas -----------------------------------------------------------


def string_fields(schema: type, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every string field of a frame schema, nested ones included."""
    hints = typing.get_type_hints(schema)
    paths: list[tuple[str, ...]] = []
    for f in dataclasses.fields(schema):
        kind = base_type(hints[f.name])
        if kind is str:
            paths.append((*prefix, f.name))
        elif dataclasses.is_dataclass(kind):
            paths += string_fields(kind, (*prefix, f.name))  # type: ignore[arg-type]
    return paths


def valid_body(schema: type, cid: str) -> dict[str, Any]:
    """A body that passes the schema: the strings are replaced by fuzz afterwards."""
    hints = typing.get_type_hints(schema)
    body: dict[str, Any] = {}
    for f in dataclasses.fields(schema):
        kind = base_type(hints[f.name])
        if kind is bool:
            body[f.name] = True
        elif kind is int:
            body[f.name] = f.metadata.get("range", (0, 0))[0]
        elif kind is str:
            body[f.name] = cid if f.name == "cid" else "x"
        elif dataclasses.is_dataclass(kind):
            body[f.name] = valid_body(kind, cid)  # type: ignore[arg-type]
    return body


def set_path(body: dict[str, Any], path: tuple[str, ...], value: str) -> None:
    for key in path[:-1]:
        body = body[key]
    body[path[-1]] = value


def order(types: dict[str, type]) -> list[str]:
    """Every frame type of a role: `hello` and `start` first, `close` and `rate` last (the
    conversation stays open for the others)."""
    first = [t for t in ("hello", "start") if t in types]
    last = [t for t in ("close", "rate") if t in types]
    return [*first, *sorted(t for t in types if t not in {*first, *last}), *last]


COBROWSE_EXTRAS: dict[str, Any] = {
    "visitor": lambda s: {"op": "events", "events": [{"type": 3, "data": {s: s, "t": [s]}}]},
    "agent": lambda s: {"op": "highlight", "selector": s},
}


@dataclasses.dataclass
class Batch:
    """One example: a codec per role and a fuzz string for each field of each frame."""

    visitor_codec: str
    agent_codec: str
    strings: list[str]
    keep: list[bool]
    """Per frame: whether `cid` keeps its valid value (most do, to reach the service)."""

    def draw(self, i: int) -> str:
        return self.strings[i % len(self.strings)]


batches = st.builds(
    Batch,
    st.sampled_from(["chat.v1.json", "chat.v1.msgpack"]),
    st.sampled_from(["chat.v1.json", "chat.v1.msgpack"]),
    st.lists(unicode, min_size=8, max_size=40),
    st.lists(st.booleans() | st.just(True), min_size=8, max_size=8),
)


def fuzzed_frames(role: str, cid: str, batch: Batch, start: int) -> list[dict[str, Any]]:
    types = schemas.VISITOR_FRAMES if role == "visitor" else schemas.AGENT_FRAMES
    out: list[dict[str, Any]] = []
    n = start
    for t in order(types):
        schema = types[t]
        body = valid_body(schema, cid)
        for path in string_fields(schema):
            if not (path == ("cid",) and batch.keep[n % len(batch.keep)]):
                set_path(body, path, batch.draw(n))
            n += 1
        body["_" + batch.draw(n + 1)] = batch.draw(n + 2)  # an unknown field: ignored
        out.append({**body, "t": t})
        if t == "cobrowse":  # and an op whose payload is relayed, fuzz inside
            out.append({"t": t, "cid": cid, **COBROWSE_EXTRAS[role](batch.draw(n))})
        n += 3
    return out


def has_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return not is_text(value)
    if isinstance(value, dict):
        return any(has_bad_text(k) or has_bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_bad_text(v) for v in value)
    return False


# --- one example ----------------------------------------------------------------------------


async def exchange(target: Target, batch: Batch) -> None:
    """A visitor and the supervisor send every frame of their roles with fuzzed strings
    in one conversation; every frame gets its one answer, none `unavailable`."""
    visitor = await connect(target, "/ws/visitor?site=shop", batch.visitor_codec)
    agent = await connect(target, "/ws/agent", batch.agent_codec)
    try:
        await agent.request("hello", token=target.supervisor_token)
        hello, start = fuzzed_frames("visitor", "", batch, 0)[:2]
        if not ok(await answered(visitor, hello)):
            await visitor.request("hello")
        started = await answered(visitor, start)
        if not ok(started):
            started = await visitor.request("start", text="fuzz")
        assert started is not None
        cid = started["conversation"]["id"]
        await agent.request("assign", cid=cid, to=target.supervisor.id)
        await agent.request("cobrowse", cid=cid, op="request")
        await visitor.request("cobrowse", cid=cid, op="accept")
        *visitor_frames, visitor_close, rate = fuzzed_frames("visitor", cid, batch, 0)[2:]
        for frame in visitor_frames:
            await answered(visitor, frame)
        *agent_frames, agent_close = fuzzed_frames("agent", cid, batch, 5)[1:]
        for frame in agent_frames:
            await answered(agent, frame)
        # back to the queue with a fuzzed topic: the queue is announced to every agent
        await answered(agent, {"t": "transfer", "cid": cid, "topic": batch.draw(9)})
        for frame in (visitor_close, agent_close, rate):
            await answered(visitor if frame is not agent_close else agent, frame)
        await agent.reply("close", cid=cid, resolved=False)  # if the fuzzed ones did not
        await fuzzed_agent_hello(target, batch)
    finally:
        await visitor.close()
        await agent.close()


def ok(answer: dict[str, Any] | None) -> bool:
    return answer is not None and answer["t"] == "ok"


async def answered(client: Client, frame: dict[str, Any]) -> dict[str, Any] | None:
    """Send `frame` and return its answer. A lone surrogate must be refused (`bad_request`
    with `re` in JSON; in msgpack it is not UTF-8: `bad_frame`, no `re`, None here), and
    nothing is `unavailable` (the server failing)."""
    bad = has_bad_text(frame)
    if bad and client.codec == "chat.v1.msgpack":
        await client.send({**frame, "id": 0})
        error = await client.event("error", code="bad_frame")
        assert "re" not in error
        return None
    answer = await client.reply(frame["t"], **{k: v for k, v in frame.items() if k != "t"})
    if answer["t"] == "error":
        assert answer["code"] != "unavailable", (frame, answer)
        assert not any(leak in answer["message"] for leak in LEAKS), answer
    if bad:
        assert answer["t"] == "error" and answer["code"] == "bad_request", (frame, answer)
    return answer


async def fuzzed_agent_hello(target: Target, batch: Batch) -> None:
    """`hello {token}` with a fuzzed token, on a socket of its own (a bad token closes it)."""
    agent = await connect(target, "/ws/agent", batch.agent_codec)
    try:
        await answered(agent, {"t": "hello", "token": batch.draw(3), "_" + batch.draw(4): 1})
    finally:
        await agent.close()


async def rest(target: Target, batch: Batch) -> None:
    """Every POST/PUT route with JSON and form bodies of fuzz; list and detail routes with
    fuzzed query strings and paths: never a 500, always JSON."""
    writes = [
        (method, r.path)
        for r in target.server.app.routes
        if isinstance(r, Route) and r.methods
        for method in sorted(r.methods & {"POST", "PUT"})
    ]
    assert ("POST", "/api/login") in writes
    assert ("PUT", "/api/sites/{site}/settings") in writes
    auth = {"Authorization": f"Bearer {target.supervisor_token}", "Origin": target.server.base}
    # a connection per request: reusing a pooled one after a POST now and then met the
    # server closing it ("Server disconnected without sending a response"), a keep-alive
    # race of the HTTP edge that this test is not about
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with http_client(base_url=target.server.base, headers=auth, limits=fresh) as http:
        for i, (method, route) in enumerate(writes):
            # a path parameter of fuzz, kept in its one segment (no "/", no dot-segment)
            param = q("s" + batch.draw(i + 3).replace("/", "_"))
            path = re.sub(r"\{[^}]+\}", param, route)  # percent-encoded: no backslash
            fields = {"email": batch.draw(i), "password": batch.draw(i + 1), batch.draw(i + 2): ""}
            body = json.dumps(fields).encode()
            form = "&".join(f"{q(k)}={q(v)}" for k, v in fields.items()).encode()
            for content, kind in (
                (body, "application/json"),
                (form, "application/x-www-form-urlencoded"),
            ):
                answer = await http.request(
                    method, path, content=content, headers={"Content-Type": kind}
                )
                assert answer.status_code < 500, (path, fields, answer.text)
                answer.json()
        for path in ("/api/conversations", "/api/stats", "/api/audit", "/api/agents"):
            query = "&".join(
                f"{name}={q(batch.draw(i))}"
                for i, name in enumerate(("state", "agent", "visitor", "topic", "cid", "window"))
            )
            answer = await http.get(f"{path}?{query}")
            assert answer.status_code < 500, (path, query, answer.text)
            answer.json()
        answer = await http.get(f"/api/conversations/{q(batch.draw(5))}")
        assert answer.status_code < 500  # a "/" in it misses the route: Starlette's 404


def q(value: str) -> str:
    """Percent-encoded as a client that does not care would: surrogates as their bytes."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


# --- after each batch ----------------------------------------------------------------------


async def unaffected(target: Target) -> None:
    """The node answers, the bystanders still chat, the queue reads as JSON of valid text,
    and a fresh agent's `hello` completes."""
    async with http_client(base_url=target.server.base) as http:
        for path in ("/healthz", "/readyz"):
            assert (await http.get(path)).status_code == 200, path
        queued = await http.get(
            "/api/conversations",
            params={"state": "queued", "limit": "500"},
            headers={"Authorization": f"Bearer {target.supervisor_token}"},
        )
        assert queued.status_code == 200, queued.text
        assert not has_bad_text(json.loads(queued.content.decode("utf-8")))
    assert target.bystanders is not None
    visitor, agent, cid = target.bystanders
    sent = await visitor.request("msg", cid=cid, text="still there?", cmid=ids.new_id("m"))
    assert (await agent.event("msg", seq=sent["seq"], timeout=10))["text"] == "still there?"
    reply = await agent.request("msg", cid=cid, text="yes", cmid=ids.new_id("m"))
    await visitor.event("msg", seq=reply["seq"], timeout=10)
    visitor.drop_events()
    agent.drop_events()
    for codec in ("chat.v1.json", "chat.v1.msgpack"):
        fresh = await connect(target, "/ws/agent", codec)
        try:
            hello = await fresh.request("hello", token=target.supervisor_token)
            assert not has_bad_text(hello)
        finally:
            await fresh.close()


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.long(18)
def test_arbitrary_unicode_everywhere_leaves_the_node_serving(target: Target) -> None:
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batches)
    def run(batch: Batch) -> None:
        target.run(exchange(target, batch))
        target.run(rest(target, batch))
        target.run(unaffected(target))

    run()


def test_every_string_field_of_every_frame_is_fuzzed() -> None:
    """The generator itself: each frame type of both roles is sent, and every string field
    (nested `page.url` too) carries the fuzz, `cid` only when a batch says so."""
    batch = Batch("chat.v1.json", "chat.v1.json", ["\ud800"], [False])
    for role, types in (("visitor", schemas.VISITOR_FRAMES), ("agent", schemas.AGENT_FRAMES)):
        built = fuzzed_frames(role, "c_real", batch, 0)
        assert {f["t"] for f in built} == set(types)
        for frame in built:
            if frame["t"] == "cobrowse" and frame["op"] in {"events", "highlight"}:
                continue  # the op's own payload (fuzzed inside)
            for path in string_fields(types[frame["t"]]):
                value: Any = frame
                for key in path:
                    value = value[key]
                assert value == "\ud800", (role, frame["t"], path)
    assert ("page", "url") in string_fields(schemas.VisitorHello)
