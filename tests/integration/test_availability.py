"""Issue 14, the visitor before the chat: the site's availability (hours, an agent online,
the measured reply time) in `hello` and pushed as it changes; measured `eta_s`; a start
outside business hours is an offline message (`pending`)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat_server.core import site_settings
from chat_server.core.clock import ManualClock
from chat_server.core.model import Site
from chat_server.service import availability
from chat_server.service.visitor import AWAY_LINE
from tests.conftest import Live, ServerFactory

HOUR_MS = 3_600_000
THURSDAY = ManualClock().now_ms()
"""The manual clock's start: 2026-01-01 00:00 UTC, a Thursday."""
LONG_S = 10**6
"""Presence outlives the manual clock's jumps (Redis expires it by that clock)."""


async def configure(live: Live, **settings: Any) -> Site:
    site = site_settings.apply(Site("shop", ("https://shop.example",)), settings)
    await live.store.directory.put_site(site)
    return site


async def test_hello_tells_the_site_and_its_availability(live: Live) -> None:
    await configure(
        live,
        form=[{"name": "email", "label": "Email", "type": "email", "required": True}],
        topics=[{"id": "billing", "label": "Billing"}],
        privacy={"text": "We keep chats 30 days.", "url": "https://shop.example/privacy"},
        offline_after_s=45,
        files={"max_bytes": 5_000_000, "types": ["png", "pdf"]},
    )
    visitor = await live.visitor()
    assert visitor.hello["site"] == {
        "form": [{"name": "email", "label": "Email", "type": "email", "required": True}],
        "topics": [{"id": "billing", "label": "Billing"}],
        "privacy": {"text": "We keep chats 30 days.", "url": "https://shop.example/privacy"},
        "sneak_peek": False,
        "offline_after_s": 45,
        "files": {"max_bytes": 5_000_000, "types": ["png", "pdf"]},
    }
    assert visitor.hello["availability"] == {
        "open": True,
        "online": False,
        "reply_s": None,
        "next_change": None,
    }


async def test_agent_status_and_presence_are_pushed_at_once(start_server: ServerFactory) -> None:
    live = await start_server(sweep_interval_s=60)  # no sweep: the agent's own events push
    visitor = await live.visitor()
    other = await live.visitor()
    agent = await live.agent()  # hello (away), then online
    shown = await visitor.event("availability", online=True)
    assert shown == {
        "t": "availability",
        "open": True,
        "online": True,
        "reply_s": None,
        "next_change": None,
    }
    await other.event("availability", online=True)
    await agent.request("status", state="away")
    await visitor.event("availability", online=False)
    await agent.request("status", state="online")
    await visitor.event("availability", online=True)
    await agent.close()  # the last online agent disconnected
    await visitor.event("availability", online=False)
    await visitor.no_event("availability")  # nothing changed: nothing more


async def test_a_late_visitor_gets_it_in_hello(live: Live) -> None:
    await live.agent()
    visitor = await live.visitor()
    assert visitor.hello["availability"]["online"] is True
    await visitor.no_event("availability", within=1.5)  # the sweep finds no change


async def test_business_hours_turn_with_the_clock(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, presence_ttl_s=LONG_S)
    await configure(live, hours={"tz": "UTC", "weekly": {"thu": [["00:00", "01:00"]]}})
    visitor = await live.visitor()
    assert visitor.hello["availability"]["open"] is True
    assert visitor.hello["availability"]["next_change"] == THURSDAY + HOUR_MS
    clock.advance(3600)
    closed = await visitor.event("availability", open=False)  # pushed by the sweep
    assert closed["next_change"] == THURSDAY + 7 * 24 * HOUR_MS


async def test_new_hours_reach_connected_visitors(live: Live) -> None:
    visitor = await live.visitor()
    assert visitor.hello["availability"]["open"] is True
    await configure(live, hours={"tz": "Europe/Paris", "weekly": {}})  # never open
    shown = await visitor.event("availability", open=False)
    assert shown["next_change"] is None


async def test_reply_time_is_the_measured_first_response(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, presence_ttl_s=LONG_S)
    agent = await live.agent()
    visitor = await live.visitor()
    assert visitor.hello["availability"]["reply_s"] is None  # nothing measured: no time
    cid = (await visitor.request("start", text="hello?"))["conversation"]["id"]
    await agent.event("assigned")
    clock.advance(90)
    await agent.request("msg", cid=cid, text="Hi!", cmid="a-1")
    shown = await visitor.event("availability", reply_s=120)  # 90 s, rounded up to 2 min
    assert shown["online"] is True
    later = await live.visitor()
    assert later.hello["availability"]["reply_s"] == 120
    clock.advance(3700)  # the hour has passed: nothing measured in the last one
    await visitor.event("availability", reply_s=None)


def count_reads(live: Live, slow_s: float = 0.0) -> list[tuple[Any, ...]]:
    """The arguments of each `figures.read` on the server from now on (each `slow_s`
    longer, so that what comes meanwhile finds it on its way)."""
    figures, reads = live.store.figures, []
    read = figures.read

    async def counted(*args: Any) -> Any:
        reads.append(args)
        await asyncio.sleep(slow_s)
        return await read(*args)

    figures.read = counted  # type: ignore[method-assign]
    return reads


async def test_the_reply_time_is_read_once_a_minute(start_server: ServerFactory) -> None:
    """Reading it sums an hour of figures, which at 5,000 conversations held the event loop
    for tens of milliseconds: the check that every sweep (each second) and every kick
    makes reuses a measured one for a minute of node time. While none is measured, each
    check reads it, so a site's first answer shows at once."""
    clock = ManualClock()
    live = await start_server(clock=clock, presence_ttl_s=LONG_S)
    agent = await live.agent()
    visitor = await live.visitor()  # its site is followed from now on, its reply time read
    reads = count_reads(live)
    checks = live.runtime.dispatcher.availability
    await checks.check()
    assert len(reads) == 1  # nothing measured yet: read again
    cid = (await visitor.request("start", text="hello?"))["conversation"]["id"]
    await agent.event("assigned")
    clock.advance(30)
    await agent.request("msg", cid=cid, text="Hi!", cmid="a-1")
    await visitor.event("availability", reply_s=60)  # shown within the second, not the minute
    reads.clear()
    for _ in range(3):
        checks.kick()  # an agent's status or presence changed: read again, but not this
        await checks.check()
    assert reads == []
    clock.advance(availability.REPLY_EVERY_MS / 1000)
    await checks.check()
    assert len(reads) == 1


async def test_a_burst_of_hellos_reads_an_unmeasured_reply_time_once(
    start_server: ServerFactory,
) -> None:
    """While none is measured, a visitor's `hello` reads the reply time at most once in
    `SHARED_FOR_S` (read by each, a thousand visitors to a closed site read an hour of
    figures a thousand times, and hellos timed out); the periodic check reads it each time.
    The hellos that come while the first one's read is on its way wait for it (each read
    its own)."""
    live = await start_server(presence_ttl_s=LONG_S, sweep_interval_s=LONG_S)
    reads = count_reads(live, slow_s=0.2)
    await asyncio.gather(*(live.visitor() for _ in range(10)))
    assert 1 <= len(reads) <= 2  # one, or two if the burst spanned SHARED_FOR_S
    reads.clear()
    checks = live.runtime.dispatcher.availability
    await checks.check()
    await checks.check()
    assert len(reads) == 2


async def test_queue_eta_uses_the_measured_handle_time(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, presence_ttl_s=LONG_S, mean_handle_s=300)
    agent = await live.agent(max_chats=1)
    first = await live.visitor()
    cid = (await first.request("start", text="one"))["conversation"]["id"]
    await agent.event("assigned")
    clock.advance(1200)
    await agent.request("close", cid=cid, resolved=True)  # handled in 20 minutes
    second = await live.visitor()
    await second.request("start", text="two")
    await agent.event("assigned")
    third = await live.visitor()
    queued = (await third.request("start", text="three"))["conversation"]
    assert queued["state"] == "queued" and queued["position"] == 1
    assert 1190 <= queued["eta_s"] <= 1215  # not the configured 300


async def test_a_start_outside_hours_is_an_offline_message(start_server: ServerFactory) -> None:
    clock = ManualClock()
    live = await start_server(clock=clock, presence_ttl_s=LONG_S)
    await configure(live, hours={"tz": "UTC", "weekly": {"mon": [["09:00", "17:00"]]}})
    visitor = await live.visitor()
    assert visitor.hello["availability"]["open"] is False
    conv = (await visitor.request("start", text="Are you there?", cmid="v-1"))["conversation"]
    assert conv["state"] == "pending"
    line = await visitor.event("msg", cid=conv["id"], seq=2)
    assert line["kind"] == "event" and line["text"] == AWAY_LINE
    stored = await live.store.conversations.get(conv["id"])
    assert stored.state.value == "pending" and stored.last_seq == 2


async def test_an_online_agent_is_found_among_many_away(
    start_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads the connected agents a batch at a time until one is online (one
    agent a batch here), never every agent of the installation."""
    monkeypatch.setattr(availability, "PROBE_BATCH", 1)
    live = await start_server(sweep_interval_s=60)
    away = [await live.agent(name=f"Away{i}", online=False) for i in range(3)]
    visitor = await live.visitor()
    assert visitor.hello["availability"]["online"] is False
    last = await live.agent(name="Zed")  # online
    await visitor.event("availability", online=True)
    await last.request("status", state="away")
    await visitor.event("availability", online=False)
    await away[1].request("status", state="online")
    await visitor.event("availability", online=True)
