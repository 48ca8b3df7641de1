"""Issue 14 end to end, both backends, on a manual clock: the inactivity warning and close
(`inactive`, with the survey), re-armed by a message and postponed by `snooze`; and the
offline figures (count, answered, time to the first answer, closed for inactivity)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from chat_server.core.clock import ManualClock
from chat_server.core.model import AgentRole
from chat_server.service import inactivity
from tests.client import Client
from tests.conftest import Live, ServerFactory
from tests.http import http_client

FAST: dict[str, Any] = {"sweep_interval_s": 0.05, "queue_interval_s": 0.05}
WARNING = "This chat will close in 2 minutes if there is no reply."
SWEEPS_S = 0.3
"""Long enough for several sweeps to have run on the new time."""


async def chatting(live: Live) -> tuple[Client, Client, str]:
    alice = await live.agent(name="Alice")
    vera = await live.visitor()
    cid = (await vera.request("start", text="hello"))["conversation"]["id"]
    await alice.event("assigned")
    await vera.event("assigned", cid=cid)
    return alice, vera, cid


async def later(clock: ManualClock, seconds: float) -> None:
    clock.advance(seconds)
    await asyncio.sleep(SWEEPS_S)


async def test_the_sweep_reads_only_chats_quiet_long_enough_to_be_due(
    start_server: ServerFactory,
) -> None:
    """At 5,000 conversations, reading every active chat at each sweep held the event loop
    for about 100 ms: the store leaves out the chats quiet for less than the shortest
    warning a site may set, which nothing can be due yet."""
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    await chatting(live)
    conversations, asked = live.store.conversations, []
    quiet_since = conversations.quiet_since

    async def watched(limit: int, before: int | None = None) -> Any:
        asked.append(before)
        return await quiet_since(limit, before)

    conversations.quiet_since = watched
    await later(clock, 5)
    assert asked[-1] == clock.now_ms() - inactivity.WARN_MIN_S * 1000


async def test_an_inactive_chat_is_warned_then_closed(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    alice, vera, cid = await chatting(live)

    await later(clock, 595)  # the sweep looks every 5 s of node time
    await vera.no_event("msg", within=0.1, kind="event", text=WARNING)
    clock.advance(5)
    warned = await vera.event("msg", cid=cid, kind="event", text=WARNING)
    assert (await alice.event("msg", cid=cid, seq=warned["seq"]))["text"] == WARNING

    # a message re-arms it: no close 120 s after the warning, a new warning 600 s after it
    await later(clock, 60)
    await vera.request("msg", cid=cid, text="still here", cmid="v-1")
    await later(clock, 120)
    await vera.no_event("closed", within=0.1)
    clock.advance(480)
    await vera.event("msg", cid=cid, kind="event", text=WARNING)
    await later(clock, 115)
    await vera.no_event("closed", within=0.1)
    clock.advance(5)
    closed = await vera.event("closed", cid=cid)
    assert (closed["by"], closed["reason"]) == ("system", "inactive")
    await vera.event("survey", cid=cid)
    assert (await alice.event("closed", cid=cid))["reason"] == "inactive"
    stored = await live.store.conversations.get(cid)
    assert stored is not None and stored.close_reason == "inactive"


async def test_the_site_sets_the_timers(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    site = await live.store.directory.site("shop")
    await live.store.directory.put_site(replace(site, inactive_warn_s=60, inactive_close_s=30))
    _, vera, cid = await chatting(live)
    await later(clock, 60)
    await vera.event(
        "msg", cid=cid, kind="event", text="This chat will close in 1 minute if there is no reply."
    )
    clock.advance(30)
    assert (await vera.event("closed", cid=cid))["reason"] == "inactive"


async def test_snooze_postpones_the_warning(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    alice, vera, cid = await chatting(live)
    now = live.runtime.node.clock.now_ms()
    assert (await alice.request("snooze", cid=cid, minutes=30))["until"] == now + 1_800_000
    await later(clock, 1795)
    await vera.no_event("msg", within=0.1, kind="event", text=WARNING)
    clock.advance(5)
    await vera.event("msg", cid=cid, kind="event", text=WARNING)

    bob = await live.agent(name="Bob")
    assert await bob.error("snooze", cid=cid) == "forbidden"
    boss = await live.agent(name="Boss", role=AgentRole.SUPERVISOR, online=False)
    assert "until" in await boss.request("snooze", cid=cid)  # default 30 minutes
    assert await alice.error("snooze", cid=cid, minutes=0) == "bad_request"
    await later(clock, 120)
    await vera.no_event("closed", within=0.1)  # the snooze forgot the warning given
    stored = await live.store.conversations.get(cid)
    assert stored is not None and stored.snoozed_until is not None


async def test_offline_figures(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    alice = await live.agent(name="Alice")
    vera = await live.visitor()
    cid = (await vera.request("leave", email="v@example.com", text="hi"))["conversation"]["id"]
    await later(clock, 1800)
    await alice.request("claim", cid=cid)
    await alice.request("msg", cid=cid, text="hello!", cmid="a-1")
    await alice.request("close", cid=cid, resolved=True)

    _, visitor, live_cid = await chatting(live)
    clock.advance(600)  # waits for each step: fixed sleeps missed the close on a busy machine
    await visitor.event("msg", cid=live_cid, kind="event", text=WARNING)
    clock.advance(120)
    await visitor.event("closed", cid=live_cid)
    stored = await live.store.conversations.get(live_cid)
    assert stored is not None and stored.close_reason == "inactive"

    boss = await live.add_agent("Boss", role=AgentRole.SUPERVISOR)
    async with http_client(base_url=live.base) as http:
        response = await http.get(
            "/api/stats?window=24h", headers={"Authorization": f"Bearer {await live.token(boss)}"}
        )
    assert response.status_code == 200, response.text
    day = response.json()["windows"]["24h"]
    assert day["offline"]["count"] == 1 and day["offline"]["answered"] == 1
    assert abs(day["offline"]["frt_p50_s"] - 1800) <= 1800 * 0.05
    assert day["frt_s"]["n"] == 0  # the offline answer is not a live first response
    assert day["closed_inactive"] == 1
    assert day["started"] == 2


async def test_the_sweep_reads_whole_only_the_chats_quiet_long_enough(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every node looks at every active chat every 5 s: reading each whole held the event
    loop at thousands of them (issue 20). It reads whole only the chats whose quiet time
    can make them due (here 150 s: the 120 s close after the shortest, 30 s, warning)."""
    clock = ManualClock()
    live = await start_server(clock=clock, **FAST)
    _, vera, quiet = await chatting(live)
    await later(clock, 500)
    wendy = await live.visitor()
    busy = (await wendy.request("start", text="hello"))["conversation"]["id"]
    await wendy.event("assigned", cid=busy)
    conversations = live.store.conversations
    read: list[str] = []
    real = type(conversations).get

    async def get(self: Any, cid: str) -> Any:
        read.append(cid)
        return await real(self, cid)

    monkeypatch.setattr(type(conversations), "get", get)
    clock.advance(100)  # `quiet` 600 s: due; `busy` 100 s: not yet
    await vera.event("msg", cid=quiet, kind="event", text=WARNING)
    await asyncio.sleep(SWEEPS_S)
    assert quiet in read
    assert busy not in read
