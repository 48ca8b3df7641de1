"""Contract §1: login/logout, cookies vs tokens on /ws/agent, REST views by role, ops."""

from __future__ import annotations

import httpx

from chat_server.core.model import AgentRole
from tests.client import connect_agent
from tests.conftest import PASSWORD, Live, ServerFactory
from tests.http import http_client


async def login(live: Live, email: str, password: str = PASSWORD) -> httpx.Response:
    async with http_client(base_url=live.base) as http:
        return await http.post("/api/login", json={"email": email, "password": password})


async def test_login_cookie_and_logout(live: Live) -> None:
    agent = await live.add_agent("Alice")
    bad = await login(live, agent.email, "wrong password")
    assert bad.status_code == 401 and bad.json() == {"error": "unauthorized"}
    ok = await login(live, agent.email)
    assert ok.status_code == 200
    assert ok.json()["agent"] == {"id": agent.id, "name": "Alice", "role": "agent", "max_chats": 3}
    set_cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    cookie = ok.cookies["chat_session"]
    async with http_client(base_url=live.base, cookies={"chat_session": cookie}) as http:
        assert (await http.get("/api/me")).json()["agent"]["id"] == agent.id
        form = await http_client(base_url=live.base).post(
            "/api/login", data={"email": agent.email, "password": PASSWORD}
        )
        assert form.status_code == 200
        assert (await http.post("/api/logout")).status_code == 200
        assert (await http.get("/api/me")).status_code == 401


async def test_login_throttled(start_server: ServerFactory) -> None:
    live = await start_server(login_attempts=3)
    agent = await live.add_agent("Alice")
    codes = [(await login(live, agent.email, "nope")).status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert (await login(live, agent.email)).status_code == 429


async def test_cookie_socket_from_own_origin_only(start_server: ServerFactory) -> None:
    """Cross-site WebSocket hijacking: a foreign page's socket carries the cookie, but the
    server does not accept it; it must authenticate with hello.token in time."""
    live = await start_server(hello_timeout_s=0.5)
    agent = await live.add_agent("Alice")
    cookie = (await login(live, agent.email)).cookies["chat_session"]
    headers = {"Cookie": f"chat_session={cookie}"}
    same = await connect_agent(live.ws, codec="chat.v1.json", origin=live.base, headers=headers)
    live.clients.append(same)
    assert (await same.request("hello"))["agent"]["id"] == agent.id
    evil = await connect_agent(
        live.ws, codec="chat.v1.json", origin="https://evil.example", headers=headers
    )
    live.clients.append(evil)
    assert (await evil.reply("hello"))["code"] == "unauthorized"
    assert await evil.close_code() == 4401


async def test_token_socket_from_any_origin(live: Live) -> None:
    agent = await live.add_agent("Bot")
    client = await connect_agent(live.ws, codec="chat.v1.json", origin="https://crm.example")
    live.clients.append(client)
    hello = await client.request("hello", token=await live.token(agent))
    assert hello["agent"]["name"] == "Bot" and hello["status"] == "away"


async def test_status_is_remembered(live: Live) -> None:
    agent = await live.add_agent("Alice")
    first = await live.agent(agent)
    await first.close()
    again = await live.agent(agent, online=False)
    assert again.hello["status"] == "online"


async def test_conversations_api_by_role(live: Live) -> None:
    alice = await live.agent(name="Alice")
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    bob = await live.add_agent("Bob")
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.event("assigned")
    await alice.request("note", cid=cid, text="internal", cmid="n")

    async def get(agent_token: str, path: str) -> httpx.Response:
        async with http_client(base_url=live.base) as http:
            return await http.get(path, headers={"Authorization": f"Bearer {agent_token}"})

    a_tok, b_tok, s_tok = (
        await live.token(alice.agent),
        await live.token(bob),
        await live.token(boss),
    )
    mine = (await get(a_tok, "/api/conversations")).json()["conversations"]
    assert [c["id"] for c in mine] == [cid]
    assert (await get(b_tok, "/api/conversations")).json()["conversations"] == []
    assert (await get(b_tok, f"/api/conversations?agent={alice.agent.id}")).status_code == 403
    everything = (await get(s_tok, "/api/conversations?state=active")).json()["conversations"]
    assert [c["id"] for c in everything] == [cid]
    detail = await get(a_tok, f"/api/conversations/{cid}")
    assert detail.status_code == 200
    assert [m["kind"] for m in detail.json()["messages"]][-1] == "note"
    assert (await get(b_tok, f"/api/conversations/{cid}")).status_code == 403
    assert (await get(s_tok, f"/api/conversations/{cid}")).status_code == 200
    assert (await get(s_tok, "/api/conversations/c_none")).status_code == 404
    assert (await get("cat_forged", "/api/conversations")).status_code == 401
    assert (await get(a_tok, "/api/conversations?state=bogus")).status_code == 400


async def test_health_ready_metrics_and_pages(live: Live) -> None:
    async with http_client(base_url=live.base) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        await live.visitor()
        metrics = (await http.get("/metrics")).text
        assert 'chat_connections{role="visitor"} 1.0' in metrics
        widget = await http.get("/widget.js")
        assert widget.status_code == 200
        assert widget.headers["content-type"].startswith("text/javascript")
        for page in ("/console", "/dashboard"):
            response = await http.get(page)
            assert response.status_code == 200, page
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        home = await http.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/console"


async def test_demo_serves_the_shop(start_server: ServerFactory) -> None:
    live = await start_server(demo=True)
    async with http_client(base_url=live.base) as http:
        shop = await http.get("/")
        assert shop.status_code == 200 and 'src="/widget.js"' in shop.text
        login = await http.post(
            "/api/login", json={"email": "agent@demo.test", "password": "demo-agent"}
        )
        assert login.status_code == 200


async def test_agents_table_for_supervisors(live: Live) -> None:
    alice = await live.agent(name="Alice")
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.event("assigned")
    await alice.request("msg", cid=cid, text="hello", cmid="a")
    async with http_client(base_url=live.base) as http:
        for_boss = await http.get(
            "/api/agents", headers={"Authorization": f"Bearer {await live.token(boss)}"}
        )
        row = next(a for a in for_boss.json()["agents"] if a["name"] == "Alice")
        assert (row["status"], row["connected"], row["active"]) == ("online", True, 1)
        assert row["frt_s"]["n"] == 1 and row["answered"] == 1
        denied = await http.get(
            "/api/agents", headers={"Authorization": f"Bearer {await live.token(alice.agent)}"}
        )
        assert denied.status_code == 403


async def test_previous_conversations_of_the_visitor_being_served(live: Live) -> None:
    alice = await live.agent(name="Alice")
    visitor = await live.visitor()
    first = (await visitor.request("start", text="first"))["conversation"]["id"]
    await alice.event("assigned")
    await alice.request("close", cid=first, resolved=True)
    second = (await visitor.request("start", text="second"))["conversation"]["id"]
    await alice.event("assigned")
    vid = visitor.hello["visitor"]["id"]
    async with http_client(base_url=live.base) as http:
        auth = {"Authorization": f"Bearer {await live.token(alice.agent)}"}
        found = (await http.get(f"/api/conversations?visitor={vid}", headers=auth)).json()
        assert [c["id"] for c in found["conversations"]] == [second, first]
        bob = await live.add_agent("Bob")
        other = await http.get(
            f"/api/conversations?visitor={vid}",
            headers={"Authorization": f"Bearer {await live.token(bob)}"},
        )
        assert other.status_code == 403


async def test_team_profile_gzip_and_earlier_transcripts(live: Live) -> None:
    alice = await live.agent(name="Alice")
    visitor = await live.visitor()
    first = (await visitor.request("start", text="first"))["conversation"]["id"]
    await alice.event("assigned")
    await alice.request("close", cid=first, resolved=True)
    second = (await visitor.request("start", text="second"))["conversation"]["id"]
    await alice.event("assigned", timeout=5)
    me = await visitor.request("profile", name="Vera", email="vera@example.com")
    assert me["visitor"]["name"] == "Vera"
    changed = await alice.event("visitor_profile", cid=second)
    assert changed["email"] == "vera@example.com"
    async with http_client(base_url=live.base) as http:
        auth = {"Authorization": f"Bearer {await live.token(alice.agent)}"}
        team = (await http.get("/api/team", headers=auth)).json()["agents"]
        assert [(a["name"], a["connected"], a["active"]) for a in team] == [("Alice", True, 1)]
        earlier = await http.get(f"/api/conversations/{first}", headers=auth)
        assert earlier.status_code == 200  # she serves this visitor now
        widget = await http.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        assert widget.headers.get("content-encoding") == "gzip"


async def test_cookie_counts_only_for_fetch(live: Live) -> None:
    """A URL of the API loaded as an image, style, frame or page (e.g. from replayed
    co-browse content) carries the agent's cookie but is not the console asking: only
    `fetch` (`Sec-Fetch-Dest: empty`, or no such header) is authenticated by the cookie;
    an API token works whatever the destination."""
    agent = await live.add_agent("Alice")
    cookie = (await login(live, agent.email)).cookies["chat_session"]
    async with http_client(base_url=live.base, cookies={"chat_session": cookie}) as http:
        assert (await http.get("/api/me")).status_code == 200
        assert (await http.get("/api/me", headers={"Sec-Fetch-Dest": "empty"})).status_code == 200
        for dest in ("image", "style", "iframe", "document", "script"):
            answer = await http.get("/api/conversations", headers={"Sec-Fetch-Dest": dest})
            assert answer.status_code == 401, dest
    token = await live.token(agent)
    async with http_client(
        base_url=live.base, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        assert (await http.get("/api/me", headers={"Sec-Fetch-Dest": "image"})).status_code == 200
