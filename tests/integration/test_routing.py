"""Contract §4 routing: claim races, capacity, transfers, supervisors, grace, timeouts."""

from __future__ import annotations

import asyncio

from chat_server.core.model import AgentRole
from tests.conftest import Live, ServerFactory


async def test_two_agents_race_to_claim(live: Live, codec: str) -> None:
    """Exactly one of two simultaneous claims wins; the other gets conflict."""
    a = await live.agent(codec=codec, online=False, name="A")
    b = await live.agent(codec=codec, online=False, name="B")
    visitor = await live.visitor(codec=codec)
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    answers = await asyncio.gather(a.reply("claim", cid=cid), b.reply("claim", cid=cid))
    kinds = sorted(ans["t"] for ans in answers)
    assert kinds == ["error", "ok"]
    loser = next(ans for ans in answers if ans["t"] == "error")
    assert loser["code"] == "conflict"
    winner, other = (a, b) if answers[0]["t"] == "ok" else (b, a)
    await winner.event("assigned")
    await other.no_event("assigned")
    assert (await visitor.event("assigned"))["agent"]["name"] == winner.agent.name


async def test_twenty_claims_one_winner(live: Live) -> None:
    agents = [await live.agent(online=False, name=f"Agent{i}") for i in range(20)]
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    answers = await asyncio.gather(*(a.reply("claim", cid=cid) for a in agents))
    assert [x["t"] for x in answers].count("ok") == 1


async def test_agent_at_capacity_gets_nothing_more(live: Live) -> None:
    agent = await live.agent(max_chats=1)
    first = await live.visitor()
    second = await live.visitor()
    c1 = (await first.request("start", text="one"))["conversation"]["id"]
    await agent.event("assigned")
    c2 = (await second.request("start", text="two"))["conversation"]["id"]
    await agent.no_event("assigned", within=0.5)
    assert await agent.error("claim", cid=c2) == "conflict"
    await agent.request("close", cid=c1, resolved=True)
    assigned = await agent.event("assigned")
    assert assigned["conversation"]["id"] == c2


async def test_fewest_active_chats_wins_and_topics_route(live: Live) -> None:
    busy = await live.agent(name="Busy")
    visitors = [await live.visitor() for _ in range(3)]
    await visitors[0].request("start", text="a")
    await busy.event("assigned")
    free = await live.agent(name="Free")
    await visitors[1].request("start", text="b")
    await free.event("assigned")
    await busy.no_event("assigned", within=0.3)
    billing = await live.agent(name="Billing", topics=frozenset({"billing"}))
    await visitors[2].request("start", text="c", topic="billing")
    assigned = await billing.event("assigned")
    assert assigned["conversation"]["topic"] == "billing"


async def test_away_and_disconnected_agents_get_nothing(live: Live) -> None:
    away = await live.agent(online=False)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await away.no_event("assigned", within=0.5)
    await away.request("status", state="online")
    assert (await away.event("assigned"))["conversation"]["id"] == cid


async def test_supervisor_not_routed_by_default(live: Live) -> None:
    boss = await live.agent(role=AgentRole.SUPERVISOR, name="Boss")
    assert boss.hello["agent"]["max_chats"] == 0 and boss.hello["agent"]["role"] == "supervisor"
    visitor = await live.visitor()
    await visitor.request("start", text="hi")
    await boss.no_event("assigned", within=0.5)


async def test_transfer_to_queue_and_to_agent(live: Live) -> None:
    alice = await live.agent(name="Alice")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.event("assigned")
    bob = await live.agent(name="Bob", online=False)
    moved = await alice.request("transfer", cid=cid, to=bob.agent.id)
    assert moved["conversation"]["agent"]["name"] == "Bob"
    assert (await bob.event("assigned"))["conversation"]["id"] == cid
    assert (await alice.event("unassigned", cid=cid))["reason"] == "transferred"
    await visitor.event("assigned", agent={"name": "Bob"})
    assert await alice.error("msg", cid=cid, text="still mine?", cmid="x") == "forbidden"

    back = await bob.request("transfer", cid=cid, topic="billing")
    assert back["conversation"]["state"] == "queued"
    assert back["conversation"]["topic"] == "billing"
    await bob.event("unassigned", cid=cid)
    # Alice is online with capacity and Bob is excluded: it goes to Alice again
    assert (await alice.event("assigned"))["conversation"]["id"] == cid


async def test_transfer_to_offline_agent_is_refused(live: Live) -> None:
    alice = await live.agent()
    ghost = await live.add_agent("Ghost")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.event("assigned")
    assert await alice.error("transfer", cid=cid, to=ghost.id) == "conflict"
    assert await alice.error("transfer", cid=cid, to="a_nobody") == "not_found"


async def test_supervisor_assign_watch_and_roles(live: Live) -> None:
    boss = await live.agent(role=AgentRole.SUPERVISOR, name="Boss", online=False)
    alice = await live.agent(name="Alice", online=False)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    assert await alice.error("assign", cid=cid, to=alice.agent.id) == "forbidden"
    assert await alice.error("watch", cid=cid, on=True) == "forbidden"
    assert await alice.error("subscribe", stats=True) == "forbidden"
    await boss.request("assign", cid=cid, to=alice.agent.id)
    await alice.event("assigned")
    watched = await boss.request("watch", cid=cid, on=True)
    assert watched["conversation"]["id"] == cid and watched["messages"]
    note = await alice.request("note", cid=cid, text="heads up", cmid="n")
    assert (await boss.event("msg", seq=note["seq"]))["kind"] == "note"
    assert await boss.error("msg", cid=cid, text="read-only", cmid="b") == "forbidden"
    await boss.request("note", cid=cid, text="supervisor note", cmid="bn")
    await boss.request("watch", cid=cid, on=False)
    sent = await visitor.request("msg", cid=cid, text="after unwatch", cmid="v")
    await alice.event("msg", seq=sent["seq"])
    await boss.no_event("msg", seq=sent["seq"])


async def test_agents_cannot_read_others_conversations(live: Live) -> None:
    alice = await live.agent(name="Alice")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.event("assigned")
    mallory = await live.agent(name="Mallory", online=False)
    for t, fields in (
        ("sync", {"after": 0}),
        ("msg", {"text": "x", "cmid": "m"}),
        ("note", {"text": "x", "cmid": "n"}),
        ("close", {"resolved": True}),
        ("transfer", {}),
        ("typing", {"on": True}),
        ("read", {"seq": 1}),
    ):
        assert await mallory.error(t, cid=cid, **fields) == "forbidden", t
    await mallory.no_event("msg")


async def test_grace_period_requeues_to_the_front(start_server: ServerFactory) -> None:
    live = await start_server(agent_grace_s=0.6, sweep_interval_s=0.1)
    alice = await live.agent(name="Alice", max_chats=1)
    early = await live.visitor()
    late = await live.visitor()
    c_early = (await early.request("start", text="early"))["conversation"]["id"]
    await alice.event("assigned")
    c_late = (await late.request("start", text="late"))["conversation"]["id"]
    await early.event("msg", kind="event")  # "Alice joined the chat"
    await alice.close()
    requeued = await early.event("msg", kind="event", timeout=3)
    assert "disconnected" in requeued["text"]
    bob = await live.agent(name="Bob", max_chats=1)
    first = await bob.event("assigned")
    assert first["conversation"]["id"] == c_early  # front of the queue, before c_late
    waiting = await live.store.conversations.waiting()
    assert [c.id for c in waiting] == [c_late]


async def test_agent_back_within_grace_keeps_chats(start_server: ServerFactory) -> None:
    live = await start_server(agent_grace_s=1.0, sweep_interval_s=0.1)
    alice = await live.add_agent("Alice")
    tab = await live.agent(alice)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await tab.event("assigned")
    await tab.close()
    await asyncio.sleep(0.3)
    back = await live.agent(alice, online=False)
    assert [c["id"] for c in back.hello["conversations"]] == [cid]
    await asyncio.sleep(1.0)
    sent = await visitor.request("msg", cid=cid, text="still there?", cmid="x")
    assert (await back.event("msg", seq=sent["seq"]))["text"] == "still there?"


async def test_visitor_timeout_closes(start_server: ServerFactory) -> None:
    live = await start_server(visitor_timeout_s=0.5, sweep_interval_s=0.1)
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="bye"))["conversation"]["id"]
    await agent.event("assigned")
    await visitor.close()
    closed = await agent.event("closed", cid=cid, timeout=3)
    assert closed["by"] == "system" and closed["reason"] == "visitor_left"


async def test_supervisor_gets_live_stats(live: Live) -> None:
    boss = await live.agent(role=AgentRole.SUPERVISOR, name="Boss", online=False)
    await live.agent(name="Alice", max_chats=1)
    await live.agent(name="Bea", online=False)
    visitors = [await live.visitor() for _ in range(2)]
    for v in visitors:
        await v.request("start", text="hi")
    await asyncio.sleep(0.2)
    await boss.request("subscribe", stats=True)
    stats = await boss.event("stats")
    assert stats["live"] == {
        "waiting": 1,
        "longest_wait_s": 0,
        "active": 1,
        "agents_online": 1,
        "agents_away": 2,
        "agents_available": 0,
    }
    assert set(stats["windows"]) == {"5m", "1h", "24h"} and isinstance(stats["ts"], int)
    await boss.event("stats", timeout=3)  # pushed every second
    await boss.request("subscribe", stats=False)
    boss.drop_events()
    await boss.no_event("stats", within=1.5)
