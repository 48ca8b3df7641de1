"""Issue 16 item 5: a simulated year on a manual clock. A thousand conversations, played
over WebSockets against the real server (both backends),
in a report time zone with daylight saving; then `GET /api/reports` for several ranges must
agree with the figures computed here from the raw events the test itself produced: counts
and means exactly, p50/p90 within the histograms' documented error, visitors, returning
visitors and churn exactly, and the daily and hourly trend points."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chat_server.core.clock import ManualClock
from chat_server.core.model import AgentRole
from tests.client import Client
from tests.conftest import Live, ServerFactory
from tests.http import http_client

TZ = "America/New_York"
ZONE = ZoneInfo(TZ)
START = datetime(2025, 12, 1, tzinfo=ZONE)
DAYS = 365
CONVERSATIONS = 1000
VISITORS = 120
FRT_TARGET_S = 60.0
FCR_HOURS = 24.0
TOPICS = ("billing", "tech", None)


@dataclass
class Raw:
    """The events as the test produced them: (ts ms, value, agent, topic)."""

    started: list[tuple[int, str | None, str]] = field(default_factory=list)
    waits: list[tuple[int, float, str]] = field(default_factory=list)
    frts: list[tuple[int, float, str]] = field(default_factory=list)
    responses: list[tuple[int, float, str]] = field(default_factory=list)
    closes: list[dict[str, Any]] = field(default_factory=list)
    ratings: list[dict[str, Any]] = field(default_factory=list)
    visits: dict[str, set[date]] = field(default_factory=lambda: defaultdict(set))


def local_day(ts: int) -> date:
    return datetime.fromtimestamp(ts / 1000, UTC).astimezone(ZONE).date()


async def play_the_year(live: Live, second: Live, clock: ManualClock) -> tuple[Raw, list[str]]:
    rng = random.Random(16)
    raw = Raw()
    names = ["Ann", "Bob", "Cy"]
    agents = [await live.add_agent(name) for name in names]
    clients: list[Client] = []
    for i, agent in enumerate(agents):
        node = live if i % 2 == 0 else second
        clients.append(await node.agent(agent, online=False))
    visitors: list[Client] = []
    lifetimes: list[tuple[int, int]] = []
    for i in range(VISITORS):
        node = live if i % 2 == 0 else second
        visitors.append(await node.visitor(name=f"V{i}"))
        first = rng.randrange(DAYS)
        lifetimes.append((first, min(DAYS - 1, first + rng.choice((5, 30, 90, 400)))))
    vid = [v.hello["visitor"]["id"] for v in visitors]

    per_day = [0] * DAYS
    for _ in range(CONVERSATIONS):
        per_day[rng.randrange(DAYS)] += 1
    clock.advance((int(START.timestamp() * 1000) - clock.now_ms()) / 1000)
    last_resolved: dict[str, dict[str, Any]] = {}
    for day in range(DAYS):
        day_start = int((START + timedelta(days=day)).timestamp() * 1000)
        # conversations at random seconds of the day, in order, each over in minutes; the
        # last of a day may end after local midnight
        starts = sorted(rng.randrange(86_400 - 1_200) for _ in range(per_day[day]))
        for offset in starts:
            at = day_start + offset * 1000
            at = max(at, clock.now_ms() + 1000)
            clock.advance((at - clock.now_ms()) / 1000)
            alive = [i for i, (a, b) in enumerate(lifetimes) if a <= day <= b] or [day % VISITORS]
            who = rng.choice(alive)
            await converse(rng, raw, clock, visitors[who], vid[who], clients, last_resolved)
    return raw, [a.id for a in agents]


async def converse(
    rng: random.Random,
    raw: Raw,
    clock: ManualClock,
    visitor: Client,
    visitor_id: str,
    agents: list[Client],
    last_resolved: dict[str, dict[str, Any]],
) -> None:
    created = clock.now_ms()
    topic = rng.choice(TOPICS)
    fields: dict[str, Any] = {"text": "hello"}
    if topic:
        fields["topic"] = topic
    cid = (await visitor.request("start", **fields))["conversation"]["id"]
    raw.started.append((created, topic, visitor_id))
    raw.visits[visitor_id].add(local_day(created))
    earlier = last_resolved.pop(visitor_id, None)
    if earlier is not None and created - earlier["ts"] <= FCR_HOURS * 3_600_000:
        earlier["fcr"] = False

    def advance(seconds: float) -> None:
        clock.advance(seconds)

    if rng.random() < 0.1:  # leaves before anyone answers: abandoned
        advance(rng.uniform(5, 90))
        await visitor.request("close", cid=cid)
        raw.closes.append(close_event(clock.now_ms(), None, topic, created, False, True))
        return
    agent = rng.choice(agents)
    agent_id = agent.agent.id
    advance(rng.uniform(1, 100))  # under offline_after_s: it stays queued, not pending
    await agent.request("claim", cid=cid)
    raw.waits.append((clock.now_ms(), (clock.now_ms() - created) / 1000, agent_id))
    advance(rng.uniform(0.5, 120))
    await agent.request("msg", cid=cid, text="Hi, how can I help?", cmid=f"{cid}-a1")
    frt = (clock.now_ms() - created) / 1000
    raw.frts.append((clock.now_ms(), frt, agent_id))
    raw.responses.append((clock.now_ms(), frt, agent_id))
    for turn in range(rng.choice((0, 1, 2))):
        advance(rng.uniform(2, 60))
        await visitor.request("msg", cid=cid, text="one more thing", cmid=f"{cid}-v{turn}")
        turn_at = clock.now_ms()
        advance(rng.uniform(1, 400))
        await agent.request("msg", cid=cid, text="Done", cmid=f"{cid}-a{turn + 2}")
        raw.responses.append((clock.now_ms(), (clock.now_ms() - turn_at) / 1000, agent_id))
    advance(rng.uniform(5, 300))
    resolved = rng.random() < 0.7
    await agent.request("close", cid=cid, resolved=resolved)
    closed = close_event(clock.now_ms(), agent_id, topic, created, resolved, False)
    raw.closes.append(closed)
    if resolved:
        closed["fcr"] = True
        last_resolved[visitor_id] = closed
    if rng.random() < 0.6:
        advance(rng.uniform(1, 30))
        rating = {"csat": rng.randint(1, 5), "nps": rng.randint(0, 10), "ces": rng.randint(1, 7)}
        await visitor.request("rate", cid=cid, **rating)
        raw.ratings.append({"ts": clock.now_ms(), "agent": agent_id, "topic": topic, **rating})


def close_event(
    ts: int, agent: str | None, topic: str | None, created: int, resolved: bool, abandoned: bool
) -> dict[str, Any]:
    return {
        "ts": ts,
        "agent": agent,
        "topic": topic,
        "resolution": (ts - created) / 1000 if resolved else None,
        "resolved": resolved,
        "abandoned": abandoned,
    }


# --- the figures from the raw events ------------------------------------------------------


def summary(raw: Raw, first: date, last: date, agent: str | None = None) -> dict[str, Any]:
    def within(ts: int) -> bool:
        return first <= local_day(ts) <= last

    def mine(who: str | None) -> bool:
        return agent is None or who == agent

    closes = [c for c in raw.closes if within(c["ts"]) and mine(c["agent"])]
    ratings = [r for r in raw.ratings if within(r["ts"]) and mine(r["agent"])]
    frts = [v for ts, v, a in raw.frts if within(ts) and mine(a)]
    answered = len(frts)
    abandoned = sum(c["abandoned"] for c in closes)
    resolved = [c for c in closes if c["resolved"]]
    csat = [r["csat"] for r in ratings]
    nps = [r["nps"] for r in ratings]
    return {
        "started": sum(within(ts) for ts, _, _ in raw.started) if agent is None else None,
        "answered": answered,
        "abandoned": abandoned if agent is None else None,
        "closed": len(closes),
        "resolved": len(resolved),
        "wait_s": values([v for ts, v, a in raw.waits if within(ts) and mine(a)]),
        "frt_s": values(frts),
        "response_s": values([v for ts, v, a in raw.responses if within(ts) and mine(a)]),
        "resolution_s": values([c["resolution"] for c in resolved]),
        "sla_frt_pct": pct(sum(v <= FRT_TARGET_S for v in frts), answered),
        "csat": {"n": len(csat), "pct": pct(sum(v >= 4 for v in csat), len(csat))},
        "csat_dist": {str(s): csat.count(s) for s in range(1, 6)},
        "nps": {
            "n": len(nps),
            "score": ratio(sum(v >= 9 for v in nps) - sum(v <= 6 for v in nps), len(nps), 100),
            "passives": sum(7 <= v <= 8 for v in nps),
        },
        "ces": {
            "n": len(ratings),
            "mean": ratio(sum(r["ces"] for r in ratings), len(ratings), 1, 2),
        },
        "fcr_pct": pct(sum(c.get("fcr", False) for c in resolved), len(resolved)),
        "survey": {"shown": sum(c["agent"] is not None for c in closes), "answered": len(ratings)},
    }


def values(samples: list[float]) -> list[float]:
    return sorted(samples)


def pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def ratio(num: float, den: float, scale: float, digits: int = 1) -> float | None:
    return None if den == 0 else round(scale * num / den, digits)


def nearest_rank(samples: list[float], q: float) -> float:
    return samples[max(1, math.ceil(round(q * len(samples), 6))) - 1]


def assert_summary(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for key, expected in want.items():
        if expected is None:
            continue
        have = got[key] if key != "csat_dist" else got["csat"]["dist"]
        if isinstance(expected, list):  # a duration's samples
            assert have["n"] == len(expected), (where, key, have)
            if not expected:
                assert have["p50"] is None, (where, key, have)
                continue
            assert have["avg"] == round(sum(expected) / len(expected), 1), (where, key, have)
            for q, name in ((0.5, "p50"), (0.9, "p90")):
                exact = nearest_rank(expected, q)
                assert abs(have[name] - exact) <= 0.05 * exact + 0.1, (
                    where,
                    key,
                    name,
                    have,
                    exact,
                )
        elif isinstance(expected, dict):
            for part, value in expected.items():
                assert have[part] == value, (where, key, part, have, expected)
        else:
            assert have == expected, (where, key, have, expected)


def visitor_figures(raw: Raw, first: date, last: date) -> dict[str, Any]:
    length = (last - first).days + 1
    before = first - timedelta(days=length)
    current = {v for v, days in raw.visits.items() if any(first <= d <= last for d in days)}
    previous = {v for v, days in raw.visits.items() if any(before <= d < first for d in days)}
    returning = {v for v in current if min(raw.visits[v]) < first}
    churned = previous - current
    return {
        "visitors": len(current),
        "new": len(current - returning),
        "returning": len(returning),
        "churned": len(churned),
        "churn_pct": pct(len(churned), len(previous)),
    }


async def report(live: Live, token: str, first: date, last: date, **extra: str) -> Any:
    params = {"from": first.isoformat(), "to": last.isoformat(), **extra}
    async with http_client(base_url=live.base, timeout=30) as http:
        response = await http.get(
            "/api/reports", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    return response.json() if extra.get("format") != "csv" else response.text


# alone about 11 s embedded, 22 s on Redis, 28 s on the cluster (2026-12-08); beside two
# other test processes on two cores the cluster's took 58 s, and before the Nagle fix
# (docs/performance.md) 100-107 s, once past the suite's 120 s hang guard
@pytest.mark.long(60)
@pytest.mark.timeout(300)
async def test_a_simulated_year_agrees_with_its_raw_events(
    start_server: ServerFactory, backend: str
) -> None:
    clock = ManualClock()
    settings: dict[str, Any] = {
        "reports_tz": TZ,
        "fcr_hours": FCR_HOURS,
        "frt_target_s": FRT_TARGET_S,
        # a year passes on the manual clock: no one counts as gone, no send is rate limited
        "presence_ttl_s": 10.0**9,
        "agent_grace_s": 10.0**9,
        "visitor_timeout_s": 10.0**9,
        "chat_rate": 10.0**6,
        "chat_burst": 10**6,
        "new_visitor_rate": 10.0**6,
        "new_visitor_burst": 10**6,
        "handshake_rate": 10.0**6,
        "handshake_burst": 10**6,
    }
    live = await start_server(clock=clock, **settings)
    second = live
    raw, agent_ids = await play_the_year(live, second, clock)
    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    token = await live.token(boss)
    today = local_day(clock.now_ms())
    year_first = START.date()

    ranges = [
        (year_first, today),  # the whole year (365 days)
        (today - timedelta(days=29), today),  # last 30 days, with its previous period
        (date(2026, 3, 1), date(2026, 3, 31)),  # a month with the spring DST change
        (date(2026, 10, 25), date(2026, 11, 7)),  # across the autumn change and a month edge
        (date(2026, 6, 15), date(2026, 6, 15)),  # one day: hourly points
    ]
    for node in {id(live): live, id(second): second}.values():
        for first, last in ranges:
            where = f"{first}..{last}"
            got = await report(node, token, first, last)
            assert_summary(got["summary"]["current"], summary(raw, first, last), where)
            assert got["visitors"]["current"] == visitor_figures(raw, first, last), where
            daily = defaultdict(int)
            for ts, _, _ in raw.started:
                key = local_day(ts).isoformat() if got["granularity"] == "day" else hour(ts)
                daily[key] += 1
            points = {p["label"]: p["started"] for p in got["series"]}
            if got["granularity"] == "day":
                assert len(points) == (last - first).days + 1, where
                assert points == {
                    (first + timedelta(days=i)).isoformat(): daily[
                        (first + timedelta(days=i)).isoformat()
                    ]
                    for i in range((last - first).days + 1)
                }, where
            else:
                assert sum(points.values()) == summary(raw, first, last)["started"], where
                for label, count in points.items():
                    assert count == daily[f"{first.isoformat()} {label}"], (where, label)
            rows = {row["id"]: row for row in got["agents"]}
            for agent_id in agent_ids:
                want = summary(raw, first, last, agent=agent_id)
                assert rows[agent_id]["answered"] == want["answered"], (where, agent_id)
                assert rows[agent_id]["closed"] == want["closed"], (where, agent_id)

    # the comparison: the last 30 days' previous period is the 30 days before
    first, last = today - timedelta(days=29), today
    got = await report(live, token, first, last)
    before = first - timedelta(days=30)
    assert got["previous"] == {"from": before.isoformat(), "to": (first - timedelta(1)).isoformat()}
    assert_summary(got["summary"]["previous"], summary(raw, before, first - timedelta(1)), "prev")

    # the CSV of the trend holds the same points
    csv = await report(live, token, first, last, format="csv", table="series")
    lines = csv.strip().splitlines()
    assert len(lines) == 31 and lines[0].split(",")[:2] == ["start", "label"]


def hour(ts: int) -> str:
    local = datetime.fromtimestamp(ts / 1000, UTC).astimezone(ZONE)
    return f"{local.date().isoformat()} {local.hour:02d}:00"
