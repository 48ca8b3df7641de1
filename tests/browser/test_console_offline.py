"""The console when the visitor is not left hanging (issue 14): offline messages waiting in
a "Pending" list, picked up and answered (the visitor, back later, has the answer); the
pre-chat answers and topic in the visitor panel; the site's business hours in the top bar;
snoozing a chat's auto-close; the inactivity warning and the close for inactivity."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.clock import ManualClock
from tests.browser.conftest import SUPERVISOR, Pages, agent_says, go_online, sign_in
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORM = [
    {"name": "order", "label": "Order number", "type": "text", "required": False},
    {
        "name": "plan",
        "label": "Plan",
        "type": "select",
        "required": True,
        "options": ["Free", "Pro"],
    },
    {"name": "newsletter", "label": "Newsletter", "type": "checkbox", "required": False},
]
TOPICS = [{"id": "billing", "label": "Billing"}, {"id": "tech", "label": "Technical help"}]


async def both_sizes(page: Any, shots: Path, name: str, *, scroll_to: str | None = None) -> None:
    """Screenshots at desktop (1280x800) and phone (390x844) sizes: console-NAME-*.png."""
    await page.screenshot(path=str(shots / f"console-{name}-desktop.png"))
    await page.set_viewport_size(PHONE)
    if scroll_to:
        await page.locator(scroll_to).scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / f"console-{name}-phone.png"))
    await page.set_viewport_size(DESKTOP)


async def put_settings(page: Any, base: str, site: str, settings: dict[str, Any]) -> None:
    """PUT /api/sites/{site}/settings from a supervisor's signed-in page."""
    status = await page.evaluate(
        """async ([url, body]) => (await fetch(url, {
             method: 'PUT', headers: {'content-type': 'application/json'},
             body: JSON.stringify(body),
           })).status""",
        [f"{base}/api/sites/{site}/settings", settings],
    )
    assert status == 200, status


def closed_today() -> tuple[dict[str, Any], str]:
    """Hours open 09:00-17:00 (UTC) every day but today, a holiday; and the next opening
    as the console writes it (en-US, UTC): "opens Thu 09:00 AM"."""
    today = datetime.now(UTC).date()
    hours = {
        "tz": "UTC",
        "weekly": {day: [["09:00", "17:00"]] for day in DAYS},
        "holidays": [today.isoformat()],
    }
    return hours, f"opens {(today + timedelta(days=1)).strftime('%a')} 09:00 AM"


async def test_offline_message_picked_up_answered_and_snoozed(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    boss = await pages.new()
    await sign_in(boss, live.base, "/dashboard", SUPERVISOR)
    hours, opens = closed_today()
    await put_settings(boss, live.base, "demo", {"hours": hours, "form": FORM, "topics": TOPICS})

    # the console: closed now, and nobody left a message yet
    agent = await pages.new(timezone_id="UTC", locale="en-US")
    await sign_in(agent, live.base)
    pending = agent.locator("#pending")
    await expect(agent.locator("#pending-section")).to_be_visible()
    await expect(pending.locator(".empty")).to_have_text(
        "No offline messages: nobody is waiting for an answer."
    )
    await expect(agent.locator("#pending-count")).to_have_text("")
    await expect(agent.locator("#hours-now")).to_have_text("Closed")
    await expect(agent.locator("#hours-next")).to_have_text(" · " + opens)
    await expect(agent.locator("#site-hours")).to_have_attribute("data-open", "false")
    await both_sizes(agent, shots, "pending-empty")

    # the business hours, opened from the keyboard
    await agent.locator("#site-hours summary").focus()
    await agent.keyboard.press("Enter")
    pop = agent.locator(".hours-pop")
    await expect(pop).to_be_visible()
    await expect(pop.locator("#hours-full")).to_have_text(f"Closed · {opens}.")
    await expect(pop.locator("#hours-week tr").first).to_have_text("Monday09:00\N{EN DASH}17:00")
    await expect(pop.locator("#hours-holidays")).to_contain_text(hours["holidays"][0])
    await expect(pop.locator("#hours-tz")).to_contain_text("UTC")
    await both_sizes(agent, shots, "hours")
    await agent.keyboard.press("Escape")
    await expect(pop).to_be_hidden()

    # a visitor leaves a message, with the pre-chat form and a topic, and goes away
    visitor = await live.visitor(site="demo", origin=live.base)
    token = visitor.hello["token"]
    left = await visitor.request(
        "leave",
        email="dana@example.com",
        name="Dana Scully",
        text="My invoice shows the wrong company name, can you fix it?",
        topic="billing",
        fields={"order": "A-1042", "plan": "Pro", "newsletter": True},
    )
    cid = left["conversation"]["id"]
    assert left["conversation"]["state"] == "pending"
    await visitor.close()

    item = pending.locator(".pending-item")
    await expect(item).to_have_count(1)
    await expect(item.locator("strong")).to_have_text("Dana Scully")
    await expect(item.locator(".email")).to_have_text("dana@example.com")
    await expect(item.locator(".topic")).to_have_text("Billing")
    await expect(item.locator(".preview")).to_contain_text("wrong company name")
    await expect(item.locator(".waited")).not_to_be_empty()
    await expect(agent.locator("#pending-count")).to_have_text("1")
    # not in the queue: nobody routes it, someone picks it up
    await expect(agent.locator("#waiting .empty")).to_have_text("Nobody is waiting.")
    await both_sizes(agent, shots, "pending")

    # picked up from the keyboard: it opens like any assigned chat
    pick = item.get_by_role("button", name="Pick up the message from Dana Scully")
    await pick.focus()
    await agent.keyboard.press("Enter")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    await expect(agent.locator("#chat-title")).to_have_text("Dana Scully")
    await expect(agent.locator("#chat-state")).to_have_text("active")
    await expect(agent.locator("#transcript .m.visitor")).to_contain_text("wrong company name")
    await expect(pending.locator(".empty")).to_be_visible()
    assert await agent.evaluate("document.activeElement.id") == "input"

    # the visitor panel: email, topic by its label, the pre-chat answers
    await expect(agent.locator("#v-email")).to_have_text("dana@example.com")
    await expect(agent.locator("#v-topic")).to_have_text("Billing")
    answers = agent.locator("#v-fields")
    await expect(agent.locator("#v-fields-section")).to_be_visible()
    await expect(answers.locator("dt")).to_have_text(["Order number", "Plan", "Newsletter"])
    await expect(answers.locator("dd")).to_have_text(["A-1042", "Pro", "Yes"])
    await agent_says(agent, "Fixed: the new invoice is on its way to dana@example.com.")
    await both_sizes(agent, shots, "visitor-fields", scroll_to="#v-fields-section")

    # the visitor comes back (same token): the answer is there, and the next one arrives live
    back = await live.visitor(site="demo", origin=live.base, token=token)
    assert back.hello["conversation"]["id"] == cid
    synced = await back.request("sync", cid=cid, after=0)
    texts = [m["text"] for m in synced["messages"]]
    assert "Fixed: the new invoice is on its way to dana@example.com." in texts
    await agent_says(agent, "Anything else?")
    said = await back.event("msg", cid=cid)
    assert said["text"] == "Anything else?"

    # snooze the auto-close: the console says until when, the server keeps it
    autoclose = agent.locator("#autoclose")
    await expect(autoclose).to_be_visible()
    await expect(agent.locator("#snooze-state")).to_contain_text("without a message")
    await agent.locator("#snooze-minutes").select_option("60")
    before = int(time.time() * 1000)
    await agent.get_by_role("button", name="Snooze", exact=True).click()
    await expect(agent.locator("#snooze-state")).to_contain_text("Auto-close snoozed until ")
    await expect(autoclose).to_have_attribute("data-snoozed", "true")
    body = await agent.evaluate(
        "async (cid) => (await fetch('/api/conversations/' + cid)).json()", cid
    )
    until = body["conversation"]["snoozed_until"]
    assert before + 59 * 60_000 <= until <= int(time.time() * 1000) + 61 * 60_000
    await both_sizes(agent, shots, "snooze", scroll_to="#autoclose")
    await back.close()


async def test_inactivity_warning_snooze_bar_and_close_for_inactivity(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    clock = ManualClock(int(time.time() * 1000))
    live = await start_server(clock=clock, demo=True, sweep_interval_s=0.2)
    boss = await pages.new()
    await sign_in(boss, live.base, "/dashboard", SUPERVISOR)
    await put_settings(boss, live.base, "demo", {"inactive_warn_s": 600, "inactive_close_s": 120})
    agent = await pages.new()
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await live.visitor(site="demo", origin=live.base, name="Fox")
    started = await visitor.request("start", text="Hello, is anyone there?")
    cid = started["conversation"]["id"]
    await expect(agent.locator("#chat-title")).to_have_text("Fox")
    await agent_says(agent, "Yes, how can I help?")
    await expect(agent.locator("#snooze-state")).to_contain_text(
        "After 10 min without a message the chat is warned, then closed 2 min later."
    )
    bar = agent.locator("#inactive-bar")
    await expect(bar).to_be_hidden()

    # ten silent minutes: the warning, as a system line, with a snooze at hand
    clock.advance(601)
    warning = agent.locator("#transcript .m.event", has_text="This chat will close in")
    await expect(warning).to_have_count(1)
    await expect(bar).to_be_visible()
    await both_sizes(agent, shots, "inactive-warning")
    await bar.get_by_role("button", name="Snooze 30 min").click()
    await expect(bar).to_be_hidden()
    await expect(agent.locator("#snooze-state")).to_contain_text("Auto-close snoozed until ")

    # the snooze holds past the two minutes; later, still silent, it closes for inactivity
    clock.advance(180)
    await agent.wait_for_timeout(600)
    await expect(agent.locator("#closed-bar")).to_be_hidden()
    for _ in range(60):
        if await agent.locator("#closed-bar").is_visible():
            break
        clock.advance(120)
        await agent.wait_for_timeout(400)
    await expect(agent.locator("#closed-text")).to_have_text(
        "Closed for inactivity: nobody wrote after the warning."
    )
    await expect(agent.locator("#autoclose")).to_be_hidden()
    closed = await visitor.event("closed", cid=cid)
    assert closed["reason"] == "inactive"
    await both_sizes(agent, shots, "closed-inactive")
