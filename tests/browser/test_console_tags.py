"""Console tags (issue 17) in Chromium: an agent tags two chats from the chat header, sees
the tags in the chat list, filters the list by tag, removes a tag, and sees a tag that the
write API added arrive live (`tagged`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.conftest import AGENT, SUPERVISOR, Pages, go_online, sign_in
from tests.client import Client
from tests.conftest import Live, ServerFactory
from tests.http import http_client

pytestmark = pytest.mark.browser


async def test_tag_and_filter_in_the_console(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    console = await pages.new()
    await sign_in(console, live.base)
    await go_online(console)
    cids = []
    for text in ("Invoice question", "Where is my parcel?"):
        visitor = await live.visitor()
        cids.append((await visitor.request("start", text=text))["conversation"]["id"])
    items = console.locator("#chats .chat-item")
    await expect(items).to_have_count(2)

    async def tag_chat(cid: str, tag: str) -> None:
        await console.locator(f'#chats .chat-item[data-cid="{cid}"]').click()
        await console.locator("#tag-input").fill(tag)
        await console.locator("#tag-input").press("Enter")
        await expect(console.locator("#chat-tags .tag", has_text=tag.lower())).to_be_visible()

    await tag_chat(cids[0], "Billing")
    await tag_chat(cids[0], "vip")
    await tag_chat(cids[1], "shipping")
    first = console.locator(f'#chats .chat-item[data-cid="{cids[0]}"]')
    await expect(first.locator(".tags .tag")).to_have_text(["billing", "vip"])
    assert (await live.store.tags.of([cids[0]]))[cids[0]] == ("billing", "vip")

    await console.locator("#tag-filter").fill("bill")
    await expect(console.locator("#chats li:not([hidden]) .chat-item")).to_have_count(1)
    await expect(console.locator("#chats li:not([hidden]) .chat-item")).to_have_attribute(
        "data-cid", cids[0]
    )
    await console.screenshot(path=str(shots / "console-tags-filter.png"))
    await console.set_viewport_size({"width": 390, "height": 844})
    await console.screenshot(path=str(shots / "console-tags-filter-phone.png"))
    await console.set_viewport_size({"width": 1280, "height": 800})
    await console.locator("#tag-filter").fill("")
    await expect(console.locator("#chats li:not([hidden]) .chat-item")).to_have_count(2)

    # remove one from the header (the second chat is selected)
    await console.locator(f'#chats .chat-item[data-cid="{cids[0]}"]').click()
    await console.locator('#chat-tags .tag[data-tag="vip"] .tag-x').click()
    await expect(console.locator("#chat-tags .tag > span")).to_have_text(["billing"])

    # the write API tags the other chat: the console hears it at once
    agent = await live.store.directory.agent_by_email(AGENT.email)
    token = await live.token(agent)
    async with http_client(base_url=live.base) as client:
        r = await client.post(
            f"/api/conversations/{cids[1]}/tags",
            json={"add": ["billing"]},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    await console.locator("#tag-filter").fill("billing")
    await expect(console.locator("#chats li:not([hidden]) .chat-item")).to_have_count(2)
    await console.locator("#tag-input").fill("not a tag!")
    await console.locator("#tag-input").press("Enter")
    await expect(console.locator("#notice")).to_contain_text("A tag is 1 to 32")


async def test_the_dashboard_shows_and_filters_tags(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    await two_chats_of_alice(live, ["billing", "vip"])
    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    rows = dash.locator("#active tr")
    await expect(rows).to_have_count(2)
    await expect(dash.locator("#active td.tags .tag")).to_have_text(["billing", "vip"])
    await dash.locator("#active-tag").fill("billing")
    await expect(rows).to_have_count(1)
    await expect(rows.locator("td.tags .tag")).to_have_text(["billing", "vip"])
    await dash.screenshot(path=str(shots / "dashboard-tags-filter.png"), full_page=True)
    await dash.set_viewport_size({"width": 390, "height": 844})
    await dash.screenshot(path=str(shots / "dashboard-tags-filter-phone.png"), full_page=True)
    await dash.locator("#active-tag").fill("nothing")
    await expect(rows).to_have_text(["No active conversation tagged “nothing”."])


async def test_the_history_page_filters_by_tag(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    alice, cids = await two_chats_of_alice(live, ["refund"])
    for cid in cids:
        await alice.request("close", cid=cid, resolved=True)
    page = await pages.new()
    await sign_in(page, live.base, "/history", SUPERVISOR)
    results = page.locator("#results .result")
    await expect(results).to_have_count(2)
    await page.locator("input[name=tag]").fill("Refund")
    await page.locator("#search-form button[type=submit]").click()
    await expect(results).to_have_count(1)
    await expect(results.locator(".tag")).to_have_text(["refund"])
    assert "tag=Refund" in page.url
    await page.screenshot(path=str(shots / "history-tag-filter.png"))


async def two_chats_of_alice(live: Live, tags: list[str]) -> tuple[Client, list[str]]:
    """Alice (over the protocol) has two chats, the first one tagged."""
    alice = await live.agent(name="Alice")
    cids = []
    for text in ("Invoice question", "Where is my parcel?"):
        visitor = await live.visitor()
        cids.append((await visitor.request("start", text=text))["conversation"]["id"])
        await alice.event("assigned")
    await alice.request("tag", cid=cids[0], add=tags)
    return alice, cids
