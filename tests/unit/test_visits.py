"""`core/visits.py`: returning visitors and churn, from what the store's `visits` returns,
checked against the definitions applied to whole visit histories."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chat_server.core import visits

DAY0 = date(2026, 1, 1).toordinal()
History = dict[str, set[int]]
"""visitor -> the days (ordinals) they visited on."""


def store_visits(history: History, first: int, last: int, since: Sequence[int]) -> tuple[int, ...]:
    """What `Rollups.visits` answers, from the histories: first visits ever in the
    period, and per `since` the visits in it whose previous visit is in since..first-1."""
    new = 0
    back = [0] * len(since)
    for days in history.values():
        ordered = sorted(days)
        if first <= ordered[0] <= last:
            new += 1
        for previous, visit in itertools.pairwise(ordered):
            if first <= visit <= last:
                for i, start in enumerate(since):
                    back[i] += start <= previous < first
    return (new, *back)


def came(history: History, first: int, last: int) -> set[str]:
    return {who for who, days in history.items() if any(first <= d <= last for d in days)}


histories = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=3),
    st.sets(st.integers(min_value=DAY0, max_value=DAY0 + 59), min_size=1, max_size=12),
    max_size=30,
)


@given(histories, st.integers(min_value=DAY0, max_value=DAY0 + 59), st.integers(0, 20))
def test_the_figures_match_their_definitions(history: History, first: int, span: int) -> None:
    last = first + span
    q_first, q_last = visits.previous(first, last)
    new, returning, retained = store_visits(history, first, last, visits.since(first, last))
    q_new, q_returning = store_visits(history, q_first, q_last, (visits.NEVER,))

    in_p, in_q = came(history, first, last), came(history, q_first, q_last)
    first_in_p = {who for who in in_p if min(history[who]) >= first}
    assert visits.visitors(new, returning) == len(in_p)
    assert new == len(first_in_p)
    assert returning == len(in_p - first_in_p)
    previous_visitors = visits.visitors(q_new, q_returning)
    assert previous_visitors == len(in_q)
    assert visits.churned(previous_visitors, retained) == len(in_q - in_p)
    expected = round(100 * len(in_q - in_p) / len(in_q), 1) if in_q else None
    assert visits.churn_pct(previous_visitors, retained) == expected


def test_a_worked_example() -> None:
    # P = days 10..14 (5 days), Q = days 5..9
    history: History = {
        "ann": {DAY0 + 1, DAY0 + 11},  # came long ago, back in P: returning, not from Q
        "bob": {DAY0 + 6, DAY0 + 12, DAY0 + 13},  # in Q and back in P (twice: one visitor)
        "cat": {DAY0 + 7},  # in Q, not in P: churned
        "dan": {DAY0 + 10},  # first visit in P: new
        "eve": {DAY0 + 5, DAY0 + 8},  # twice in Q, not in P: churned
    }
    first, last = DAY0 + 10, DAY0 + 14
    assert visits.previous(first, last) == (DAY0 + 5, DAY0 + 9)
    assert visits.since(first, last) == (visits.NEVER, DAY0 + 5)
    new, returning, retained = store_visits(history, first, last, visits.since(first, last))
    assert (new, returning, retained) == (1, 2, 1)
    assert visits.visitors(new, returning) == 3
    assert visits.churned(3, retained) == 2
    assert visits.churn_pct(3, retained) == 66.7


def test_a_one_day_period_compares_with_the_day_before() -> None:
    assert visits.previous(DAY0, DAY0) == (DAY0 - 1, DAY0 - 1)
    assert visits.since(DAY0, DAY0) == (0, DAY0 - 1)


def test_no_previous_visitors_means_no_churn_pct() -> None:
    assert visits.churned(0, 0) == 0
    assert visits.churn_pct(0, 0) is None
    assert visits.churn_pct(4, 4) == 0.0
    assert visits.churn_pct(4, 0) == 100.0


def test_churn_never_goes_below_zero() -> None:
    """Q's oldest visits may be pruned while P still remembers a visit there."""
    assert visits.churned(2, 3) == 0
    assert visits.churn_pct(2, 3) == 0.0


def test_a_period_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        visits.previous(DAY0 + 1, DAY0)
    with pytest.raises(ValueError, match="ends before it starts"):
        visits.since(DAY0 + 1, DAY0)
