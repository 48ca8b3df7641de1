"""The supervisor dashboard counts offline messages (issue 14): how many were left, how many
got an answer and how fast (a tile for the last 24 hours, and rows per window), and the
chats closed for inactivity."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import SUPERVISOR, Pages, sign_in
from tests.browser.test_dashboard import cell
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser


async def test_dashboard_counts_offline_messages_and_their_answers(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    await expect(dash.locator("#stats-ts")).to_contain_text("Live")
    tile = dash.locator(".tile[data-key=offline]")
    await expect(tile.locator(".big")).to_have_text("0")
    await expect(tile.locator(".detail")).to_have_text("0 answered")
    await expect(cell(dash, "Offline messages", "24h")).to_have_text("0")
    await expect(cell(dash, "Closed for inactivity", "24h")).to_have_text("0")

    # a visitor leaves a message: counted, not answered yet
    visitor = await live.visitor(site="demo", origin=live.base)
    left = await visitor.request(
        "leave", email="walter@example.com", name="Walter", text="Do you ship to Iceland?"
    )
    cid = left["conversation"]["id"]
    await expect(tile.locator(".big")).to_have_text("1")
    await expect(tile).to_have_class("tile card offline warn")
    for window in ("5m", "1h", "24h"):
        await expect(cell(dash, "Offline messages", window)).to_have_text("1")
        await expect(cell(dash, "Offline replied", window)).to_have_text("0")
        await expect(cell(dash, "Offline reply p50", window)).to_have_text("—")

    # an agent picks it up and answers: answered, with its response time
    agent = await live.agent()
    await agent.request("claim", cid=cid)
    await agent.request("msg", cid=cid, text="Yes, in 5 to 7 days.", cmid="answer-1")
    await expect(cell(dash, "Offline replied", "1h")).to_have_text("1")
    await expect(cell(dash, "Offline reply p50", "1h")).not_to_have_text("—")
    await expect(tile.locator(".detail")).to_contain_text("1 answered · reply p50 ")
    await expect(tile).to_have_class("tile card offline")
    # it does not count as a normal first response
    await expect(cell(dash, "First response p50 / p90", "1h")).to_have_text("—")

    await dash.evaluate("window.scrollTo(0, 0)")
    await dash.screenshot(path=str(shots / "dashboard-offline-desktop.png"), full_page=True)
    await dash.set_viewport_size({"width": 390, "height": 844})
    await dash.screenshot(path=str(shots / "dashboard-offline-phone.png"))
    # the table itself (its rows are drawn anew on every update)
    await dash.locator("#windows").scroll_into_view_if_needed()
    await dash.screenshot(path=str(shots / "dashboard-offline-rows-phone.png"))
    await visitor.close()
