"""Contract §6 on a scripted day: a fixed list of conversations on an injected clock, and
every figure of every window computed by hand below. Both backends; with Redis, the same
figures from two nodes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat_server.backends.redis import figures
from chat_server.core.clock import ManualClock
from chat_server.core.model import AgentRole
from tests.client import Client
from tests.conftest import Live, ServerFactory, redis_like
from tests.http import http_client

EMPTY_P = {"n": 0, "avg": None, "p50": None, "p90": None}


def p(n: int, avg: float, p50: float, p90: float) -> dict[str, Any]:
    return {"n": n, "avg": avg, "p50": p50, "p90": p90}


def dist(*counts: int, low: int = 1) -> dict[str, int]:
    """A `dist` map: the count of each score from `low` up, keyed by the score as text."""
    return {str(low + i): count for i, count in enumerate(counts)}


# The day, by hand (t in seconds from the start):
# C1 (V1, billing): start 0; Ann claims 20 (wait 20); Ann replies 30 (FRT 30, SLA met,
#    response 30); V1 writes 35; Ann replies 50 (response 15); Ann closes resolved 60
#    (resolution 60); V1 rates csat 5, nps 10, ces 7 (FRT band 30-60s).
# C2 (V2): start 60; Bob claims 150 (wait 90); Bob replies 150 (FRT 90, SLA missed,
#    response 90); Bob transfers it back to the queue 150 (1 transfer); Ann claims 160;
#    V2 writes 170; Ann replies 200 (response 30); Ann closes unresolved 210; V2 rates
#    csat 2, nps 6, ces 3 (FRT band 1-2m).
# C3 (V3, billing): start 210; V3 leaves at 240 unanswered (abandoned).
# C4 (V1 again, within fcr_hours: C1 no longer counts as first-contact resolved): start 240;
#    Ann claims 250 (wait 10); Ann replies 255 (FRT 15, SLA met, response 15); Ann closes
#    resolved 270 (resolution 30).
DAY = {
    "started": 4,
    "answered": 3,
    "abandoned": 1,
    "abandon_pct": 25.0,
    "closed": 4,
    "resolved": 2,
    "transfers": 1,
    "wait_s": p(3, 40.0, 20.0, 90.0),
    "frt_s": p(3, 45.0, 30.0, 90.0),
    "response_s": p(5, 36.0, 30.0, 90.0),
    "resolution_s": p(2, 45.0, 30.0, 60.0),
    "sla_frt_pct": 66.7,
    "csat": {"n": 2, "pct": 50.0, "mean": 3.5, "dist": dist(0, 1, 0, 0, 1)},
    "nps": {
        "n": 2,
        "score": 0.0,
        "promoters": 1,
        "passives": 0,
        "detractors": 1,
        "dist": dist(0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, low=0),
    },
    "ces": {"n": 2, "mean": 5.0, "dist": dist(0, 0, 1, 0, 0, 0, 1)},
    "fcr_pct": 50.0,
    "csat_by_frt": [
        {"band": "<30s", "n": 0, "pct": None},
        {"band": "30-60s", "n": 1, "pct": 100.0},
        {"band": "1-2m", "n": 1, "pct": 0.0},
        {"band": "2-5m", "n": 0, "pct": None},
        {"band": ">5m", "n": 0, "pct": None},
    ],
}
NOTHING = {
    "started": 0,
    "answered": 0,
    "abandoned": 0,
    "abandon_pct": None,
    "closed": 0,
    "resolved": 0,
    "transfers": 0,
    "wait_s": EMPTY_P,
    "frt_s": EMPTY_P,
    "response_s": EMPTY_P,
    "resolution_s": EMPTY_P,
    "sla_frt_pct": None,
    "csat": {"n": 0, "pct": None, "mean": None, "dist": dist(*[0] * 5)},
    "nps": {
        "n": 0,
        "score": None,
        "promoters": 0,
        "passives": 0,
        "detractors": 0,
        "dist": dist(*[0] * 11, low=0),
    },
    "ces": {"n": 0, "mean": None, "dist": dist(*[0] * 7)},
    "fcr_pct": None,
    "csat_by_frt": [
        {"band": b, "n": 0, "pct": None} for b in ("<30s", "30-60s", "1-2m", "2-5m", ">5m")
    ],
}
# Bob's own figures: his claim (wait 90), his first reply (FRT 90, response 90), his transfer.
BOB = {
    **NOTHING,
    "answered": 1,
    "abandon_pct": 0.0,
    "transfers": 1,
    "wait_s": p(1, 90.0, 90.0, 90.0),
    "frt_s": p(1, 90.0, 90.0, 90.0),
    "response_s": p(1, 90.0, 90.0, 90.0),
    "sla_frt_pct": 0.0,
}


def assert_window(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Exact, except percentiles: histogram bins are within 5% of the true value."""
    for key, want in expected.items():
        have = got[key]
        if isinstance(want, dict) and "p50" in want:
            assert have["n"] == want["n"] and have["avg"] == want["avg"], (key, have)
            for q in ("p50", "p90"):
                if want[q] is None:
                    assert have[q] is None, (key, q, have)
                else:
                    assert abs(have[q] - want[q]) <= 0.05 * want[q] + 0.1, (key, q, have)
        else:
            assert have == want, (key, have, want)


async def play_the_day(live: Live, second: Live, clock: ManualClock) -> dict[str, Any]:
    ann_agent = await live.add_agent("Ann")
    bob_agent = await live.add_agent("Bob")
    ann = await live.agent(ann_agent, online=False)
    bob = await second.agent(bob_agent, online=False)

    async def at(second_of_day: float) -> None:
        clock.advance(second_of_day - (clock.now_ms() - start) / 1000)

    start = clock.now_ms()
    v1 = await live.visitor(name="V1")
    c1 = (await v1.request("start", text="invoice?", topic="billing"))["conversation"]["id"]
    await at(20)
    await ann.request("claim", cid=c1)
    await at(30)
    await ann.request("msg", cid=c1, text="Hello", cmid="a1")
    await at(35)
    await v1.request("msg", cid=c1, text="The March one", cmid="v1")
    await at(50)
    await ann.request("msg", cid=c1, text="Sent again", cmid="a2")
    await at(60)
    await ann.request("close", cid=c1, resolved=True)
    await v1.request("rate", cid=c1, csat=5, nps=10, ces=7)

    v2 = await second.visitor(name="V2")
    c2 = (await v2.request("start", text="login broken"))["conversation"]["id"]
    await at(150)
    await bob.request("claim", cid=c2)
    await bob.request("msg", cid=c2, text="Looking", cmid="b1")
    await bob.request("transfer", cid=c2)
    await at(160)
    await ann.request("claim", cid=c2)
    await at(170)
    await v2.request("msg", cid=c2, text="Still broken", cmid="v2")
    await at(200)
    await ann.request("msg", cid=c2, text="Try now", cmid="a3")
    await at(210)
    await ann.request("close", cid=c2, resolved=False)
    await v2.request("rate", cid=c2, csat=2, nps=6, ces=3)

    v3 = await live.visitor(name="V3")
    c3 = (await v3.request("start", text="hello?", topic="billing"))["conversation"]["id"]
    await at(240)
    await v3.request("close", cid=c3)

    c4 = (await v1.request("start", text="one more thing"))["conversation"]["id"]
    await at(250)
    await ann.request("claim", cid=c4)
    await at(255)
    await ann.request("msg", cid=c4, text="Sure", cmid="a4")
    await at(270)
    await ann.request("close", cid=c4, resolved=True)
    return {"ann": ann_agent, "bob": bob_agent, "ann_client": ann}


async def get_stats(live: Live, token: str, query: str = "") -> dict[str, Any]:
    async with http_client(base_url=live.base) as http:
        response = await http.get(
            f"/api/stats{query}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def test_scripted_day(
    start_server: ServerFactory, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures, "AGENT_HOLD_S", 0.0)  # each agent's, with the others'
    clock = ManualClock()
    live = await start_server(clock=clock, fcr_hours=1.0)
    second = await start_server(clock=clock, fcr_hours=1.0) if redis_like(backend) else live
    people = await play_the_day(live, second, clock)
    if second is not live:  # each node's figures reach the other within `FLUSH_S`
        await asyncio.sleep(figures.FLUSH_S * 1.5)
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)

    for node in {id(live): live, id(second): second}.values():
        stats = await get_stats(node, token)
        for window in ("5m", "1h", "24h"):
            assert_window(stats["windows"][window], DAY)
    bob_only = await get_stats(live, token, f"?agent={people['bob'].id}&window=1h")
    assert list(bob_only["windows"]) == ["1h"]
    assert_window(bob_only["windows"]["1h"], BOB)
    billing = (await get_stats(second, token, "?topic=billing"))["windows"]["24h"]
    assert (billing["started"], billing["abandoned"], billing["answered"]) == (2, 1, 1)
    assert billing["fcr_pct"] == 0.0  # C1 resolved, then recontacted

    # agents read their own figures only
    bob_token = await live.token(people["bob"])
    mine = await get_stats(live, bob_token)
    assert_window(mine["windows"]["24h"], BOB)
    async with http_client(base_url=live.base) as http:
        other = await http.get(
            f"/api/stats?agent={people['ann'].id}", headers={"Authorization": f"Bearer {bob_token}"}
        )
        assert other.status_code == 403
        assert (
            await http.get("/api/stats?window=2d", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 400

    # the live push carries the same windows
    watcher: Client = await live.agent(boss, online=False)
    await watcher.request("subscribe", stats=True)
    pushed = await watcher.event("stats")
    assert_window(pushed["windows"]["1h"], DAY)

    # five minutes later (and one bucket), the 5m window is empty; 1h and 24h are not
    clock.advance(300 + 10)
    rolled = await get_stats(second, token)
    assert_window(rolled["windows"]["5m"], NOTHING)
    assert_window(rolled["windows"]["1h"], DAY)
    clock.advance(3600)
    rolled = await get_stats(live, token)
    assert_window(rolled["windows"]["1h"], NOTHING)
    assert_window(rolled["windows"]["24h"], DAY)
