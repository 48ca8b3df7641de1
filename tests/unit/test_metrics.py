"""`chat_server/core/metrics.py`: the supervisor figures (contract §6 Stats)."""

from __future__ import annotations

import itertools
import json
import math
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_server.core import metrics, samples
from chat_server.core.metrics import (
    BANDS,
    EPS,
    WINDOWS,
    Figures,
    RollingWindows,
    bin_index,
    bin_value,
    bucket_start,
    frt_band,
    stats_windows,
    window_buckets,
    window_view,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a multiple of every bucket size
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

durations = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(round(q * len(ordered), 6))) - 1]


def within_bound(estimate: float | None, exact: float) -> bool:
    assert estimate is not None
    if exact >= 1:
        return abs(estimate - exact) <= EPS * exact
    return abs(estimate - exact) <= 0.05 + 1e-9


def histogram_of(name: str, values: list[float]) -> Figures:
    f = Figures()
    for v in values:
        f.observe(name, v)
    return f


# --- bands and bins -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("frt_s", "band"),
    [
        (0, "<30s"),
        (29.9, "<30s"),
        (30, "30-60s"),
        (59.99, "30-60s"),
        (60, "1-2m"),
        (119.9, "1-2m"),
        (120, "2-5m"),
        (299.9, "2-5m"),
        (300, ">5m"),
        (86_400, ">5m"),
    ],
)
def test_frt_band_edges(frt_s: float, band: str) -> None:
    assert frt_band(frt_s) == band


@given(durations.filter(lambda v: v >= 1))
def test_bin_value_is_within_eps_of_the_value(v: float) -> None:
    assert abs(bin_value(bin_index(v)) - v) <= EPS * v


@given(st.floats(min_value=0, max_value=1, exclude_max=True))
def test_sub_second_bins_are_a_tenth_wide(v: float) -> None:
    assert abs(bin_value(bin_index(v)) - v) <= 0.05 + 1e-12


@given(durations, durations)
def test_bins_are_monotonic(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert bin_index(low) <= bin_index(high)


def test_each_bin_reads_as_a_value_inside_it() -> None:
    values = [bin_value(i) for i in range(200)]
    assert values == sorted(values)
    assert [bin_index(v) for v in values] == list(range(200))


def test_bin_edges() -> None:
    assert bin_index(0) == 0
    assert bin_index(0.0999) == 0
    assert bin_index(0.1) == 1
    assert bin_index(0.99) == 9
    assert bin_index(1.0) == 10
    assert bin_value(0) == pytest.approx(0.05)


def test_negative_durations_count_as_zero_and_non_finite_ones_raise() -> None:
    assert bin_index(-3.0) == 0
    f = Figures()
    f.observe("wait_s", -3.0)
    assert f.counters["sum:wait_s"] == 0
    with pytest.raises(ValueError):
        bin_index(math.nan)
    with pytest.raises(ValueError):
        bin_index(math.inf)
    with pytest.raises(ValueError):
        bin_value(-1)


# --- quantiles and summaries ----------------------------------------------------------


def test_quantiles_of_one_to_a_thousand() -> None:
    f = histogram_of("frt_s", [float(v) for v in range(1, 1001)])
    assert within_bound(f.quantile("frt_s", 0.5), 500)
    assert within_bound(f.quantile("frt_s", 0.9), 900)
    assert within_bound(f.quantile("frt_s", 0.0), 1)
    assert within_bound(f.quantile("frt_s", 1.0), 1000)


@pytest.mark.parametrize(
    "draw",
    [
        lambda r: r.expovariate(1 / 45),
        lambda r: r.lognormvariate(3, 1.2),
        lambda r: r.uniform(0, 600),
    ],
    ids=["exponential", "lognormal", "uniform"],
)
def test_quantiles_of_known_distributions(draw: Any) -> None:
    rng = random.Random(7)
    values = [draw(rng) for _ in range(5000)]
    f = histogram_of("response_s", values)
    for q in (0.5, 0.9, 0.99):
        assert within_bound(f.quantile("response_s", q), nearest_rank(values, q))


@given(st.lists(durations, min_size=1, max_size=200), st.floats(min_value=0, max_value=1))
def test_quantile_is_the_nearest_rank_sample_within_the_bound(
    values: list[float], q: float
) -> None:
    f = histogram_of("wait_s", values)
    assert within_bound(f.quantile("wait_s", q), nearest_rank(values, q))


def test_quantile_reads_rank_nine_of_ten_as_p90() -> None:
    # 0.9 * 10 is 9.000000000000002 in floating point: the 9th value, not the 10th
    f = histogram_of("frt_s", [10.0] * 9 + [1000.0])
    assert within_bound(f.quantile("frt_s", 0.9), 10)


def test_quantile_of_nothing_is_none_and_q_is_checked() -> None:
    assert Figures().quantile("frt_s", 0.5) is None
    with pytest.raises(ValueError):
        Figures().quantile("frt_s", 1.5)


def test_summary_of_empty_is_nulls() -> None:
    assert Figures().summary("wait_s") == {"n": 0, "avg": None, "p50": None, "p90": None}


def test_summary_rounds_to_a_tenth_and_the_mean_is_exact() -> None:
    f = histogram_of("frt_s", [10.0, 20.0, 30.0, 40.0])
    s = f.summary("frt_s")
    assert s["n"] == 4
    assert s["avg"] == 25.0
    assert s["p50"] is not None and within_bound(s["p50"], 20)
    assert s["p90"] is not None and within_bound(s["p90"], 40)
    assert s["p50"] == round(s["p50"], 1)


# --- merging and the flat form -----------------------------------------------------------


def event_figures(rng: random.Random, count: int) -> list[Figures]:
    out = []
    for _ in range(count):
        pick = rng.randrange(6)
        if pick == 0:
            out.append(samples.started())
        elif pick == 1:
            out.append(samples.first_response(rng.uniform(0, 400), 60))
        elif pick == 2:
            out.append(samples.response(rng.expovariate(1 / 30)))
        elif pick == 3:
            out.append(
                samples.closed(
                    resolved=rng.random() < 0.7,
                    resolution_s=rng.uniform(60, 4000),
                    abandoned=rng.random() < 0.1,
                )
            )
        elif pick == 4:
            out.append(
                samples.rated(
                    csat=rng.randint(1, 5),
                    nps=rng.randint(0, 10),
                    ces=rng.randint(1, 7),
                    frt_s=rng.uniform(0, 400),
                )
            )
        else:
            out.append(samples.assigned_first(rng.uniform(0, 120)))
    return out


@given(
    st.lists(st.tuples(st.sampled_from(metrics.HISTOGRAMS), durations), max_size=100),
    st.lists(st.integers(min_value=0, max_value=100), max_size=5),
)
def test_merge_equals_recording_everything_in_one(
    samples: list[tuple[str, float]], cuts: list[int]
) -> None:
    one = Figures()
    for name, value in samples:
        one.observe(name, value)
        one.add("started")
    merged = Figures()
    edges = [0, *sorted(cuts), len(samples)]
    for lo, hi in itertools.pairwise(edges):
        part = Figures()
        for name, value in samples[lo:hi]:
            part.observe(name, value)
            part.add("started")
        merged.merge(part)
    assert merged.histograms == one.histograms
    assert merged.counters == pytest.approx(one.counters)


def test_merge_is_associative_and_does_not_alias() -> None:
    a, b, c = event_figures(random.Random(5), 3)
    left = Figures()
    for part in (a, b, c):
        left.merge(part)
    bc = Figures()
    bc.merge(b)
    bc.merge(c)
    right = Figures()
    right.merge(a)
    right.merge(bc)
    assert window_view(left) == window_view(right)
    source = samples.response(5.0)
    target = Figures()
    target.merge(source)
    target.observe("response_s", 5.0)
    assert source.count("response_s") == 1


def test_fields_round_trip_as_str_and_as_bytes() -> None:
    f = Figures()
    for part in event_figures(random.Random(11), 200):
        f.merge(part)
    f.merge(samples.recontacted())
    fields = f.to_fields()
    assert Figures.from_fields(fields) == f
    as_redis = {k.encode(): repr(v).encode() for k, v in fields.items()}
    assert Figures.from_fields(as_redis) == f
    as_text = {k: str(v) for k, v in fields.items()}
    assert Figures.from_fields(as_text) == f


def test_fields_add_up_like_merge() -> None:
    a, b = event_figures(random.Random(13), 2)
    summed: dict[str, float] = dict(a.to_fields())
    for key, value in b.to_fields().items():
        summed[key] = summed.get(key, 0) + value
    merged = Figures()
    merged.merge(a)
    merged.merge(b)
    assert Figures.from_fields(summed) == merged


def test_fields_of_another_shape_are_ignored() -> None:
    fields: dict[str | bytes, str | bytes | float | int] = {
        "c:started": "2",
        b"expires": b"1",
        "h:frt_s:x": 1,
        "h::3": 1,
    }
    assert Figures.from_fields(fields) == Figures({"started": 2.0})


# --- what each event contributes, and the W object ----------------------------------------


def view_of(*parts: Figures) -> dict[str, Any]:
    f = Figures()
    for part in parts:
        f.merge(part)
    return window_view(f)


EMPTY_P = {"n": 0, "avg": None, "p50": None, "p90": None}


def dist(*counts: int, low: int = 1) -> dict[str, int]:
    """A `dist` map: the count of each score from `low` up, keyed by the score as text."""
    return {str(low + i): count for i, count in enumerate(counts)}


def test_window_view_of_nothing() -> None:
    assert window_view(Figures()) == {
        "started": 0,
        "answered": 0,
        "abandoned": 0,
        "abandon_pct": None,
        "closed": 0,
        "resolved": 0,
        "wait_s": EMPTY_P,
        "frt_s": EMPTY_P,
        "response_s": EMPTY_P,
        "resolution_s": EMPTY_P,
        "sla_frt_pct": None,
        "csat": {"n": 0, "pct": None, "mean": None, "dist": dist(0, 0, 0, 0, 0)},
        "nps": {
            "n": 0,
            "score": None,
            "promoters": 0,
            "passives": 0,
            "detractors": 0,
            "dist": dist(*[0] * 11, low=0),
        },
        "ces": {"n": 0, "mean": None, "dist": dist(*[0] * 7)},
        "survey": {"shown": 0, "answered": 0, "pct": None},
        "fcr_pct": None,
        "csat_by_frt": [{"band": band, "n": 0, "pct": None} for band in BANDS],
        "transfers": 0,
        "offline": {"count": 0, "answered": 0, "frt_p50_s": None},
        "closed_inactive": 0,
    }


def test_window_view_is_json_with_int_counters() -> None:
    w = view_of(*event_figures(random.Random(17), 100))
    assert json.loads(json.dumps(w)) == w
    for key in ("started", "answered", "abandoned", "closed", "resolved", "transfers"):
        assert type(w[key]) is int
    assert type(w["csat"]["n"]) is int


def test_csat_pct_and_mean() -> None:
    w = view_of(*(samples.rated(csat=v, nps=None, ces=None, frt_s=None) for v in (5, 4, 2)))
    assert w["csat"] == {"n": 3, "pct": 66.7, "mean": 3.67, "dist": dist(0, 1, 0, 1, 1)}
    assert (w["nps"]["n"], w["nps"]["score"]) == (0, None)
    assert all(row["n"] == 0 for row in w["csat_by_frt"])


def test_nps_score() -> None:
    w = view_of(*(samples.rated(csat=None, nps=v, ces=None, frt_s=None) for v in (10, 9, 7, 3)))
    # promoters 2/4 = 50 %, detractors 1/4 = 25 %
    assert w["nps"] == {
        "n": 4,
        "score": 25.0,
        "promoters": 2,
        "passives": 1,
        "detractors": 1,
        "dist": dist(0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, low=0),
    }
    assert w["csat"]["n"] == 0


def test_nps_score_can_be_negative() -> None:
    w = view_of(*(samples.rated(csat=None, nps=v, ces=None, frt_s=None) for v in (0, 6, 8)))
    assert (w["nps"]["n"], w["nps"]["score"]) == (3, -66.7)
    assert (w["nps"]["promoters"], w["nps"]["passives"], w["nps"]["detractors"]) == (0, 1, 2)


def test_ces_mean() -> None:
    w = view_of(*(samples.rated(csat=None, nps=None, ces=v, frt_s=None) for v in (7, 5)))
    assert w["ces"] == {"n": 2, "mean": 6.0, "dist": dist(0, 0, 0, 0, 1, 0, 1)}


def test_ratings_out_of_range_raise() -> None:
    with pytest.raises(ValueError):
        samples.rated(csat=6, nps=None, ces=None, frt_s=None)
    with pytest.raises(ValueError):
        samples.rated(csat=None, nps=11, ces=None, frt_s=None)
    with pytest.raises(ValueError):
        samples.rated(csat=None, nps=None, ces=0, frt_s=None)


def test_abandon_pct() -> None:
    w = view_of(
        *(samples.first_response(20, 60) for _ in range(3)),
        samples.closed(resolved=False, resolution_s=None, abandoned=True),
    )
    assert (w["answered"], w["abandoned"], w["abandon_pct"]) == (3, 1, 25.0)
    assert w["closed"] == 1


def test_sla_frt_pct_counts_the_target_itself_as_met() -> None:
    w = view_of(
        samples.first_response(59, 60),
        samples.first_response(60, 60),
        samples.first_response(61, 60),
    )
    assert w["sla_frt_pct"] == 66.7
    assert w["frt_s"]["n"] == 3
    assert w["frt_s"]["avg"] == 60.0


def test_fcr_pct_and_recontact() -> None:
    closes = [samples.closed(resolved=True, resolution_s=600, abandoned=False) for _ in range(4)]
    w = view_of(*closes, samples.closed(resolved=False, resolution_s=None, abandoned=False))
    assert (w["closed"], w["resolved"], w["fcr_pct"]) == (5, 4, 100.0)
    assert w["resolution_s"]["n"] == 4
    w = view_of(*closes, samples.recontacted())
    assert w["fcr_pct"] == 75.0


def test_fcr_pct_stays_a_percent_when_a_recontact_outlives_its_close() -> None:
    assert view_of(samples.recontacted())["fcr_pct"] is None
    w = view_of(
        samples.closed(resolved=True, resolution_s=1, abandoned=False),
        samples.recontacted(),
        samples.recontacted(),
    )
    assert w["fcr_pct"] == 0.0


def test_resolved_close_without_a_resolution_time() -> None:
    w = view_of(samples.closed(resolved=True, resolution_s=None, abandoned=False))
    assert (w["resolved"], w["fcr_pct"], w["resolution_s"]["n"]) == (1, 100.0, 0)


def test_csat_by_frt_bands() -> None:
    w = view_of(
        samples.rated(csat=5, nps=None, ces=None, frt_s=10),
        samples.rated(csat=2, nps=None, ces=None, frt_s=25),
        samples.rated(csat=4, nps=None, ces=None, frt_s=45),
        samples.rated(csat=1, nps=None, ces=None, frt_s=400),
        samples.rated(csat=5, nps=None, ces=None, frt_s=None),
    )
    assert w["csat_by_frt"] == [
        {"band": "<30s", "n": 2, "pct": 50.0},
        {"band": "30-60s", "n": 1, "pct": 100.0},
        {"band": "1-2m", "n": 0, "pct": None},
        {"band": "2-5m", "n": 0, "pct": None},
        {"band": ">5m", "n": 1, "pct": 0.0},
    ]
    assert w["csat"] == {"n": 5, "pct": 60.0, "mean": 3.4, "dist": dist(1, 1, 0, 1, 2)}


def test_event_helpers() -> None:
    w = view_of(
        samples.started(),
        samples.started(),
        samples.assigned_first(12),
        samples.response(3),
        samples.response(5),
        samples.transferred(),
    )
    assert (w["started"], w["transfers"]) == (2, 1)
    assert w["wait_s"]["n"] == 1 and w["wait_s"]["avg"] == 12.0
    assert w["response_s"]["n"] == 2 and w["response_s"]["avg"] == 4.0


# --- buckets and windows ---------------------------------------------------------------------


def test_bucket_start_floors() -> None:
    assert bucket_start(T0 + 9_999, 10_000) == T0
    assert bucket_start(T0 + 10_000, 10_000) == T0 + 10_000


@pytest.mark.parametrize("window", list(WINDOWS))
def test_window_buckets_cover_the_window(window: str) -> None:
    length, bucket = WINDOWS[window]
    for now in (T0, T0 + 1, T0 + bucket - 1, T0 + 7 * bucket + 123):
        starts = window_buckets(window, now)
        assert len(starts) == length // bucket
        assert starts == sorted(starts)
        assert starts[-1] == bucket_start(now, bucket)
        assert starts[0] > now - length
        assert all(b - a == bucket for a, b in itertools.pairwise(starts))


def test_unknown_window_raises() -> None:
    with pytest.raises(ValueError):
        window_buckets("2h", T0)
    with pytest.raises(ValueError):
        RollingWindows().read("2h", T0)


def frt_n(windows: RollingWindows, window: str, now: int, dim: str = "all") -> int:
    return windows.read(window, now, dim).count("frt_s")


def test_a_sample_rolls_out_of_5m_but_stays_in_1h_and_24h() -> None:
    windows = RollingWindows()
    t = T0 + 4_321
    windows.record(t, ["all"], samples.first_response(20, 60))
    for now in (t, t + 4 * MINUTE + 50 * SECOND - 4_321):
        assert frt_n(windows, "5m", now) == 1
    later = t + 5 * MINUTE + 10 * SECOND
    assert frt_n(windows, "5m", later) == 0
    assert frt_n(windows, "1h", later) == 1
    assert frt_n(windows, "24h", later) == 1
    assert frt_n(windows, "1h", t + HOUR + MINUTE) == 0
    assert frt_n(windows, "24h", t + 23 * HOUR) == 1
    assert frt_n(windows, "24h", t + 24 * HOUR + 15 * MINUTE) == 0


def test_read_does_not_see_the_future_nor_alias_buckets() -> None:
    windows = RollingWindows()
    windows.record(T0 + MINUTE, ["all"], samples.started())
    assert windows.read("5m", T0, "all").counters == {}
    got = windows.read("5m", T0 + MINUTE)
    got.add("started", 10)
    assert window_view(windows.read("5m", T0 + MINUTE))["started"] == 1


def test_dims_are_kept_apart() -> None:
    windows = RollingWindows()
    windows.record(T0, ["all", "agent:a_1", "topic:sales"], samples.first_response(10, 60))
    windows.record(T0, ["all", "agent:a_2"], samples.first_response(100, 60))
    windows.record(T0, ["all"], samples.started())
    now = T0 + SECOND
    assert window_view(windows.read("1h", now))["answered"] == 2
    assert window_view(windows.read("1h", now))["started"] == 1
    a1 = window_view(windows.read("1h", now, "agent:a_1"))
    assert (a1["answered"], a1["sla_frt_pct"], a1["started"]) == (1, 100.0, 0)
    a2 = window_view(windows.read("1h", now, "agent:a_2"))
    assert (a2["answered"], a2["sla_frt_pct"]) == (1, 0.0)
    assert window_view(windows.read("1h", now, "topic:sales"))["answered"] == 1
    assert window_view(windows.read("1h", now, "agent:nobody")) == window_view(Figures())


def test_windows_match_a_direct_merge_of_their_samples() -> None:
    rng = random.Random(23)
    windows = RollingWindows()
    log: list[tuple[int, Figures]] = []
    ts = T0
    for part in event_figures(rng, 2000):
        ts += rng.randint(0, 60 * SECOND)
        windows.record(ts, ["all"], part)
        log.append((ts, part))
    now = ts + 7 * SECOND
    for window, (length, bucket) in WINDOWS.items():
        expected = Figures()
        for at, part in log:
            if bucket_start(at, bucket) > now - length:
                expected.merge(part)
        assert window_view(windows.read(window, now)) == window_view(expected)


def test_prune_keeps_memory_bounded_over_two_days() -> None:
    windows = RollingWindows()
    sample = samples.response(4.0)
    per_dim = sum(length // bucket for length, bucket in WINDOWS.values())
    slack = sum(MINUTE // bucket + 1 for _, bucket in WINDOWS.values())
    most = 0
    for second in range(2 * 24 * 3600):
        now = T0 + second * SECOND
        windows.record(now, ["all"], sample)
        if second % 60 == 0:
            windows.prune(now)
        most = max(most, windows.bucket_count())
    assert most <= per_dim + slack
    end = T0 + 2 * 24 * HOUR
    assert windows.read("24h", end).count("response_s") == 24 * 3600 - 3600 // 4
    assert windows.read("5m", end).count("response_s") == 290


def test_prune_drops_only_what_no_window_can_read() -> None:
    windows = RollingWindows()
    windows.record(T0, ["all", "agent:a_1"], samples.started())
    windows.prune(T0 + 10 * MINUTE)
    assert window_view(windows.read("1h", T0 + 10 * MINUTE))["started"] == 1
    assert windows.read("5m", T0 + 10 * MINUTE).counters == {}
    windows.prune(T0 + 25 * HOUR)
    assert windows.bucket_count() == 0


def test_a_late_correction_does_not_bring_back_a_pruned_bucket() -> None:
    windows = RollingWindows()
    close_ts = T0 + 5 * SECOND
    windows.record(
        close_ts, ["all"], samples.closed(resolved=True, resolution_s=9, abandoned=False)
    )
    now = close_ts + 2 * HOUR
    windows.prune(now)
    windows.record(close_ts, ["all"], samples.recontacted())  # the visitor came back
    assert windows.bucket_count() == 1  # only the 24h bucket of the close is still readable
    assert window_view(windows.read("24h", now))["fcr_pct"] == 0.0


def test_snapshot_restore_round_trip_through_json() -> None:
    rng = random.Random(29)
    windows = RollingWindows()
    ts = T0
    for part in event_figures(rng, 500):
        ts += rng.randint(0, 20 * SECOND)
        windows.record(ts, ["all", f"agent:a_{rng.randint(1, 3)}"], part)
    windows.prune(ts)
    data = json.loads(json.dumps(windows.snapshot()))
    restored = RollingWindows.restore(data)
    assert restored.bucket_count() == windows.bucket_count()
    assert restored.snapshot() == windows.snapshot()
    for dim in ("all", "agent:a_1", "agent:a_3"):
        for window in WINDOWS:
            assert restored.read(window, ts, dim) == windows.read(window, ts, dim)


def test_restore_drops_windows_whose_buckets_changed() -> None:
    windows = RollingWindows()
    windows.record(T0, ["all"], samples.started())
    data = windows.snapshot()
    data["windows"]["5m"] = [300_000, 5_000]
    restored = RollingWindows.restore(data)
    assert restored.read("5m", T0).counters == {}
    assert window_view(restored.read("1h", T0))["started"] == 1
    assert RollingWindows.restore({"version": 99}).bucket_count() == 0


def test_stats_windows_has_every_window() -> None:
    windows = RollingWindows()
    windows.record(T0, ["all"], samples.started())
    out = stats_windows(lambda name: windows.read(name, T0 + SECOND))
    assert list(out) == ["5m", "1h", "24h"]
    assert all(w["started"] == 1 for w in out.values())
