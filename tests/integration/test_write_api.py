"""The REST write API (issue 17) over a real server, on both backends: a message posted
with an API token reaches the visitor's socket at once and is idempotent by cmid; a note
never reaches the visitor; close and transfer (with its note) announce as the frames do;
the audit log has the same entries; a token scoped to other sites is refused with 403,
bad input with 400, no token with 401."""

from __future__ import annotations

from typing import Any

import httpx

from chat_server.core import ids, tokens
from chat_server.core.model import Agent, AgentRole, Site
from chat_server.core.scopes import token_kind
from tests.conftest import Live
from tests.http import http_client


async def call(live: Live, token: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http_client(base_url=live.base) as http:
        return await http.request(method, f"/api/conversations{path}", headers=headers, **kw)


async def scoped_token(live: Live, agent_id: str, sites: list[str]) -> str:
    token = tokens.new_secret_token("cat")
    await live.store.directory.add_credential(
        tokens.hash_secret(token), agent_id, token_kind(sites), None
    )
    return token


async def assigned_chat(live: Live) -> tuple[Any, Any, str]:
    alice = await live.agent(name="Alice")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="Where is my order?"))["conversation"]["id"]
    await alice.event("assigned")
    await visitor.event("assigned")
    return alice, visitor, cid


async def test_a_message_reaches_the_visitor_and_a_note_does_not(live: Live) -> None:
    alice, visitor, cid = await assigned_chat(live)
    token = await live.token(alice.agent)

    posted = await call(
        live, token, "POST", f"/{cid}/messages", json={"text": "On its way!", "cmid": "r1"}
    )
    assert posted.status_code == 200, posted.text
    message = posted.json()["message"]
    assert message["kind"] == "text" and message["from"]["id"] == alice.agent.id
    seen = await visitor.event("msg", cid=cid, text="On its way!")
    assert seen["text"] == "On its way!" and seen["seq"] == message["seq"]
    assert (await alice.event("msg", text="On its way!"))["seq"] == message["seq"]  # console

    again = await call(
        live, token, "POST", f"/{cid}/messages", json={"text": "On its way!", "cmid": "r1"}
    )
    assert again.json()["message"]["seq"] == message["seq"]  # idempotent by cmid
    await visitor.no_event("msg", within=0.2, text="On its way!")

    noted = await call(live, token, "POST", f"/{cid}/notes", json={"text": "VIP customer"})
    assert noted.status_code == 200 and noted.json()["message"]["kind"] == "note"
    assert (await alice.event("msg", text="VIP customer"))["kind"] == "note"
    await visitor.no_event("msg", within=0.3, text="VIP customer")

    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    log = await call_audit(live, await live.token(boss), cid)
    assert [e["action"] for e in log] == ["note", "msg"]
    assert log[1]["detail"] == {"cmid": "r1"} and log[1]["agent"] == alice.agent.id


async def call_audit(live: Live, token: str, cid: str) -> list[dict[str, Any]]:
    async with http_client(base_url=live.base) as http:
        r = await http.get(
            "/api/audit", params={"cid": cid}, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return [e for e in entries if e["action"] != "view"]


async def test_close_is_announced(live: Live) -> None:
    alice, visitor, cid = await assigned_chat(live)
    token = await live.token(alice.agent)
    closed = await call(live, token, "POST", f"/{cid}/close", json={"resolved": True})
    assert closed.status_code == 200, closed.text
    assert (await visitor.event("closed", cid=cid))["by"] == "agent"
    await alice.event("closed", cid=cid)
    conv = await live.store.conversations.get(cid)
    assert conv.state.value == "closed" and conv.resolved is True
    again = await call(live, token, "POST", f"/{cid}/close", json={})
    assert again.status_code == 409 and again.json()["error"] == "closed"
    posted = await call(live, token, "POST", f"/{cid}/messages", json={"text": "late"})
    assert posted.status_code == 409


async def test_transfer_with_a_note(live: Live) -> None:
    alice, visitor, cid = await assigned_chat(live)
    bob = await live.agent(name="Bob")
    token = await live.token(alice.agent)
    moved = await call(
        live,
        token,
        "POST",
        f"/{cid}/transfer",
        json={"to": bob.agent.id, "note": "wants a refund", "cmid": "t1"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["conversation"]["agent"]["id"] == bob.agent.id
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    log = await call_audit(live, await live.token(boss), cid)
    assert [e["action"] for e in log] == ["transfer"]  # as the frame: the note is its part
    got = await bob.event("assigned")
    assert [m["text"] for m in got["messages"] if m["kind"] == "note"] == ["wants a refund"]
    await alice.event("unassigned", cid=cid)
    assert (await visitor.event("assigned", cid=cid))["agent"]["name"] == "Bob"
    await visitor.no_event("msg", within=0.2, text="wants a refund")
    # no longer Alice's: her token may not act on it
    refused = await call(live, token, "POST", f"/{cid}/messages", json={"text": "hi"})
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    # back to the queue, with a topic
    queued = await call(
        live, await live.token(bob.agent), "POST", f"/{cid}/transfer", json={"topic": "billing"}
    )
    assert queued.status_code == 200 and queued.json()["conversation"]["state"] in (
        "queued",
        "active",
    )


async def test_scope_auth_and_bad_input(live: Live) -> None:
    alice, _, cid = await assigned_chat(live)
    await live.store.directory.put_site(Site("blog", ("https://blog.example",)))
    blog_only = await scoped_token(live, alice.agent.id, ["blog"])
    shop_only = await scoped_token(live, alice.agent.id, ["shop", "blog"])
    out = await call(live, blog_only, "POST", f"/{cid}/messages", json={"text": "hi"})
    assert out.status_code == 403 and out.json()["error"] == "forbidden"
    assert (
        await call(live, shop_only, "POST", f"/{cid}/messages", json={"text": "hi"})
    ).status_code == 200

    assert (
        await call(live, None, "POST", f"/{cid}/messages", json={"text": "x"})
    ).status_code == 401
    assert (
        await call(live, "nope", "POST", f"/{cid}/messages", json={"text": "x"})
    ).status_code == 401
    session = await live.runtime.accounts.open_session(alice.agent)  # a console session
    assert (
        await call(live, session, "POST", f"/{cid}/notes", json={"text": "x"})
    ).status_code == 401

    token = await live.token(alice.agent)
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "a\x00b"}):
        r = await call(live, token, "POST", f"/{cid}/messages", json=body)
        assert r.status_code == 400 and r.json()["error"] == "bad_request", body
    r = await call(live, token, "POST", f"/{cid}/messages", content=b"[1]")
    assert r.status_code == 400
    r = await call(live, token, "POST", f"/{cid}/messages", content=b'{"text": "\\ud800"}')
    assert r.status_code == 400
    r = await call(live, token, "POST", f"/{cid}/messages", json={"text": "x" * 4001})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    r = await call(live, token, "POST", f"/{cid}/close", json={"resolved": "yes"})
    assert r.status_code == 400
    r = await call(live, token, "POST", "/c_missing/close", json={})
    assert r.status_code == 404
    r = await call(live, token, "POST", f"/{cid}/transfer", json={"to": "a_nobody"})
    assert r.status_code == 404


async def test_transfer_never_gives_to_a_bot_and_a_bot_token_does_not_transfer(
    live: Live,
) -> None:
    """Conversations reach a bot only through the site's routing, and a bot hands on only
    with `handoff`: the write API keeps both rules of the frames."""
    alice, _, cid = await assigned_chat(live)
    bot = Agent(ids.bot_id(), "faq-bot@test.example", "FAQ", AgentRole.BOT, 20)
    await live.store.directory.add_agent(bot)
    await live.agent(bot, online=False)  # connected, so only the rule refuses it
    to_bot = await call(
        live, await live.token(alice.agent), "POST", f"/{cid}/transfer", json={"to": bot.id}
    )
    assert to_bot.status_code == 400 and to_bot.json()["error"] == "bad_request"
    by_bot = await call(live, await live.token(bot), "POST", f"/{cid}/transfer", json={})
    assert by_bot.status_code == 403 and by_bot.json()["error"] == "forbidden"
    assert (await live.store.conversations.get(cid)).agent.id == alice.agent.id
