"""A synthetic year of conversations for `bench/reports_bench.py`: when they start (a daily
and weekly rhythm over the 365 local days ending today), who starts them (visitors who come
back), and what each one records, computed by `core/measure.py` from the same
`Conversation`, `Timing`, `Message` and `Rating` values a server would build, so the
figures are exactly those a real server would record for such conversations.

Messages are not built beyond what measuring needs: a report reads no message.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from chat_server.core import measure
from chat_server.core.metrics import Figures
from chat_server.core.model import (
    Agent,
    AgentRef,
    AgentRole,
    Conversation,
    Kind,
    Message,
    Rating,
    Role,
    Sender,
    Site,
    State,
    Timing,
    Topic,
)
from chat_server.core.rollups import HOUR_MS, Calendar

AGENTS = 20
TOPICS = ("billing", "shipping", "returns", "orders", "account", "technical", "sales", "other")
TOPIC_CUMULATIVE = tuple(itertools.accumulate((18, 16, 12, 14, 10, 14, 10, 6)))
CSAT, CSAT_CUMULATIVE = (1, 2, 3, 4, 5), tuple(itertools.accumulate((5, 7, 13, 35, 40)))
NPS = tuple(range(11))
NPS_CUMULATIVE = tuple(itertools.accumulate((2, 1, 1, 2, 2, 4, 6, 10, 18, 24, 30)))
CES, CES_CUMULATIVE = tuple(range(1, 8)), tuple(itertools.accumulate((30, 25, 18, 12, 8, 4, 3)))
SITES = ("shop", "help")
SITE_CUMULATIVE = (7, 10)
HOURLY = (
    *(0.2, 0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.9),
    *(1.6, 1.7, 1.9, 1.8, 1.5, 1.2, 1.0, 0.9, 0.8, 0.6, 0.4, 0.3),
)
"""The daily rhythm: relative traffic per local hour."""
WEEKLY = (1.15, 1.1, 1.05, 1.05, 1.0, 0.45, 0.35)
"""The weekly rhythm, Monday first."""
NEW_VISITOR = 0.3
"""The share of conversations started by a visitor never seen before: 1,000,000
conversations come from about 300,000 visitors."""
RECENT_VISITORS = 8_000
"""A returning visitor is most often a recent one (mean distance back, in visitors)."""

Event = tuple[int, tuple[str, ...], Figures]
"""(ts, the dimensions of the figures over time, figures): one `Rollups.add`."""


def agents() -> list[Agent]:
    return [
        Agent(
            id=f"a_{i:016x}",
            email=f"agent{i:02d}@bench.test",
            name=f"Agent {i:02d}",
            role=AgentRole.AGENT,
            max_chats=4,
            topics=frozenset(TOPICS[i % 8 : i % 8 + 3]),
        )
        for i in range(1, AGENTS + 1)
    ]


def sites() -> list[Site]:
    topics = tuple(Topic(t, t.capitalize()) for t in TOPICS)
    return [Site(s, (f"https://{s}.bench.test",), topics=topics) for s in SITES]


def year_days(calendar: Calendar, today: date) -> tuple[date, date]:
    """The 365 local days ending today (today whole: its later hours are in the future of
    the server's clock, and still in the report's buckets)."""
    return today - timedelta(days=364), today


def start_times(
    rng: random.Random, n: int, calendar: Calendar, first: date, last: date
) -> list[int]:
    """`n` conversation starts (ms, ascending) spread over the hours of `first`..`last` by
    the daily and weekly rhythm of the report zone."""
    hours = [int(b.key) for b in calendar.hours(first, last)]
    weights = []
    for start in hours:
        local = calendar.local(start)
        weights.append(HOURLY[local.hour] * WEEKLY[local.weekday()])
    total = sum(weights)
    out: list[int] = []
    expected, given = 0.0, 0
    for start, weight in zip(hours, weights, strict=True):
        expected += weight * n / total
        count = round(expected) - given
        given += count
        out += sorted(start + rng.randrange(HOUR_MS) for _ in range(count))
    return out


def _lognormal(rng: random.Random, median_s: float, sigma: float, cap_s: float) -> float:
    return min(cap_s, rng.lognormvariate(math.log(median_s), sigma))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@dataclass(slots=True)
class Synthetic:
    conv: Conversation
    """As stored at the end: closed."""
    rating: Rating | None
    events: list[Event]
    visit: tuple[str, tuple[str, ...], int]
    """(visitor id, visit dims, ts): one `Rollups.visit`."""


@dataclass(slots=True)
class Year:
    """Builds conversation after conversation, in start order, remembering the visitors
    and their last resolved close (a visitor back within `fcr_hours` is a recontact)."""

    rng: random.Random
    team: list[Agent]
    frt_target_s: float = 60.0
    fcr_hours: float = 24.0
    survey: bool = True
    visitors: list[tuple[str, str]] = field(default_factory=list)
    resolved: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    count: int = 0

    def visitor(self) -> tuple[str, str]:
        """(id, site) of who starts the next conversation: new, or back (mostly recent)."""
        rng = self.rng
        if not self.visitors or rng.random() < NEW_VISITOR:
            site = rng.choices(SITES, cum_weights=SITE_CUMULATIVE)[0]
            self.visitors.append((f"v_{len(self.visitors):016x}", site))
            return self.visitors[-1]
        if rng.random() < 0.3:  # loyal customers, from any time
            return rng.choice(self.visitors)
        back = min(len(self.visitors) - 1, int(rng.expovariate(1 / RECENT_VISITORS)))
        return self.visitors[-1 - back]

    def conversation(self, created: int) -> Synthetic:
        rng = self.rng
        self.count += 1
        visitor_id, site = self.visitor()
        topic = rng.choices(TOPICS, cum_weights=TOPIC_CUMULATIVE)[0] if rng.random() < 0.9 else None
        kind = rng.random()
        offline = kind < 0.03
        conv = Conversation(
            id=f"c_{self.count:016x}",
            site=site,
            visitor_id=visitor_id,
            state=State.PENDING if offline else State.QUEUED,
            created=created,
            last_seq=1,
            topic=topic,
            queued_at=created,
            visitor_turn_at=created,
            last_active=created,
            fields=(("email", f"{visitor_id}@mail.test"),),
            pending_at=created if offline else None,
        )
        life = _Life(self, conv, site)
        earlier = self.resolved.pop(visitor_id, None)
        if earlier is not None and created - earlier[0] <= self.fcr_hours * 3_600_000:
            life.record([measure.recontact(*earlier)])
        if offline:
            life.offline()
        elif kind < 0.11:
            life.abandoned()
        else:
            life.answered()
        if life.conv.resolved:
            assert life.conv.closed_at is not None
            self.resolved[visitor_id] = (life.conv.closed_at, measure.dims(life.conv))
        visit = (visitor_id, ("all", f"site:{site}"), created)
        return Synthetic(life.conv, life.rating, life.events, visit)


class _Life:
    """One conversation from start to close (and rating), recording as the server does."""

    def __init__(self, year: Year, conv: Conversation, site: str) -> None:
        self.year = year
        self.rng = year.rng
        self.conv = conv
        self.site = site
        self.site_dim = f"site:{site}"
        self.events: list[Event] = []
        self.rating: Rating | None = None
        # what messages move, kept apart: the conversation is rebuilt only on transitions
        self.seq = conv.last_seq
        self.first_response_at = conv.first_response_at
        self.visitor_turn_at = conv.visitor_turn_at
        self.last_active = conv.last_active

    def record(self, contributions: list[measure.Contribution]) -> None:
        for c in contributions:
            self.events.append((c.ts, (*c.dims, self.site_dim), c.figures))

    def move(self, now: int, **changes: Any) -> None:
        before, self.conv = (
            self.conv,
            replace(
                self.conv,
                last_seq=self.seq,
                first_response_at=self.first_response_at,
                visitor_turn_at=self.visitor_turn_at,
                last_active=self.last_active,
                **changes,
            ),
        )
        self.record(measure.transitioned(before, self.conv, now, survey=self.year.survey))

    def agent_text(self, now: int, agent: Agent) -> None:
        conv = self.conv
        self.seq += 1
        sender = Sender(Role.AGENT, agent.id, agent.name)
        message = Message(conv.id, self.seq, now, Kind.TEXT, sender, "")
        timing = Timing(
            conv.created,
            conv.topic,
            self.first_response_at,
            self.visitor_turn_at,
            conv.pending_at,
            conv.site,
        )
        self.record(measure.message_added(timing, message, self.year.frt_target_s))
        if self.first_response_at is None:
            self.first_response_at = now
        self.visitor_turn_at = None
        self.last_active = now

    def visitor_text(self, now: int) -> None:
        self.seq += 1
        self.visitor_turn_at = self.last_active = now

    def close(self, now: int, by: str, reason: str, resolved: bool | None) -> None:
        self.move(
            now,
            state=State.CLOSED,
            closed_at=now,
            closed_by=by,
            close_reason=reason,
            resolved=resolved,
        )

    def assign(self, now: int, agent: Agent) -> None:
        self.move(now, state=State.ACTIVE, agent=AgentRef(agent.id, agent.name), assigned_at=now)

    def pick(self, other_than: str | None = None) -> Agent:
        team = self.year.team
        while True:
            agent = team[min(len(team) - 1, int(self.rng.triangular(0, len(team), 2)))]
            if agent.id != other_than:
                return agent

    def abandoned(self) -> None:
        self.record([measure.opened(self.conv)])
        now = self.conv.created + _ms(self.rng.uniform(5, 240))
        self.close(now, "visitor", "visitor", None)

    def offline(self) -> None:
        """Left as a message while nobody was online, answered hours later."""
        created = self.conv.created
        self.record([measure.opened(self.conv)])
        agent = self.pick()
        now = created + _ms(self.rng.uniform(600, 6 * 3600))
        self.assign(now, agent)
        now += _ms(self.rng.uniform(30, 300))
        self.agent_text(now, agent)
        now += _ms(self.rng.uniform(60, 600))
        self.close(now, "agent", "agent", True)
        self.rate(now)

    def answered(self) -> None:
        rng = self.rng
        self.record([measure.opened(self.conv)])
        agent = self.pick()
        now = self.conv.created + _ms(_lognormal(rng, 25, 0.9, 900))
        self.assign(now, agent)
        now += _ms(_lognormal(rng, 15, 0.8, 600))
        self.agent_text(now, agent)
        for turn in range(rng.choice((0, 1, 1, 2, 2, 3))):
            now += _ms(rng.uniform(5, 90))
            self.visitor_text(now)
            if turn == 1 and rng.random() < 0.1:  # handed to a colleague
                self.record([measure.transferred(self.conv, now)])
                agent = self.pick(other_than=agent.id)
                self.move(now, agent=AgentRef(agent.id, agent.name))
            now += _ms(_lognormal(rng, 30, 0.9, 1200))
            self.agent_text(now, agent)
        now += _ms(rng.uniform(20, 400))
        ending = rng.random()
        if ending < 0.05:
            self.close(now + 720_000, "system", "inactive", False)
        elif ending < 0.15:
            self.close(now, "visitor", "visitor", None)
        else:
            self.close(now, "agent", "agent", rng.random() < 0.8)
        self.rate(self.conv.closed_at or now)

    def rate(self, closed_at: int) -> None:
        """About 40 % answer the survey; some give only CSAT."""
        rng = self.rng
        if rng.random() >= 0.4:
            return
        conv = self.conv
        full = rng.random() < 0.8
        rating = Rating(
            cid=conv.id,
            ts=closed_at + _ms(rng.uniform(3, 60)),
            csat=rng.choices(CSAT, cum_weights=CSAT_CUMULATIVE)[0],
            nps=rng.choices(NPS, cum_weights=NPS_CUMULATIVE)[0] if full else None,
            ces=rng.choices(CES, cum_weights=CES_CUMULATIVE)[0] if full else None,
            agent_id=conv.agent.id if conv.agent else None,
            topic=conv.topic,
        )
        self.rating = rating
        self.record([measure.rated(conv, rating)])
