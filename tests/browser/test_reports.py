"""The Reports page (issue 16) in Chromium: a supervisor opens /reports, picks the last 30
days, sees the headline cards compared with the period before, the trend charts, the
survey distributions and the tables, downloads a CSV; a custom range; a period with no
conversations; a phone. An agent is turned away.

The page computes "today" with the browser's clock, so the server runs on the real one:
today's chat is driven over WebSockets, and the 60 days before are recorded into the
store's figures over time as the services would have recorded them (`core/samples`).

Screenshots (`CHAT_SCREENSHOTS=<dir>`): reports-30-days.png, reports-custom.png,
reports-empty.png, reports-today.png, reports-phone.png, reports-phone-charts.png,
reports-phone-tables.png."""

from __future__ import annotations

import asyncio
import csv
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core import samples
from chat_server.core.model import Topic
from chat_server.core.reports import CSV_COLUMNS
from tests.browser.conftest import AGENT, SUPERVISOR, Pages, sign_in
from tests.conftest import Live, ServerFactory

pytestmark = pytest.mark.browser

TOPICS = (Topic("billing", "Billing"), Topic("shipping", "Shipping"), Topic("returns", "Returns"))
HISTORY_DAYS = 60


async def seed_history(live: Live) -> date:
    """Sixty days of chats before today on the demo site, better lately than in the month
    before (faster first responses, more 5-star ratings): as `Node.record` adds them."""
    store = live.store
    demo = await store.directory.site("demo")
    await store.directory.put_site(replace(demo, topics=TOPICS))
    alice = await store.directory.agent_by_email(AGENT.email)
    team = [alice.id, (await live.add_agent("Bea")).id, (await live.add_agent("Carl")).id]
    rng = random.Random(16)
    today = datetime.now(UTC).date()
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - timedelta(days=back)
        recent = back <= 30
        noon = int(datetime(day.year, day.month, day.day, 9, tzinfo=UTC).timestamp() * 1000)
        for i in range(rng.randint(4, 9) + (3 if recent else 0)):
            ts = noon + i * 1_800_000
            agent, topic = rng.choice(team), rng.choice(TOPICS).id
            base = ("all", "site:demo", f"topic:{topic}")
            visitor = f"v_seed{rng.randint(1, 120)}"
            await store.rollups.visit(visitor, ("all", "site:demo"), ts)
            await store.rollups.add(ts, base, samples.started())
            if rng.random() < (0.08 if recent else 0.18):
                await store.rollups.add(
                    ts + 60_000,
                    base,
                    samples.closed(resolved=False, resolution_s=None, abandoned=True),
                )
                continue
            dims = (*base, f"agent:{agent}")
            frt = rng.uniform(8, 50) if recent else rng.uniform(25, 140)
            await store.rollups.add(ts, dims, samples.assigned_first(frt / 2))
            await store.rollups.add(ts, dims, samples.first_response(frt, 60))
            await store.rollups.add(ts, dims, samples.response(rng.uniform(10, 90)))
            resolved = rng.random() < (0.8 if recent else 0.65)
            closing = samples.closed(
                resolved=resolved, resolution_s=rng.uniform(120, 900), abandoned=False
            )
            await store.rollups.add(ts + 600_000, dims, closing)
            if resolved and rng.random() < (0.1 if recent else 0.2):  # came back: not FCR
                await store.rollups.add(ts + 600_000, dims, samples.recontacted())
            await store.rollups.add(ts + 600_000, dims, samples.surveyed())
            if rng.random() < 0.6:
                good = rng.random() < (0.85 if recent else 0.6)
                rating = samples.rated(
                    csat=rng.choice((4, 5) if good else (1, 2, 3)),
                    nps=rng.choice((9, 10, 8) if good else (3, 6, 7)),
                    ces=rng.choice((6, 7, 5) if good else (2, 3, 4)),
                    frt_s=frt,
                )
                await store.rollups.add(ts + 660_000, dims, rating)
    return today


async def chat_today(live: Live) -> None:
    """One chat today, over WebSockets: asked, answered, resolved and rated."""
    alice = await live.store.directory.agent_by_email(AGENT.email)
    agent = await live.agent(alice, online=False)
    visitor = await live.visitor(name="Today")
    started = await visitor.request("start", text="Where is my parcel?")
    cid = started["conversation"]["id"]
    await agent.request("claim", cid=cid)
    await agent.request("msg", cid=cid, text="On its way", cmid="a1")
    await agent.request("close", cid=cid, resolved=True)
    await visitor.event("survey")
    await visitor.request("rate", cid=cid, csat=5, nps=10, ces=7)


def pressed(page: Any, preset: str) -> Any:
    return page.locator(f"#ranges [data-range='{preset}']")


async def snap(page: Any, shots: Path, name: str) -> None:
    await page.wait_for_timeout(200)  # charts laid out after a resize
    await page.screenshot(path=str(shots / f"reports-{name}.png"), full_page=True)


async def test_supervisor_reads_30_days_compares_and_downloads(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    today = await seed_history(live)
    await chat_today(live)

    page = await pages.new()
    await sign_in(page, live.base, "/reports", SUPERVISOR)
    await expect(page.locator("#ranges [data-range='30']")).to_have_attribute(
        "aria-pressed", "true"
    )
    await expect(page.locator("#status")).to_contain_text("Report loaded")
    await page.click("#ranges [data-range='7']")
    await expect(page.locator("#ranges [data-range='7']")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#period")).to_contain_text("(7 days)")
    await page.click("#ranges [data-range='30']")
    first = (today - timedelta(days=29)).isoformat()
    await expect(page.locator("#period")).to_contain_text("(30 days)")
    await expect(page.locator("#period")).to_contain_text("compared with")
    await expect(page.locator("#period")).to_contain_text("times in UTC")
    assert "range=30" in page.url
    report = await page.evaluate("ChatReports.report()")
    assert (report["from"], report["to"]) == (first, today.isoformat())

    # the headline cards, each with the previous period and a coloured change
    cards = page.locator("#cards .kpi")
    await expect(cards).to_have_count(16)
    frt = page.locator(".kpi[data-key=frt_p50]")
    await expect(frt.locator(".prev")).to_contain_text("Previous")
    await expect(frt.locator(".delta")).to_have_class("delta good")  # faster lately
    await expect(frt.locator(".delta")).to_contain_text("▼")
    csat = page.locator(".kpi[data-key=csat]")
    await expect(csat.locator(".delta")).to_have_class("delta good")
    await expect(page.locator(".kpi[data-key=abandon] .delta")).to_have_class("delta good")
    conversations = page.locator(".kpi[data-key=conversations] .big")
    assert (
        int((await conversations.inner_text()).replace(",", ""))
        == (report["summary"]["current"]["started"])
    )
    assert report["summary"]["current"]["started"] > report["summary"]["previous"]["started"]
    await expect(page.locator(".kpi[data-key=visitors_returning] .big")).not_to_have_text("—")

    # trends: six charts of 30 days each; survey distributions; the tables
    for name in ("times", "satisfaction", "volume", "abandon", "fcr", "sla"):
        await expect(page.locator(f"#chart-{name} canvas")).to_have_count(1)
    assert len(report["series"]) == 30
    await expect(page.locator("#dist-csat .bar-row")).to_have_count(5)
    await expect(page.locator("#dist-nps .bar-row")).to_have_count(11)
    await expect(page.locator("#dist-ces .bar-row")).to_have_count(7)
    await expect(page.locator("#agents tbody tr")).to_have_count(4)  # Alice, Bea, Carl and Sam
    await expect(page.locator("#topics tbody tr")).to_have_count(3)
    await page.click("#agents th button[data-key=answered]")
    header = page.locator("#agents th:has(button[data-key=answered])")
    await expect(header).to_have_attribute("aria-sort", "descending")
    top = await page.locator("#agents tbody tr").first.locator("td[data-col=answered]").inner_text()
    assert int(top) == max(r["answered"] for r in report["agents"])
    await expect(page.locator("#site-pick")).to_be_visible()  # demo and shop
    await snap(page, shots, "30-days")

    # a CSV download of the agents table
    async with page.expect_download() as info:
        await page.click("#csv-agents")
    download = await info.value
    assert download.suggested_filename == f"report-agents-{first}-{today.isoformat()}.csv"
    saved = Path(await download.path())
    text = await asyncio.to_thread(saved.read_text, encoding="utf-8")
    rows = list(csv.reader(text.splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS["agents"]
    assert {"Alice (demo agent)", "Bea", "Carl"} <= {r[1] for r in rows[1:]}
    async with page.expect_download() as info:
        await page.click("#csv-series")
    trend = (await info.value).suggested_filename
    assert trend.startswith("report-series-")

    # without the comparison: no previous values, and the address says so
    await page.uncheck("#compare")
    await expect(page.locator("#period")).not_to_contain_text("compared with")
    await expect(page.locator("#cards .kpi .prev")).to_have_count(0)
    assert "compare=0" in page.url
    await page.check("#compare")
    await expect(page.locator("#cards .kpi .prev")).to_have_count(16)

    # a custom range: two weeks, a week ago
    await page.click("#ranges [data-range='custom']")
    await expect(page.locator("#custom")).to_be_visible()
    start, end = today - timedelta(days=20), today - timedelta(days=7)
    await page.fill("#custom-from", start.isoformat())
    await page.fill("#custom-to", end.isoformat())
    await page.click("#custom button[type=submit]")
    await expect(page.locator("#period")).to_contain_text("(14 days)")
    custom = await page.evaluate("ChatReports.report()")
    assert (custom["from"], custom["to"]) == (start.isoformat(), end.isoformat())
    assert "range=custom" in page.url
    await snap(page, shots, "custom")

    # a period with no conversations at all
    await page.fill("#custom-from", (today - timedelta(days=200)).isoformat())
    await page.fill("#custom-to", (today - timedelta(days=190)).isoformat())
    await page.click("#custom button[type=submit]")
    await expect(page.locator("#empty")).to_be_visible()
    await expect(page.locator("#empty")).to_contain_text("No conversations in this period")
    await expect(page.locator("#details")).to_be_hidden()
    await snap(page, shots, "empty")

    # an error from the server is shown, not swallowed
    await page.fill("#custom-from", (today - timedelta(days=1000)).isoformat())
    await page.click("#custom button[type=submit]")
    await expect(page.locator("#error")).to_be_visible()
    await expect(page.locator("#error")).to_contain_text("figures are kept")
    # (Chromium logs the 400 it answered as a console error: expected here)
    pages.errors[:] = [e for e in pages.errors if "status of 400" not in e]

    # a phone: cards two by two, the charts as wide as the screen, tables scroll sideways
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.click("#ranges [data-range='30']")
    await expect(page.locator("#error")).to_be_hidden()
    await expect(page.locator("#status")).to_contain_text("Report loaded")
    await page.wait_for_timeout(300)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
    box = await page.locator("#chart-times canvas").bounding_box()
    assert box is not None and box["width"] <= 370
    scroller = page.locator("#agents").locator("xpath=..")
    assert await scroller.evaluate("el => el.scrollWidth > el.clientWidth")
    await page.screenshot(path=str(shots / "reports-phone.png"))
    await page.locator("#trends-h").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "reports-phone-charts.png"))
    await page.locator("#agents-h").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "reports-phone-tables.png"))

    # today, by the hour
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.click("#ranges [data-range='today']")
    await expect(page.locator("#trend-step")).to_have_text("(one point an hour)")
    hourly = await page.evaluate("ChatReports.report()")
    assert hourly["granularity"] == "hour" and len(hourly["series"]) == 24
    assert hourly["summary"]["current"]["started"] == 1  # today's chat
    await snap(page, shots, "today")


async def test_agents_are_turned_away_and_signed_out_see_the_form(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    page = await pages.new(live.base + "/reports")
    await expect(page.locator("#login")).to_be_visible()
    await sign_in(page, live.base, "/reports", AGENT)
    await expect(page.locator("#forbidden")).to_be_visible()
    await expect(page.locator("#board")).to_be_hidden()


async def test_the_dashboard_leads_to_reports_and_back(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    page = await pages.new()
    await sign_in(page, live.base, "/dashboard", SUPERVISOR)
    assert await page.get_attribute(".topbar a:text-is('History')", "href") == "/history"
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(200)
    logout = await page.locator("#logout-btn").bounding_box()
    assert logout is not None and logout["x"] + logout["width"] <= 390, logout
    await page.screenshot(path=str(shots / "reports-dashboard-topbar-phone.png"))
    await page.click(".topbar a:text-is('Reports')")
    await expect(page).to_have_url(live.base + "/reports?range=30")
    await expect(page.locator("#status")).to_contain_text("Report loaded")
    await page.click(".topbar a:text-is('Live')")
    await expect(page).to_have_url(live.base + "/dashboard")
