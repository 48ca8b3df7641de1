"""Reports over a range of days (issue 16): the figures of `store.rollups` for a period and
the one before it, a trend, per-agent and per-topic rows, and the visitor figures, as
`GET /api/reports` answers them (JSON, or one table as CSV).

Every store read of one report runs at once (`asyncio.gather`): a year is a few dozen
buckets per dimension, so a report costs about one round trip, not one per figure.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chat_server.core import reports, visits
from chat_server.core.errors import bad_request
from chat_server.core.metrics import Figures, window_view
from chat_server.core.model import Agent, Site
from chat_server.core.reports import Range
from chat_server.core.rollups import Calendar
from chat_server.service.node import Node
from chat_server.service.sites import site_named

TABLES = tuple(reports.CSV_COLUMNS)
"""The tables a report exports as CSV: summary, series, agents, topics."""
DEFAULT_DAYS = 30
"""A report asked for without dates: the last 30 days."""


@dataclass(frozen=True, slots=True)
class Query:
    """What a supervisor asked for: the dates as typed (ISO; `None`: to today, from 30
    days before `to`), whether to compare with the period before, one site or all."""

    start: str | None = None
    end: str | None = None
    compare: bool = True
    site: str | None = None


@dataclass(frozen=True, slots=True)
class _Period:
    """The current period's totals: its dimension, then one per agent and per topic."""

    agents: list[Agent]
    topics: dict[str, str]
    sites: list[Site]
    totals: dict[str, Figures]


async def report(node: Node, query: Query) -> dict[str, Any]:
    """The report JSON (docs/protocol.md, Reports). A bad range or an unknown site raises
    `bad_request` with a message for the supervisor."""
    calendar = Calendar(node.settings.reports_tz)
    period = _range(query, calendar.day_of(node.clock.now_ms()), node.settings.rollup_days)
    site = await _site(node, query.site)
    dim = f"site:{site.id}" if site else "all"
    previous = period.previous() if query.compare else None
    timeline = reports.timeline(calendar, period)
    rollups = node.store.rollups

    async def before() -> dict[str, Figures] | None:
        if previous is None:
            return None
        return await rollups.total([dim], calendar.span(previous.first, previous.last))

    current, earlier, series, seen = await asyncio.gather(
        _current(node, calendar, period, dim),
        before(),
        rollups.read(dim, [bucket for bucket, _, _ in timeline]),
        _visitors(node, dim, period, compare=previous is not None),
    )
    totals = current.totals
    return {
        "tz": calendar.tz_name,
        **period.bounds(),
        "days": period.days,
        "previous": previous.bounds() if previous else None,
        "granularity": reports.granularity(period),
        "summary": {
            "current": window_view(totals.get(dim, Figures())),
            "previous": None if earlier is None else window_view(earlier.get(dim, Figures())),
        },
        "visitors": seen,
        "series": [
            reports.point(start, label, figures)
            for (_, start, label), figures in zip(timeline, series, strict=True)
        ],
        "agents": [
            reports.row(a.id, a.name, totals.get(f"agent:{a.id}", Figures()))
            for a in current.agents
        ],
        "topics": [
            reports.row(t, label, totals.get(f"topic:{t}", Figures()))
            for t, label in current.topics.items()
        ],
        "sites": [s.id for s in current.sites],
    }


def csv_table(found: dict[str, Any], table: str) -> str:
    """One table of a report (`report`'s answer) as CSV, per `core/reports.to_csv`."""
    if table != "summary":
        return reports.to_csv(table, found[table])
    summary, seen = found["summary"], found["visitors"]
    rows = [reports.summary_row("current", summary["current"], seen["current"])]
    if summary["previous"] is not None:
        rows.append(reports.summary_row("previous", summary["previous"], seen["previous"]))
    return reports.to_csv(table, rows)


def _range(query: Query, today: date, max_days: int) -> Range:
    end = query.end or today.isoformat()
    start = query.start
    if start is None:
        try:
            start = (date.fromisoformat(end) - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        except ValueError:
            start = today.isoformat()  # parse_range says what is wrong with `end`
    try:
        return reports.parse_range(start, end, today, max_days)
    except ValueError as exc:
        raise bad_request(str(exc)) from None


async def _site(node: Node, site_id: str | None) -> Site | None:
    if site_id is None:
        return None
    site = await site_named(node, site_id)
    if site is None:
        raise bad_request("no such site")
    return site


async def _current(node: Node, calendar: Calendar, period: Range, dim: str) -> _Period:
    """The period's totals for `dim` and for every agent and topic (one `total` call): the
    agents of the directory, the topics of every site and of every agent."""
    agents, sites = await asyncio.gather(
        node.store.directory.agents(), node.store.directory.sites()
    )
    topics = _topics(sites, agents)
    dims = [dim, *(f"agent:{a.id}" for a in agents), *(f"topic:{t}" for t in topics)]
    totals = await node.store.rollups.total(dims, calendar.span(period.first, period.last))
    return _Period(agents, topics, sites, totals)


def _topics(sites: list[Site], agents: list[Agent]) -> dict[str, str]:
    """Topic id -> label: every site's topics, then those only agents name (labelled by
    their id)."""
    found: dict[str, str] = {}
    for site in sites:
        for topic in site.topics:
            found.setdefault(topic.id, topic.label)
    for agent in agents:
        for name in sorted(agent.topics):
            found.setdefault(name, name)
    return found


async def _visitors(node: Node, dim: str, period: Range, *, compare: bool) -> dict[str, Any]:
    """V of the period and, when comparing, of the one before (`core/visits.py`). Churn
    needs the visitors of the period before each, so one more period is read."""
    periods = [period, period.previous()]
    if compare:
        periods.append(periods[-1].previous())
    reads = await asyncio.gather(*(_visits(node, dim, p) for p in periods))
    views = [_visitor_view(reads[i], reads[i + 1]) for i in range(len(reads) - 1)]
    return {"current": views[0], "previous": views[1] if compare else None}


async def _visits(node: Node, dim: str, p: Range) -> tuple[int, tuple[int, ...]]:
    """A period's first visits, and its visits back from any day and back from the period
    before it."""
    first, last = p.first.toordinal(), p.last.toordinal()
    return await node.store.rollups.visits(dim, first, last, visits.since(first, last))


def _visitor_view(
    this: tuple[int, tuple[int, ...]], before: tuple[int, tuple[int, ...]]
) -> dict[str, Any]:
    """V of a period from its visit counts and those of the period before it."""
    new, (returning, retained) = this
    earlier_new, (earlier_returning, _) = before
    return reports.visitors_view(
        new, returning, visits.visitors(earlier_new, earlier_returning), retained
    )
