"""Issue 14 end to end, in Chromium against the real server: a visitor outside business hours
sees "away", leaves a message with an email and closes the tab; an agent (the real agent
WebSocket client) claims it from the pending list and answers; the visitor comes back with
the same storage and reads the answer, and once the agent closed it, reads it as a closed
chat with "Start a new chat". And in hours: the header's measured reply time, and the site's
pre-chat form with topics and privacy notice, whose answers reach the agent.

Screenshots of each step, desktop (1280x800) and phone (390x844), go to `shots`
(CHAT_SCREENSHOTS=/tmp/shots puts them there): widget-*.png."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.model import FormField, Hours, Privacy, Topic
from chat_server.demo import DEMO_SITE
from tests.browser.conftest import Pages, open_widget, serve_page, widget_page
from tests.browser.test_visitor_and_agent import W
from tests.conftest import Live, ServerFactory

pytestmark = pytest.mark.browser

PAGE = "/shop"
UTC_BROWSER: dict[str, Any] = {"locale": "en-US", "timezone_id": "UTC"}


async def snap(page: Any, shots: Path, name: str) -> None:
    """widget-NAME.png at the desktop size and widget-NAME-phone.png at a phone's."""
    await page.wait_for_timeout(150)  # transitions
    await page.screenshot(path=str(shots / f"widget-{name}.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(150)
    await page.screenshot(path=str(shots / f"widget-{name}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


def closed_now_hours() -> tuple[Hours, int]:
    """Hours (UTC) that open for one hour every day two hours from now: closed now. And when
    they open next (ms)."""
    now = datetime.now(UTC)
    start = (now.hour * 60 + now.minute + 120) % 1440
    end = min(start + 60, 1440)
    opens = int(time.time() // 60 * 60 * 1000) + 120 * 60_000
    return Hours("UTC", ((((start, end),),) * 7)), opens


async def configure(live: Live, **settings: Any) -> None:
    """Change the demo site's settings on the store (before any visitor says hello)."""
    site = await live.store.directory.site(DEMO_SITE)
    await live.store.directory.put_site(replace(site, **settings))


async def visitor_page(pages: Pages, live: Live, context: Any = None) -> Any:
    """The shop page with the widget, open; in `context` (the same storage) when given."""
    if context is None:
        page = await pages.new(**UTC_BROWSER)
    else:
        page = await context.new_page()
        pages.watch(page)
    await serve_page(page, live.base, PAGE, widget_page())
    await page.goto(live.base + PAGE)
    await open_widget(page)
    return page


async def test_away_offline_message_answered_and_read_later(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    hours, opens = closed_now_hours()
    await configure(live, hours=hours)
    visitor = await visitor_page(pages, live)

    # outside business hours: away, and when it opens again (in the visitor's time zone)
    opens_at = datetime.fromtimestamp(opens / 1000, UTC).strftime("%I:%M %p")
    header = visitor.locator(W + "header p")
    await expect(header).to_contain_text("We're away, back")
    await expect(header).to_contain_text(opens_at)
    card = visitor.locator(W + ".intake")
    await expect(card.locator("h3")).to_have_text("Leave us a message")
    await snap(visitor, shots, "away")

    # the offline form: a message and a valid email
    box = visitor.locator(W + "form.composer textarea")
    await box.fill("Do you ship the blue mug to Norway?")
    await card.locator("#in-email").fill("ana@example")
    await box.press("Enter")
    await expect(card.locator("#in-email-err")).to_have_text("Please enter a valid email address.")
    await snap(visitor, shots, "offline-form-error")
    await card.locator("#in-email").fill("ana@example.com")
    await card.locator("#in-name").fill("Ana")
    await box.press("Enter")
    thanks = visitor.locator(W + ".queue.pending")
    await expect(thanks).to_have_text("Thanks! We'll answer here and by email at ana@example.com.")
    await expect(visitor.locator(W + ".row.me:not(.pending) .bubble")).to_have_text(
        "Do you ship the blue mug to Norway?"
    )
    await snap(visitor, shots, "offline-sent")

    # the visitor closes the tab; nothing is lost on the server
    context = visitor.context
    await visitor.close()
    [conv] = [c for c in await live.store.conversations.pending()]
    assert conv.state.value == "pending"

    # next morning: an agent claims it from the pending list and answers
    agent = await live.agent(name="Alice")
    assert [p["cid"] for p in agent.hello["pending"]] == [conv.id]
    assert agent.hello["pending"][0]["visitor"]["email"] == "ana@example.com"
    await agent.request("claim", cid=conv.id)
    await agent.request("msg", cid=conv.id, text="Yes! It ships to Norway in 3 days.", cmid="a1")

    # the visitor comes back (same storage): the answer is there, in the conversation
    back = await visitor_page(pages, live, context)
    answer = back.locator(W + ".row.agent .bubble")
    await expect(answer).to_have_text("Yes! It ships to Norway in 3 days.")
    await expect(back.locator(W + "header h2")).to_have_text("Alice")
    await expect(back.locator(W + ".row.me .bubble").first).to_have_text(
        "Do you ship the blue mug to Norway?"
    )
    await snap(back, shots, "returning-answer")

    # the agent closes it; the next visit shows it read-only, with "Start a new chat"
    await agent.request("close", cid=conv.id, resolved=True)
    await back.close()
    later = await visitor_page(pages, live, context)
    await expect(later.locator(W + ".row.agent .bubble")).to_have_text(
        "Yes! It ships to Norway in 3 days."
    )
    ended = later.locator(W + ".ended")
    await expect(ended).to_contain_text("This chat has ended.")
    await expect(later.locator(W + "form.composer")).to_be_hidden()
    await snap(later, shots, "returning-closed")
    await ended.locator("button").click()
    # still closed: a new message is an offline message again
    await expect(later.locator(W + ".intake h3")).to_have_text("Leave us a message")
    await expect(later.locator(W + "#in-email")).to_have_value("ana@example.com")


async def test_in_hours_reply_time_and_the_site_form(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    await configure(
        live,
        form=(
            FormField("order", "Order number", "text"),
            FormField("plan", "Your plan", "select", True, ("Free", "Pro")),
            FormField("terms", "I accept the terms", "checkbox", True),
        ),
        topics=(Topic("sales", "Sales"), Topic("billing", "Billing")),
        privacy=Privacy("We keep chats for 30 days: our privacy policy.", "https://example.com/p"),
    )
    agent = await live.agent(name="Alice")

    # a first chat is answered: the first response time of the last hour is measured
    first = await live.visitor(site=DEMO_SITE, origin=live.base)
    await first.request(
        "start", text="Hi", topic="sales", fields={"plan": "Free", "terms": True}, cmid="v1"
    )
    assigned = await agent.event("assigned")
    await agent.request("msg", cid=assigned["conversation"]["id"], text="Hello!", cmid="a1")

    visitor = await visitor_page(pages, live)
    await expect(visitor.locator(W + "header p")).to_have_text(
        "Online, typically replies in ~1 min"
    )
    card = visitor.locator(W + ".intake")
    await expect(card.locator(".topics label")).to_have_count(2)
    await expect(visitor.locator(W + "#chat-privacy a")).to_have_attribute(
        "href", "https://example.com/p"
    )
    await snap(visitor, shots, "online-prechat")

    await card.locator("#in-f1").select_option("Pro")
    await card.locator("#in-f2").check()
    await card.locator("input[value=billing]").check(force=True)
    box = visitor.locator(W + "form.composer textarea")
    await box.fill("Can I switch plans mid-month?")
    await box.press("Enter")
    await expect(card).to_have_count(0)
    await expect(visitor.locator(W + "header h2")).to_have_text("Alice")
    routed = await agent.event("assigned")
    assert routed["conversation"]["topic"] == "billing"
    assert routed["conversation"]["fields"] == {"plan": "Pro", "terms": True}


async def test_queued_too_long_the_visitor_leaves_an_email(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    await configure(live, offline_after_s=1)
    agent = await live.agent(name="Alice", max_chats=1)
    busy = await live.visitor(site=DEMO_SITE, origin=live.base)
    await busy.request("start", text="I take the only seat", cmid="b1")
    await agent.event("assigned")

    # someone is online (but busy): the chat opens and waits in the queue
    visitor = await visitor_page(pages, live)
    await expect(visitor.locator(W + "header p")).to_have_text("Online")
    box = visitor.locator(W + "form.composer textarea")
    await box.fill("Is anyone there?")
    await box.press("Enter")
    await expect(visitor.locator(W + ".queue")).to_contain_text("You are number 1 in line")
    offer = visitor.locator(W + ".leave-now button")
    await expect(offer).to_have_text("Leave a message instead", timeout=5000)
    await offer.click()
    await visitor.locator(W + "#leave-email").fill("bo@example.com")
    await visitor.locator(W + "#leave-email").press("Enter")
    await expect(visitor.locator(W + ".queue.pending")).to_contain_text("bo@example.com")
    await expect(visitor.locator(W + ".row.sys")).to_contain_text(
        "We'll answer here and by email at bo@example.com."
    )
    # it left the queue for the agents' pending list
    listed = await agent.event("pending")
    assert [p["visitor"]["email"] for p in listed["pending"]] == ["bo@example.com"]
