"""Conversation tags (issue 17) over a real server, on both backends: the console's `tag`
frame and the write API change them alike, staff following the conversation get `tagged`
(the visitor never hears of tags), conversation views carry them, and
`GET /api/conversations?tag=` and `GET /api/search?tag=` filter by them."""

from __future__ import annotations

from typing import Any

import httpx

from chat_server.core.model import AgentRole
from tests.conftest import Live
from tests.http import http_client


async def http(live: Live, token: str, method: str, path: str, **kw: Any) -> httpx.Response:
    async with http_client(base_url=live.base) as client:
        return await client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kw
        )


async def test_tag_frame_event_and_rest(live: Live) -> None:
    alice = await live.agent(name="Alice")
    boss = await live.agent(name="Boss", role=AgentRole.SUPERVISOR, online=False)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="refund please"))["conversation"]["id"]
    await alice.event("assigned")
    await boss.request("watch", cid=cid, on=True)

    ok = await alice.request("tag", cid=cid, add=["Refund", "vip"])
    assert ok["tags"] == ["refund", "vip"]
    assert (await boss.event("tagged", cid=cid))["tags"] == ["refund", "vip"]
    await alice.no_event("tagged", within=0.2)  # the sender has its ok
    assert (await alice.request("tag", cid=cid, remove=["vip"]))["tags"] == ["refund"]
    assert await alice.error("tag", cid=cid, add=["not ok"]) == "bad_request"
    assert await alice.error("tag", cid=cid, add=[f"t{i}" for i in range(20)]) == "bad_request"
    assert await alice.error("tag", cid="c_nope", add=["x"]) == "not_found"

    token = await live.token(alice.agent)
    r = await http(live, token, "POST", f"/api/conversations/{cid}/tags", json={"add": ["billing"]})
    assert r.status_code == 200 and r.json()["tags"] == ["billing", "refund"]
    assert (await alice.event("tagged", cid=cid))["tags"] == ["billing", "refund"]  # REST: all
    r = await http(live, token, "DELETE", f"/api/conversations/{cid}/tags?tag=refund")
    assert r.json()["tags"] == ["billing"]
    r = await http(live, token, "PUT", f"/api/conversations/{cid}/tags", json={"tags": ["a", "b"]})
    assert r.json()["tags"] == ["a", "b"]
    r = await http(live, token, "PUT", f"/api/conversations/{cid}/tags", json={"tags": ["B A"]})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    await visitor.no_event("tagged", within=0.2)
    assert all("tags" not in e.get("conversation", {}) for e in visitor.events)

    # another agent may not tag it; the view carries the tags
    carl = await live.agent(name="Carl", online=False)
    assert await carl.error("tag", cid=cid, add=["x"]) == "forbidden"
    r = await http(live, token, "GET", f"/api/conversations/{cid}")
    assert r.json()["conversation"]["tags"] == ["a", "b"]
    log = await http(live, await live.token(boss.agent), "GET", "/api/audit", params={"cid": cid})
    tagged = [e for e in log.json()["entries"] if e["action"] == "tag"]
    assert tagged[0]["detail"] == {"tags": ["a", "b"]} and len(tagged) == 5


async def test_filters_by_tag(live: Live) -> None:
    alice = await live.agent(name="Alice", max_chats=5)
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    cids = []
    for text in ("first", "second", "third"):
        visitor = await live.visitor()
        cids.append((await visitor.request("start", text=text))["conversation"]["id"])
        await alice.event("assigned")
    await alice.request("tag", cid=cids[0], add=["sale"])
    await alice.request("tag", cid=cids[2], add=["sale", "urgent"])
    await alice.request("close", cid=cids[0], resolved=True)
    token, boss_token = await live.token(alice.agent), await live.token(boss)

    listed = await http(live, token, "GET", "/api/conversations", params={"tag": "SALE"})
    assert [c["id"] for c in listed.json()["conversations"]] == [cids[2], cids[0]]
    assert listed.json()["conversations"][0]["tags"] == ["sale", "urgent"]
    listed = await http(
        live, token, "GET", "/api/conversations", params={"tag": "sale", "state": "closed"}
    )
    assert [c["id"] for c in listed.json()["conversations"]] == [cids[0]]
    mine = await http(live, token, "GET", "/api/conversations")
    assert {c["id"]: c["tags"] for c in mine.json()["conversations"]}[cids[1]] == []
    bad = await http(live, token, "GET", "/api/conversations", params={"tag": "no way"})
    assert bad.status_code == 400

    found = await http(live, boss_token, "GET", "/api/search", params={"tag": "sale"})
    assert [r["conversation"]["id"] for r in found.json()["results"]] == [cids[2], cids[0]]
    found = await http(live, boss_token, "GET", "/api/search", params={"tag": "sale", "q": "first"})
    assert [r["conversation"]["id"] for r in found.json()["results"]] == [cids[0]]
    found = await http(
        live, boss_token, "GET", "/api/search", params={"tag": "urgent", "state": "closed"}
    )
    assert found.json()["results"] == []
    found = await http(live, boss_token, "GET", "/api/search", params={"tag": "none-such"})
    assert found.json() == {"results": [], "next": None}
    bad = await http(live, boss_token, "GET", "/api/search", params={"tag": "x" * 33})
    assert bad.status_code == 400
