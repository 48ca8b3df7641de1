"""Date-range reports (issue 16, `GET /api/reports`): the range a request may ask for, and
the JSON and CSV shapes built from the figures over time (`core/rollups.py`).

Pure: the service reads the buckets from the store (`Rollups`) and hands their figures
here. Every figure is the contract's `W` (`metrics.window_view`) of the merged buckets, so
a report and the live windows read the same numbers the same way.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from chat_server.core import visits
from chat_server.core.metrics import Figures, window_view
from chat_server.core.rollups import Bucket, Calendar

Granularity = Literal["hour", "day"]
HOURLY_MAX_DAYS = 2
"""A range of at most this many days is charted by the hour, a longer one by the day."""

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True, slots=True)
class Range:
    """Local days `first`..`last`, both included, in the report time zone."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def previous(self) -> Range:
        """The period to compare with: as many days, just before."""
        return Range(self.first - timedelta(days=self.days), self.first - timedelta(days=1))

    def bounds(self) -> dict[str, str]:
        """`{"from", "to"}` as the report and its query write them."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def _parse_date(name: str, text: str) -> date:
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{name} must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} is not a calendar date: {text}") from None


def parse_range(start: str, end: str, today: date, max_days: int) -> Range:
    """The range of a report request (`from`, `to`), checked against what is kept: at
    most `max_days` days (`rollup_days`), none after `today` (the report zone's), none
    older than the figures kept. ValueError with a message for the user."""
    first = _parse_date("from", start)
    last = _parse_date("to", end)
    if first > last:
        raise ValueError("from must not be after to")
    if last > today:
        raise ValueError(f"to must not be after today ({today.isoformat()})")
    earliest = date.fromordinal(max(1, today.toordinal() - max_days))
    if first < earliest:
        raise ValueError(
            f"from must not be before {earliest.isoformat()}: figures are kept {max_days} days"
        )
    found = Range(first, last)
    if found.days > max_days:
        raise ValueError(f"a report covers at most {max_days} days")
    if first.toordinal() <= found.days:  # only with an enormous rollup_days
        raise ValueError("from is too early to have a period before it")
    return found


def granularity(r: Range) -> Granularity:
    return "hour" if r.days <= HOURLY_MAX_DAYS else "day"


def hour_label(calendar: Calendar, start_ms: int) -> str:
    """An hour's local start, `HH:MM` (`14:00`; `13:30` in a zone with a half-hour offset)."""
    return calendar.local(start_ms).strftime("%H:%M")


def timeline(calendar: Calendar, r: Range) -> list[tuple[Bucket, int, str]]:
    """The series' buckets (hours or days, `granularity`), oldest first, each with its
    start (ms) and label, ready for `point`."""
    if granularity(r) == "hour":
        return [
            (bucket, int(bucket.key), hour_label(calendar, int(bucket.key)))
            for bucket in calendar.hours(r.first, r.last)
        ]
    return [
        (bucket, calendar.day_start(date.fromisoformat(bucket.key)), bucket.key)
        for bucket in calendar.days(r.first, r.last)
    ]


# --- the report's objects ----------------------------------------------------------------


_FLAT: dict[str, tuple[str, ...]] = {
    "started": ("started",),
    "answered": ("answered",),
    "closed": ("closed",),
    "resolved": ("resolved",),
    "transfers": ("transfers",),
    "abandon_pct": ("abandon_pct",),
    "wait_p50": ("wait_s", "p50"),
    "frt_p50": ("frt_s", "p50"),
    "frt_p90": ("frt_s", "p90"),
    "response_p50": ("response_s", "p50"),
    "response_p90": ("response_s", "p90"),
    "resolution_p50": ("resolution_s", "p50"),
    "csat_pct": ("csat", "pct"),
    "csat_n": ("csat", "n"),
    "nps": ("nps", "score"),
    "nps_n": ("nps", "n"),
    "ces_mean": ("ces", "mean"),
    "ces_n": ("ces", "n"),
    "fcr_pct": ("fcr_pct",),
    "sla_frt_pct": ("sla_frt_pct",),
    "survey_pct": ("survey", "pct"),
}
"""A flat field of the report's tables -> where it is in the W object."""
_POINT = (
    "started", "answered", "closed", "abandon_pct", "wait_p50", "frt_p50", "frt_p90",
    "response_p50", "response_p90", "resolution_p50", "csat_pct", "csat_n", "nps", "nps_n",
    "ces_mean", "ces_n", "fcr_pct", "sla_frt_pct",
)  # fmt: skip
_ROW = (
    "started", "answered", "closed", "resolved", "transfers", "abandon_pct", "frt_p50",
    "frt_p90", "response_p50", "resolution_p50", "csat_pct", "csat_n", "nps", "ces_mean",
    "fcr_pct", "sla_frt_pct", "survey_pct",
)  # fmt: skip


def _flat(figures: Figures, names: tuple[str, ...]) -> dict[str, Any]:
    w = window_view(figures)
    out = {}
    for name in names:
        value: Any = w
        for part in _FLAT[name]:
            value = value[part]
        out[name] = value
    return out


def point(start_ms: int, label: str, figures: Figures) -> dict[str, Any]:
    """The report's `P`: one hour or day of a trend."""
    return {"start": start_ms, "label": label, **_flat(figures, _POINT)}


def row(ident: str, name: str, figures: Figures) -> dict[str, Any]:
    """The report's `R`: one agent's or topic's figures over the range."""
    return {"id": ident, "name": name, **_flat(figures, _ROW)}


def visitors_view(
    new: int, returning: int, previous_visitors: int | None, retained: int | None
) -> dict[str, Any]:
    """The report's `V` (`core/visits.py` defines each figure); `churned` and `churn_pct`
    are null without a previous period (`previous_visitors` or `retained` None)."""
    churned: int | None = None
    churn_pct: float | None = None
    if previous_visitors is not None and retained is not None:
        churned = visits.churned(previous_visitors, retained)
        churn_pct = visits.churn_pct(previous_visitors, retained)
    return {
        "visitors": visits.visitors(new, returning),
        "new": new,
        "returning": returning,
        "churned": churned,
        "churn_pct": churn_pct,
    }


def summary_row(
    period: str, s: Mapping[str, Any], visitors: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One period's headline figures, flat (a line of the `summary` CSV): `s` is its `W`,
    `visitors` its `V` when known (else those columns are empty)."""
    csat, nps, ces = s["csat"], s["nps"], s["ces"]
    survey, offline, v = s["survey"], s["offline"], visitors or {}
    return {
        "period": period,
        **{key: s[key] for key in _SUMMARY_COUNTS},
        **{f"{name}_{stat}": s[f"{name}_s"][stat] for name in _DURATIONS for stat in _STATS},
        "sla_frt_pct": s["sla_frt_pct"],
        "fcr_pct": s["fcr_pct"],
        "csat_n": csat["n"],
        "csat_pct": csat["pct"],
        "csat_mean": csat["mean"],
        **_per_score("csat", csat),
        "nps_n": nps["n"],
        "nps": nps["score"],
        "nps_promoters": nps["promoters"],
        "nps_passives": nps["passives"],
        "nps_detractors": nps["detractors"],
        **_per_score("nps", nps),
        "ces_n": ces["n"],
        "ces_mean": ces["mean"],
        **_per_score("ces", ces),
        "survey_shown": survey["shown"],
        "survey_answered": survey["answered"],
        "survey_pct": survey["pct"],
        "offline": offline["count"],
        "offline_answered": offline["answered"],
        "offline_frt_p50": offline["frt_p50_s"],
        "visitors": v.get("visitors"),
        "visitors_new": v.get("new"),
        "visitors_returning": v.get("returning"),
        "visitors_churned": v.get("churned"),
        "churn_pct": v.get("churn_pct"),
    }


_SUMMARY_COUNTS = (
    *("started", "answered", "abandoned", "abandon_pct", "closed", "resolved"),
    *("transfers", "closed_inactive"),
)
_DURATIONS = ("wait", "frt", "response", "resolution")
_STATS = ("avg", "p50", "p90")


def _per_score(scale: str, figure: Mapping[str, Any]) -> dict[str, int]:
    """`csat_1`..`csat_5` and so on: the distribution as columns."""
    return {f"{scale}_{score}": count for score, count in figure["dist"].items()}


# --- CSV -----------------------------------------------------------------------------------


_EMPTY = window_view(Figures())
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": tuple(summary_row("", _EMPTY)),
    "series": tuple(point(0, "", Figures())),
    "agents": tuple(row("", "", Figures())),
    "topics": tuple(row("", "", Figures())),
}
"""Each exportable table's columns, in order: the keys its builder (`summary_row`, `point`,
`row`) writes, so the CSV and the JSON cannot drift apart."""

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell. Text that a spreadsheet would run as a formula (CSV injection: a name
    starting with `=`, `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`;
    numbers are written as they are (a negative NPS stays a number); null is empty."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(table: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """The table as RFC 4180 CSV (CRLF line ends, fields quoted when they must be): a
    header of `CSV_COLUMNS[table]`, then one line per row (missing fields empty)."""
    columns = CSV_COLUMNS.get(table)
    if columns is None:
        raise ValueError(f"table must be one of {', '.join(CSV_COLUMNS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for values in rows:
        writer.writerow([_cell(values.get(column)) for column in columns])
    return out.getvalue()
