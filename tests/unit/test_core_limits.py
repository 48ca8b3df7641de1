"""`chat_server/core/limits.py`: token buckets (burst, refill, cost) and the sliding
window that turns repeated refusals into abuse."""

from __future__ import annotations

from chat_server.core.limits import Abuse, TokenBucket


def test_a_new_bucket_starts_full_and_then_refuses() -> None:
    bucket = TokenBucket(rate=1, burst=3)
    assert [bucket.take(1_000) for _ in range(4)] == [True, True, True, False]


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2, burst=3)
    for _ in range(3):
        assert bucket.take(0)
    assert not bucket.take(0)
    assert bucket.take(500)  # half a second at 2/s: one token
    assert not bucket.take(500)
    assert [bucket.take(60_000) for _ in range(4)] == [True, True, True, False]  # capped


def test_a_costly_take_needs_all_its_tokens_and_a_refusal_takes_none() -> None:
    bucket = TokenBucket(rate=1, burst=5)
    assert bucket.take(0, cost=4)
    assert not bucket.take(0, cost=2)
    assert bucket.take(0, cost=1)


def test_time_going_backwards_refills_nothing() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.take(10_000)
    assert not bucket.take(5_000)
    assert not bucket.take(5_999)  # the clock reading moved back: still no full second
    assert bucket.take(7_000)


def test_abuse_is_more_than_limit_refusals_within_the_window() -> None:
    abuse = Abuse(limit=2, window_ms=1_000)
    assert not abuse.refused(0)
    assert not abuse.refused(100)
    assert abuse.refused(200)


def test_refusals_older_than_the_window_are_forgotten() -> None:
    abuse = Abuse(limit=2, window_ms=1_000)
    assert not abuse.refused(0)
    assert not abuse.refused(500)
    assert not abuse.refused(1_000)  # the one at 0 left the window exactly now
    assert list(abuse.refusals) == [500, 1_000]
    assert not abuse.refused(5_000)
    assert list(abuse.refusals) == [5_000]
