"""Identity (issue: security): signed, expiring visitor tokens, site-verified user ids,
revocable API tokens, and the audit log of agent actions."""

from __future__ import annotations

from pathlib import Path

from chat_server.core import tokens
from chat_server.core.model import AgentRole, Site
from tests.client import connect_agent
from tests.conftest import PASSWORD, Live
from tests.http import http_client
from tests.processes import cli, provision


async def test_expired_and_foreign_site_tokens_give_a_new_visitor(live: Live) -> None:
    first = await live.visitor()
    vid = first.hello["visitor"]["id"]
    secret, now = live.runtime.node.secret, live.runtime.node.clock.now_ms()
    expired = tokens.sign_visitor(secret, vid, "shop", now - 1)
    assert (await live.visitor(token=expired)).hello["visitor"]["id"] != vid
    await live.store.directory.put_site(Site("other", ("https://shop.example",)))
    elsewhere = tokens.sign_visitor(secret, vid, "other", now + 60_000)
    assert (await live.visitor(token=elsewhere)).hello["visitor"]["id"] != vid
    valid = tokens.sign_visitor(secret, vid, "shop", now + 60_000)
    assert (await live.visitor(token=valid)).hello["visitor"]["id"] == vid


async def test_verified_identity_reaches_only_its_own_history(live: Live) -> None:
    await live.store.directory.put_site(Site("shop", ("https://shop.example",), "site-secret"))
    good = tokens.identity_hash("site-secret", "user-42")
    phone = await live.visitor(user_id="user-42", user_hash=good)
    cid = (await phone.request("start", text="my order"))["conversation"]["id"]
    laptop = await live.visitor(user_id="user-42", user_hash=good)  # another device
    assert laptop.hello["conversation"]["id"] == cid
    assert laptop.hello["visitor"]["id"] == phone.hello["visitor"]["id"]

    intruder = await live.visitor(codec="chat.v1.msgpack")  # anonymous, then claims user-42
    assert await intruder.error("hello", user_id="user-42", user_hash="0" * 64) == "conflict"
    from tests.client import connect_visitor

    fresh = await connect_visitor(
        live.ws, site="shop", origin="https://shop.example", codec="chat.v1.json"
    )
    live.clients.append(fresh)
    wrong = tokens.identity_hash("guessed-secret", "user-42")
    assert await fresh.error("hello", user_id="user-42", user_hash=wrong) == "unauthorized"
    assert await fresh.error("sync", cid=cid, after=0) == "unauthorized"  # still no hello
    other = await fresh.request(
        "hello", user_id="user-7", user_hash=tokens.identity_hash("site-secret", "user-7")
    )
    assert other["conversation"] is None
    assert await fresh.error("sync", cid=cid, after=0) == "not_found"


async def test_revoked_tokens_stop_working(live: Live) -> None:
    agent = await live.add_agent("Alice")
    token = await live.token(agent)
    assert await live.store.directory.revoke_agent_credentials(agent.id) == 1
    client = await connect_agent(live.ws, codec="chat.v1.json")
    live.clients.append(client)
    assert (await client.reply("hello", token=token))["code"] == "unauthorized"
    async with http_client(base_url=live.base) as http:
        denied = await http.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 401


def test_cli_revoke_and_identity_site(tmp_path: Path) -> None:
    provision(tmp_path)
    cli(tmp_path, "agent", "token", "kim@shop.example")
    assert "revoked 2 token(s)" in cli(tmp_path, "agent", "revoke", "kim@shop.example")
    out = cli(tmp_path, "site", "add", "shop", "--origin", "https://shop.example", "--identity")
    secret = out.strip().splitlines()[-1]
    assert len(secret) >= 40  # the generated secret, on the last line
    again = cli(tmp_path, "site", "add", "shop", "--origin", "https://shop.example", "--identity")
    assert again.strip().splitlines()[-1] == secret  # re-adding keeps it


async def test_every_agent_action_is_audited(live: Live) -> None:
    alice = await live.agent(name="Alice", online=False)
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    visitor = await live.visitor()
    cid = (await visitor.request("start", text="hi"))["conversation"]["id"]
    await alice.request("claim", cid=cid)
    await alice.request("msg", cid=cid, text="secret text", cmid="m1")
    await alice.request("note", cid=cid, text="note text", cmid="n1")
    await alice.request("sync", cid=cid, after=0)
    await alice.request("close", cid=cid, resolved=True)
    async with http_client(base_url=live.base) as http:
        auth = {"Authorization": f"Bearer {await live.token(boss)}"}
        await http.get(f"/api/conversations/{cid}", headers=auth)
        log = (await http.get(f"/api/audit?cid={cid}", headers=auth)).json()["entries"]
        assert [e["action"] for e in reversed(log)] == [
            "claim",
            "msg",
            "note",
            "sync",
            "close",
            "view",
        ]
        assert log[1]["detail"] == {"resolved": True}
        assert all("secret text" not in str(e) for e in log)  # actions, never message text
        assert {e["agent"] for e in log[1:]} == {alice.agent.id}
        denied = await http.get(
            "/api/audit", headers={"Authorization": f"Bearer {await live.token(alice.agent)}"}
        )
        assert denied.status_code == 403


async def test_cookie_is_secure_behind_a_tls_proxy(start_server: object) -> None:
    live = await start_server(behind_proxy=True)  # type: ignore[operator]
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as http:
        response = await http.post(
            "/api/login",
            json={"email": agent.email, "password": PASSWORD},
            headers={"X-Forwarded-Proto": "https"},
        )
        cookie = response.headers["set-cookie"].lower()
        assert response.status_code == 200
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        plain = await http.post("/api/login", json={"email": agent.email, "password": PASSWORD})
        assert "secure" not in plain.headers["set-cookie"].lower()


async def test_cross_site_cookie_posts_are_refused(live: Live) -> None:
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as http:
        login = await http.post("/api/login", json={"email": agent.email, "password": PASSWORD})
        assert login.status_code == 200  # the client keeps the cookie from here on
        evil = {"Origin": "https://evil.example"}
        forged = await http.post("/api/logout", headers=evil)
        assert forged.status_code == 403
        assert (await http.get("/api/me")).status_code == 200  # still logged in
        forged_login = await http.post(
            "/api/login", headers=evil, json={"email": agent.email, "password": PASSWORD}
        )
        assert forged_login.status_code == 403


async def test_no_compression_is_negotiated(live: Live) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        f"{live.ws}/ws/visitor?site=shop", origin="https://shop.example", compression="deflate"
    ) as ws:  # type: ignore[arg-type]
        assert ws.protocol.extensions == []
