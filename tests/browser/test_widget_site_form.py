"""The site's pre-chat form in the widget (hello's `site.form`, `site.topics`, `site.privacy`):
required marks and inline errors before anything is sent, the answers in `start`, a server's
`bad_request` shown on the field it names, the privacy notice as a safe link, and the same
questions on the offline form (`leave`). Rendering checks against a scripted endpoint
(test_widget_away.py); test_widget_offline.py runs the real server."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages, shadow_active
from tests.browser.test_widget_away import (
    FORM_SITE,
    FakeVisitorServer,
    W,
    availability,
    open_fake,
)

pytestmark = pytest.mark.browser


async def test_the_form_is_checked_then_sent_with_start(pages: Pages) -> None:
    fake = FakeVisitorServer({"site": FORM_SITE, "availability": availability(reply_s=120)})
    page = await open_fake(pages, fake)
    card = page.locator(W + ".intake")
    await expect(card.locator("h3")).to_have_text("Before we start")
    # the required marks, and what they mean
    await expect(card.locator("label[for=in-f1]")).to_have_text("Your plan *")
    await expect(card.locator("#in-f1")).to_have_attribute("aria-required", "true")
    await expect(card.locator("#in-f0")).not_to_have_attribute("aria-required", "true")
    await expect(card.locator(".note")).to_have_text("Fields marked * are required.")
    await expect(card.locator(".topics legend")).to_have_text("What is it about? *")

    box = page.locator(W + "form.composer textarea")
    await box.fill("Can I upgrade mid-month?")
    await box.press("Enter")
    await expect(card.locator("#in-f1-err")).to_have_text("Please choose one.")
    await expect(card.locator("#in-f2-err")).to_have_text("Please tick this box.")
    await expect(card.locator("#in-topic-err")).to_have_text("Please choose one.")
    await expect(card.locator("#in-f0-err")).to_be_hidden()  # optional
    assert await shadow_active(page) == "SELECT."  # the first wrong one
    assert fake.frames("start") == []
    await expect(box).to_have_value("Can I upgrade mid-month?")  # nothing lost

    # fixing a field clears its error
    await card.locator("#in-f1").select_option("Pro")
    await expect(card.locator("#in-f1-err")).to_be_hidden()
    await card.locator("#in-f2").check()
    await card.locator("#in-f0").fill("A-1042")
    # the topic picker is a radio group: reachable and chosen with the keyboard
    await card.locator("input[value=sales]").focus()
    await page.keyboard.press("ArrowRight")
    await expect(card.locator("input[value=billing]")).to_be_checked()
    await box.press("Enter")
    await expect(page.locator(W + ".queue")).to_contain_text("You are number 1 in line")
    await expect(card).to_have_count(0)
    start = fake.frames("start")
    assert len(start) == 1
    assert start[0]["topic"] == "billing"
    assert start[0]["fields"] == {"order": "A-1042", "plan": "Pro", "terms": True}
    assert start[0]["text"] == "Can I upgrade mid-month?"


async def test_a_field_the_server_refuses_is_shown_on_it(pages: Pages) -> None:
    fake = FakeVisitorServer(
        {"site": FORM_SITE, "availability": availability()},
        refuse={"start": {"code": "bad_request", "message": "fields.order: not a valid order"}},
    )
    page = await open_fake(pages, fake)
    card = page.locator(W + ".intake")
    await card.locator("#in-f0").fill("nope")
    await card.locator("#in-f1").select_option("Free")
    await card.locator("#in-f2").check()
    await card.locator("input[value=tech]").check(force=True)
    box = page.locator(W + "form.composer textarea")
    await box.fill("Hello")
    await box.press("Enter")
    await expect(card.locator("#in-f0-err")).to_have_text("Please check this answer.")
    await expect(card.locator("#in-f0")).to_have_attribute("aria-invalid", "true")
    await expect(card.locator("#in-f0")).to_be_focused()
    await expect(box).to_have_value("Hello")  # back in the composer, not lost
    await expect(page.locator(W + ".row.me")).to_have_count(0)
    # corrected and sent again: it opens
    await card.locator("#in-f0").fill("A-1")
    await box.press("Enter")
    await expect(card).to_have_count(0)
    assert [f["fields"]["order"] for f in fake.frames("start")] == ["nope", "A-1"]


async def test_the_privacy_notice_shows_before_the_first_message(pages: Pages) -> None:
    fake = FakeVisitorServer({"site": FORM_SITE, "availability": availability()})
    page = await open_fake(pages, fake)
    link = page.locator(W + "#chat-privacy a")
    await expect(link).to_have_text("We keep chats for 30 days: see our privacy policy.")
    await expect(link).to_have_attribute("href", "https://shop.test/privacy")
    await expect(link).to_have_attribute("target", "_blank")
    assert "noopener" in (await link.get_attribute("rel") or "").split()
    box = page.locator(W + "form.composer textarea")
    assert "chat-privacy" in (await box.get_attribute("aria-describedby") or "")

    # a notice without a URL is text; a URL that is not http(s) is not made a link
    for url in (None, "javascript:alert(1)"):
        site = dict(FORM_SITE, privacy={"text": "Chats are recorded.", "url": url})
        other = await open_fake(pages, FakeVisitorServer({"site": site}))
        await expect(other.locator(W + "#chat-privacy")).to_have_text("Chats are recorded.")
        await expect(other.locator(W + "#chat-privacy a")).to_have_count(0)

    # gone once the chat starts
    card = page.locator(W + ".intake")
    await card.locator("#in-f1").select_option("Free")
    await card.locator("#in-f2").check()
    await card.locator("input[value=sales]").check(force=True)
    await box.fill("Hi")
    await box.press("Enter")
    await expect(page.locator(W + "#chat-privacy")).to_be_hidden()


async def test_the_offline_form_asks_the_same_questions(pages: Pages, shots: Path) -> None:
    fake = FakeVisitorServer({"site": FORM_SITE, "availability": availability(online=False)})
    page = await open_fake(pages, fake, (390, 844))
    card = page.locator(W + ".intake")
    await expect(card.locator("h3")).to_have_text("Leave us a message")
    for sel in ("#in-email", "#in-name", "#in-f0", "#in-f1", "#in-f2"):
        await expect(card.locator(sel)).to_be_attached()
    await card.locator("#in-email").fill("ana@example.com")
    await card.locator("#in-f1").select_option("Pro")
    await card.locator("#in-f2").check()
    await card.locator("input[value=tech]").check(force=True)
    # the panel fills a phone's screen and the card scrolls inside it
    panel = await page.locator(W + ".panel").bounding_box()
    assert panel is not None and panel["width"] == 390 and panel["height"] == 844
    box = page.locator(W + "form.composer textarea")
    await box.fill("The app crashes on start")
    await card.locator("#in-email").press("Enter")  # Enter in a field sends too
    await expect(page.locator(W + ".queue.pending")).to_contain_text("ana@example.com")
    leave = fake.frames("leave")
    assert len(leave) == 1
    assert leave[0]["topic"] == "tech"
    assert leave[0]["fields"] == {"plan": "Pro", "terms": True}
    assert leave[0]["email"] == "ana@example.com" and "name" not in leave[0]
    await page.screenshot(path=str(shots / "widget-offline-form-sent-phone.png"))
