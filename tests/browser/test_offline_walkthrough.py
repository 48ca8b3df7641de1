"""Issue 14 from end to end, as its users live it, on a server whose clock the test moves: a
visitor outside business hours sees "away", leaves a message and closes the tab; the next
morning an agent picks it up in the console and answers; the visitor reopens the page and
finds the answer; the dashboard counts the offline message and how long its answer took.

Screenshots of each step: walkthrough-N-*.png (desktop and phone sizes)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.clock import ManualClock
from chat_server.core.model import Hours
from chat_server.demo import DEMO_SITE
from tests.browser.conftest import SUPERVISOR, Pages, agent_says, go_online, sign_in
from tests.browser.test_dashboard import cell
from tests.browser.test_visitor_and_agent import W
from tests.browser.test_widget_offline import visitor_page
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

NINE_TO_FIVE = Hours("UTC", (((9 * 60, 17 * 60),),) * 7)
"""Open 09:00-17:00 UTC every day."""


async def snap(page: Any, shots: Path, name: str) -> None:
    await page.wait_for_timeout(150)  # transitions
    await page.screenshot(path=str(shots / f"walkthrough-{name}.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(shots / f"walkthrough-{name}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_away_message_answered_next_morning_seen_and_counted(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    evening = datetime.now(UTC).replace(hour=20, minute=0, second=0, microsecond=0)
    clock = ManualClock(int(evening.timestamp() * 1000))
    live = await start_server(clock=clock, demo=True, sweep_interval_s=0.2)
    site = await live.store.directory.site(DEMO_SITE)
    assert site is not None
    await live.store.directory.put_site(replace(site, hours=NINE_TO_FIVE))

    # 20:00, after hours: the widget says so before the visitor writes
    visitor = await visitor_page(pages, live)
    await expect(visitor.locator(W + "header p")).to_contain_text("We're away")
    card = visitor.locator(W + ".intake")
    await expect(card.locator("h3")).to_have_text("Leave us a message")
    await snap(visitor, shots, "1-away")

    # the visitor leaves a message with an email, and closes the tab
    await visitor.locator(W + "form.composer textarea").fill("Can I still return the lamp?")
    await card.locator("#in-email").fill("noor@example.com")
    await card.locator("#in-name").fill("Noor")
    await visitor.locator(W + "form.composer textarea").press("Enter")
    await expect(visitor.locator(W + ".queue.pending")).to_have_text(
        "Thanks! We'll answer here and by email at noor@example.com."
    )
    await snap(visitor, shots, "2-message-left")
    storage = visitor.context
    await visitor.close()

    # 09:05 the next morning: the agent signs in and finds the message in "Pending"
    clock.advance(timedelta(hours=13, minutes=5).total_seconds())
    agent = await pages.new(timezone_id="UTC", locale="en-US")
    await sign_in(agent, live.base)
    await go_online(agent)
    await expect(agent.locator("#hours-now")).to_have_text("Open now")
    item = agent.locator("#pending .pending-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".email")).to_have_text("noor@example.com")
    await expect(item.locator(".preview")).to_contain_text("return the lamp")
    await snap(agent, shots, "3-console-pending")
    await item.get_by_role("button", name="Pick up the message from Noor").click()
    await expect(agent.locator("#chat-title")).to_have_text("Noor")
    await agent_says(agent, "Yes: returns are free for 30 days. I've emailed you the label.")
    await snap(agent, shots, "4-console-answered")

    # the visitor comes back: the answer is in the conversation
    back = await visitor_page(pages, live, storage)
    await expect(back.locator(W + ".row.agent .bubble")).to_have_text(
        "Yes: returns are free for 30 days. I've emailed you the label."
    )
    await expect(back.locator(W + ".row.me .bubble").first).to_have_text(
        "Can I still return the lamp?"
    )
    await snap(back, shots, "5-visitor-sees-answer")

    # the dashboard: one offline message, answered the next morning
    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    tile = dash.locator(".tile[data-key=offline]")
    await expect(tile.locator(".big")).to_have_text("1")
    await expect(tile.locator(".detail")).to_contain_text("1 answered · reply p50 ")
    await expect(cell(dash, "Offline messages", "24h")).to_have_text("1")
    await expect(cell(dash, "Offline replied", "24h")).to_have_text("1")
    # 13 h 5 min, read back from the figures' log-spaced bins (a few % wide)
    await expect(cell(dash, "Offline reply p50", "24h")).to_have_text(re.compile(r"^1[23]h \d+m$"))
    await expect(cell(dash, "Offline messages", "1h")).to_have_text("0")
    await dash.evaluate("window.scrollTo(0, 0)")
    await snap(dash, shots, "6-dashboard")
    # the table itself (its rows are drawn anew on every update)
    await dash.locator("#windows").scroll_into_view_if_needed()
    await dash.screenshot(path=str(shots / "walkthrough-6-dashboard-rows.png"))
