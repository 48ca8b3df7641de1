"""Issue 14, a site's settings: REST read and change by role, the pre-chat form and topic
checks at `start` (answers shown to agents only), and sneak peek."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from chat_server.core import site_settings
from chat_server.core.model import AgentRole, Site
from chat_server.service.visitor import SITE_FRESH_S
from tests.conftest import Live
from tests.http import http_client

FORM = [
    {"name": "email", "label": "Email", "type": "email", "required": True},
    {"name": "plan", "label": "Plan", "type": "select", "options": ["Free", "Pro"]},
    {"name": "terms", "label": "I accept the terms", "type": "checkbox", "required": True},
]


async def configure(live: Live, **settings: Any) -> None:
    site = site_settings.apply(Site("shop", ("https://shop.example",)), settings)
    await live.store.directory.put_site(site)


async def call(
    live: Live, method: str, path: str, token: str | None, headers: Any = None, **kw: Any
) -> httpx.Response:
    headers = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    async with http_client(base_url=live.base) as http:
        return await http.request(method, path, headers=headers, **kw)


async def test_any_agent_reads_the_settings(live: Live) -> None:
    agent = await live.add_agent("Alice")
    token = await live.token(agent)
    got = await call(live, "GET", "/api/sites/shop", token)
    assert got.status_code == 200
    assert got.json() == {
        "id": "shop",
        "origins": ["https://shop.example"],
        "hours": None,
        "open": True,
        "next_change": None,
        "form": [],
        "topics": [],
        "privacy": None,
        "sneak_peek": False,
        "offline_after_s": 120,
        "inactive_warn_s": 600,
        "inactive_close_s": 120,
        "files": {
            "max_bytes": 10 * 1024 * 1024,
            "types": ["png", "jpeg", "gif", "webp", "pdf", "txt"],
        },
        "bot": None,
    }
    assert (await call(live, "GET", "/api/sites/nope", token)).status_code == 404
    assert (await call(live, "GET", "/api/sites/shop", None)).status_code == 401


async def test_supervisors_change_them_and_it_is_audited(live: Live) -> None:
    boss = await live.add_agent("Sam", role=AgentRole.SUPERVISOR)
    alice = await live.add_agent("Alice")
    s_tok, a_tok = await live.token(boss), await live.token(alice)
    body = {
        "hours": {"tz": "UTC", "weekly": {d: [["00:00", "24:00"]] for d in ("mon", "tue")}},
        "form": FORM,
        "sneak_peek": True,
        "inactive_warn_s": 300,
    }
    refused = await call(live, "PUT", "/api/sites/shop/settings", a_tok, json=body)
    assert refused.status_code == 403
    assert (await live.store.directory.site("shop")).form == ()
    changed = await call(live, "PUT", "/api/sites/shop/settings", s_tok, json=body)
    assert changed.status_code == 200
    shown = changed.json()
    assert shown["form"][1]["options"] == ["Free", "Pro"] and shown["sneak_peek"] is True
    assert shown["hours"]["weekly"]["mon"] == [["00:00", "24:00"]]
    assert shown["inactive_warn_s"] == 300 and shown["offline_after_s"] == 120  # left as it was
    stored = await live.store.directory.site("shop")
    assert stored.sneak_peek and stored.inactive_warn_s == 300 and len(stored.form) == 3
    log = (await call(live, "GET", "/api/audit", s_tok)).json()["entries"]
    entry = next(e for e in log if e["action"] == "site_settings")
    assert entry["agent"] == boss.id
    assert entry["detail"] == {"site": "shop", "changed": sorted(body)}
    assert (await call(live, "GET", "/api/sites/shop", a_tok)).json()["sneak_peek"] is True


async def test_bad_settings_are_refused_with_a_reason(live: Live) -> None:
    boss = await live.add_agent("Sam", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)
    cases: list[tuple[Any, str]] = [
        ({"hours": {"tz": "Mars/Olympus"}}, "unknown time zone"),
        ({"form": [{"name": "x", "type": "date"}]}, "type is one of"),
        ({"inactive_close_s": 0}, "inactive_close_s"),
        ({"colour": "red"}, "unknown setting"),
        ([], "JSON object"),
    ]
    for body, message in cases:
        got = await call(live, "PUT", "/api/sites/shop/settings", token, json=body)
        assert got.status_code == 400, body
        assert got.json()["error"] == "bad_request" and message in got.json()["message"]
    raw = await call(live, "PUT", "/api/sites/shop/settings", token, content=b"{not json")
    assert raw.status_code == 400 and raw.json()["error"] == "bad_request"
    lone = await call(
        live, "PUT", "/api/sites/shop/settings", token, content=b'{"privacy": {"text": "\\ud800"}}'
    )
    assert lone.status_code == 400
    missing = await call(live, "PUT", "/api/sites/nope/settings", token, json={})
    assert missing.status_code == 404
    assert await live.store.directory.site("shop") == Site("shop", ("https://shop.example",))


async def test_a_cross_site_put_is_refused(live: Live) -> None:
    boss = await live.add_agent("Sam", role=AgentRole.SUPERVISOR)
    got = await call(
        live,
        "PUT",
        "/api/sites/shop/settings",
        await live.token(boss),
        json={"sneak_peek": True},
        headers={"Origin": "https://evil.example"},
    )
    assert got.status_code == 403


async def test_the_form_is_checked_and_agents_see_the_answers(live: Live) -> None:
    await configure(live, form=FORM)
    agent = await live.agent()
    visitor = await live.visitor()
    assert await visitor.error("start", text="hi") == "bad_request"
    missing = await visitor.reply("start", text="hi", fields={"terms": True})
    assert missing["code"] == "bad_request" and "'email'" in missing["message"]
    bad = await visitor.reply("start", text="hi", fields={"email": "nope", "terms": True})
    assert "not an email" in bad["message"]
    other = await visitor.reply(
        "start", text="hi", fields={"email": "a@b.example", "terms": True, "plan": "Gold"}
    )
    assert "'plan'" in other["message"]
    unknown = await visitor.reply(
        "start", text="hi", fields={"email": "a@b.example", "terms": True, "age": "9"}
    )
    assert "unknown field 'age'" in unknown["message"]
    not_a_map = await visitor.reply("start", text="hi", fields=["a@b.example"])
    assert not_a_map["code"] == "bad_request"
    answers = {"email": "vera@shop.example", "plan": "Pro", "terms": True}
    conv = (await visitor.request("start", text="hi", fields=answers))["conversation"]
    assert "fields" not in conv  # never sent back to visitors
    assigned = await agent.event("assigned")
    assert assigned["conversation"]["fields"] == answers
    stored = await live.store.conversations.get(conv["id"])
    assert dict(stored.fields) == answers


async def test_topics_are_checked_when_the_site_has_some(live: Live) -> None:
    visitor = await live.visitor()
    await visitor.request("start", text="any topic goes", topic="whatever")  # no topics set
    await configure(live, topics=[{"id": "billing", "label": "Billing"}])
    other = await live.visitor()
    wrong = await other.reply("start", text="hi", topic="sales")
    assert wrong["code"] == "bad_request" and "unknown topic 'sales'" in wrong["message"]
    conv = (await other.request("start", text="hi", topic="billing"))["conversation"]
    assert conv["topic"] == "billing"


async def test_sneak_peek_is_off_unless_the_site_turns_it_on(live: Live) -> None:
    agent = await live.agent()
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await agent.event("assigned")
    await visitor.request("typing", cid=cid, on=True, preview="my card number is")
    typing = await agent.event("typing", cid=cid)
    assert typing["on"] is True and "preview" not in typing  # typing itself still goes
    boss = await live.add_agent("Sam", role=AgentRole.SUPERVISOR)
    turned = await call(
        live, "PUT", "/api/sites/shop/settings", await live.token(boss), json={"sneak_peek": True}
    )
    assert turned.status_code == 200
    await asyncio.sleep(SITE_FRESH_S)  # a socket's copy of its site is at most this old
    await visitor.request("typing", cid=cid, on=True, preview="order 12")
    typing = await agent.event("typing", cid=cid)
    assert typing["preview"] == "order 12"
