"""`core/ratings.py` and the survey samples (`core/samples.py`): CSAT, NPS and CES with
their count per score, NPS passives, and the survey response rate; all of it additive, so
figures merged from days (or hours, or months) read the same as figures kept in one."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_server.core import ratings, samples
from chat_server.core.metrics import Figures, window_view
from chat_server.core.ratios import pct, ratio, round1

scores = {scale: st.none() | st.sampled_from(list(r)) for scale, r in ratings.SCALES.items()}


def merged(*parts: Figures) -> Figures:
    out = Figures()
    for part in parts:
        out.merge(part)
    return out


def rate(csat: int | None = None, nps: int | None = None, ces: int | None = None) -> Figures:
    return samples.rated(csat=csat, nps=nps, ces=ces, frt_s=None)


def test_the_scales() -> None:
    assert {k: (r.start, r.stop - 1) for k, r in ratings.SCALES.items()} == {
        "csat": (1, 5),
        "nps": (0, 10),
        "ces": (1, 7),
    }


@pytest.mark.parametrize(
    ("scale", "score"), [("csat", 0), ("csat", 6), ("nps", -1), ("nps", 11), ("ces", 0), ("ces", 8)]
)
def test_a_score_off_its_scale_raises(scale: str, score: int) -> None:
    with pytest.raises(ValueError, match=f"{scale} out of"):
        ratings.check(scale, score)
    with pytest.raises(ValueError, match=f"{scale} out of"):
        samples.rated(**{"csat": None, "nps": None, "ces": None, scale: score}, frt_s=None)


def test_every_score_on_its_scale_is_accepted() -> None:
    for scale, scores_ in ratings.SCALES.items():
        for score in scores_:
            ratings.check(scale, score)
        ratings.check(scale, None)


def test_a_rating_counts_its_scores_and_an_answered_survey() -> None:
    assert rate(csat=4, nps=8, ces=2).counters == {
        "survey_answered": 1,
        "csat_n": 1,
        "csat:4": 1,
        "csat_pos": 1,
        "csat_sum": 4,
        "nps_n": 1,
        "nps:8": 1,
        "nps_pro": 0,
        "nps_pas": 1,
        "nps_det": 0,
        "ces_n": 1,
        "ces:2": 1,
        "ces_sum": 2,
    }


def test_a_comment_alone_is_an_answered_survey_without_scores() -> None:
    assert rate().counters == {"survey_answered": 1}


@pytest.mark.parametrize(
    ("nps", "kind"),
    [(0, "det"), (6, "det"), (7, "pas"), (8, "pas"), (9, "pro"), (10, "pro")],
)
def test_nps_groups(nps: int, kind: str) -> None:
    c = rate(nps=nps).counters
    assert {k: c[f"nps_{k}"] for k in ("pro", "pas", "det")} == {
        k: int(k == kind) for k in ("pro", "pas", "det")
    }


def test_the_view_lists_every_score_keyed_as_text() -> None:
    w = ratings.view(merged(rate(csat=5), rate(csat=5), rate(ces=7), rate(nps=0)).counters)
    assert w["csat"]["dist"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 2}
    assert list(w["nps"]["dist"]) == [str(s) for s in range(11)]
    assert w["nps"]["dist"]["0"] == 1 and sum(w["nps"]["dist"].values()) == 1
    assert w["ces"]["dist"] == {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "7": 1}
    assert json.loads(json.dumps(w)) == w


def test_nps_promoters_passives_and_detractors_are_counts() -> None:
    w = ratings.view(merged(*(rate(nps=v) for v in (10, 9, 9, 8, 7, 6, 0))).counters)
    assert w["nps"]["n"] == 7
    assert (w["nps"]["promoters"], w["nps"]["passives"], w["nps"]["detractors"]) == (3, 2, 2)
    assert w["nps"]["score"] == round(100 * (3 - 2) / 7, 1)


def test_survey_response_rate() -> None:
    assert ratings.view({})["survey"] == {"shown": 0, "answered": 0, "pct": None}
    shown = merged(*(samples.surveyed() for _ in range(3)), rate(csat=5), rate(), rate(nps=3))
    assert ratings.view(shown.counters)["survey"] == {"shown": 3, "answered": 3, "pct": 100.0}
    w = ratings.view(merged(*(samples.surveyed() for _ in range(8)), rate(ces=1)).counters)
    assert w["survey"] == {"shown": 8, "answered": 1, "pct": 12.5}


def test_a_survey_answered_in_a_later_bucket_keeps_the_rate_a_percent() -> None:
    """Shown at the close in one bucket, answered in the next: within that one bucket
    more surveys are answered than shown."""
    w = ratings.view(merged(samples.surveyed(), rate(csat=1), rate(csat=2)).counters)
    assert w["survey"] == {"shown": 1, "answered": 2, "pct": 100.0}
    assert ratings.view(rate(csat=1).counters)["survey"]["pct"] is None


def test_window_view_carries_the_survey_figures() -> None:
    w = window_view(merged(samples.surveyed(), samples.surveyed(), rate(csat=4, nps=9)))
    assert w["survey"] == {"shown": 2, "answered": 1, "pct": 50.0}
    assert w["csat"]["dist"]["4"] == 1 and w["nps"]["promoters"] == 1


def test_the_rounding_rules() -> None:
    assert (round1(None), round1(1.26)) == (None, 1.3)
    assert (ratio(1, 0, 100, 1), ratio(1, 3, 100, 1), ratio(7, 2, 1, 2)) == (None, 33.3, 3.5)
    assert (pct(1, 0), pct(1, 3), pct(-1, 3), pct(5, 3)) == (None, 33.3, 0.0, 100.0)


# --- additivity: per-day figures merged read as the figures of the whole range -------------

ratings_events = st.tuples(scores["csat"], scores["nps"], scores["ces"], st.booleans())
"""(csat, nps, ces, also shown?): a rating, after a survey shown or not."""


def figures_of(events: list[tuple[Any, Any, Any, bool]]) -> Figures:
    out = Figures()
    for csat, nps, ces, shown in events:
        out.merge(rate(csat=csat, nps=nps, ces=ces))
        if shown:
            out.merge(samples.surveyed())
    return out


COUNTS = (
    ("csat", "n"),
    ("nps", "n"),
    ("nps", "promoters"),
    ("nps", "passives"),
    ("nps", "detractors"),
    ("ces", "n"),
    ("survey", "shown"),
    ("survey", "answered"),
)


@given(st.lists(st.lists(ratings_events, max_size=8), max_size=10))
def test_merging_days_then_viewing_equals_viewing_the_merge(
    days: list[list[tuple[Any, Any, Any, bool]]],
) -> None:
    per_day = [figures_of(events) for events in days]
    whole = window_view(figures_of([e for events in days for e in events]))
    assert window_view(merged(*per_day)) == whole
    views = [window_view(f) for f in per_day]
    for member, key in COUNTS:
        assert whole[member][key] == sum(v[member][key] for v in views)
    for scale in ratings.SCALES:
        for score, count in whole[scale]["dist"].items():
            assert count == sum(v[scale]["dist"][score] for v in views)
        assert sum(whole[scale]["dist"].values()) == whole[scale]["n"]
    # as a Redis hash adds them: field by field
    fields: dict[str, float] = {}
    for f in per_day:
        for key, value in f.to_fields().items():
            fields[key] = fields.get(key, 0) + value
    assert window_view(Figures.from_fields(fields)) == whole


def test_a_random_mix_of_days_adds_up() -> None:
    rng = random.Random(16)
    days = [
        [
            (rng.randint(1, 5), rng.randint(0, 10), rng.choice([None, 3]), rng.random() < 0.8)
            for _ in range(rng.randint(0, 30))
        ]
        for _ in range(31)
    ]
    whole = window_view(merged(*(figures_of(events) for events in days)))
    assert whole["csat"]["n"] == sum(len(events) for events in days)
    assert whole["survey"]["answered"] == whole["csat"]["n"]
