"""The History page in Chromium (issue 16): a supervisor searches a customer's email and words,
sees the matching words marked (as text: a message's markup is never run), opens a
transcript with its note and attachment in the side panel, loads more, hits the empty state
and a refused date; on a phone the panel is the whole screen. An agent sees only the
conversations they handled. Screenshots under $CHAT_SCREENSHOTS: history-list, -results,
-transcript, -phone, -phone-transcript and -empty.png."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Route, expect

from chat_server.core import conversation as flow
from chat_server.core.model import Agent, Draft, Kind, Role, Sender, Visitor
from tests.browser.conftest import AGENT, SUPERVISOR, Pages, sign_in
from tests.browser.test_files import SHOT
from tests.conftest import Live, ServerFactory
from tests.http import http_client

pytestmark = pytest.mark.browser


async def hold_first_search(page: Any) -> asyncio.Future[Route]:
    """The page's first search request, held: the future gives its route to let it go on."""
    held: asyncio.Future[Route] = asyncio.get_running_loop().create_future()

    async def hold(route: Route) -> None:
        if held.done():
            await route.continue_()
        else:
            held.set_result(route)

    await page.route("**/api/search?*", hold)
    return held


async def filler(live: Live, agent: Agent, count: int) -> None:
    """Older closed conversations, written through the store and indexed as a close does."""
    store = live.store
    for n in range(count):
        cid, vid = f"c_old{n:04d}", f"v_old{n:04d}"
        now = live.runtime.node.clock.now_ms() - (count - n) * 3_600_000
        await store.directory.put_visitor(Visitor(vid, "shop", now, f"Customer {n}", None))
        conv = flow.open_conversation(cid, "shop", vid, "shipping", now)
        you = Sender(Role.VISITOR, vid, None)
        await store.conversations.open(conv, Draft(Kind.TEXT, you, f"Where is parcel {n}?"), None)
        await store.conversations.claim(cid, agent, now)
        me = Sender(Role.AGENT, agent.id, agent.name)
        await store.conversations.append(cid, Draft(Kind.TEXT, me, "It ships tomorrow."))
        await store.conversations.close(cid, now, by="agent", reason="resolved", resolved=True)
        await store.search.index(cid)


async def featured(live: Live, agent: Agent) -> str:
    """Jane's chat, through the sockets: a refund asked, an agent's screenshot and note, a
    line with markup in it; closed and rated."""
    alice = await live.agent(agent)
    visitor = await live.visitor(site="demo", origin=live.base)
    await visitor.request("profile", name="Jane Doe", email="jane.doe@example.com")
    start = await visitor.request("start", text="Hi, I would like a refund for order 4411")
    cid: str = start["conversation"]["id"]
    await alice.event("assigned")
    markup = "<img src=x onerror=alert(1)> the box was damaged, refund please"
    await visitor.request("msg", cid=cid, cmid="v2", text=markup)
    token = await live.token(agent)
    async with http_client(base_url=live.base) as http:
        sent = await http.post(
            f"/api/files?cid={cid}&name=label.png",
            content=SHOT,
            headers={"Authorization": f"Bearer {token}"},
        )
    assert sent.status_code == 201, sent.text
    file_id = sent.json()["file"]["id"]
    await alice.request(
        "msg",
        cid=cid,
        cmid="a1",
        text="Sorry about that! Here is the return label.",
        files=[file_id],
    )
    await alice.request("note", cid=cid, cmid="n1", text="Refund approved by Sam, 42 EUR")
    await alice.request("close", cid=cid, resolved=True)
    await visitor.event("closed")
    await visitor.request("rate", cid=cid, csat=5, comment="Quick and kind")
    await live.visitor(site="demo", origin=live.base)  # someone else, idle
    return cid


async def snap(page: Any, shots: Path, name: str) -> None:
    await page.wait_for_timeout(200)
    await page.screenshot(path=str(shots / f"history-{name}.png"))


async def test_history_search_and_transcript(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    agent = await live.store.directory.agent_by_email(AGENT.email)
    await filler(live, agent, 23)
    cid = await featured(live, agent)

    page = await pages.new()
    await sign_in(page, live.base, "/history", SUPERVISOR)
    results = page.locator("#results .result")
    await expect(results).to_have_count(20)  # a page: the newest first
    await expect(results.first).to_contain_text("Jane Doe")
    await expect(page.locator("#more-btn")).to_be_visible()
    await snap(page, shots, "list")
    await page.click("#more-btn")
    await expect(results).to_have_count(24)
    await expect(page.locator("#more-btn")).to_be_hidden()

    await page.fill("#f-q", "refund")
    await page.fill("input[name=visitor]", "jane.doe@example.com")
    await page.click("#search-form button[type=submit]")
    await expect(results).to_have_count(1)
    first = results.first
    await expect(first).to_contain_text("jane.doe@example.com")
    await expect(first).to_contain_text("CSAT 5/5")
    await expect(first.locator("mark")).to_have_text(["refund"])
    assert await page.locator("#results img").count() == 0  # the markup stayed text
    await snap(page, shots, "results")

    await first.click()
    panel = page.locator("#panel")
    await expect(panel).to_be_visible()
    transcript = panel.locator("#panel-transcript")
    await expect(transcript.locator(".m.note")).to_contain_text("Refund approved")
    await expect(transcript.locator(".m.visitor").first).to_contain_text("refund for order 4411")
    await expect(transcript.locator(".file-img img")).to_have_count(1)
    await expect(transcript).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(panel.locator("#panel-facts")).to_contain_text("CSAT 5/5")
    await expect(transcript.locator(".m.hit")).to_have_count(1)
    await snap(page, shots, "transcript")

    await page.set_viewport_size({"width": 390, "height": 844})
    box = await panel.bounding_box()
    assert box is not None and box["width"] == 390 and box["x"] == 0  # the whole screen
    await snap(page, shots, "phone-transcript")
    await page.click("#panel-close")
    await expect(panel).to_be_hidden()
    await snap(page, shots, "phone")
    await page.set_viewport_size({"width": 1280, "height": 800})

    await page.fill("#f-q", "zeppelin")
    await page.fill("input[name=visitor]", "")
    await page.click("#search-form button[type=submit]")
    await expect(page.locator("#empty")).to_be_visible()
    await expect(results).to_have_count(0)
    await snap(page, shots, "empty")

    await page.fill("#f-q", "")
    await page.fill("input[name=from]", "2030-02-02")
    await page.fill("input[name=to]", "2030-02-01")
    await page.click("#search-form button[type=submit]")
    await expect(page.locator("#search-error")).to_contain_text("date is after")

    # the agent signs in: only what they handled (all of these), and Jane's transcript; the
    # search on opening the page is held back until the agent's own search has been answered,
    # and when it comes late it is dropped (it once overwrote the results and the address)
    mine = await pages.new()
    first = await hold_first_search(mine)
    await sign_in(mine, live.base, "/history", AGENT)
    await expect(mine.locator("#agent-filter")).to_be_hidden()
    late = await asyncio.wait_for(first, 10)
    await mine.fill("#f-q", "refund")
    await mine.click("#search-form button[type=submit]")
    await expect(mine.locator("#results .result")).to_have_count(1)
    async with mine.expect_event("requestfinished"):
        await late.continue_()
    await mine.wait_for_timeout(200)  # its body read and dropped
    await expect(mine.locator("#results .result")).to_have_count(1)
    await mine.locator("#results .result").first.click()
    await expect(mine.locator("#panel-transcript .m.note")).to_have_count(1)
    await expect(mine.locator("#panel-title")).to_have_text("Jane Doe")
    assert await mine.evaluate("location.search") == "?q=refund"
    assert cid
