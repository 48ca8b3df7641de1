"""The demo in a real browser: a visitor on `/` and an agent in `/console` chat both ways."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import someone_online
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser


async def test_visitor_and_agent_chat_in_chromium(
    start_server: ServerFactory, browser: Any
) -> None:
    live = await start_server(demo=True)
    await someone_online(live)  # else the widget offers an offline message (issue 14)
    visitor = await (await browser.new_context()).new_page()
    agent = await (await browser.new_context()).new_page()
    errors: list[str] = []
    for page in (visitor, agent):
        page.on("pageerror", lambda e: errors.append(str(e)))

    await visitor.goto(live.base + "/")
    await visitor.locator("#chat-widget-host").locator("button.launcher").click()
    await expect(visitor.locator(".panel")).to_be_visible()
    await visitor.keyboard.type("Hello, is the mug dishwasher safe?")
    await visitor.keyboard.press("Enter")
    await expect(visitor.locator(".row.me.pending")).to_have_count(0, timeout=5000)

    await agent.goto(live.base + "/console")
    await agent.fill("input[name=email]", "agent@demo.test")
    await agent.fill("input[name=password]", "demo-agent")
    await agent.click("button[type=submit]")
    await expect(agent.locator("#waiting .waiting-item")).to_have_count(1, timeout=5000)
    await agent.click("#status-btn")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1, timeout=5000)
    await expect(agent.locator("#transcript")).to_contain_text("dishwasher safe")

    # typing shows on the other side, both ways
    await visitor.locator("textarea").first.focus()
    await visitor.keyboard.type("And the tote?")
    await expect(agent.locator("#typing")).to_contain_text("And the tote?", timeout=5000)
    await visitor.keyboard.press("Enter")
    await expect(agent.locator("#transcript")).to_contain_text("And the tote?")
    await agent.click("#input")
    await agent.keyboard.type("Yes, both are.")
    await expect(visitor.locator(".typing")).to_contain_text("is typing", timeout=5000)
    await agent.keyboard.press("Enter")
    await expect(visitor.locator(".row.agent")).to_contain_text("Yes, both are.", timeout=5000)

    # a note stays with the agents
    await agent.click("#note-btn")
    await agent.keyboard.type("internal: repeat customer")
    await agent.keyboard.press("Enter")
    await expect(agent.locator(".m.note")).to_contain_text("repeat customer")
    await visitor.wait_for_timeout(500)
    assert "repeat customer" not in await visitor.locator(".list").inner_text()

    # reload: the history comes back once
    await visitor.reload()
    await expect(visitor.locator(".list")).to_contain_text("Yes, both are.", timeout=5000)
    assert await visitor.locator(".row.me", has_text="dishwasher safe").count() == 1

    # close as resolved: the visitor gets the survey
    await agent.click("#resolve-btn")
    await expect(visitor.locator(".survey")).to_be_visible(timeout=5000)
    assert errors == []
