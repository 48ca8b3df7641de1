"""Co-browsing in a real browser (contract §5): the agent asks, the visitor accepts, the
console shows the visitor's page live in rrweb's sandboxed replay and follows what changes
on it; the agent points and highlights on the visitor's page; what is typed into fields
never reaches the agent; decline and the end from either side; an agent outside the
conversation receives nothing; a reload of the console shows the page again at once (and a
watching supervisor sees it too); under backpressure mouse movement goes first, then a fresh
snapshot; only the tab that accepted records; and what it costs, in bytes per second."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.async_api import expect

from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    Pages,
    go_online,
    open_widget,
    serve_page,
    sign_in,
    visitor_says,
    widget_page,
)
from tests.browser.test_console import Account
from tests.browser.test_visitor_and_agent import W
from tests.conftest import PASSWORD, ServerFactory

pytestmark = pytest.mark.browser

VIEW = "#cb-view iframe"
DEMO_HEADING = "Small things, made well."


class Frames:
    """Every frame one page's sockets received (or sent), decoded."""

    def __init__(self, page: Any, direction: str = "framereceived") -> None:
        self.raw: list[bytes | str] = []
        page.on("websocket", lambda ws: ws.on(direction, lambda payload: self.raw.append(payload)))

    def decoded(self) -> list[dict[str, Any]]:
        return [_decode(payload) for payload in self.raw]

    def cobrowse(self, op: str | None = None) -> list[dict[str, Any]]:
        return [
            f
            for f in self.decoded()
            if f.get("t") == "cobrowse" and (op is None or f.get("op") == op)
        ]


@dataclass
class Chat:
    visitor: Any
    agent: Any
    sent: Frames  # by the visitor's page
    received: Frames  # by the console


async def chatting(live: Any, pages: Pages, url: str = "/") -> Chat:
    """An agent in the console chatting with a visitor on `url`."""
    agent = await pages.new()
    received = Frames(agent)
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await pages.new()
    sent = Frames(visitor, "framesent")
    await visitor.goto(live.base + url)
    await open_widget(visitor)
    await visitor_says(visitor, "Can you help me find the right thing?")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    await expect(visitor.locator(W + "header h2")).to_have_text(AGENT.name)
    return Chat(visitor, agent, sent, received)


async def ask_to_share(visitor: Any, agent: Any) -> Any:
    """The agent asks; the visitor sees who asks. Returns the question's box."""
    await agent.click("#cobrowse-btn")
    await expect(agent.locator("#cb-status")).to_contain_text("Waiting for")
    ask = visitor.locator(W + ".cobrowse-ask")
    await expect(ask).to_be_visible()
    await expect(ask.locator(".cb-title")).to_have_text(
        f"{AGENT.name} wants to see this page to help you"
    )
    return ask


async def share(visitor: Any, agent: Any, heading: str = DEMO_HEADING) -> Any:
    ask = await ask_to_share(visitor, agent)
    await ask.locator(".cb-accept").click()
    await expect(visitor.locator(W + ".cobrowse-bar")).to_be_visible()
    view = agent.frame_locator(VIEW)
    await expect(view.locator("h1")).to_have_text(heading)
    return view


async def test_live_view_follows_the_page_and_the_agent_guides(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent

    ask = await ask_to_share(visitor, agent)
    await visitor.screenshot(path=str(shots / "cobrowse-consent.png"))
    await agent.screenshot(path=str(shots / "cobrowse-console-pending.png"))
    await ask.locator(".cb-accept").click()
    bar = visitor.locator(W + ".cobrowse-bar")
    await expect(bar).to_contain_text(f"{AGENT.name} can see this page")
    view = agent.frame_locator(VIEW)
    await expect(view.locator("h1")).to_have_text(DEMO_HEADING)
    await expect(agent.locator("#cb-status")).to_contain_text("Live")

    # the replay runs in rrweb's sandbox: no scripts
    assert await agent.get_attribute(VIEW, "sandbox") == "allow-same-origin"

    # the visitor scrolls and the page changes: the view follows
    await visitor.mouse.move(300, 300)
    await visitor.mouse.wheel(0, 400)
    await visitor.evaluate("document.querySelector('h1').textContent = 'Changed'")
    await expect(view.locator("h1")).to_have_text("Changed")
    scrolled = await visitor.evaluate("scrollY")
    assert scrolled > 100
    frame = agent.frame(url="about:blank")
    assert frame is not None
    for _ in range(50):
        if abs(await frame.evaluate("scrollY") - scrolled) < 2:
            break
        await agent.wait_for_timeout(50)
    assert abs(await frame.evaluate("scrollY") - scrolled) < 2

    # the agent's pointer shows on the visitor's page, where the agent points
    box = await agent.locator("#cb-view .cb-glass").bounding_box()
    assert box is not None
    scale = box["width"] / await visitor.evaluate("innerWidth")
    await agent.mouse.move(box["x"] + 200 * scale, box["y"] + 150 * scale)
    pointer = visitor.locator(W + ".cb-pointer")
    await expect(pointer).to_be_visible()
    await expect(pointer).to_contain_text(AGENT.name)
    where = await pointer.bounding_box()
    assert where is not None
    assert abs(where["x"] - 200) < 12 and abs(where["y"] - 150) < 12

    # a click in the view outlines that element on the visitor's page
    target = await view.locator("#lamp h2").bounding_box()
    assert target is not None
    await agent.mouse.click(target["x"] + 10, target["y"] + 5)
    mark = visitor.locator(W + ".cb-mark")
    await expect(mark).to_be_visible()
    lamp = await visitor.locator("#lamp h2").bounding_box()
    drawn = await mark.bounding_box()
    assert lamp is not None and drawn is not None
    assert abs(drawn["x"] - lamp["x"]) < 12 and abs(drawn["y"] - lamp["y"]) < 12
    await visitor.screenshot(path=str(shots / "cobrowse-visitor-sharing.png"))
    await agent.screenshot(path=str(shots / "cobrowse-console-viewer.png"))

    # the transcript has the start on both sides
    await expect(
        agent.locator("#transcript .m.event", has_text="Co-browsing started")
    ).to_be_visible()
    await expect(visitor.locator(W + ".row.sys", has_text="Page sharing started")).to_be_visible()


SECRETS = {
    "#name": "Plain-Secret-4242",
    "#pw": "Hunter2-Password-Secret",
    "#card": "4111 1111 1111 1111",
    "#notes": "Notes-Secret-Text",
    "#editor": "Editor-Secret-Text",
}
# The checkout page also has an AMD loader, which rrweb's UMD bundle would register with.
AMD = "<script>window.define = () => { window.defined = true; }; window.define.amd = {};</script>"
CHECKOUT = widget_page(
    head=AMD,
    body="""
<form id="checkout">
  <label>Name on the order <input id="name" name="name" autocomplete="name"></label>
  <label>Password <input id="pw" type="password" autocomplete="current-password"></label>
  <label>Card number <input id="card" name="card" autocomplete="cc-number"></label>
  <label>Notes <textarea id="notes"></textarea></label>
  <div id="editor" contenteditable="true" aria-label="Message"></div>
</form>
<p id="status">Nothing yet</p>
<div class="private-box" data-chat-private>Private-Marker-91</div>
<div id="deep">"""
    + "<div>" * 60
    + '<span id="deepest">Deep-Marker-60</span>'
    + "</div>" * 60
    + "</div>",
)


# From the console's page: a second agent socket sends `highlight {selector}` frames.
HIGHLIGHT = """([cid, selectors]) => new Promise((resolve, reject) => {
  const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/agent', ['chat.v1.json']);
  ws.onopen = () => ws.send(JSON.stringify({ t: 'hello', id: 1 }));
  ws.onerror = reject;
  ws.onmessage = (e) => {
    const f = JSON.parse(e.data);
    if (f.re === 1) {
      for (const selector of selectors) {
        ws.send(JSON.stringify({ t: 'cobrowse', cid, op: 'highlight', selector }));
      }
      ws.send(JSON.stringify({ t: 'ping', id: 2 }));
    } else if (f.re === 2) {
      ws.close();
      resolve();
    }
  };
})"""


async def test_what_is_typed_never_reaches_the_agent(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    agent = await pages.new()
    received = Frames(agent)
    guided = Frames(agent, "framesent")
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await pages.new()
    await serve_page(visitor, live.base, "/checkout", CHECKOUT)
    await visitor.goto(live.base + "/checkout")
    await open_widget(visitor)
    await visitor_says(visitor, "I am stuck at the checkout")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    view = await share(visitor, agent, heading="A host page")

    # the recorder left no global behind and did not register with the page's loader
    assert await visitor.evaluate("[typeof rrwebRecord, window.defined]") == ["undefined", None]

    # DOM nested deeper than a frame may nest is sent flattened, and replays whole
    await expect(view.locator("#deepest")).to_have_text("Deep-Marker-60")
    # blocked elements replay as empty boxes (rrweb keeps only their class and size)
    await expect(view.locator(".private-box")).to_have_count(1)
    await expect(view.locator(".private-box")).to_have_text("")

    await visitor.keyboard.press("Escape")  # the panel closes: the form is in reach
    for selector, secret in SECRETS.items():
        await visitor.locator(selector).press_sequentially(secret)
    # what is typed in a plain field shows as a fixed mask; password and card not at all
    await expect(view.locator("#name")).to_have_value("••••")
    await expect(view.locator("#notes")).to_have_value("••••")
    replay = agent.frame(url="about:blank")
    assert replay is not None
    values = await replay.evaluate(
        "[...document.querySelectorAll('input, textarea')].map((e) => e.value)"
    )
    assert set(values) <= {"", "••••"}, values
    assert (
        await replay.evaluate("document.querySelectorAll('[type=password], #pw, #card').length")
        == 0
    )

    # the agent cannot highlight what is blocked
    private = await view.locator(".private-box").bounding_box()
    assert private is not None
    await agent.mouse.click(private["x"] + 5, private["y"] + 5)
    await visitor.wait_for_timeout(200)
    assert guided.cobrowse("highlight") == []  # the view knows that box is blocked
    await expect(agent.locator("#cb-view .cb-pick")).to_be_hidden()
    # and the visitor's page refuses it anyway (a second socket of the agent's, by selector)
    cid = received.cobrowse("events")[0]["cid"]
    refused = [".private-box", "#pw", "#card", "#editor", "#chat-widget-host", "body"]
    await agent.evaluate(HIGHLIGHT, [cid, refused])
    await visitor.wait_for_timeout(300)
    await expect(visitor.locator(W + ".cb-mark")).to_be_hidden()
    await agent.evaluate(HIGHLIGHT, [cid, ["#status"]])
    await expect(visitor.locator(W + ".cb-mark")).to_be_visible()

    # a change of text outside the fields does arrive
    await visitor.evaluate("document.querySelector('#status').textContent = 'Visible-Marker-7'")
    await expect(view.locator("#status")).to_have_text("Visible-Marker-7")
    await visitor.screenshot(path=str(shots / "cobrowse-visitor-checkout.png"))
    await agent.screenshot(path=str(shots / "cobrowse-console-masked.png"))

    frames = received.decoded()
    events = [f for f in frames if f.get("t") == "cobrowse" and f.get("op") == "events"]
    assert events, "no co-browse events reached the console"
    everything = json.dumps(frames, ensure_ascii=False)
    assert "Visible-Marker-7" in everything
    assert "••••" in everything  # the masked values did arrive
    raw = b"".join(p if isinstance(p, bytes) else p.encode() for p in received.raw)
    for secret in [*SECRETS.values(), "Private-Marker-91", "4111111111111111"]:
        assert secret not in everything, secret
        assert secret.encode() not in raw, secret
    # no prefix leaks either (keystrokes travel one by one); fragments long enough that a
    # random id (cmids are hex UUIDs) cannot contain them by chance
    for fragment in (
        "Hunter2",
        "Plain-Secret",
        "Notes-Secret",
        "Editor-Secret",
        "4111 1111",
        "41111111",
    ):
        assert fragment not in everything, fragment


async def test_decline_end_by_either_side_and_nobody_else_hears(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    bob = await live.add_agent("Bob")  # an agent outside the conversation
    outsider = await pages.new()
    overheard = Frames(outsider)
    await sign_in(outsider, live.base, account=Account(bob.email, PASSWORD))
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    recorder_loaded = (
        "performance.getEntriesByType('resource').some((e) => e.name.includes('rrweb-record'))"
    )

    # declined: nothing recorded, not even the recorder loaded
    ask = await ask_to_share(visitor, agent)
    await ask.locator(".cb-decline").click()
    await expect(ask).to_be_hidden()
    await expect(agent.locator("#cb-status")).to_contain_text("declined to share their screen")
    await expect(
        agent.locator("#transcript .m.event", has_text="Co-browsing declined")
    ).to_be_visible()
    await agent.screenshot(path=str(shots / "cobrowse-console-declined.png"))
    assert not await visitor.evaluate(recorder_loaded)
    assert not [f for f in chat.sent.cobrowse() if f["op"] not in {"decline"}]

    # asked again and accepted; the agent stops: the recording stops at once
    await agent.click("#cb-dismiss")
    await share(visitor, agent)
    assert await visitor.evaluate(recorder_loaded)
    await agent.click("#cb-stop")
    await expect(visitor.locator(W + ".cobrowse-bar")).to_be_hidden()
    await expect(agent.locator("#cb-status")).to_have_text("You stopped co-browsing.")
    await expect(agent.locator(VIEW)).to_have_count(0)
    await expect(
        agent.locator("#transcript .m.event", has_text="Co-browsing ended")
    ).to_be_visible()
    sent = len(chat.sent.cobrowse("events"))
    await visitor.evaluate("document.querySelector('h1').textContent = 'After the end'")
    await visitor.mouse.move(100, 100)
    await visitor.mouse.move(400, 300)
    await visitor.wait_for_timeout(400)
    assert len(chat.sent.cobrowse("events")) == sent

    # asked again and accepted; the visitor stops
    await agent.click("#cobrowse-btn")
    await visitor.locator(W + ".cobrowse-ask .cb-accept").click()
    view = agent.frame_locator(VIEW)
    await expect(view.locator("h1")).to_have_text("After the end")
    await visitor.locator(W + ".cobrowse-bar .cb-stop").click()
    await expect(visitor.locator(W + ".cobrowse-bar")).to_be_hidden()
    await expect(agent.locator("#cb-status")).to_contain_text("stopped sharing their screen")
    await expect(agent.locator(VIEW)).to_have_count(0)
    sent = len(chat.sent.cobrowse("events"))
    await visitor.evaluate("document.querySelector('h1').textContent = 'Stopped'")
    await visitor.wait_for_timeout(400)
    assert len(chat.sent.cobrowse("events")) == sent
    ended = [f["by"] for f in chat.received.cobrowse("ended")]
    assert ended == ["agent", "visitor"]

    # the agent outside the conversation got none of it
    cid = chat.received.cobrowse("ended")[0]["cid"]
    assert overheard.decoded(), "the outsider's console received nothing at all"
    assert not [f for f in overheard.decoded() if f.get("t") == "cobrowse"]
    assert cid not in json.dumps(overheard.decoded())


# The socket's backlog as the widget sees it, set by the test.
BACKLOG = """
Object.defineProperty(WebSocket.prototype, 'bufferedAmount', {
  configurable: true, get() { return window.__backlog || 0; },
});
"""


async def test_backpressure_drops_movement_first_then_resyncs(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    agent = await pages.new()
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await pages.new()
    await visitor.add_init_script(BACKLOG)
    sent = Frames(visitor, "framesent")
    await visitor.goto(live.base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, "The page is slow")
    view = await share(visitor, agent)

    def events_since(n: int) -> list[dict[str, Any]]:
        return [e for f in sent.cobrowse("events")[n:] for e in f["events"]]

    async def wiggle() -> None:
        for i in range(8):
            await visitor.mouse.move(100 + 60 * i, 200 + 20 * i)
            await visitor.wait_for_timeout(30)

    # a backlog: mouse movement is dropped, DOM changes still go
    await visitor.wait_for_timeout(300)
    await visitor.evaluate("window.__backlog = 2 * 1024 * 1024")
    before = len(sent.cobrowse("events"))
    await wiggle()
    await visitor.evaluate("document.querySelector('h1').textContent = 'Under load'")
    await expect(view.locator("h1")).to_have_text("Under load")
    await wiggle()
    await visitor.wait_for_timeout(300)
    sources = {e["data"]["source"] for e in events_since(before) if e["type"] == 3}
    assert 0 in sources and 1 not in sources, sources

    # far behind: nothing goes, not even DOM changes...
    await visitor.evaluate("window.__backlog = 8 * 1024 * 1024")
    await visitor.wait_for_timeout(150)
    before = len(sent.cobrowse("events"))
    await visitor.evaluate("document.querySelector('h1').textContent = 'Dropped meanwhile'")
    await wiggle()
    await visitor.wait_for_timeout(400)
    assert len(sent.cobrowse("events")) == before
    await expect(view.locator("h1")).to_have_text("Under load")

    # ...until it drains: then a fresh snapshot brings the view up to date
    await visitor.evaluate("window.__backlog = 0")
    await expect(view.locator("h1")).to_have_text("Dropped meanwhile")
    assert [e["type"] for e in events_since(before)][:2] == [4, 2]


async def test_only_the_tab_that_accepted_records(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    other = await visitor.context.new_page()  # the same visitor in a second tab
    pages.watch(other)
    other_sent = Frames(other, "framesent")
    await other.goto(live.base + "/")
    await expect(other.locator(W + "header h2")).to_have_text(AGENT.name)

    await agent.click("#cobrowse-btn")
    for tab in (visitor, other):
        await expect(tab.locator(W + ".cobrowse-ask")).to_be_visible()
    await visitor.locator(W + ".cobrowse-ask .cb-accept").click()
    await expect(other.locator(W + ".cobrowse-ask")).to_be_hidden()
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text(DEMO_HEADING)

    await other.evaluate("document.querySelector('h1').textContent = 'In the other tab'")
    await other.mouse.move(300, 200)
    await other.mouse.move(500, 400)
    box = await agent.locator("#cb-view .cb-glass").bounding_box()
    assert box is not None
    await agent.mouse.move(box["x"] + 50, box["y"] + 50)
    await expect(visitor.locator(W + ".cb-pointer")).to_be_visible()
    await other.wait_for_timeout(300)
    assert other_sent.cobrowse("events") == []
    assert not await other.evaluate(
        "performance.getEntriesByType('resource').some((e) => e.name.includes('rrweb-record'))"
    )
    await expect(other.locator(W + ".cobrowse-bar")).to_be_hidden()
    await expect(other.locator(W + ".cb-pointer")).to_be_hidden()
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text(DEMO_HEADING)


async def test_console_reload_shows_the_page_again_without_asking(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    view = await share(visitor, agent)
    after = Frames(agent, "framesent")  # what the reloaded console's socket sends
    await visitor.evaluate("document.querySelector('h1').textContent = 'Before the reload'")
    await expect(view.locator("h1")).to_have_text("Before the reload")

    await agent.reload()
    await expect(agent.locator("#cb-status")).to_contain_text("Live")
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text("Before the reload")
    assert after.decoded() and after.cobrowse("request") == []
    await expect(visitor.locator(W + ".cobrowse-ask")).to_be_hidden()

    # a supervisor who watches the conversation sees the page too (read-only)
    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    await dash.locator("#active tr", has_text=AGENT.name).get_by_role("button").click()
    await expect(dash.frame_locator("#watch-view iframe").locator("h1")).to_have_text(
        "Before the reload"
    )
    await expect(dash.locator("#watch-view .cb-glass.guide")).to_have_count(0)

    # the visitor reloads too: the same tab goes on sharing, with a fresh snapshot
    await visitor.reload()
    await expect(visitor.locator(W + ".cobrowse-bar")).to_be_visible()
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text(DEMO_HEADING)
    await visitor.evaluate("document.querySelector('h1').textContent = 'After the reload'")
    await expect(agent.frame_locator(VIEW).locator("h1")).to_have_text("After the reload")
    await expect(visitor.locator(W + ".cobrowse-ask")).to_be_hidden()
    await expect(dash.frame_locator("#watch-view iframe").locator("h1")).to_have_text(
        "After the reload"
    )
    await dash.screenshot(path=str(shots / "cobrowse-dashboard-watching.png"))
    await expect(visitor.locator(W + ".cobrowse-ask")).to_be_hidden()
    await expect(dash.frame_locator("#watch-view iframe").locator("h1")).to_have_text(
        "After the reload"
    )
    await dash.screenshot(path=str(shots / "cobrowse-dashboard-watching.png"))


@pytest.mark.long(15)
async def test_traffic_while_scrolling_and_typing(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    """Measures (and prints, with -s) what co-browsing costs on the demo page: the bytes of
    the co-browse frames that reach the console over 10 s of scripted scrolling, mouse
    movement and typing. Also written to cobrowse-traffic.json among the screenshots."""
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    await share(visitor, agent)
    await visitor.keyboard.press("Escape")
    await agent.wait_for_timeout(300)
    snapshot = sum(_size(p) for p in chat.received.raw if _is_events(p))
    chat.received.raw.clear()

    fields = [
        visitor.locator("#track-form input[name=order]"),
        visitor.locator("#track-form input[name=email]"),
    ]
    started = await visitor.evaluate("performance.now()")
    step = 0
    while await visitor.evaluate("performance.now()") - started < 10_000:
        step += 1
        await visitor.mouse.move(200 + (step * 37) % 700, 150 + (step * 53) % 450, steps=4)
        await visitor.mouse.wheel(0, 240 if (step // 6) % 2 == 0 else -240)
        if step % 3 == 0:
            await fields[step % 2].press_sequentially("1" if step % 2 == 0 else "a", delay=30)
        await visitor.wait_for_timeout(120)
    seconds = (await visitor.evaluate("performance.now()") - started) / 1000
    await agent.wait_for_timeout(300)  # the last batch

    frames = [p for p in chat.received.raw if _is_events(p)]
    total = sum(_size(p) for p in frames)
    kinds = {0: "mutation", 1: "mouse_move", 2: "mouse_interaction", 3: "scroll", 5: "input"}
    by_kind: dict[str, int] = {}
    for payload in frames:
        for event in _decode(payload)["events"]:
            source = event.get("data", {}).get("source") if event["type"] == 3 else None
            kind = kinds.get(source, "other") if source is not None else f"type_{event['type']}"
            by_kind[kind] = by_kind.get(kind, 0) + len(msgpack.packb(event))
    figures = {
        "seconds": round(seconds, 2),
        "events_frames": len(frames),
        "bytes": total,
        "bytes_per_second": round(total / seconds),
        "frames_per_second": round(len(frames) / seconds, 1),
        "first_snapshot_bytes": snapshot,
        "event_bytes_by_kind": by_kind,
    }
    (shots / "cobrowse-traffic.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("co-browse traffic on the demo page:", json.dumps(figures))
    assert frames and figures["frames_per_second"] <= 12  # batched about every 100 ms
    assert figures["bytes_per_second"] < 50_000


def _size(payload: bytes | str) -> int:
    return len(payload) if isinstance(payload, bytes) else len(payload.encode())


def _decode(payload: bytes | str) -> dict[str, Any]:
    frame: dict[str, Any] = (
        msgpack.unpackb(payload, raw=False) if isinstance(payload, bytes) else json.loads(payload)
    )
    return frame


def _is_events(payload: bytes | str) -> bool:
    frame = _decode(payload)
    return frame.get("t") == "cobrowse" and frame.get("op") == "events"
