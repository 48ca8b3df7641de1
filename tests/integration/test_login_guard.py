"""Issue 21, lower items: login timing does not reveal which emails have accounts, and
the login throttle counts guesses before checking them (parallel guesses included) while
a browser that logged in to the account before is not locked out by someone else's."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from argon2 import PasswordHasher

from chat_server.web import auth
from tests.conftest import PASSWORD, Live, ServerFactory
from tests.http import http_client


@pytest.fixture
def backend() -> str:
    """The throttle is per node, in memory: the store does not matter."""
    return "embedded"


class CountingHasher(PasswordHasher):
    """argon2 as configured, counting verifications (what timing would reveal)."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified += 1
        return super().verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    counting = CountingHasher()
    monkeypatch.setattr(auth, "_hasher", counting)
    return counting


async def login(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await http.post("/api/login", json={"email": email, "password": password})


async def test_unknown_emails_cost_an_argon2_check_like_wrong_passwords(
    live: Live, hasher: CountingHasher
) -> None:
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as http:
        assert (await login(http, "nobody@nowhere.example", "guess")).status_code == 401
        assert hasher.verified == 1  # was 0: answered in 1-2 ms instead of 100+
        assert (await login(http, agent.email, "wrong password")).status_code == 401
        assert hasher.verified == 2
        assert (await login(http, agent.email, PASSWORD)).status_code == 200
        assert hasher.verified == 3


async def test_parallel_guesses_are_counted_before_they_are_checked(
    start_server: ServerFactory, hasher: CountingHasher
) -> None:
    live = await start_server(login_attempts=5)
    agent = await live.add_agent("Alice")
    async with http_client(
        base_url=live.base, limits=httpx.Limits(max_connections=40), timeout=120
    ) as http:
        answers = await asyncio.gather(*(login(http, agent.email, f"guess {i}") for i in range(40)))
    codes = sorted(a.status_code for a in answers)
    assert codes.count(401) <= 5  # was 40: all passed before the first failure counted
    assert set(codes) <= {401, 429}
    assert hasher.verified <= 5


async def test_a_known_device_is_not_locked_out_by_someone_elses_guesses(
    start_server: ServerFactory,
) -> None:
    live = await start_server(login_attempts=3)
    # the throttle's time stands still: a loaded machine cannot let the first 1 s backoff
    # run out between the guesses and the checks below
    live.runtime.throttle.clock = lambda: 1_000.0
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as owner:
        ok = await login(owner, agent.email, PASSWORD)
        assert ok.status_code == 200
        device = ok.cookies[auth.DEVICE_COOKIE]
        assert "httponly" in ok.headers["set-cookie"].lower()
        owner.cookies.clear()  # signed out, the device mark kept
        owner.cookies.set(auth.DEVICE_COOKIE, device, path="/api/login")

        async with http_client(base_url=live.base) as attacker:
            codes = [(await login(attacker, agent.email, "nope")).status_code for _ in range(5)]
            assert codes == [401, 401, 401, 429, 429]
            # the attacker's own right password would wait too: backoff for new devices
            assert (await login(attacker, agent.email, PASSWORD)).status_code == 429

        assert (await login(owner, agent.email, PASSWORD)).status_code == 200

        # a device mark is for one account: it does not open another's backoff
        other = await live.add_agent("Bob")
        async with http_client(base_url=live.base) as attacker:
            for _ in range(3):
                await login(attacker, other.email, "nope")
        assert (await login(owner, other.email, PASSWORD)).status_code == 429


async def test_a_forged_device_cookie_counts_as_a_new_device(start_server: ServerFactory) -> None:
    live = await start_server(login_attempts=2)
    agent = await live.add_agent("Alice")
    async with http_client(base_url=live.base) as http:
        http.cookies.set(
            auth.DEVICE_COOKIE, "abc.0123456789abcdef0123456789abcdef", path="/api/login"
        )
        codes = [(await login(http, agent.email, "nope")).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
