"""Issue 17, bots and handing on, end to end on both backends: a site's bot takes its new
conversations first, hands off to the front of the human queue with a note people see and
the visitor never does, never takes from the queue, and is named a bot to the visitor;
a transfer's note is an internal note."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chat_server.core import ids
from chat_server.core.model import Agent, AgentRole, Site
from tests.client import Client
from tests.conftest import Live, ServerFactory
from tests.http import http_client

FAST: dict[str, Any] = {"sweep_interval_s": 0.05, "queue_interval_s": 0.05}


async def add_bot(live: Live, name: str = "Shop assistant", *, site: str = "shop") -> Agent:
    """A bot account (as `agent add --role bot` makes it) that the site routes to first."""
    bot = Agent(ids.bot_id(), f"bot-{ids.new_id('x')}@test.example", name, AgentRole.BOT, 20)
    await live.store.directory.add_agent(bot)
    current = await live.store.directory.site(site)
    assert current is not None
    await live.store.directory.put_site(replace(current, bot=bot.id))
    return bot


async def start(visitor: Client, text: str) -> str:
    cid: str = (await visitor.request("start", text=text))["conversation"]["id"]
    return cid


async def test_bot_first_then_handoff_to_the_front_of_the_queue_then_a_person_closes(
    start_server: ServerFactory,
) -> None:
    live = await start_server(**FAST)
    await live.store.directory.put_site(Site("other", ("https://other.example",)))
    bot = await live.agent(await add_bot(live), online=False)  # a bot needs no status
    assert bot.hello["agent"]["role"] == "bot"
    alice = await live.agent(name="Alice", online=False)

    # another site has no bot: its conversation waits for people, the bot never takes it
    olga = await live.visitor(site="other", origin="https://other.example")
    waiting_cid = await start(olga, "Hello?")
    vera = await live.visitor()
    cid = await start(vera, "Do you ship to Norway?")

    assigned = await bot.event("assigned")
    assert assigned["conversation"]["id"] == cid
    assert assigned["conversation"]["agent"] == {
        "id": bot.agent.id,
        "name": "Shop assistant",
        "bot": True,
    }
    assert assigned["messages"][0]["text"] == "Do you ship to Norway?"
    joined = await vera.event("assigned")
    assert joined["agent"] == {"name": "Shop assistant", "bot": True}
    await bot.no_event("assigned", within=0.3)  # not the other site's
    assert await bot.error("claim", cid=waiting_cid) == "forbidden"

    await bot.request("msg", cid=cid, text="We ship in 3 to 5 days.", cmid="b-1")
    answer = await vera.event("msg", text="We ship in 3 to 5 days.")
    assert answer["from"] == {"role": "agent", "name": "Shop assistant", "bot": True}
    await vera.request("msg", cid=cid, text="I want a person please", cmid="v-2")

    note = "FAQ bot: the visitor asked for a person. They wrote: shipping to Norway"
    done = await bot.request("handoff", cid=cid, reason="asked_for_human", note=note)
    assert done["conversation"]["state"] == "queued"
    assert (await bot.event("unassigned", cid=cid))["reason"] == "handoff"
    await vera.event("msg", text="Connecting you with a person: please wait a moment")

    # first in the human queue, ahead of the one that waited longer
    queue = await alice.event("queue")
    while [w["cid"] for w in queue["waiting"]] != [cid, waiting_cid]:
        queue = await alice.event("queue")
    assert queue["waiting"][0].get("handoff") is True
    assert "handoff" not in queue["waiting"][1]

    await alice.request("status", state="online")
    taken = await alice.event("assigned")
    assert taken["conversation"]["id"] == cid
    notes = [m for m in taken["messages"] if m["kind"] == "note"]
    assert [(n["text"], n["from"].get("bot")) for n in notes] == [(note, True)]
    assert any(m["from"].get("bot") for m in taken["messages"] if m["kind"] == "text")
    now_alice = await vera.event("assigned")
    assert now_alice["agent"] == {"name": "Alice"}
    await alice.request("msg", cid=cid, text="Hi, Alice here.", cmid="a-1")
    human = await vera.event("msg", text="Hi, Alice here.")
    assert human["from"] == {"role": "agent", "name": "Alice"}

    await alice.request("close", cid=cid, resolved=True)
    assert (await vera.event("closed"))["cid"] == cid
    synced = await vera.request("sync", cid=cid, after=0)
    assert note not in [m["text"] for m in synced["messages"]]  # never the visitor's
    await bot.no_event("assigned", within=0.2)  # handed off: never the bot's again


async def test_without_its_bot_connected_a_site_goes_straight_to_people(
    start_server: ServerFactory,
) -> None:
    live = await start_server(**FAST)
    await add_bot(live)
    alice = await live.agent(name="Alice")
    vera = await live.visitor()
    avail = vera.hello["availability"]
    assert avail["online"] is True and "bot" not in avail
    cid = await start(vera, "Hello")
    assert (await alice.event("assigned"))["conversation"]["id"] == cid
    assert (await vera.event("assigned"))["agent"] == {"name": "Alice"}


async def test_a_bot_alone_is_not_people_online_and_bots_keep_to_their_part(
    start_server: ServerFactory,
) -> None:
    live = await start_server(**FAST)
    bot_agent = await add_bot(live)
    bot = await live.agent(bot_agent)  # even with status online
    vera = await live.visitor()
    avail = vera.hello["availability"]
    assert (avail["online"], avail.get("bot")) == (False, True)
    cid = await start(vera, "Hi")
    await bot.event("assigned")
    for t, fields in (
        ("transfer", {"cid": cid}),
        ("watch", {"cid": cid, "on": True}),
        ("assign", {"cid": cid, "to": bot_agent.id}),
    ):
        assert await bot.error(t, **fields) == "forbidden"
    alice = await live.agent(name="Alice")
    assert await alice.error("handoff", cid=cid, reason="x") == "forbidden"
    boss = await live.agent(name="Boss", role=AgentRole.SUPERVISOR)
    assert await boss.error("assign", cid=cid, to=bot_agent.id) == "bad_request"
    await boss.request("subscribe", stats=True)
    live_figures = (await boss.event("stats"))["live"]
    assert (live_figures["agents_online"], live_figures["active"]) == (2, 1)  # people; the bot's
    assert await alice.error("transfer", cid=cid, to=bot_agent.id) == "forbidden"  # not hers


async def test_a_transfer_note_is_an_internal_note_for_staff_only(
    start_server: ServerFactory,
) -> None:
    live = await start_server(**FAST)
    alice = await live.agent(name="Alice")
    vera = await live.visitor()
    cid = await start(vera, "My order is late")
    await alice.event("assigned")
    bob = await live.agent(name="Bob")
    sent = await alice.request("transfer", cid=cid, to=bob.agent.id, note="Order 1234, VIP")
    assert sent["conversation"]["agent"]["id"] == bob.agent.id
    taken = await bob.event("assigned")
    notes = [(m["text"], m["from"]["name"]) for m in taken["messages"] if m["kind"] == "note"]
    assert notes == [("Order 1234, VIP", "Alice")]
    assert await bob.error("transfer", cid=cid, note="x" * 4001) == "too_large"

    await bob.request("transfer", cid=cid, note="Back to the queue: billing")
    synced = await alice.request("sync", cid=cid, after=0)
    texts = [m["text"] for m in synced["messages"] if m["kind"] == "note"]
    assert texts == ["Order 1234, VIP", "Back to the queue: billing"]
    seen = await vera.request("sync", cid=cid, after=0)
    assert all(m["kind"] != "note" for m in seen["messages"])
    audit = [e for e in await live.store.audit.log(cid=cid) if e.action == "transfer"]
    assert len(audit) == 2 and all("VIP" not in e.detail for e in audit)
    async with http_client(base_url=live.base) as http:
        metrics = (await http.get("/metrics")).text
    assert 'chat_messages_total{kind="note",role="agent"} 2.0' in metrics  # both notes counted


async def test_the_bot_setting_over_rest_names_a_bot_account(live: Live) -> None:
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    alice = await live.add_agent("Alice")
    bot = Agent(ids.bot_id(), "faq@test.example", "FAQ", AgentRole.BOT, 20)
    await live.store.directory.add_agent(bot)
    headers = {"Authorization": f"Bearer {await live.token(boss)}"}
    async with http_client(base_url=live.base, headers=headers) as http:
        for value in (alice.id, ids.bot_id(), "nonsense"):
            put = await http.put("/api/sites/shop/settings", json={"bot": value})
            assert put.status_code == 400 and "bot" in put.json()["message"]
        put = await http.put("/api/sites/shop/settings", json={"bot": bot.id})
        assert put.status_code == 200
        assert (await http.get("/api/sites/shop")).json()["bot"] == bot.id
