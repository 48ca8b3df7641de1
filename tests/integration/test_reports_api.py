"""`GET /api/reports` (issue 16) over a real server on an injected clock, both backends:
conversations driven over WebSockets show up in the report JSON and in every CSV table;
visitors who come back and who do not; who may ask (401, 403); every bad parameter a 400
naming it; the CSV injection guard."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from chat_server.core.clock import ManualClock
from chat_server.core.model import AgentRole, Site, Topic
from chat_server.core.reports import CSV_COLUMNS
from tests.conftest import PASSWORD, Live, ServerFactory
from tests.http import http_client

START = 1_773_136_800_000
"""2026-03-10 10:00 UTC."""
DAY_S = 86_400
SHOP = Site(
    "shop",
    ("https://shop.example",),
    topics=(Topic("billing", "Billing"), Topic("returns", "Returns, refunds")),
)


async def get(live: Live, token: str | None, query: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http_client(base_url=live.base) as http:
        return await http.get(f"/api/reports{query}", headers=headers)


async def report(live: Live, token: str, query: str) -> dict[str, Any]:
    response = await get(live, token, query)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


async def table(live: Live, token: str, query: str, name: str) -> list[dict[str, str]]:
    """One CSV table, checked for its headers and its columns."""
    response = await get(live, token, f"{query}&format=csv&table={name}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith(
        f'attachment; filename="report-{name}-'
    )
    assert response.text.endswith("\r\n")
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS[name]
    return list(reader)


async def play_two_days(live: Live, clock: ManualClock) -> dict[str, Any]:
    """Day 1 (2026-03-10): V1 asks about billing, Ann answers and resolves it, V1 rates it
    5 / 9 / 6; V2 gives up waiting. Day 2: V1 comes back with a return."""
    await live.store.directory.put_site(SHOP)
    ann_agent = await live.add_agent("Ann", topics=frozenset({"billing"}))
    ann = await live.agent(ann_agent, online=False)
    v1 = await live.visitor(name="V1")
    c1 = (await v1.request("start", text="invoice?", topic="billing"))["conversation"]["id"]
    clock.advance(20)
    await ann.request("claim", cid=c1)
    clock.advance(10)
    await ann.request("msg", cid=c1, text="Here it is", cmid="a1")
    clock.advance(30)
    await ann.request("close", cid=c1, resolved=True)
    await v1.event("survey")
    await v1.request("rate", cid=c1, csat=5, nps=9, ces=6)
    v2 = await live.visitor(name="V2")
    c2 = (await v2.request("start", text="hello?", topic="returns"))["conversation"]["id"]
    clock.advance(40)
    await v2.request("close", cid=c2)

    clock.advance(DAY_S)
    c3 = (await v1.request("start", text="a return", topic="returns"))["conversation"]["id"]
    clock.advance(5)
    return {"ann": ann_agent, "c3": c3}


async def test_conversations_show_up_in_the_report_and_every_table(
    start_server: ServerFactory,
) -> None:
    clock = ManualClock(START)
    live = await start_server(clock=clock)
    people = await play_two_days(live, clock)
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)

    # day 1 alone: by the hour, compared with the day before (empty)
    day1 = await report(live, token, "?from=2026-03-10&to=2026-03-10")
    assert (day1["tz"], day1["from"], day1["to"], day1["days"]) == (
        "UTC",
        "2026-03-10",
        "2026-03-10",
        1,
    )
    assert day1["previous"] == {"from": "2026-03-09", "to": "2026-03-09"}
    assert day1["granularity"] == "hour"
    now = day1["summary"]["current"]
    assert (now["started"], now["answered"], now["abandoned"], now["closed"]) == (2, 1, 1, 2)
    assert (now["resolved"], now["abandon_pct"]) == (1, 50.0)
    assert now["csat"]["pct"] == 100.0 and now["csat"]["dist"]["5"] == 1
    assert now["nps"]["dist"]["9"] == 1 and now["nps"]["promoters"] == 1
    assert now["ces"]["dist"]["6"] == 1 and now["ces"]["mean"] == 6.0
    assert now["survey"] == {"shown": 1, "answered": 1, "pct": 100.0}
    assert abs(now["frt_s"]["p50"] - 30.0) <= 1.5  # from the start: waited 20 s, then 10 s
    assert day1["summary"]["previous"]["started"] == 0
    assert day1["visitors"]["current"] == {
        "visitors": 2,
        "new": 2,
        "returning": 0,
        "churned": 0,
        "churn_pct": None,
    }
    series = day1["series"]
    assert len(series) == 24 and series[0]["label"] == "00:00"
    ten = series[10]
    assert ten["label"] == "10:00" and ten["start"] == START
    assert (ten["started"], ten["answered"], ten["csat_pct"]) == (2, 1, 100.0)
    assert sum(p["started"] for p in series) == 2
    ann = next(r for r in day1["agents"] if r["id"] == people["ann"].id)
    assert (ann["name"], ann["answered"], ann["closed"], ann["resolved"]) == ("Ann", 1, 1, 1)
    assert (ann["csat_pct"], ann["nps"], ann["survey_pct"]) == (100.0, 100.0, 100.0)
    assert {r["name"] for r in day1["agents"]} == {"Ann", "Boss"}
    topics = {r["id"]: r for r in day1["topics"]}
    assert set(topics) == {"billing", "returns"}
    assert topics["returns"]["name"] == "Returns, refunds"
    assert (topics["billing"]["started"], topics["billing"]["answered"]) == (1, 1)
    assert (topics["returns"]["started"], topics["returns"]["abandon_pct"]) == (1, 100.0)
    assert day1["sites"] == ["shop"]

    # day 2 alone: V1 came back, V2 did not (churned: 1 of the 2 of day 1)
    day2 = await report(live, token, "?from=2026-03-11&to=2026-03-11")
    assert day2["summary"]["current"]["started"] == 1
    assert day2["summary"]["previous"]["started"] == 2
    assert day2["visitors"]["current"] == {
        "visitors": 1,
        "new": 0,
        "returning": 1,
        "churned": 1,
        "churn_pct": 50.0,
    }
    assert day2["visitors"]["previous"]["new"] == 2

    # the last 30 days (the default), by the day
    month = await report(live, token, "")
    assert (month["from"], month["to"], month["days"]) == ("2026-02-10", "2026-03-11", 30)
    assert month["previous"] == {"from": "2026-01-11", "to": "2026-02-09"}
    assert month["granularity"] == "day" and len(month["series"]) == 30
    assert [(p["label"], p["started"]) for p in month["series"][-2:]] == [
        ("2026-03-10", 2),
        ("2026-03-11", 1),
    ]
    assert month["summary"]["current"]["started"] == 3
    assert month["visitors"]["current"]["visitors"] == 2
    assert (await report(live, token, "?compare=0"))["summary"]["previous"] is None

    # every table as CSV
    query = "?from=2026-02-10&to=2026-03-11"
    summary = await table(live, token, query, "summary")
    assert [(r["period"], r["started"], r["answered"]) for r in summary] == [
        ("current", "3", "1"),
        ("previous", "0", "0"),
    ]
    assert (summary[0]["csat_5"], summary[0]["visitors_returning"]) == ("1", "0")
    assert summary[0]["csat_pct"] == "100.0" and summary[1]["csat_pct"] == ""
    trend = await table(live, token, query, "series")
    assert len(trend) == 30 and trend[-2]["label"] == "2026-03-10"
    assert (trend[-2]["started"], trend[-1]["started"]) == ("2", "1")
    agents = await table(live, token, query, "agents")
    assert {r["name"]: r["answered"] for r in agents} == {"Ann": "1", "Boss": "0"}
    topic_rows = await table(live, token, query, "topics")
    assert {r["name"]: r["started"] for r in topic_rows} == {
        "Billing": "1",
        "Returns, refunds": "2",
    }
    raw = (await get(live, token, f"{query}&format=csv&table=topics")).text
    assert '"Returns, refunds"' in raw  # RFC 4180 quoting
    only = await get(live, token, f"{query}&format=csv")
    assert only.text.splitlines()[0].startswith("period,")  # the summary by default


async def test_one_site_and_the_list_of_sites(start_server: ServerFactory) -> None:
    clock = ManualClock(START)
    live = await start_server(clock=clock)
    await live.store.directory.put_site(Site("blog", ("https://blog.example",)))
    token = await live.token(await live.add_agent("Boss", role=AgentRole.SUPERVISOR))
    shop = await live.visitor(name="S")
    await shop.request("start", text="hi")
    blog = await live.visitor(site="blog", origin="https://blog.example", name="B")
    await blog.request("start", text="hello")
    clock.advance(60)

    everything = await report(live, token, "?from=2026-03-10&to=2026-03-10")
    assert everything["sites"] == ["blog", "shop"]
    assert everything["summary"]["current"]["started"] == 2
    only_blog = await report(live, token, "?from=2026-03-10&to=2026-03-10&site=blog")
    assert only_blog["summary"]["current"]["started"] == 1
    assert only_blog["visitors"]["current"]["new"] == 1
    assert sum(p["started"] for p in only_blog["series"]) == 1
    bad = await get(live, token, "?site=nowhere")
    assert bad.status_code == 400 and bad.json()["message"] == "no such site"


async def test_who_may_ask(start_server: ServerFactory) -> None:
    live = await start_server(clock=ManualClock(START))
    agent = await live.add_agent("Ann")
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    assert (await get(live, None, "")).status_code == 401
    assert (await get(live, "cat_forged", "")).status_code == 401
    refused = await get(live, await live.token(agent), "?format=csv&table=agents")
    assert refused.status_code == 403 and refused.json() == {"error": "forbidden"}
    assert refused.headers["cache-control"] == "no-store"
    async with http_client(base_url=live.base) as http:
        login = await http.post("/api/login", json={"email": boss.email, "password": PASSWORD})
        assert login.status_code == 200
        by_cookie = await http.get("/api/reports?from=2026-03-10&to=2026-03-10")
    assert by_cookie.status_code == 200 and by_cookie.json()["days"] == 1
    async with http_client(base_url=live.base) as http:
        page = await http.get("/reports")  # the page itself is public: it shows a login form
    assert page.status_code == 200 and 'id="login-form"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


async def test_bad_parameters_are_400_naming_them(start_server: ServerFactory) -> None:
    live = await start_server(clock=ManualClock(START), rollup_days=400)
    token = await live.token(await live.add_agent("Boss", role=AgentRole.SUPERVISOR))
    cases = {
        "?from=yesterday&to=2026-03-10": "from",
        "?from=2026-03-10&to=2026-02-30": "to",
        "?from=2026-03-10&to=2026-03-01": "after",
        "?from=2026-03-01&to=2026-03-11": "today",
        "?from=2024-01-01&to=2026-03-10": "400 days",
        "?table=everything": "table",
        "?format=xlsx": "format",
        "?compare=yes": "compare",
        "?from=%00&to=2026-03-10": "from",
        "?to=" + "9" * 5000: "to",
    }
    for query, word in cases.items():
        response = await get(live, token, query)
        assert response.status_code == 400, (query, response.text)
        body = response.json()
        assert body["error"] == "bad_request" and word in body["message"], (query, body)
        assert response.headers["cache-control"] == "no-store"


async def test_csv_cells_cannot_run_as_formulas(start_server: ServerFactory) -> None:
    live = await start_server(clock=ManualClock(START))
    await live.store.directory.put_site(
        Site("shop", ("https://shop.example",), topics=(Topic("t1", "+cmd|' /C calc'!A0"),))
    )
    await live.add_agent('=HYPERLINK("https://evil.example","x")')
    await live.add_agent("@SUM(1)")
    token = await live.token(await live.add_agent("Boss", role=AgentRole.SUPERVISOR))
    query = "?from=2026-03-10&to=2026-03-10"
    names = {r["name"] for r in await table(live, token, query, "agents")}
    assert names == {'\'=HYPERLINK("https://evil.example","x")', "'@SUM(1)", "Boss"}
    assert [r["name"] for r in await table(live, token, query, "topics")] == ["'+cmd|' /C calc'!A0"]
    # the JSON keeps the names as they are
    found = await report(live, token, query)
    assert '=HYPERLINK("https://evil.example","x")' in {r["name"] for r in found["agents"]}
