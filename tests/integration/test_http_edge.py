"""Issue 21, flaw 3: HTTP bodies and heads are bounded in size and time at the edge, for
every route, before anything buffers them; and HTTP connections count per address.

Raw sockets against the real app under uvicorn (`uvicorn_config`, as served)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat_server.web.edge import BodyLimit
from tests.conftest import PASSWORD, Live, ServerFactory
from tests.http import http_client
from tests.raw_http import hang_up

MiB = 1024 * 1024


@pytest.fixture
def backend() -> str:
    """The edge is the same whatever the store: the embedded one is enough."""
    return "embedded"


def rss_kib() -> int:
    """This process's RSS: the server runs in it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def exchange(
    live: Live,
    head: bytes,
    body: bytes = b"",
    *,
    pump: int = 0,
    piece: bytes = b"a" * MiB,
    timeout: float = 10,
) -> tuple[bytes, int]:
    """Send `head` and `body`, then up to `pump` more bytes in `piece`s while reading the
    answer until the server closes: (everything it answered, bytes pumped)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    pumped = 0

    async def send() -> None:
        nonlocal pumped
        writer.write(head + body)
        await writer.drain()
        while pumped < pump:
            writer.write(piece)
            await writer.drain()
            pumped += len(piece)

    sender = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(reader.read(), timeout)
    finally:
        await hang_up(sender, writer)
    return answer, pumped


def status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


def login_head(extra: str) -> bytes:
    return (
        "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


async def test_a_declared_250_mib_body_is_refused_before_it_is_read(live: Live) -> None:
    before = rss_kib()
    for _ in range(2):  # the two 250 MiB bodies
        answer, pumped = await exchange(
            live, login_head("Content-Length: 262144000\r\n"), pump=250 * MiB
        )
        assert status(answer) == 413
        assert pumped < 64 * MiB  # closed long before the body was through
    assert rss_kib() - before < 32 * 1024  # was +500 MiB


async def test_every_route_bounds_bodies_even_unknown_ones(live: Live) -> None:
    """Future routes (uploads) are covered by default, and `max_body_bytes` is the bound."""
    too_big = live.settings.max_body_bytes + 1
    for path in ("/api/conversations", "/api/upload-to-come", "/healthz"):
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {too_big}\r\n\r\n"
        answer, _ = await exchange(live, head.encode())
        assert status(answer) == 413, path


async def test_a_chunked_body_over_the_bound_is_refused_while_streaming(live: Live) -> None:
    chunk = b"%x\r\n%s\r\n" % (1024, b"x" * 1024)
    before = rss_kib()
    answer, pumped = await exchange(
        live, login_head("Transfer-Encoding: chunked\r\n"), pump=100 * MiB, piece=chunk * 64
    )
    assert status(answer) == 413  # login's bound is 8 KiB
    assert pumped < 64 * MiB
    assert rss_kib() - before < 32 * 1024


async def test_a_body_trickled_past_the_body_timeout_gets_408(
    start_server: ServerFactory,
) -> None:
    live = await start_server(body_timeout_s=0.5)
    started = time.monotonic()
    answer, _ = await exchange(live, login_head("Content-Length: 100\r\n"), b'{"email":')
    assert status(answer) == 408
    assert time.monotonic() - started < 5


async def test_a_150_mib_header_line_gets_431_and_is_closed(live: Live) -> None:
    before = rss_kib()
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    answer, pumped = await exchange(live, head, pump=150 * MiB)
    assert status(answer) == 431
    assert pumped < 64 * MiB
    assert rss_kib() - before < 32 * 1024


async def test_too_many_header_fields_get_431(live: Live) -> None:
    limit = live.settings.max_header_count
    fields = "".join(f"X-F{i}: 1\r\n" for i in range(limit))  # with Host: one too many
    answer, _ = await exchange(live, f"GET /healthz HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode())
    assert status(answer) == 431
    fields = "".join(f"X-F{i}: 1\r\n" for i in range(limit - 2))  # with Host, Connection
    head = f"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{fields}\r\n"
    answer, _ = await exchange(live, head.encode())
    assert status(answer) == 200


async def test_a_trickled_head_is_closed_after_the_head_timeout(
    start_server: ServerFactory,
) -> None:
    live = await start_server(head_timeout_s=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        await hang_up(sender, writer)
    elapsed = time.monotonic() - started
    assert status(answer) == 408
    assert 0.9 < elapsed < 3  # was: open for as long as bytes kept coming


async def test_a_silent_connection_is_closed_after_the_head_timeout(
    start_server: ServerFactory,
) -> None:
    live = await start_server(head_timeout_s=1)
    started = time.monotonic()
    answer, _ = await exchange(live, b"")
    assert answer == b""  # nothing asked, nothing answered: just closed
    assert time.monotonic() - started < 3


async def test_an_unread_body_trickled_after_the_answer_is_closed(
    start_server: ServerFactory,
) -> None:
    """A route that answers without reading the body: the rest of it cannot hold the
    connection (uvicorn's keep-alive timer stops at every byte)."""
    live = await start_server(head_timeout_s=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    started = time.monotonic()

    async def trickle() -> None:
        for _ in range(1000):
            writer.write(b"a")
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    try:
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        await hang_up(sender, writer)
    assert status(answer) == 200
    assert time.monotonic() - started < 3


async def test_http_connections_per_address_are_bounded(start_server: ServerFactory) -> None:
    live = await start_server(max_http_connections_per_address=3, head_timeout_s=30)
    held = [await asyncio.open_connection("127.0.0.1", live.settings.port) for _ in range(3)]
    try:
        answer, _ = await exchange(live, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status(answer) == 429
        held[0][1].close()  # a closed connection gives its slot back
        await held[0][1].wait_closed()
        for _ in range(50):
            if await _healthz_ok(live):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the closed connection's slot did not come back")
    finally:
        for _, writer in held[1:]:
            writer.close()


async def _healthz_ok(live: Live) -> bool:
    answer, _ = await exchange(
        live, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    return status(answer) == 200


async def test_websockets_do_not_hold_http_slots(start_server: ServerFactory) -> None:
    """Upgraded sockets leave the HTTP count: they have a cap of their own."""
    live = await start_server(max_http_connections_per_address=2)
    visitors = [await live.visitor() for _ in range(5)]
    assert all(v.hello["visitor"]["id"] for v in visitors)
    assert await _healthz_ok(live)


async def test_a_visitors_flows_still_work(live: Live) -> None:
    """Keep-alive requests, a login (with its body), pages, and a chat over a WebSocket."""
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as http:
        for path in ("/healthz", "/console", "/widget.js", "/static/common/base.css"):
            assert (await http.get(path)).status_code == 200, path
        ok = await http.post("/api/login", json={"email": agent.email, "password": PASSWORD})
        assert ok.status_code == 200
        assert (await http.get("/api/me")).json()["agent"]["id"] == agent.id
    visitor = await live.visitor()
    conv = await visitor.request("start", text="hello through the edge")
    assert conv["conversation"]["id"]


async def test_keep_alive_still_serves_several_requests_on_one_connection(live: Live) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", live.settings.port)
    body = b'{"email": "nobody@x.example", "password": "guess"}'
    requests = [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        login_head(f"Content-Length: {len(body)}\r\n") + body,
        b"GET /api/me HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    try:
        for request, expected in zip(requests, (200, 401, 401), strict=True):
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert status(head) == expected
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
    finally:
        writer.close()


async def test_the_body_limit_has_a_per_route_hook() -> None:
    """A route listed in `per_path` (an upload, later) has its own bound."""

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"n": len(await request.body())})

    routes = [Route("/upload", echo, methods=["POST"]), Route("/small", echo, methods=["POST"])]
    limit = Middleware(BodyLimit, max_bytes=1024, timeout_s=5, per_path={"/upload": 64 * 1024})
    app = Starlette(routes=routes, middleware=[limit])
    async with http_client(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        assert (await http.post("/upload", content=b"x" * 60_000)).json() == {"n": 60_000}
        assert (await http.post("/small", content=b"x" * 2000)).status_code == 413
        assert (await http.post("/small", content=b"x" * 1000)).json() == {"n": 1000}

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(80):
                yield b"x" * 1024

        assert (await http.post("/upload", content=chunks())).status_code == 413
