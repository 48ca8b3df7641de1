"""Contract §3 and §4 end to end: a visitor and an agent chat through the real server."""

from __future__ import annotations

import asyncio

from chat_server.core.model import Site
from tests.client import ServerError
from tests.conftest import Live, ServerFactory


async def test_whole_dialogue(live: Live, codec: str) -> None:
    """Start, assignment, both ways, typing, read, page, note, close, survey, rate."""
    # the draft preview reaches agents only where the site turned sneak peek on (issue 14)
    await live.store.directory.put_site(Site("shop", ("https://shop.example",), sneak_peek=True))
    agent = await live.agent(codec=codec, name="Alice")
    assert agent.hello["status"] == "away" or agent.hello["agent"]["name"] == "Alice"
    visitor = await live.visitor(
        codec=codec,
        name="Vera",
        email="vera@example.com",
        page={"url": "https://shop.example/", "title": "Shop"},
    )
    assert visitor.hello["conversation"] is None
    assert visitor.hello["visitor"]["name"] == "Vera" and visitor.hello["token"]

    started = await visitor.request("start", text="Where is my order?", topic="orders")
    conv = started["conversation"]
    cid = conv["id"]
    assert conv["state"] == "queued" and conv["last_seq"] == 1
    assert conv["position"] == 1 and "eta_s" in conv

    assigned = await agent.event("assigned")
    assert assigned["conversation"]["id"] == cid
    assert assigned["conversation"]["visitor"]["email"] == "vera@example.com"
    assert assigned["messages"][0]["text"] == "Where is my order?"
    assert [m["kind"] for m in assigned["messages"]] == ["text", "event"]
    joined = await visitor.event("assigned", cid=cid)
    assert joined["agent"] == {"name": "Alice"}

    # typing: the visitor's preview reaches the agent; the agent's preview never the visitor
    await visitor.request("typing", cid=cid, on=True, preview="It was order 12")
    typing = await agent.event("typing", cid=cid)
    assert typing["on"] is True and typing["preview"] == "It was order 12"
    await agent.request("typing", cid=cid, on=True, preview="secret draft")
    typing = await visitor.event("typing", cid=cid)
    assert typing == {"t": "typing", "cid": cid, "on": True}

    sent = await visitor.request("msg", cid=cid, text="Order 12", cmid="v-1")
    got = await agent.event("msg", cid=cid, seq=sent["seq"])
    assert got["text"] == "Order 12" and got["from"]["role"] == "visitor"
    assert got["cmid"] == "v-1" and got["ts"] == sent["ts"]

    reply = await agent.request(
        "msg", cid=cid, text="Shipped today: https://track.example/12", cmid="a-1"
    )
    assert reply["seq"] == sent["seq"] + 1
    shown = await visitor.event("msg", cid=cid, seq=reply["seq"])
    assert shown["from"] == {"role": "agent", "name": "Alice"}  # no agent id for visitors

    await visitor.request("read", cid=cid, seq=reply["seq"])
    read = await agent.event("read", cid=cid)
    assert read["seq"] == reply["seq"] and read["by"] == "visitor"
    await agent.request("read", cid=cid, seq=sent["seq"])
    assert (await visitor.event("read", cid=cid))["by"] == "agent"

    await visitor.request("page", url="https://shop.example/cart", title="Cart")
    page = await agent.event("visitor_page", cid=cid)
    assert page["url"] == "https://shop.example/cart" and page["title"] == "Cart"

    note = await agent.request("note", cid=cid, text="VIP customer", cmid="n-1")
    after_note = await agent.request("msg", cid=cid, text="Anything else?", cmid="a-2")
    assert after_note["seq"] == note["seq"] + 1
    await visitor.event("msg", cid=cid, seq=after_note["seq"])
    await visitor.no_event("msg", kind="note")
    visible = await visitor.request("sync", cid=cid, after=0)
    assert note["seq"] not in [m["seq"] for m in visible["messages"]]
    assert all(m["kind"] != "note" for m in visible["messages"])
    full = await agent.request("sync", cid=cid, after=0)
    assert [m["seq"] for m in full["messages"]] == list(range(1, after_note["seq"] + 1))

    await agent.request("close", cid=cid, resolved=True)
    closed = await visitor.event("closed", cid=cid)
    assert closed["by"] == "agent" and closed["reason"] == "resolved"
    survey = await visitor.event("survey", cid=cid)
    assert survey["ask"] == ["csat", "nps", "ces"]
    await agent.event("closed", cid=cid)
    assert await visitor.error("msg", cid=cid, text="hello?", cmid="v-2") == "closed"

    await visitor.request("rate", cid=cid, csat=5, nps=9, ces=6, comment="Quick!")
    assert await visitor.error("rate", cid=cid, csat=1) == "already_rated"
    rating = await live.store.conversations.rating(cid)
    assert rating.csat == 5 and rating.agent_id == agent.agent.id and rating.topic == "orders"

    # the next message opens a new conversation
    again = await visitor.request("start", text="One more thing")
    assert again["conversation"]["id"] != cid


async def test_visitor_closes_and_one_open_conversation(live: Live) -> None:
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    assert await visitor.error("start", text="again") == "conflict"
    await visitor.request("close", cid=cid)
    closed = await visitor.event("closed", cid=cid)
    assert closed["by"] == "visitor"
    await visitor.no_event("survey")  # never assigned: no survey is pushed
    assert await visitor.error("msg", cid=cid, text="x", cmid="1") == "closed"


async def test_rate_needs_a_closed_conversation_and_an_answer(live: Live) -> None:
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    assert await visitor.error("rate", cid=cid, csat=4) == "conflict"
    await visitor.request("close", cid=cid)
    assert await visitor.error("rate", cid=cid) == "bad_request"
    assert await visitor.error("rate", cid=cid, csat=6) == "bad_request"
    await visitor.request("rate", cid=cid, nps=0)


async def test_ping_pong(live: Live, codec: str) -> None:
    visitor = await live.visitor(codec=codec)
    pong = await visitor.reply("ping")
    assert pong["t"] == "pong" and pong["re"] is not None
    agent = await live.agent(codec=codec)
    assert (await agent.reply("ping"))["t"] == "pong"


async def test_queue_position_updates_and_agents_see_the_queue(live: Live) -> None:
    watcher = await live.agent(online=False)
    first = await live.visitor()
    second = await live.visitor(name="Bob")
    c1 = (await first.request("start", text="first"))["conversation"]
    c2 = (await second.request("start", text="second", topic="billing"))["conversation"]
    assert (c1["position"], c2["position"]) == (1, 2)
    queue = await watcher.event("queue", timeout=3)
    while len(queue["waiting"]) < 2:
        queue = await watcher.event("queue", timeout=3)
    entry = queue["waiting"][1]
    assert entry["cid"] == c2["id"] and entry["visitor"] == {"name": "Bob"}
    assert entry["preview"] == "second" and entry["topic"] == "billing"
    assert entry["waited_s"] >= 0
    await first.request("close", cid=c1["id"])
    moved = await second.event("queue", cid=c2["id"], position=1)
    assert "eta_s" in moved


async def test_hello_resumes_the_open_conversation(live: Live) -> None:
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    token = visitor.hello["token"]
    await visitor.close()
    again = await live.visitor(token=token)
    assert again.hello["visitor"]["id"] == visitor.hello["visitor"]["id"]
    assert again.hello["conversation"]["id"] == cid
    assert again.hello["conversation"]["position"] == 1


async def test_forged_token_gets_a_new_visitor(live: Live) -> None:
    visitor = await live.visitor()
    token = visitor.hello["token"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    other = await live.visitor(token=forged)
    assert other.hello["visitor"]["id"] != visitor.hello["visitor"]["id"]


async def test_errors_do_not_disturb_a_parallel_conversation(live: Live) -> None:
    """Hostile frames on one socket; a dialogue on another keeps working."""
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await agent.event("assigned")
    bad = await live.visitor()
    for frame in (
        {"t": "msg", "cid": cid, "text": "x", "cmid": "1"},  # not theirs
        {"t": "sync", "cid": cid, "after": 0},
        {"t": "close", "cid": cid},
    ):
        code = await bad.error(frame.pop("t"), **frame)
        assert code == "not_found"
    with_seq = await visitor.request("msg", cid=cid, text="still here", cmid="ok-1")
    await agent.event("msg", seq=with_seq["seq"])


async def test_agent_two_tabs_both_get_events(live: Live) -> None:
    alice = await live.add_agent("Alice")
    tab1 = await live.agent(alice)
    tab2 = await live.agent(alice, online=False)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await tab1.event("assigned")
    await tab2.event("assigned")
    sent = await tab1.request("msg", cid=cid, text="from tab 1", cmid="t1")
    other = await tab2.event("msg", seq=sent["seq"])
    assert other["text"] == "from tab 1"
    await tab1.no_event("msg", seq=sent["seq"])  # the sender has its ok, not an echo
    got = await visitor.request("msg", cid=cid, text="to both", cmid="v")
    await tab1.event("msg", seq=got["seq"])
    await tab2.event("msg", seq=got["seq"])


async def test_visitor_two_tabs(live: Live) -> None:
    agent = await live.agent()
    tab1 = await live.visitor()
    tab2 = await live.visitor(token=tab1.hello["token"])
    cid = (await tab1.request("start", text="hi"))["conversation"]["id"]
    assert (await tab2.event("msg", cid=cid, seq=1))["text"] == "hi"
    await agent.event("assigned")
    sent = await tab2.request("msg", cid=cid, text="from tab 2", cmid="x")
    assert (await tab1.event("msg", seq=sent["seq"]))["text"] == "from tab 2"
    answer = await agent.request("msg", cid=cid, text="hello both", cmid="y")
    await tab1.event("msg", seq=answer["seq"])
    await tab2.event("msg", seq=answer["seq"])


async def test_sync_pages(start_server: ServerFactory) -> None:
    live = await start_server(chat_rate=1000.0, chat_burst=1000)  # a scripted burst
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="0"))["conversation"]["id"]
    await agent.event("assigned")
    await asyncio.gather(
        *(visitor.request("msg", cid=cid, text=str(i), cmid=f"m{i}") for i in range(1, 250))
    )
    page = await agent.request("sync", cid=cid, after=0)
    assert len(page["messages"]) == 200 and page["more"] is True
    rest = await agent.request("sync", cid=cid, after=page["messages"][-1]["seq"])
    assert rest["more"] is False
    seqs = [m["seq"] for m in page["messages"] + rest["messages"]]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 251
    small = await agent.request("sync", cid=cid, after=10, limit=5)
    assert [m["seq"] for m in small["messages"]] == [11, 12, 13, 14, 15]


async def test_request_helper_raises(live: Live) -> None:
    visitor = await live.visitor()
    try:
        await visitor.request("msg", cid="c_nope", text="x", cmid="1")
    except ServerError as exc:
        assert exc.code == "not_found"
    else:
        raise AssertionError("expected not_found")
