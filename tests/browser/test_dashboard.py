"""The supervisor dashboard after a closed and rated chat: the live figures and the windows,
the charts, the agents table, the queue with its longest wait, and watching a live
conversation read-only (notes included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    Pages,
    agent_says,
    open_widget,
    sign_in,
    someone_online,
    visitor_says,
)
from tests.browser.test_visitor_and_agent import W, agent_says_note, chat_with_agent
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser


def cell(page: Any, metric: str, window: str) -> Any:
    row = page.locator("#windows tbody tr", has=page.get_by_role("rowheader", name=metric))
    return row.locator(f"td[data-window='{window}']")


async def test_dashboard_figures_after_a_rated_chat_and_a_watched_one(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    visitor, agent = await chat_with_agent(live, pages, "Is the desk lamp dimmable?")
    await agent_says(agent, "Yes, fully dimmable.")
    await agent.click("#resolve-btn")

    # the survey: stars, 0-10, 1-7 and a comment
    survey = visitor.locator(W + ".survey")
    await expect(survey).to_be_visible()
    stars = survey.locator("[data-q=csat] button")
    await expect(stars).to_have_count(5)
    await stars.nth(4).click()
    await expect(stars.nth(4)).to_have_attribute("aria-checked", "true")
    await survey.locator("[data-q=nps] button[data-value='9']").click()
    await survey.locator("[data-q=ces] button[data-value='6']").click()
    await survey.locator("textarea").fill("Quick and friendly")
    await survey.locator("[data-q=ces] button[data-value='6']").focus()
    await visitor.screenshot(path=str(shots / "widget-survey.png"))
    await survey.locator("button[type=submit]").click()
    await expect(visitor.locator(W + ".done")).to_have_text("Thank you for your feedback!")

    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    await expect(dash.locator("#stats-ts")).to_contain_text("Live")
    await expect(cell(dash, "CSAT (4\N{EN DASH}5 of 5)", "1h")).to_have_text("100% (1)")
    await expect(cell(dash, "NPS", "1h")).to_have_text("100 (1)")
    await expect(cell(dash, "CES mean (1\N{EN DASH}7)", "1h")).to_have_text("6.0 (1)")
    await expect(cell(dash, "Started", "5m")).to_have_text("1")
    await expect(cell(dash, "Answered", "1h")).to_have_text("1")
    await expect(cell(dash, "Resolved / closed", "24h")).to_have_text("1 / 1")
    assert await cell(dash, "First response p50 / p90", "1h").inner_text() != "—"
    await expect(dash.locator("#bands tbody td").first).to_have_text("100% (1)")

    # the team: the demo agent, connected and online, with the hour's figures
    alice = dash.locator("#agents tr", has_text=AGENT.name)
    await expect(alice.locator(".presence")).to_have_text("online")
    await expect(alice.locator("td").nth(1)).to_have_text("0 / 3")
    await expect(alice.locator("td").nth(3)).to_have_text("100% (1)")
    await expect(alice.locator("td").nth(4)).to_have_text("1")

    # the charts are drawn, from the seed and the live frames
    for name in ("waiting", "frt", "csat"):
        await expect(dash.locator(f"#chart-{name} canvas")).to_have_count(1)
    points = await dash.evaluate("ChatCharts.points()")
    assert points and points[-1]["csat"] == 100

    # a new chat, watched live: notes included, typing shown, no composer
    await visitor_says(visitor, "One more thing: how long is the cable?")
    await expect(agent.locator("#chats .chat-item:not(.closed)")).to_have_count(1)
    watch_button = dash.locator("#active tr", has_text=AGENT.name).get_by_role("button")
    await watch_button.click()
    drawer = dash.locator("#watch")
    await expect(drawer).to_be_visible()
    transcript = drawer.locator("#watch-transcript")
    await expect(transcript).to_contain_text("how long is the cable?")
    await agent_says(agent, "Two metres, fabric covered.")
    await agent.click("#note-btn")
    await agent_says_note(agent, "upsell: matching bulb")
    await expect(transcript.locator(".m.agent")).to_contain_text("Two metres")
    await expect(transcript.locator(".m.note")).to_contain_text("upsell: matching bulb")
    await visitor.locator(W + "form.composer textarea").press_sequentially("Perfect")
    await expect(drawer.locator("#watch-typing")).to_contain_text("is typing: Perfect")
    await visitor.locator(W + "form.composer textarea").press("Enter")
    await expect(transcript.locator(".m.visitor", has_text="Perfect")).to_have_count(1)
    assert await drawer.locator("textarea, input").count() == 0

    # someone waits while the agent is away (a supervisor online, taking no chats, keeps the
    # site staffed, else the visitor would leave an offline message): the queue shows who
    # waits longest
    await someone_online(live)
    await agent.click("#status-btn")
    await expect(agent.locator("#status-btn")).to_have_text("Away")
    await expect(alice.locator(".presence")).to_have_text("away")
    second = await pages.new(live.base + "/")
    await open_widget(second)
    await visitor_says(second, "Hello? Anyone there?")
    await expect(dash.locator("#queue tr.longest")).to_contain_text("Anyone there?")
    await expect(dash.locator(".tile[data-key=waiting] .big")).to_have_text("1")
    await dash.evaluate("window.scrollTo(0, 0)")
    await dash.screenshot(path=str(shots / "dashboard-watching.png"))

    await drawer.get_by_role("button", name="Stop watching").click()
    await expect(drawer).to_be_hidden()
    await dash.screenshot(path=str(shots / "dashboard.png"), full_page=True)
