"""Debian's Chromium driven by Playwright (never `playwright install`: no downloads here).

Besides the `browser` fixture: helpers shared by the browser tests (pages that collect
their errors, signing in, the widget's shadow root) and `shots`, the folder where the
tests save their screenshots: `$CHAT_SCREENSHOTS`, or `screenshots/` under pytest's
temporary directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from chat_server.core.model import AgentRole
from chat_server.demo import DEMO_ACCOUNTS
from tests.conftest import Live, ServerFactory, require_tool, serving
from tests.processes import ServerProcess

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
    # pages that a test serves through `page.route` have no address space of their own:
    # without this, Chromium blocks their WebSocket to 127.0.0.1 as a "local network" access
    "--disable-features=LocalNetworkAccessChecks",
]

AGENT = next(a for a in DEMO_ACCOUNTS if a.role.value == "agent")
SUPERVISOR = next(a for a in DEMO_ACCOUNTS if a.role.value == "supervisor")

# Chromium reports a refused or dropped WebSocket as a console error; the tests that stop
# the server on purpose allow those.
NETWORK_NOISE = (
    "WebSocket connection to",
    "net::ERR_CONNECTION_REFUSED",
    "Failed to load resource",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run in one event loop per test process, the loop that holds
    `chromium` (the other tests keep a loop each)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"), append=False)


@dataclass
class Chromium:
    """One Playwright driver and one Chromium for all the browser tests of a test process:
    launching both took about 1.5 s of CPU a test, most of what a browser test costs. Each
    test opens its own contexts (no cookies, storage or cache shared) and closes them.
    A Chromium that went away is launched again."""

    playwright: Any
    path: str
    launched: Any = None

    async def browser(self) -> Any:
        if self.launched is None or not self.launched.is_connected():
            self.launched = await self.playwright.chromium.launch(
                executable_path=self.path, args=CHROMIUM_ARGS
            )
        return self.launched


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Chromium]:
    path = require_tool("/usr/bin/chromium", "apt-get install chromium")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        require_tool("__playwright_python__", "pip install playwright")
        raise
    async with async_playwright() as p:
        shared = Chromium(p, path)
        try:
            yield shared
        finally:
            if shared.launched is not None:
                await shared.launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Chromium) -> AsyncIterator[Any]:
    """The shared Chromium; the contexts a test opened are closed after it."""
    launched = await chromium.browser()
    try:
        yield launched
    finally:
        for context in list(launched.contexts):
            with contextlib.suppress(Exception):  # a page may have crashed it already
                await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def start_server(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[ServerFactory]:
    """tests/conftest.py's, in the browser tests' loop."""
    async with serving(tmp_path, backend, request) as start:
        yield start


@pytest_asyncio.fixture(loop_scope="session")
async def live(start_server: ServerFactory) -> Live:
    return await start_server()


@pytest.fixture
def backend() -> str:
    """The browser tests check the front-end, not the backends: one is enough."""
    return "embedded"


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $CHAT_SCREENSHOTS, else <pytest tmp>/screenshots."""
    configured = os.environ.get("CHAT_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Pages:
    """Opens pages in fresh browser contexts and records what goes wrong in them."""

    browser: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allow_network_errors: bool = False

    async def new(self, url: str | None = None, **context: Any) -> Any:
        ctx = await self.browser.new_context(viewport={"width": 1280, "height": 800}, **context)
        page = await ctx.new_page()
        self.watch(page)
        if url is not None:
            await page.goto(url)
        return page

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: self._console(m))

        async def on_dialog(dialog: Any) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        page.on("dialog", on_dialog)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if url.endswith("/api/me") and "401" in message.text:
            return  # signed out: the page asks who is signed in and shows the login form
        if self.allow_network_errors and any(n in message.text for n in NETWORK_NOISE):
            return
        self.errors.append(f"console: {message.text}")

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs


@pytest_asyncio.fixture(loop_scope="session")
async def server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A real `chat-server serve --demo` process, for tests that stop and restart it."""
    process = ServerProcess(tmp_path / "data", CHAT_DEMO="1")
    process.start()
    try:
        await process.ready()
        yield process
    finally:
        process.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def pages(browser: Any) -> AsyncIterator[Pages]:
    recorder = Pages(browser)
    yield recorder
    recorder.check()


async def someone_online(live: Live) -> Any:
    """A supervisor online, taking no chats: the site reads as staffed, so the widget offers
    a live chat (and a queue) instead of the offline-message form (issue 14)."""
    return await live.agent(role=AgentRole.SUPERVISOR, name="Sue")


async def sign_in(page: Any, base: str, path: str = "/console", account: Any = AGENT) -> None:
    """Open the console or the dashboard and sign in with a demo account."""
    from playwright.async_api import expect

    await page.goto(base + path)
    await page.fill("input[name=email]", account.email)
    await page.fill("input[name=password]", account.password)
    await page.click("#login-form button[type=submit]")
    await expect(page.locator("#app")).to_be_visible()
    if path == "/console":
        await expect(page.locator("#conn")).to_be_hidden(timeout=5000)


async def go_online(page: Any) -> None:
    from playwright.async_api import expect

    await expect(page.locator("#status-btn")).to_have_text("Away", timeout=5000)
    await page.click("#status-btn")
    await expect(page.locator("#status-btn")).to_have_text("Online")


async def open_widget(page: Any) -> None:
    from playwright.async_api import expect

    await page.locator("#chat-widget-host button.launcher").click()
    await expect(page.locator("#chat-widget-host .panel")).to_be_visible()


async def visitor_says(page: Any, text: str) -> None:
    """Type into the widget's composer and send; wait until the server acknowledged it."""
    from playwright.async_api import expect

    box = page.locator("#chat-widget-host form.composer textarea")
    await box.fill(text)
    await box.press("Enter")
    sent = page.locator("#chat-widget-host .row.me", has_text=text)
    await expect(sent.last).to_be_visible()
    pending = page.locator("#chat-widget-host .row.me.pending", has_text=text)
    await expect(pending).to_have_count(0, timeout=5000)


async def agent_says(page: Any, text: str) -> None:
    from playwright.async_api import expect

    await page.locator("#input").fill(text)
    await page.locator("#input").press("Enter")
    await expect(page.locator("#transcript .m.agent:not(.pending)", has_text=text)).to_have_count(1)


async def shadow_active(page: Any) -> str | None:
    """What has the focus inside the widget: 'TAG.class' of the shadow root's active element."""
    result: str | None = await page.evaluate(
        """() => {
          const host = document.getElementById('chat-widget-host');
          if (document.activeElement !== host) return null;
          const el = host.shadowRoot.activeElement;
          return el ? el.tagName + '.' + (el.className || '') : null;
        }"""
    )
    return result


def widget_page(
    body: str = "", *, lang: str = "en", head: str = "", attrs: str = "", site: str = "demo"
) -> str:
    """A host page for the widget, served by the test through `page.route`."""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>Host page</title>{head}</head><body>"
        f"<h1>A host page</h1><p>Some text.</p>{body}"
        f'<script src="/widget.js" data-site="{site}" {attrs} async></script></body></html>'
    )


async def serve_page(page: Any, base: str, path: str, html: str) -> None:
    """Serve `html` at `base + path` (same origin as the server, which the demo site allows)."""

    async def fulfil(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    await page.route(base + path, fulfil)
