"""Co-browsing relay (contract §5): consent states, who receives what, replay for late
joiners, the end by either side or by the system. Both backends; with Redis the visitor
and the agent sit on different nodes."""

from __future__ import annotations

import pytest

from chat_server.core.model import AgentRole
from tests.client import Client
from tests.conftest import Live, ServerFactory, redis_like

META = {
    "type": 4,
    "data": {"href": "https://shop.example/", "width": 1280, "height": 800},
    "timestamp": 1,
}
SNAPSHOT = {
    "type": 2,
    "data": {
        "node": {"type": 0, "childNodes": [], "id": 1},
        "initialOffset": {"left": 0, "top": 0},
    },
    "timestamp": 2,
}


def incremental(n: int) -> dict[str, object]:
    return {
        "type": 3,
        "data": {"source": 0, "texts": [], "attributes": [], "removes": [], "adds": [], "n": n},
        "timestamp": 10 + n,
    }


@pytest.fixture
async def pair(start_server: ServerFactory, backend: str) -> tuple[Live, Live]:
    first = await start_server()
    second = await start_server() if redis_like(backend) else first
    return first, second


async def chat(pair: tuple[Live, Live]) -> tuple[Client, Client, str]:
    visitor_node, agent_node = pair
    agent = await agent_node.agent(name="Alice")
    visitor = await visitor_node.visitor(codec="chat.v1.msgpack")
    cid = (await visitor.request("start", text="can you see my screen?"))["conversation"]["id"]
    await agent.event("assigned")
    return visitor, agent, cid


async def test_request_accept_relay_and_guide(pair: tuple[Live, Live]) -> None:
    visitor, agent, cid = await chat(pair)
    assert await visitor.error("cobrowse", cid=cid, op="events", events=[META]) == "conflict"
    assert await visitor.error("cobrowse", cid=cid, op="accept") == "conflict"

    await agent.request("cobrowse", cid=cid, op="request")
    asked = await visitor.event("cobrowse", op="request")
    assert asked["agent"] == {"name": "Alice"}
    assert await agent.error("cobrowse", cid=cid, op="request") == "conflict"
    await visitor.request("cobrowse", cid=cid, op="accept")
    await agent.event("cobrowse", op="accepted")

    await visitor.request("cobrowse", cid=cid, op="events", events=[META, SNAPSHOT])
    await visitor.request("cobrowse", cid=cid, op="events", events=[incremental(1)])
    first = await agent.event("cobrowse", op="events")
    assert [e["type"] for e in first["events"]] == [4, 2] and "replay" not in first
    assert (await agent.event("cobrowse", op="events"))["events"][0]["data"]["n"] == 1

    await agent.request("cobrowse", cid=cid, op="pointer", x=120.5, y=300)
    assert (await visitor.event("cobrowse", op="pointer"))["x"] == 120.5
    await agent.request("cobrowse", cid=cid, op="highlight", node=17)
    assert (await visitor.event("cobrowse", op="highlight"))["node"] == 17
    await agent.request("cobrowse", cid=cid, op="highlight", selector="#checkout")
    assert (await visitor.event("cobrowse", op="highlight"))["selector"] == "#checkout"
    await agent.request("cobrowse", cid=cid, op="resync")
    await visitor.event("cobrowse", op="resync")
    assert await agent.error("cobrowse", cid=cid, op="pointer", x="left", y=1) == "bad_request"
    assert await agent.error("cobrowse", cid=cid, op="accept") == "bad_request"
    assert await visitor.error("cobrowse", cid=cid, op="pointer", x=1, y=1) == "bad_request"
    assert await visitor.error("cobrowse", cid=cid, op="events", events=[1]) == "bad_request"

    await visitor.request("cobrowse", cid=cid, op="end")
    assert (await agent.event("cobrowse", op="ended"))["by"] == "visitor"
    assert (
        await visitor.error("cobrowse", cid=cid, op="events", events=[incremental(2)]) == "conflict"
    )
    lines = [
        m["text"]
        for m in (await agent.request("sync", cid=cid, after=0))["messages"]
        if m["kind"] == "event"
    ]
    assert "Co-browsing started" in lines and "Co-browsing ended" in lines


async def test_decline_and_agent_end(pair: tuple[Live, Live]) -> None:
    visitor, agent, cid = await chat(pair)
    await agent.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="decline")
    await agent.event("cobrowse", op="declined")
    await agent.request("cobrowse", cid=cid, op="request")  # asking again is allowed
    await visitor.request("cobrowse", cid=cid, op="accept")
    await agent.request("cobrowse", cid=cid, op="end")
    assert (await visitor.event("cobrowse", op="ended"))["by"] == "agent"
    texts = [m["text"] for m in (await visitor.request("sync", cid=cid, after=0))["messages"]]
    assert "Co-browsing declined" in texts


async def test_only_the_conversations_agent(pair: tuple[Live, Live]) -> None:
    visitor, agent, cid = await chat(pair)
    other = await pair[1].agent(name="Mallory")
    assert await other.error("cobrowse", cid=cid, op="request") == "forbidden"
    await agent.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    await visitor.request("cobrowse", cid=cid, op="events", events=[META, SNAPSHOT])
    await agent.event("cobrowse", op="events")
    await other.no_event("cobrowse", within=0.5)
    queued = await pair[0].visitor()
    waiting = (await queued.request("start", text="me too"))["conversation"]["id"]
    assert await queued.error("cobrowse", cid=waiting, op="accept") in {"closed", "conflict"}


async def test_late_joiners_get_the_replay_first(pair: tuple[Live, Live]) -> None:
    visitor, agent, cid = await chat(pair)
    await agent.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    await visitor.request("cobrowse", cid=cid, op="events", events=[incremental(0)])
    await visitor.request("cobrowse", cid=cid, op="events", events=[incremental(1), META, SNAPSHOT])
    await visitor.request("cobrowse", cid=cid, op="events", events=[incremental(2)])

    tab = await pair[1].agent(agent.agent, online=False)  # the agent's new tab
    first = await tab.event("cobrowse", op="events")
    assert first["replay"] is True
    assert [e["type"] for e in first["events"]] == [4, 2]  # from the newest snapshot on
    second = await tab.event("cobrowse", op="events")
    assert second["replay"] is True and second["events"][0]["data"]["n"] == 2
    await visitor.request("cobrowse", cid=cid, op="events", events=[incremental(3)])
    live = await tab.event("cobrowse", op="events")
    assert "replay" not in live and live["events"][0]["data"]["n"] == 3

    boss = await pair[0].agent(role=AgentRole.SUPERVISOR, name="Boss", online=False)
    await boss.request("watch", cid=cid, on=True)
    watched = await boss.event("cobrowse", op="events")
    assert watched["replay"] is True and watched["events"][0]["type"] == 4
    assert await boss.error("cobrowse", cid=cid, op="pointer", x=1, y=2) == "forbidden"


async def test_the_system_ends_it(pair: tuple[Live, Live]) -> None:
    visitor, agent, cid = await chat(pair)
    await agent.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    bob = await pair[0].agent(name="Bob", online=False)
    await agent.request("transfer", cid=cid, to=bob.agent.id)
    assert (await visitor.event("cobrowse", op="ended"))["by"] == "system"
    await bob.event("assigned")
    assert await bob.error("cobrowse", cid=cid, op="pointer", x=1, y=1) == "conflict"
    await bob.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    await bob.request("close", cid=cid, resolved=True)
    assert (await visitor.event("cobrowse", op="ended"))["by"] == "system"


async def test_replay_bound_asks_for_a_fresh_snapshot(start_server: ServerFactory) -> None:
    live = await start_server(cobrowse_replay_bytes=4096)
    visitor, agent, cid = await chat((live, live))
    await agent.request("cobrowse", cid=cid, op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")
    await visitor.request("cobrowse", cid=cid, op="events", events=[META, SNAPSHOT])
    big = {
        "type": 3,
        "data": {"source": 0, "texts": [{"id": 1, "value": "x" * 5000}]},
        "timestamp": 5,
    }
    await visitor.request("cobrowse", cid=cid, op="events", events=[big])
    await visitor.event("cobrowse", op="resync")
    assert (await agent.event("cobrowse", op="events"))["events"][0]["type"] == 4
    assert (await agent.event("cobrowse", op="events"))["events"][0]["type"] == 3  # relayed
