"""The widget's reconnect backoff in Chromium (issue 18, the storm's client side): when the
server restarts, widgets must not all hammer it at the same instants. Several widget pages,
each with an open conversation, see the server stop (SIGTERM: 1012) and stay down ~6 s;
every WebSocket each page opens is recorded (an init script wrapping `window.WebSocket`).
Each wait, from a socket's close to the next attempt, must lie in the jittered bounds of
static/common/ws.js `backoffDelay` (0.5 s doubling, each in [base/2, base]), so the waits
roughly double; the pages must not retry in step; and every page must be back with its
conversation once the server is up again."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.async_api import expect

from tests.browser.conftest import SUPERVISOR, Pages, open_widget, visitor_says
from tests.client import Client, connect_agent
from tests.processes import ServerProcess, cli

pytestmark = pytest.mark.browser

W = "#chat-widget-host "
PAGES = 5
DOWN_S = 6.0
"""From the SIGTERM to starting the server again (it listens ~0.5 s later): after the
fourth attempt's earliest moment (3.75 s), before the fifth's (7.75 s), so that every page
is back by its fifth attempt, at most 15.5 s after the close."""
SLACK_S = 0.4
"""A timer may fire late on a loaded machine (never early)."""

RECORD = """
(() => {
  const Real = window.WebSocket;
  const log = (window.__sockets = []);
  window.WebSocket = class extends Real {
    constructor(url, protocols) {
      const entry = { opened: Date.now(), closed: null, code: null };
      log.push(entry);
      super(url, protocols);
      this.addEventListener('close', (ev) => { entry.closed = Date.now(); entry.code = ev.code; });
    }
  };
})();
"""


async def staffed(server: ServerProcess, token: str) -> Client:
    """The demo supervisor online (taking no chats): the widget offers a live chat."""
    sup = await connect_agent(server.ws, codec="chat.v1.json")
    await sup.request("hello", token=token)
    await sup.request("status", state="online")
    return sup


def hello_cids(frames: list[Any]) -> list[str | None]:
    """The open conversation named by each `hello` answer the page received, in order."""
    out: list[str | None] = []
    for payload in frames:
        frame = msgpack.unpackb(payload) if isinstance(payload, bytes) else None
        if isinstance(frame, dict) and frame.get("t") == "ok" and "visitor" in frame:
            out.append((frame.get("conversation") or {}).get("id"))
    return out


async def chatting(pages: Pages, base: str, i: int) -> tuple[Any, list[Any]]:
    """A widget page, its sockets recorded, in a conversation it opened; the frames it
    receives (all its sockets', in order)."""
    page = await pages.new()
    await page.add_init_script(RECORD)
    frames: list[Any] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(f)))
    await page.goto(base + "/")
    await open_widget(page)
    await visitor_says(page, f"Hello from page {i}")
    return page, frames


def started_cid(frames: list[Any]) -> str:
    """The conversation the page opened (named by its `start` answer)."""
    decoded = [msgpack.unpackb(p) for p in frames if isinstance(p, bytes)]
    named = [
        f["conversation"]["id"]
        for f in decoded
        if isinstance(f, dict) and isinstance(f.get("conversation"), dict)
    ]
    assert named, "no conversation in the page's frames"
    cid: str = named[-1]
    return cid


def bounds(attempt: int) -> tuple[float, float]:
    base = min(15.0, 0.5 * 2.0**attempt)
    return base / 2, base


@pytest.mark.slow
@pytest.mark.long(25)
async def test_widgets_back_off_with_jitter_and_come_back(
    server: ServerProcess, pages: Pages, shots: Path
) -> None:
    pages.allow_network_errors = True  # the refused reconnects while the server is down
    token = cli(server.data, "agent", "token", SUPERVISOR.email).strip().splitlines()[-1]
    staff = [await staffed(server, token)]
    try:
        await backoff_and_return(server, pages, shots, token, staff)
    finally:
        for sup in staff:
            await sup.close()


async def backoff_and_return(
    server: ServerProcess, pages: Pages, shots: Path, token: str, staff: list[Client]
) -> None:
    opened = await asyncio.gather(*(chatting(pages, server.base, i) for i in range(PAGES)))
    visitors = [page for page, _ in opened]
    received = [frames for _, frames in opened]
    before = [hello_cids(f) for f in received]
    cids = [started_cid(f) for f in received]
    assert len(set(cids)) == PAGES

    stopped = time.time()
    server.stop()  # SIGTERM: every socket closed with 1012
    await expect(visitors[0].locator(W + ".banner")).to_contain_text("Reconnecting")
    await visitors[0].screenshot(path=str(shots / "widget-backoff-reconnecting.png"))
    await asyncio.sleep(max(0.0, DOWN_S - (time.time() - stopped)))
    server.start()
    await server.ready()
    staff.append(await staffed(server, token))
    for page in visitors:
        await expect(page.locator(W + ".banner")).to_be_hidden(timeout=16000)
    logs = [await page.evaluate("window.__sockets") for page in visitors]
    series: list[list[dict[str, Any]]] = []
    firsts: list[float] = []
    for n, log in enumerate(logs):
        codes = [s["code"] for s in log]
        assert 1012 in codes, f"page {n}: no socket closed with 1012: {log}"
        dropped = codes.index(1012)
        tries = log[dropped:]
        series.append(tries)
        assert len(tries) >= 5, f"page {n}: only {len(tries) - 1} reconnects: {tries}"
        waits = [(b["opened"] - a["closed"]) / 1000 for a, b in itertools.pairwise(tries)]
        for attempt, wait in enumerate(waits):
            low, high = bounds(attempt)
            assert low - 0.005 <= wait <= high + SLACK_S, (
                f"page {n}, attempt {attempt}: waited {wait:.3f} s, not in [{low}, {high}]: {waits}"
            )
        assert tries[-1]["closed"] is None, f"page {n}: its last socket closed: {tries}"
        firsts.append(waits[0])
        assert all(t["code"] == 1006 for t in tries[1:-1]), f"page {n}: {tries}"
    # jitter: the pages did not retry in step
    spreads = [
        max(s[k]["opened"] for s in series) - min(s[k]["opened"] for s in series) for k in (1, 2, 3)
    ]
    assert max(firsts) - min(firsts) > 0.01, f"first waits all alike: {firsts}"
    assert all(s > 10 for s in spreads), f"pages retried in step: {spreads} ms"

    # every page is back with its conversation, and can carry on in it
    for n, (page, frames) in enumerate(zip(visitors, received, strict=True)):
        after = hello_cids(frames)[len(before[n]) :]
        assert after and after[-1] == cids[n], f"page {n}: hello named {after}"
        await visitor_says(page, f"Still here on page {n}")
        rows = page.locator(W + ".row.me")
        await expect(rows).to_have_count(2)
        await expect(rows.first).to_contain_text(f"Hello from page {n}")
