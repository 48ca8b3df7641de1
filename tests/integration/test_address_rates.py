"""Issue 21, lower item: WebSocket handshakes and new visitor identities per client address
per second are limited (token buckets, settings): a burst beyond them gets HTTP 429 at the
handshake or `rate_limited` on `hello`; behind a proxy the forwarded address counts."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from tests.client import Client, connect_agent, open_ws
from tests.conftest import ServerFactory

ORIGIN = "https://shop.example"


@pytest.fixture
def backend() -> str:
    """The buckets are per node, in memory: the store does not matter."""
    return "embedded"


async def visitor_ws(base: str, headers: dict[str, str] | None = None) -> Client:
    ws = await open_ws(
        f"{base}/ws/visitor?site=shop", codec="chat.v1.json", origin=ORIGIN, headers=headers
    )
    return Client(ws, "chat.v1.json")


async def test_handshakes_beyond_the_burst_get_429(start_server: ServerFactory) -> None:
    live = await start_server(handshake_rate=0.01, handshake_burst=5)
    opened = [await visitor_ws(live.ws) for _ in range(4)]
    opened.append(await connect_agent(live.ws, codec="chat.v1.json"))  # one bucket for both
    live.clients.extend(opened)
    for path in ("/ws/visitor?site=shop", "/ws/agent"):
        with pytest.raises(InvalidStatus) as refused:  # was: 2,276 visitors in 3 s
            await open_ws(f"{live.ws}{path}", codec="chat.v1.json", origin=ORIGIN)
        assert refused.value.response.status_code == 429
    assert "rate_limited" in refused.value.response.body.decode()


async def test_new_visitors_beyond_the_burst_are_refused_returning_ones_are_not(
    start_server: ServerFactory,
) -> None:
    live = await start_server(new_visitor_rate=0.01, new_visitor_burst=3)
    first = await live.visitor()
    for _ in range(2):
        await live.visitor()
    late = await visitor_ws(live.ws)
    live.clients.append(late)
    refused = await late.reply("hello")
    assert (refused["t"], refused["code"]) == ("error", "rate_limited")
    # the socket stays open, not greeted; a visitor with its token is not new
    back = await late.request("hello", token=first.hello["token"])
    assert back["visitor"]["id"] == first.hello["visitor"]["id"]


async def test_the_default_limits_let_a_page_full_of_visitors_through(
    start_server: ServerFactory,
) -> None:
    """The defaults (20/s burst 40 handshakes, 5/s burst 20 new visitors) are per client
    address: a burst of 20 new visitors from one address (an office's NAT) passes."""
    live = await start_server()
    visitors = [await live.visitor() for _ in range(20)]
    assert len({v.hello["visitor"]["id"] for v in visitors}) == 20


async def test_behind_a_proxy_the_forwarded_address_counts(start_server: ServerFactory) -> None:
    live = await start_server(behind_proxy=True, handshake_rate=0.01, handshake_burst=2)
    one = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http"}
    other = {"X-Forwarded-For": "203.0.113.8", "X-Forwarded-Proto": "http"}
    live.clients.extend([await visitor_ws(live.ws, one) for _ in range(2)])
    with pytest.raises(InvalidStatus) as refused:
        await visitor_ws(live.ws, one)
    assert refused.value.response.status_code == 429
    live.clients.append(await visitor_ws(live.ws, other))  # the proxy itself is not limited
