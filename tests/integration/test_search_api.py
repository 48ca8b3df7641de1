"""`GET /api/search` over a real server, on both backends (issue 16): a conversation closed
through the sockets is indexed by the server itself and found by its words, visitor and
agent; agents find only what they held (and may then open it, even after a transfer),
supervisors everything; open conversations are found by their fields; results page by an
opaque cursor; every bad parameter is a 400 that says which."""

from __future__ import annotations

from typing import Any

import httpx

from chat_server.core.model import AgentRole
from tests.conftest import Live
from tests.http import http_client


async def chat(live: Live, *lines: str, email: str | None = None) -> tuple[Any, str]:
    """A visitor who gives a name and email and starts a chat; its id."""
    visitor = await live.visitor()
    if email:
        await visitor.request("profile", name="Jane Doe", email=email)
    cid = (await visitor.request("start", text=lines[0]))["conversation"]["id"]
    for line in lines[1:]:
        await visitor.request("msg", cid=cid, text=line, cmid=line)
    return visitor, cid


async def get(live: Live, token: str, **params: Any) -> httpx.Response:
    async with http_client(base_url=live.base) as http:
        return await http.get(
            "/api/search", params=params, headers={"Authorization": f"Bearer {token}"}
        )


def found(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["conversation"]["id"] for r in response.json()["results"]]


async def test_search_by_role_after_a_transfer(live: Live) -> None:
    alice = await live.agent(name="Alice")
    bob = await live.agent(name="Bob", online=False)
    cat = await live.add_agent("Cat")
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    visitor, cid = await chat(live, "My parcel 12345 never arrived", email="Jane@Example.com")
    await alice.event("assigned")
    await alice.request("msg", cid=cid, text="Sorry! Let me check the tracking.", cmid="a1")
    await alice.request("note", cid=cid, text="carrier lost it, refund approved", cmid="n1")
    await alice.request("transfer", cid=cid, to=bob.agent.id)
    await bob.event("assigned")
    await bob.request("close", cid=cid, resolved=True)
    await visitor.event("closed")
    await visitor.request("rate", cid=cid, csat=4)
    _, other = await chat(live, "Hello, a question about my invoice")  # open: Alice's now
    await alice.event("assigned")
    tokens = {a: await live.token(a) for a in (alice.agent, bob.agent, cat, boss)}

    for who in (alice.agent, bob.agent, boss):
        assert found(await get(live, tokens[who], q="parcel")) == [cid], who.name
    assert found(await get(live, tokens[cat], q="parcel")) == []
    assert found(await get(live, tokens[boss], q="refund approv")) == [cid]  # a note
    assert found(await get(live, tokens[boss], visitor="jane@example.com")) == [cid]
    assert found(await get(live, tokens[boss], visitor="doe", rating="4")) == [cid]
    assert found(await get(live, tokens[boss], state="open")) == [other]
    assert found(await get(live, tokens[boss])) == [other, cid]
    assert found(await get(live, tokens[boss], agent=alice.agent.id)) == [other, cid]
    assert found(await get(live, tokens[boss], agent=bob.agent.id)) == [cid]
    assert found(await get(live, tokens[bob.agent])) == [cid]  # an agent: their own only
    assert (await get(live, tokens[alice.agent], agent=bob.agent.id)).status_code == 403

    body = (await get(live, tokens[boss], q="check tracking")).json()
    result = body["results"][0]
    assert body["next"] is None
    assert result["conversation"]["state"] == "closed"
    assert result["conversation"]["visitor"]["email"] == "Jane@Example.com"
    assert result["rating"] == {"csat": 4, "nps": None, "ces": None}
    snippet = result["snippet"]
    assert snippet["kind"] == "text"
    assert "".join(p["text"] for p in snippet["parts"]) == "Sorry! Let me check the tracking."
    assert [p["text"] for p in snippet["parts"] if p["hit"]] == ["check", "tracking"]

    # Alice handed it on before it closed: she may still open it from her history
    async with http_client(base_url=live.base) as http:
        for who, status in ((alice.agent, 200), (bob.agent, 200), (cat, 403), (boss, 200)):
            opened = await http.get(
                f"/api/conversations/{cid}",
                headers={"Authorization": f"Bearer {tokens[who]}"},
            )
            assert opened.status_code == status, who.name
    kinds = [m["kind"] for m in opened.json()["messages"]]
    assert "note" in kinds


async def test_pages_by_cursor(live: Live) -> None:
    alice = await live.agent(name="Alice")
    made = []
    for n in range(5):
        visitor, cid = await chat(live, f"order number{n} is late")
        await alice.event("assigned", timeout=5)
        await alice.request("close", cid=cid, resolved=True)
        await visitor.event("closed")
        made.append(cid)
    token = await live.token(alice.agent)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"q": "order late", "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await get(live, token, **params)).json()
        seen += [r["conversation"]["id"] for r in body["results"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert (seen, pages) == (made[::-1], 3)


async def test_bad_parameters_are_400_with_a_reason(live: Live) -> None:
    token = await live.token(await live.add_agent("Alice"))
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "x"},
        {"limit": "²"},
        {"from": "2026-13-01"},
        {"to": "yesterday"},
        {"from": "2026-02-02", "to": "2026-02-01"},
        {"from": "0001-01-01"},
        {"rating": "6"},
        {"rating": "good"},
        {"state": "bogus"},
        {"cursor": "!!!"},
        {"cursor": "bm90IG91cnM"},
        {"q": "x" * 501},
        {"q": " ".join(["w"] * 13)},
        {"visitor": "v" * 255},
    ):
        response = await get(live, token, **params)
        assert response.status_code == 400, params
        assert response.json()["error"] == "bad_request" and response.json()["message"], params
    for params in ({"q": '"'}, {"q": "NEAR("}, {"q": "*"}, {"q": "a OR b"}, {"q": "😀"}):
        assert (await get(live, token, **params)).status_code == 200, params
    async with http_client(base_url=live.base) as http:
        assert (await http.get("/api/search")).status_code == 401
        page = await http.get("/history")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
