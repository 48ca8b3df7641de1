"""`LoginThrottle` (per-key backoff, counted before the check), device marks, and the
per-address token buckets (`AddressRates`), without a server."""

from __future__ import annotations

from typing import Literal

import pytest
from argon2 import PasswordHasher

from chat_server.web import auth
from chat_server.web.auth import LoginThrottle, device_cookie, known_device
from chat_server.web.runtime import AddressRates


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_attempts_are_counted_when_they_begin() -> None:
    throttle = LoginThrottle(3, 900, FakeClock())
    assert [throttle.begin("account:a") for _ in range(5)] == [True, True, True, False, False]


def test_backoff_doubles_up_to_half_the_window_then_never_locks() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(3, 100, clock)
    for _ in range(3):
        assert throttle.begin("k")
    waits = []
    for _ in range(8):
        wait = 0.0
        while not throttle.begin("k"):
            clock.now += 0.25
            wait += 0.25
        waits.append(wait)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 50.0, 50.0]  # at most window / 2


def test_refused_attempts_do_not_lengthen_the_wait() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(1, 100, clock)
    assert throttle.begin("k")
    for _ in range(100):
        assert not throttle.begin("k")
        clock.now += 0.009
    clock.now += 0.2
    assert throttle.begin("k")  # 1 s after the last counted attempt, whatever came between


def test_the_wait_runs_from_the_end_of_a_failed_check() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(1, 100, clock)
    assert throttle.begin("k")
    clock.now += 5  # a slow check (a loaded machine)
    throttle.failed("k")
    assert not throttle.begin("k")
    clock.now += 1
    assert throttle.begin("k")


def test_a_quiet_key_is_forgotten_after_the_window() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(2, 60, clock)
    assert throttle.begin("k") and throttle.begin("k")
    clock.now += 59
    assert throttle.begin("k")  # past the backoff
    clock.now += 60
    assert throttle.begin("k") and throttle.begin("k")  # forgotten: a fresh allowance


def test_a_refusal_by_one_key_counts_for_none() -> None:
    throttle = LoginThrottle(2, 100, FakeClock())
    assert throttle.begin("account:a", "address:1")
    assert throttle.begin("account:b", "address:1")
    assert not throttle.begin("account:c", "address:1")
    assert throttle.begin("account:c", "address:2")
    assert throttle.begin("account:c", "address:2")  # account:c counted once before


def test_success_clears_the_account_and_refunds_the_address() -> None:
    throttle = LoginThrottle(2, 100, FakeClock())
    assert throttle.begin("account:a", "address:1")
    assert throttle.begin("account:a", "address:1")
    throttle.succeeded(clear=("account:a",), refund=("address:1",))
    assert throttle.begin("account:a", "address:1")
    assert not throttle.begin("account:b", "address:1")


def test_memory_is_bounded() -> None:
    throttle = LoginThrottle(5, 100, FakeClock())
    throttle.MAX_KEYS = 100
    for i in range(1000):
        throttle.begin(f"account:{i}")
    assert len(throttle._keys) == 100
    assert "account:999" in throttle._keys and "account:0" not in throttle._keys


def test_device_marks_are_per_account_and_unforgeable() -> None:
    secret = b"s" * 32
    mark = device_cookie(secret, "alice@x.example")
    assert known_device(secret, "alice@x.example", mark)
    assert not known_device(secret, "bob@x.example", mark)
    assert not known_device(b"t" * 32, "alice@x.example", mark)
    nonce, _, mac = mark.partition(".")
    assert not known_device(secret, "alice@x.example", f"{nonce}.{'0' * len(mac)}")
    for junk in (None, "", "nodot", "." * 200):
        assert not known_device(secret, "alice@x.example", junk)


def test_address_rates_refuse_beyond_the_burst_and_forget_the_oldest() -> None:
    rates = AddressRates(rate=0.001, burst=3, max_addresses=10)
    assert [rates.take("a") for _ in range(4)] == [True, True, True, False]
    assert rates.take("b")
    for i in range(100):
        rates.take(f"x{i}")
    assert len(rates) == 10


@pytest.mark.parametrize("stored", [None, ""])
async def test_no_account_and_a_bots_empty_hash_cost_a_full_check(
    stored: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown email and a bot's (no password) are checked against the dummy hash, so
    login timing tells neither apart from a wrong password."""
    checked: list[str] = []
    dummy = auth._dummy_hash()

    class Spy(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checked.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(auth, "_hasher", Spy())
    assert not await auth.verify_password(stored, "a guess at it")
    assert checked == [dummy]
