"""`core/reports.py`: the range a report may cover, its series' hours and days in the
report zone, its JSON objects (P, R, V, the flat summary) and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from chat_server.core import reports, samples
from chat_server.core.metrics import Figures, window_view
from chat_server.core.reports import CSV_COLUMNS, Range, parse_range
from chat_server.core.rollups import Bucket, Calendar

TODAY = date(2026, 12, 4)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def merged(*parts: Figures) -> Figures:
    out = Figures()
    for part in parts:
        out.merge(part)
    return out


def busy() -> Figures:
    """Two chats, one answered in 30 s, one abandoned; one rated; two surveys shown."""
    return merged(
        samples.started(),
        samples.started(),
        samples.assigned_first(12),
        samples.first_response(30, 60),
        samples.response(20),
        samples.closed(resolved=True, resolution_s=600, abandoned=False),
        samples.closed(resolved=False, resolution_s=None, abandoned=True),
        samples.transferred(),
        samples.surveyed(),
        samples.surveyed(),
        samples.rated(csat=5, nps=6, ces=7, frt_s=30),
    )


# --- the range -------------------------------------------------------------------------


def test_a_range_and_the_period_before_it() -> None:
    r = parse_range("2026-11-05", "2026-12-04", TODAY, 400)
    assert r == Range(date(2026, 11, 5), date(2026, 12, 4))
    assert r.days == 30
    assert r.previous() == Range(date(2026, 10, 6), date(2026, 11, 4))
    assert r.previous().days == 30
    assert r.bounds() == {"from": "2026-11-05", "to": "2026-12-04"}
    assert parse_range("2026-12-04", "2026-12-04", TODAY, 1).previous().bounds() == {
        "from": "2026-12-03",
        "to": "2026-12-03",
    }


def test_a_range_across_a_leap_day() -> None:
    r = parse_range("2028-02-28", "2028-03-01", date(2028, 3, 1), 400)
    assert r.days == 3
    assert r.previous() == Range(date(2028, 2, 25), date(2028, 2, 27))


@pytest.mark.parametrize(
    "text", ["", "2026-1-05", "20261105", "2026-11-05T00:00", " 2026-11-05", "2026-11-05\n"]
)
def test_a_date_must_be_written_yyyy_mm_dd(text: str) -> None:
    with pytest.raises(ValueError, match=r"^from must be a date written YYYY-MM-DD$"):
        parse_range(text, "2026-12-01", TODAY, 400)
    with pytest.raises(ValueError, match=r"^to must be a date written YYYY-MM-DD$"):
        parse_range("2026-12-01", text, TODAY, 400)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2027-02-29", "0000-01-01"])
def test_a_date_must_exist(text: str) -> None:
    with pytest.raises(ValueError, match=r"^from is not a calendar date: "):
        parse_range(text, "2026-12-01", TODAY, 400)


def test_non_ascii_digits_are_not_dates() -> None:
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_range("\uff12\uff10\uff12\uff16-11-05", "2026-12-01", TODAY, 400)  # fullwidth 2026


def test_from_must_not_be_after_to() -> None:
    with pytest.raises(ValueError, match=r"^from must not be after to$"):
        parse_range("2026-12-02", "2026-12-01", TODAY, 400)


def test_a_range_must_not_end_after_today() -> None:
    with pytest.raises(ValueError, match=r"^to must not be after today \(2026-12-04\)$"):
        parse_range("2026-12-01", "2026-12-05", TODAY, 400)
    assert parse_range("2026-12-04", "2026-12-04", TODAY, 400).days == 1


def test_a_range_is_at_most_max_days_long() -> None:
    oldest = (TODAY - timedelta(days=400)).isoformat()
    with pytest.raises(ValueError, match=r"^a report covers at most 400 days$"):
        parse_range(oldest, TODAY.isoformat(), TODAY, 400)  # 401 days
    assert parse_range(oldest, "2026-12-03", TODAY, 400).days == 400
    with pytest.raises(ValueError, match="at most 7 days"):
        parse_range("2026-11-27", "2026-12-04", TODAY, 7)


def test_a_range_must_start_within_the_figures_kept() -> None:
    too_old = (TODAY - timedelta(days=401)).isoformat()
    with pytest.raises(ValueError, match=r"^from must not be before 2025-10-30: figures are kept"):
        parse_range(too_old, (TODAY - timedelta(days=395)).isoformat(), TODAY, 400)
    with pytest.raises(ValueError, match="figures are kept 30 days"):
        parse_range("2025-01-01", "2025-01-02", TODAY, 30)


def test_a_huge_max_days_stays_within_the_calendar() -> None:
    r = parse_range("1000-01-01", "1000-01-01", TODAY, 10**9)
    assert r.previous().days == 1
    with pytest.raises(ValueError, match=r"^from is too early to have a period before it$"):
        parse_range("0001-01-01", "0001-01-02", TODAY, 10**9)
    with pytest.raises(ValueError, match=r"^from must not be before 0001-12-27: "):
        parse_range("0001-01-01", "0001-01-02", date(2, 1, 1), 5)


def test_short_ranges_are_charted_by_the_hour() -> None:
    assert reports.granularity(Range(TODAY, TODAY)) == "hour"
    assert reports.granularity(Range(TODAY - timedelta(days=1), TODAY)) == "hour"
    assert reports.granularity(Range(TODAY - timedelta(days=2), TODAY)) == "day"


# --- the series' buckets and labels ------------------------------------------------------------


def test_a_day_by_the_hour_in_utc() -> None:
    line = reports.timeline(Calendar(), Range(TODAY, TODAY))
    assert len(line) == 24
    assert line[0] == (Bucket("hour", str(ms(2026, 12, 4))), ms(2026, 12, 4), "00:00")
    assert [label for _, _, label in line][13:15] == ["13:00", "14:00"]
    assert all(start == int(bucket.key) for bucket, start, _ in line)


def test_hour_labels_across_dst_in_los_angeles() -> None:
    la = Calendar("America/Los_Angeles")
    spring = [
        label for _, _, label in reports.timeline(la, Range(date(2026, 3, 8), date(2026, 3, 8)))
    ]
    assert spring[:3] == ["00:00", "01:00", "03:00"] and len(spring) == 23
    autumn = [
        label for _, _, label in reports.timeline(la, Range(date(2026, 11, 1), date(2026, 11, 1)))
    ]
    assert autumn[:4] == ["00:00", "01:00", "01:00", "02:00"] and len(autumn) == 25


def test_hour_labels_in_a_half_hour_zone() -> None:
    kolkata = Calendar("Asia/Kolkata")
    line = reports.timeline(kolkata, Range(date(2026, 1, 10), date(2026, 1, 10)))
    assert [label for _, _, label in line][:3] == ["23:30", "00:30", "01:30"]
    assert reports.hour_label(kolkata, ms(2026, 1, 10, 8)) == "13:30"


def test_a_month_by_the_day_in_paris() -> None:
    paris = Calendar("Europe/Paris")
    line = reports.timeline(paris, Range(date(2026, 3, 28), date(2026, 4, 3)))
    assert [label for _, _, label in line] == [
        (date(2026, 3, 28) + timedelta(days=i)).isoformat() for i in range(7)
    ]
    assert line[0] == (Bucket("day", "2026-03-28"), ms(2026, 3, 27, 23), "2026-03-28")
    assert line[2][1] == ms(2026, 3, 29, 22)  # CEST from the 29th


# --- the report's objects --------------------------------------------------------------------


def test_a_point() -> None:
    p = reports.point(ms(2026, 12, 4), "2026-12-04", busy())
    w = window_view(busy())
    assert tuple(p) == CSV_COLUMNS["series"]
    assert p == {
        "start": ms(2026, 12, 4),
        "label": "2026-12-04",
        "started": 2,
        "answered": 1,
        "closed": 2,
        "abandon_pct": 50.0,
        "wait_p50": w["wait_s"]["p50"],
        "frt_p50": w["frt_s"]["p50"],
        "frt_p90": w["frt_s"]["p90"],
        "response_p50": w["response_s"]["p50"],
        "response_p90": w["response_s"]["p90"],
        "resolution_p50": w["resolution_s"]["p50"],
        "csat_pct": 100.0,
        "csat_n": 1,
        "nps": -100.0,
        "nps_n": 1,
        "ces_mean": 7.0,
        "ces_n": 1,
        "fcr_pct": 100.0,
        "sla_frt_pct": 100.0,
    }
    assert p["frt_p50"] == pytest.approx(30, rel=0.05)


def test_an_empty_point_has_zero_counts_and_null_figures() -> None:
    p = reports.point(0, "00:00", Figures())
    assert (p["started"], p["answered"], p["closed"], p["csat_n"]) == (0, 0, 0, 0)
    for key in ("abandon_pct", "frt_p50", "csat_pct", "nps", "ces_mean", "fcr_pct"):
        assert p[key] is None


def test_a_row() -> None:
    r = reports.row("a_ann", "Ann", busy())
    assert tuple(r) == CSV_COLUMNS["agents"] == CSV_COLUMNS["topics"]
    assert (r["id"], r["name"], r["started"], r["resolved"], r["transfers"]) == (
        "a_ann",
        "Ann",
        2,
        1,
        1,
    )
    assert (r["survey_pct"], r["csat_pct"], r["nps"], r["ces_mean"]) == (50.0, 100.0, -100.0, 7.0)
    assert reports.row("billing", "billing", Figures())["survey_pct"] is None


def test_visitors_with_and_without_a_previous_period() -> None:
    assert reports.visitors_view(3, 5, 10, 4) == {
        "visitors": 8,
        "new": 3,
        "returning": 5,
        "churned": 6,
        "churn_pct": 60.0,
    }
    alone = reports.visitors_view(3, 5, None, None)
    assert (alone["visitors"], alone["churned"], alone["churn_pct"]) == (8, None, None)
    assert reports.visitors_view(0, 0, 0, 0)["churn_pct"] is None
    assert reports.visitors_view(1, 0, 5, None)["churned"] is None


def test_a_summary_row_is_flat() -> None:
    w = window_view(busy())
    v = reports.visitors_view(3, 5, 10, 4)
    flat = reports.summary_row("current", w, v)
    assert tuple(flat) == CSV_COLUMNS["summary"]
    assert all(not isinstance(value, dict | list) for value in flat.values())
    assert flat["period"] == "current"
    assert (flat["started"], flat["abandoned"], flat["transfers"]) == (2, 1, 1)
    assert (flat["frt_avg"], flat["wait_avg"]) == (30.0, 12.0)
    assert (flat["csat_5"], flat["csat_1"], flat["nps_6"], flat["ces_7"]) == (1, 0, 1, 1)
    assert (flat["nps_promoters"], flat["nps_passives"], flat["nps_detractors"]) == (0, 0, 1)
    assert (flat["survey_shown"], flat["survey_answered"], flat["survey_pct"]) == (2, 1, 50.0)
    assert (flat["offline"], flat["offline_frt_p50"]) == (0, None)
    assert (flat["visitors"], flat["visitors_churned"], flat["churn_pct"]) == (8, 6, 60.0)
    bare = reports.summary_row("previous", window_view(Figures()))
    assert tuple(bare) == CSV_COLUMNS["summary"]
    assert bare["visitors"] is None and bare["visitors_new"] is None


# --- CSV ----------------------------------------------------------------------------------


def parsed(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_has_a_header_and_crlf_lines() -> None:
    rows = [reports.row("a_ann", "Ann", busy()), reports.row("a_bob", "Bob", Figures())]
    text = reports.to_csv("agents", rows)
    lines = text.split("\r\n")
    assert lines[0] == ",".join(CSV_COLUMNS["agents"])
    assert lines[-1] == "" and len(lines) == 4
    table = parsed(text)
    assert table[1][:3] == ["a_ann", "Ann", "2"]
    bob = dict(zip(table[0], table[2], strict=True))
    assert (bob["started"], bob["frt_p50"], bob["csat_pct"]) == ("0", "", "")


def test_csv_quotes_what_must_be_quoted() -> None:
    name = 'Ann "the fixer", billing\nteam'
    text = reports.to_csv("topics", [{"id": "t1", "name": name}])
    assert '"Ann ""the fixer"", billing\nteam"' in text
    assert parsed(text)[1][:2] == ["t1", name]


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
)
def test_csv_defuses_formulas_in_text(name: str) -> None:
    (_, row) = parsed(reports.to_csv("agents", [{"id": "a_x", "name": name}]))
    assert row[1] == "'" + name


def test_csv_keeps_numbers_and_harmless_text_as_they_are() -> None:
    text = reports.to_csv("agents", [{"id": "a=b", "name": "Zoë", "nps": -12.5}])
    row = dict(zip(*parsed(text), strict=True))
    assert (row["id"], row["name"], row["nps"]) == ("a=b", "Zoë", "-12.5")


def test_csv_of_the_summary_and_the_series() -> None:
    w = window_view(busy())
    text = reports.to_csv("summary", (reports.summary_row(p, w) for p in ("current", "previous")))
    table = parsed(text)
    assert [r[0] for r in table] == ["period", "current", "previous"]
    series = reports.to_csv("series", [reports.point(0, "00:00", Figures())])
    assert parsed(series)[1][:3] == ["0", "00:00", "0"]


def test_csv_of_an_unknown_table_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^table must be one of summary, series, agents, topics$"):
        reports.to_csv("people", [])


def test_csv_with_no_rows_is_the_header() -> None:
    assert reports.to_csv("series", []) == ",".join(CSV_COLUMNS["series"]) + "\r\n"
