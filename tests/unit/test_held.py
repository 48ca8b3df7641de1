"""`Held` (backends/held.py): figures by key, taken all at once or by age, a share at a time."""

from __future__ import annotations

import pytest

from chat_server.backends import held as held_module
from chat_server.backends.held import Held
from chat_server.core import samples


class Ticks:
    """`time.monotonic` as the test says."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Ticks:
    ticks = Ticks()
    monkeypatch.setattr(held_module.time, "monotonic", ticks)
    return ticks


def test_keys_merge_and_are_taken_oldest_first(ticks: Ticks) -> None:
    held: Held[str] = Held()
    for key in ("b", "a", "b", "c"):
        held.add(key, samples.response(1.0))
        ticks.now += 1
    assert len(held) == 3
    taken = held.take()
    assert list(taken) == ["b", "a", "c"]
    assert taken["b"].count("response_s") == 2
    assert len(held) == 0 and held.take() == {}


def test_take_due_takes_those_held_long_enough_a_share_at_a_time(ticks: Ticks) -> None:
    held: Held[int] = Held()
    for key in range(100):  # a crowd that comes together
        held.add(key, samples.response(1.0))
    ticks.now += 5
    assert held.take_due(10, 1, least=4) == {}  # not held long enough yet
    held.add(100, samples.response(1.0))  # came later: due later
    ticks.now += 5
    first = held.take_due(10, 1, least=4)
    assert list(first) == list(range(11))  # a tenth of the 101 held (every 1 of 10 s)
    held.add(0, samples.response(2.0))  # taken, so it comes again as new
    rest = held.take_due(10, 1, least=4)
    assert list(rest) == list(range(11, 21))  # a tenth of the 91 held, not the new one
    ticks.now += 100
    assert list(held.take_due(10, 1, least=400)) == [*range(21, 101), 0]
    held.add(1, samples.response(1.0))
    assert list(held.take_due(0, 1, least=1)) == [1]  # no hold: all, at once


def test_put_back_holds_a_failed_write_first_merged_with_what_came(ticks: Ticks) -> None:
    held: Held[str] = Held()
    held.add("a", samples.response(1.0))
    held.add("b", samples.response(1.0))
    taken = held.take()
    ticks.now += 30
    held.add("b", samples.response(1.0))
    held.add("c", samples.response(1.0))
    held.put_back(taken)
    assert list(held.take_due(10, 1, least=2)) == ["a", "b"]  # due at once
    assert held.figures["c"].count("response_s") == 1
    ticks.now += 10
    again = held.take_due(10, 1, least=2)
    assert list(again) == ["c"]
