"""The widget's co-browse part (static/widget/cobrowse.js, built from static/widget/src/cobrowse/)
is fetched only once the visitor accepts: not on page load, not while the question shows, not
after a decline. It comes from this server with the widget's headers, hands itself to the
widget without leaving a global or a script tag behind, and when it cannot be fetched the
visitor and the agent are told that the page could not be shared."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages
from tests.browser.test_cobrowse import DEMO_HEADING, VIEW, ask_to_share, chatting
from tests.browser.test_visitor_and_agent import W
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

PART = "/static/widget/cobrowse.js"
RECORDER = "/static/vendor/rrweb-record.min.js"
GLOBALS = "Object.getOwnPropertyNames(window).sort()"


class Requests:
    """The URLs a page asked for, and the responses it got, in order."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.responses: dict[str, Any] = {}
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("response", lambda r: self.responses.setdefault(r.url.split("?")[0], r))

    def asked(self, path: str) -> list[str]:
        return [u for u in self.urls if u.split("?")[0].endswith(path)]


async def test_the_cobrowse_part_loads_only_after_consent(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    requests = Requests(visitor)

    # the page loaded, the chat runs: nothing of co-browsing was fetched
    await visitor.reload()
    await expect(visitor.locator(W + "header h2")).to_be_visible()
    globals_before = await visitor.evaluate(GLOBALS)
    assert requests.asked("/widget.js")
    assert requests.asked(PART) == [] and requests.asked(RECORDER) == []

    # asked, then declined: still nothing
    ask = await ask_to_share(visitor, agent)
    assert requests.asked(PART) == []
    await ask.locator(".cb-decline").click()
    await expect(ask).to_be_hidden()
    await expect(agent.locator("#cb-status")).to_contain_text("declined to share their screen")
    assert requests.asked(PART) == [] and requests.asked(RECORDER) == []

    # asked again and accepted: the part comes, then rrweb's recorder, and the agent sees
    await agent.click("#cb-dismiss")
    ask = await ask_to_share(visitor, agent)
    await ask.locator(".cb-accept").click()
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text(DEMO_HEADING)
    part = requests.asked(PART)
    assert len(part) == 1, part
    assert requests.asked(RECORDER)
    assert requests.urls.index(part[0]) < requests.urls.index(requests.asked(RECORDER)[0])

    # the URL carries the part's build hash, as the built widget.js knows it
    widget = (live.settings.static_dir / "widget" / "widget.js").read_text(encoding="utf-8")
    built = re.search(r"const COBROWSE_BUILD = '([0-9a-f]{12})'", widget)
    assert built and part[0].endswith("?v=" + built.group(1))
    response = requests.responses[part[0].split("?")[0]]
    assert response.status == 200
    headers = await response.all_headers()
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=300"
    assert headers["x-content-type-options"] == "nosniff"

    # it handed itself over and left nothing on the page: no global, no script tag
    assert await visitor.evaluate(GLOBALS) == globals_before
    tags = f"document.querySelectorAll('script[src*=\"{PART}\"]').length"
    assert await visitor.evaluate(tags) == 0
    # and it works: the agent's pointer shows on the visitor's page
    box = await agent.locator("#cb-view .cb-glass").bounding_box()
    assert box is not None
    await agent.mouse.move(box["x"] + 60, box["y"] + 60)
    await expect(visitor.locator(W + ".cb-pointer")).to_be_visible()


async def test_a_part_that_cannot_be_fetched_ends_the_sharing(
    start_server: ServerFactory, pages: Pages
) -> None:
    pages.allow_network_errors = True  # the refused fetch is reported on the console
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    await visitor.route(f"**{PART}*", lambda route: route.abort())

    ask = await ask_to_share(visitor, agent)
    await ask.locator(".cb-accept").click()
    await expect(visitor.locator(W + ".row.sys", has_text="could not be shared")).to_be_visible()
    await expect(visitor.locator(W + ".cobrowse-bar")).to_be_hidden()
    await expect(agent.locator("#cb-status")).not_to_contain_text("Live")
    await expect(
        agent.locator("#transcript .m.event", has_text="Co-browsing ended")
    ).to_be_visible()
    assert chat.sent.cobrowse("events") == []
