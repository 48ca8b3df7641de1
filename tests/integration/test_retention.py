"""Retention (issue 16) end to end, both backends: a server with `retention_days` removes,
on its own sweep (a manual clock), the conversations closed longer ago than that, and
counts them in `/metrics`; open ones and recent ones stay. `chat-server retention run`
does the same once and says how many."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chat_server import cli
from chat_server.backends.base import Store
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.backends.redis.spread_store import redis_store
from chat_server.config import Settings
from chat_server.core.clock import ManualClock, SystemClock
from chat_server.core.model import State
from tests.client import Client
from tests.conftest import Live, ServerFactory, backend_url, redis_like
from tests.contract.support import open_conv
from tests.http import http_client

DAY_S = 86_400
SWEEPS_S = 0.3
WAIT_S = 10.0
"""How long a pass that is due may take to show: a sweep also runs the timers, the
availability check and the figures, and on a busy machine one can take over `SWEEPS_S`."""


async def removed(live: Live, cid: str) -> bool:
    """Whether the server's own sweep removes `cid` within `WAIT_S`."""
    async with asyncio.timeout(WAIT_S):
        while await live.store.conversations.get(cid) is not None:  # noqa: ASYNC110 (a poll)
            await asyncio.sleep(0.05)
    return True


async def closed_chat(live: Live, alice: Client) -> str:
    vera = await live.visitor()
    cid: str = (await vera.request("start", text="hello"))["conversation"]["id"]
    assert (await alice.event("assigned"))["conversation"]["id"] == cid
    await alice.request("close", cid=cid, resolved=True)
    return cid


async def test_the_server_removes_what_was_closed_before_its_retention(
    start_server: ServerFactory,
) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, retention_days=2, sweep_interval_s=0.05)
    alice = await live.agent(max_chats=5)
    old = await closed_chat(live, alice)
    clock.advance(DAY_S)
    recent = await closed_chat(live, alice)
    vera = await live.visitor()
    still_open = (await vera.request("start", text="still here"))["conversation"]["id"]

    clock.advance(DAY_S + 3600)  # `old` closed 2 days ago; the hourly pass is due
    assert await removed(live, old)
    assert (await live.store.conversations.get(recent)).state is State.CLOSED
    assert (await live.store.conversations.get(still_open)).is_open
    async with http_client(base_url=live.base) as http:
        metrics = (await http.get("/metrics")).text
    assert "chat_retention_removed_total 1.0" in metrics

    clock.advance(DAY_S + 3600)  # now `recent` too
    assert await removed(live, recent)
    # the inactivity timer closed the open one meanwhile, just now: kept
    assert await live.store.conversations.get(still_open) is not None


async def test_without_retention_nothing_is_removed(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, sweep_interval_s=0.05)
    old = await closed_chat(live, await live.agent())
    clock.advance(3650 * DAY_S)
    await asyncio.sleep(SWEEPS_S)
    assert (await live.store.conversations.get(old)).state is State.CLOSED


def test_the_cli_runs_it_once(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    where, url, prefix = ["--data", str(tmp_path)], "", f"cli{time.time_ns()}"
    if redis_like(backend):
        url = backend_url(backend, request)
        where = ["--redis", url]
        monkeypatch.setenv("CHAT_REDIS_PREFIX", prefix)

    def store() -> Store:
        if backend == "embedded":
            return EmbeddedStore(tmp_path, LocalBus(), SystemClock())
        return redis_store(url, SystemClock(), prefix=prefix)

    async def given(action: str) -> list[str | None]:
        s = store()
        await s.start()
        try:
            if action == "close":
                for n in range(3):
                    await open_conv(s, SystemClock(), f"c_{n}", f"v_{n}")
                    if n < 2:
                        await s.conversations.close(
                            f"c_{n}", SystemClock().now_ms(), by="agent", reason="x", resolved=None
                        )
            return [
                c.state.value if (c := await s.conversations.get(f"c_{n}")) else None
                for n in range(3)
            ]
        finally:
            await s.stop()

    asyncio.run(given("close"))
    cli.main(["retention", "run", "--days", "30", *where])  # closed just now: kept
    assert capsys.readouterr().out == "removed 0 closed conversation(s) closed over 30 days ago\n"
    time.sleep(0.01)
    cli.main(["retention", "run", "--days", "0.0000001", *where])
    assert "removed 2 " in capsys.readouterr().out
    assert asyncio.run(given("look")) == [None, None, "queued"]
    with pytest.raises(SystemExit, match="retention is off"):
        cli.main(["retention", "run", *where])


@pytest.mark.parametrize("days", ["-1", "nan", "inf"])
def test_a_retention_that_is_not_a_number_of_days_is_refused(days: str) -> None:
    with pytest.raises(ValueError, match="retention_days"):
        Settings.load(env={"CHAT_RETENTION_DAYS": days})
