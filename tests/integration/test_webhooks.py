"""Webhooks end to end (issue 17): a real server posts signed events to a real receiver in
the test process (the SSRF allow list lets it reach 127.0.0.1); a receiver that is down
gets everything, in order per conversation, once it is back; the documented verification
snippet accepts a delivery and rejects a forged one; SSRF addresses are refused when the
endpoint is added and at delivery; two Redis nodes deliver each event once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chat_server.core import tokens
from chat_server.core.model import AgentRole
from chat_server.core.scopes import token_kind
from examples.webhook_verify import verify
from tests.conftest import Live, ServerFactory
from tests.http import http_client
from tests.integration.webhook_receiver import Receiver

SECRET = "a-webhook-secret-for-tests"
FAST = {
    "webhook_allow": ("127.0.0.1/32",),
    "webhook_poll_s": 0.05,
    "webhook_refresh_s": 0.2,
    "webhook_retry_base_s": 0.05,
    "webhook_retry_cap_s": 0.2,
    "webhook_timeout_s": 2.0,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.up()
    yield r
    await r.down()


async def add_webhook(live: Live, url: str, **body: Any) -> httpx.Response:
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)
    async with http_client(base_url=live.base) as http:
        return await http.post(
            "/api/sites/shop/webhooks",
            json={"url": url, "secret": SECRET, **body},
            headers={"Authorization": f"Bearer {token}"},
        )


async def api(live: Live, method: str, path: str) -> httpx.Response:
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)
    async with http_client(base_url=live.base) as http:
        return await http.request(method, path, headers={"Authorization": f"Bearer {token}"})


def texts(events: list[dict[str, Any]], cid: str) -> list[str]:
    return [e["data"]["text"] for e in events if e["cid"] == cid and e["type"] == "message"]


async def test_signed_events_reach_the_receiver(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    live = await start_server(**FAST)
    added = await add_webhook(live, receiver.url)
    assert added.status_code == 201 and added.json()["secret"] == SECRET
    listed = (await api(live, "GET", "/api/sites/shop/webhooks")).json()["webhooks"]
    assert [w["id"] for w in listed] == [added.json()["id"]] and "secret" not in listed[0]
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hello"))["conversation"]["id"]
    await agent.event("assigned")
    await visitor.request("msg", cid=cid, text="second", cmid="v-2")
    await agent.request("close", cid=cid, resolved=True)
    events = await receiver.wait_for(5)
    assert [e["type"] for e in events] == [
        "conversation.started",
        "message",
        "conversation.assigned",
        "message",
        "conversation.closed",
    ]  # one conversation: in order
    assert texts(events, cid) == ["hello", "second"]
    first = receiver.received[0]
    h = first.headers
    assert h["x-chat-event-id"] == first.event["id"]
    assert verify(SECRET, first.body, h["x-chat-signature"], h["x-chat-timestamp"])
    # the documented snippet rejects anything forged or stale
    assert not verify(SECRET, first.body + b" ", h["x-chat-signature"], h["x-chat-timestamp"])
    assert not verify("another secret", first.body, h["x-chat-signature"], h["x-chat-timestamp"])
    stale = int(h["x-chat-timestamp"]) - 3600
    assert not verify(SECRET, first.body, h["x-chat-signature"], str(stale))
    assert not verify(SECRET, first.body, h["x-chat-signature"], "soon")
    assert abs(int(h["x-chat-timestamp"]) - time.time()) < 60


async def test_receiver_down_gets_everything_in_order(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    live = await start_server(**FAST)
    assert (await add_webhook(live, receiver.url, events=["message"])).status_code == 201
    await asyncio.sleep(0.3)  # every node's cache has the endpoint
    receiver.status = 503  # up, failing: then down altogether
    one, two = await live.visitor(), await live.visitor()
    a = (await one.request("start", text="a0"))["conversation"]["id"]
    b = (await two.request("start", text="b0"))["conversation"]["id"]
    for i in range(1, 4):
        await one.request("msg", cid=a, text=f"a{i}", cmid=f"a{i}")
        await two.request("msg", cid=b, text=f"b{i}", cmid=f"b{i}")
    await asyncio.sleep(0.5)
    await receiver.down()
    await asyncio.sleep(0.5)
    assert receiver.accepted == []
    receiver.status = 200
    await receiver.up()
    events = await receiver.wait_for(8)
    await asyncio.sleep(0.5)
    events = receiver.accepted
    assert texts(events, a) == ["a0", "a1", "a2", "a3"]
    assert texts(events, b) == ["b0", "b1", "b2", "b3"]
    assert len({e["id"] for e in events}) == len(events) == 8
    retried = [r for r in receiver.received if r.status == 503]
    assert retried and {r.event["id"] for r in retried} <= {e["id"] for e in events}


async def test_ssrf_refused_at_add_and_at_delivery(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    live = await start_server(
        **{**FAST, "webhook_allow": (), "webhook_retry_hours": 0.0001}  # parked within 0.4 s
    )
    for url in (
        "http://127.0.0.1:9/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
    ):
        refused = await add_webhook(live, url)
        assert refused.status_code == 400 and "refused" in refused.json()["message"]
    # a name is checked at delivery, on every address it resolves to
    named = f"http://localhost:{receiver.port}/hook"
    assert (await add_webhook(live, named)).status_code == 201
    await asyncio.sleep(0.3)
    visitor = await live.visitor()
    await visitor.request("start", text="hello")
    for _ in range(100):
        failures = (await api(live, "GET", "/api/webhooks/failures")).json()["failures"]
        if failures:
            break
        await asyncio.sleep(0.05)
    assert failures and "refused" in failures[0]["error"] and "loopback" in failures[0]["error"]
    assert receiver.received == []


@pytest.mark.parametrize("backend", ["redis"])
async def test_two_nodes_deliver_each_event_once(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    first = await start_server(**FAST)
    second = await start_server(**FAST)
    assert (await add_webhook(first, receiver.url, events=["message"])).status_code == 201
    await asyncio.sleep(0.4)
    visitors = [await node.visitor() for node in (first, second) for _ in range(2)]
    cids = [(await v.request("start", text="0"))["conversation"]["id"] for v in visitors]
    for i in range(1, 6):
        for v, cid in zip(visitors, cids, strict=True):
            await v.request("msg", cid=cid, text=str(i), cmid=f"m{i}")
    events = await receiver.wait_for(24)
    await asyncio.sleep(0.5)
    events = receiver.accepted
    assert len(events) == 24 and len({e["id"] for e in events}) == 24
    for cid in cids:
        assert texts(events, cid) == [str(i) for i in range(6)]
    gone = await api(first, "DELETE", f"/api/sites/shop/webhooks/{events[0]['id']}")
    assert gone.status_code == 404  # an event id is not a webhook's
    (hook,) = (await api(second, "GET", "/api/sites/shop/webhooks")).json()["webhooks"]
    assert (await api(second, "DELETE", f"/api/sites/shop/webhooks/{hook['id']}")).is_success
    audit = (await api(first, "GET", "/api/audit")).json()["entries"]
    done = [(e["action"], e["detail"]["webhook"]) for e in audit if "webhook" in e["action"]]
    assert done == [("webhook_remove", hook["id"]), ("webhook_add", hook["id"])]


async def test_timeout_redelivers_the_same_event_and_redirects_are_not_followed(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    live = await start_server(**{**FAST, "webhook_timeout_s": 0.3})
    assert (await add_webhook(live, receiver.url, events=["message"])).status_code == 201
    await asyncio.sleep(0.3)
    receiver.status, receiver.delay_s = 200, 1.0  # answered, but too late
    visitor = await live.visitor()
    await visitor.request("start", text="slow")
    for _ in range(100):
        if receiver.received:
            break
        await asyncio.sleep(0.05)
    receiver.status, receiver.delay_s = 302, 0.0  # a redirect (to itself): a failure
    await asyncio.sleep(0.5)
    receiver.status = 200
    await receiver.wait_for(2)  # the late answer was recorded, then the retry
    await asyncio.sleep(0.3)
    ids = {r.event["id"] for r in receiver.received}
    assert len(ids) == 1  # every attempt: the same event, the same body
    # ...and no request without that body: the 302s' Location was never followed
    assert len({r.body for r in receiver.received}) == 1
    statuses = [r.status for r in receiver.received]
    assert statuses[-1] == 200 and 302 in statuses


async def test_a_token_for_other_sites_manages_none_of_this_ones(
    start_server: ServerFactory, receiver: Receiver
) -> None:
    """A supervisor's API token limited to `blog` (`agent token --site blog`) may not list,
    add or remove the webhooks of `shop`, nor read its parked deliveries."""
    live = await start_server(**FAST)
    boss = await live.add_agent("Blog boss", role=AgentRole.SUPERVISOR)
    token = tokens.new_secret_token("cat")
    await live.store.directory.add_credential(
        tokens.hash_secret(token), boss.id, token_kind(["blog"]), None
    )
    headers = {"Authorization": f"Bearer {token}"}
    async with http_client(base_url=live.base, headers=headers) as http:
        listed = await http.get("/api/sites/shop/webhooks")
        added = await http.post("/api/sites/shop/webhooks", json={"url": receiver.url})
        removed = await http.delete("/api/sites/shop/webhooks/wh_any")
        failures = await http.get("/api/webhooks/failures")
    assert [r.status_code for r in (listed, added, removed)] == [403, 403, 403]
    assert added.json()["error"] == "forbidden"
    assert failures.status_code == 200 and failures.json() == {"failures": []}
    assert await live.store.webhooks.endpoints("shop") == []
