"""Returning visitors and churn for the chat channel (issue 16), from the visit counts the
store keeps (`Rollups.visits`).

A *visit* is a local day (`reports_tz`) on which a visitor started at least one
conversation; several conversations on one day are one visit. For a period P of L days
(`first`..`last`) and the previous period Q (the L days before `first`):

- `visitors`: distinct visitors with a visit in P;
- `new`: those whose first visit ever is in P;
- `returning`: `visitors` - `new`, those who had visited before P;
- `churned`: visitors of Q with no visit in P (they came in the previous period and did
  not come back in this one); `churn_pct` = `churned` / visitors of Q * 100, to 0.1.

The store counts each visit under the day of the visitor's previous visit, so for any day
`since` it can tell how many visits in P follow a previous visit on a day from `since` up
to (not including) `first`. Only a visitor's first visit in P can follow a visit before P,
so that count is of distinct visitors: with `since` = `NEVER` it is `returning`, with
`since` = Q's first day it is the visitors of Q who came back in P (`retained`), and
`churned` = visitors of Q - `retained`. Days are ordinals (`date.toordinal`).

Erasing a visitor forgets when they last came: if they come again they count as new.
Visits older than `rollup_days` are gone, so a visitor whose earlier visits were all
before that counts as new too.
"""

from __future__ import annotations

from chat_server.core.ratios import pct

NEVER = 0
"""A `since` before every day (ordinals start at 1): any previous visit."""


def _length(first: int, last: int) -> int:
    if first > last:
        raise ValueError(f"a period ends before it starts: {first} > {last}")
    return last - first + 1


def previous(first: int, last: int) -> tuple[int, int]:
    """Q: the days just before `first`..`last`, as many of them."""
    length = _length(first, last)
    return first - length, first - 1


def since(first: int, last: int) -> tuple[int, int]:
    """What to ask the store for P (`Rollups.visits(dim, first, last, since)`): the
    visits back from any day (`returning`), and those back from Q (`retained`)."""
    return NEVER, previous(first, last)[0]


def visitors(new: int, returning: int) -> int:
    return new + returning


def churned(previous_visitors: int, retained: int) -> int:
    """Visitors of Q who did not come back in P (never below 0: Q's oldest visits may
    already be pruned while P still remembers them)."""
    return max(0, previous_visitors - retained)


def churn_pct(previous_visitors: int, retained: int) -> float | None:
    """`churned` as a percent of the visitors of Q; null when Q had none."""
    return pct(churned(previous_visitors, retained), previous_visitors)
