"""The browser clients as a second net under the server's catch-up (issue 23 item 4): a
`msg` event that skips seqs makes the console and the widget `sync` the missing range (one
sync in flight per conversation, a burst costs one follow-up), and every message ends on
screen once, in order, without a reload; the `state` frame the server sends after its bus
was deaf is applied as the lost `assigned`, `unassigned`, `closed` events would have been.

Events are lost deterministically: the pages' WebSocket is wrapped (SPY) so that the test
swallows chosen frames on their way to the page, as a cut pub/sub connection would, and can
hold `sync` answers back. The `state` frames are the server's own: the test tells the hub
its bus is back (`resync_all`), as the Redis bus does after a reconnect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.model import AgentRole
from tests.browser.conftest import (
    SUPERVISOR,
    Pages,
    go_online,
    open_widget,
    sign_in,
    someone_online,
    visitor_says,
)
from tests.browser.test_visitor_and_agent import W
from tests.conftest import Live, ServerFactory

pytestmark = pytest.mark.browser

# The page's WebSocket, JSON only, with a hand on what arrives: `drop` lists frames (by
# fields) to swallow once each; `holdSync` keeps answers to `sync` back until `release()`;
# `sent` is every frame the page sent.
SPY = """
(() => {
  const Native = window.WebSocket;
  const spy = window.__spy = {
    sockets: [], drop: [], dropped: [], sent: [], holdSync: false, held: [], syncIds: new Set(),
  };
  class Spy extends Native {
    constructor(url, protocols) {
      super(url, ['chat.v1.json']);
      spy.sockets.push(this);
    }
    send(data) {
      try {
        const f = JSON.parse(data);
        spy.sent.push(f);
        if (f.t === 'sync') spy.syncIds.add(f.id);
      } catch (e) { /* not ours */ }
      return super.send(data);
    }
    set onmessage(fn) {
      super.onmessage = fn && ((ev) => {
        let f = null;
        try { f = JSON.parse(ev.data); } catch (e) { /* binary */ }
        if (f) {
          const i = spy.drop.findIndex((d) => Object.keys(d).every((k) => f[k] === d[k]));
          if (i >= 0) { spy.drop.splice(i, 1); spy.dropped.push(f); return; }
          if (spy.holdSync && f.re != null && spy.syncIds.has(f.re)) {
            spy.held.push(() => fn.call(this, ev));
            return;
          }
        }
        fn.call(this, ev);
      });
    }
    get onmessage() { return super.onmessage; }
  }
  window.WebSocket = Spy;
  spy.release = () => { spy.holdSync = false; for (const go of spy.held.splice(0)) go(); };
  spy.syncs = () => spy.sent.filter((f) => f.t === 'sync');
})();
"""


async def spied(pages: Pages, **context: Any) -> Any:
    page = await pages.new(**context)
    await page.add_init_script(SPY)
    return page


async def drop(page: Any, *frames: dict[str, Any]) -> None:
    await page.evaluate("(frames) => window.__spy.drop.push(...frames)", list(frames))


async def syncs(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.__spy.syncs()")
    return found


async def server_state(live: Live) -> None:
    """The bus hears again: the server catches every socket up and sends it `state`."""
    live.runtime.node.hub.resync_all()


async def screenshots(page: Any, folder: Path, name: str) -> None:
    """Desktop and phone screenshots of the page as it is."""
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.screenshot(path=str(folder / f"{name}-desktop.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(100)
    await page.screenshot(path=str(folder / f"{name}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


# ---- the console ----------------------------------------------------------------------

TRANSCRIPT_SEQS = """() => [...document.querySelectorAll('#transcript .m[data-seq]')]
  .map((r) => +r.dataset.seq)"""


async def console_with_visitor(live: Live, pages: Pages) -> tuple[Any, Any, str]:
    """The demo agent's console (spied) with one chat, from a visitor socket of the test's."""
    agent = await spied(pages)
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await live.visitor(site="shop", origin="https://shop.example")
    started = await visitor.request("start", text="Hello there")
    await visitor.event("assigned")
    await expect(agent.locator("#transcript .m.visitor", has_text="Hello there")).to_have_count(1)
    return agent, visitor, started["conversation"]["id"]


async def last_seq(page: Any, expression: str) -> int:
    seqs: list[int] = await page.evaluate(expression)
    return max(seqs)


async def test_console_fills_a_seq_jump_once_in_order(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    agent, visitor, cid = await console_with_visitor(live, pages)
    last = await last_seq(agent, TRANSCRIPT_SEQS)

    # the console never hears of the second message: the third shows the jump
    await drop(agent, {"t": "msg", "seq": last + 2})
    for i in (1, 2, 3):
        await visitor.request("msg", cid=cid, text=f"Message {i}", cmid=f"m{i}")
    rows = agent.locator("#transcript .m.visitor .text")
    await expect(rows).to_have_text(["Hello there", "Message 1", "Message 2", "Message 3"])
    assert await agent.evaluate(TRANSCRIPT_SEQS) == list(range(1, last + 4))
    assert [s["after"] for s in await syncs(agent) if s["cid"] == cid][-1] == last + 1

    # a burst with several losses while the first sync is slow: one follow-up, not a sync each
    last += 3
    before = len(await syncs(agent))
    await agent.evaluate("window.__spy.holdSync = true")
    await drop(agent, *({"t": "msg", "seq": last + k} for k in (1, 3, 5, 7)))
    for i in range(1, 9):
        await visitor.request("msg", cid=cid, text=f"Burst {i}", cmid=f"b{i}")
    await expect(agent.locator("#transcript .m.visitor", has_text="Burst 8")).to_have_count(1)
    assert len(await syncs(agent)) == before + 1  # the one in flight, held back
    await agent.evaluate("window.__spy.release()")
    expected = ["Hello there"] + [f"Message {i}" for i in (1, 2, 3)]
    expected += [f"Burst {i}" for i in range(1, 9)]
    await expect(rows).to_have_text(expected)
    assert await agent.evaluate(TRANSCRIPT_SEQS) == list(range(1, last + 9))
    assert len(await syncs(agent)) == before + 2
    assert agent.url == live.base + "/console"


async def test_console_applies_state(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    agent, first, first_cid = await console_with_visitor(live, pages)
    chats = agent.locator("#chats .chat-item")

    # a conversation assigned while the console heard nothing arrives with `state`
    await drop(agent, {"t": "assigned"})
    second = await live.visitor(site="shop", origin="https://shop.example")
    started = await second.request("start", text="Second visitor here")
    second_cid = started["conversation"]["id"]
    await second.event("assigned")
    await second.request("msg", cid=second_cid, text="Still there?", cmid="s1")
    await expect(chats).to_have_count(1)
    await server_state(live)
    await expect(chats).to_have_count(2)
    await chats.nth(1).click()
    await expect(agent.locator("#transcript .m.visitor .text")).to_have_text(
        ["Second visitor here", "Still there?"]
    )

    # one transferred away unheard goes away
    bob = await live.agent(name="Bob")
    supervisor = await live.agent(role=AgentRole.SUPERVISOR, name="Sue", online=False)
    await drop(agent, {"t": "unassigned", "cid": second_cid})
    await supervisor.request("assign", cid=second_cid, to=bob.agent.id)
    await bob.event("assigned")
    await expect(chats).to_have_count(2)
    await server_state(live)
    await expect(chats).to_have_count(1)
    await expect(agent.locator("#notice")).to_contain_text("no longer assigned to you")

    # one closed unheard shows as closed
    await drop(agent, {"t": "closed", "cid": first_cid})
    await first.request("close", cid=first_cid)
    await server_state(live)
    await expect(agent.locator("#closed-bar")).to_be_visible()
    await expect(agent.locator("#closed-text")).to_have_text("The visitor ended the chat.")
    await expect(agent.locator("#chat-state")).to_have_text("closed")
    await expect(chats.first).to_contain_text("closed")
    await screenshots(agent, shots, "console-state-closed")


# ---- the widget -------------------------------------------------------------------------

WIDGET_SEQS = """() => [...document.getElementById('chat-widget-host').shadowRoot
  .querySelectorAll('.list > [data-seq]')].map((r) => +r.dataset.seq)"""


async def widget_with_agent(live: Live, pages: Pages) -> tuple[Any, Any, str]:
    """A visitor on the demo page (spied) chatting with an agent socket of the test's."""
    agent = await live.agent(name="Bea")
    visitor = await spied(pages)
    await visitor.goto(live.base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, "Hi, a question")
    assigned = await agent.event("assigned")
    await expect(visitor.locator(W + "header h2")).to_have_text("Bea")
    return visitor, agent, assigned["conversation"]["id"]


async def test_widget_fills_a_seq_jump_once_in_order(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    visitor, agent, cid = await widget_with_agent(live, pages)
    last = await last_seq(visitor, WIDGET_SEQS)
    replies = visitor.locator(W + ".row.agent .bubble")

    # a lost event: the next one shows the jump, the sync brings it back
    await drop(visitor, {"t": "msg", "seq": last + 2})
    for i in (1, 2, 3):
        await agent.request("msg", cid=cid, text=f"Reply {i}", cmid=f"r{i}")
    await expect(replies).to_have_text(["Reply 1", "Reply 2", "Reply 3"])
    assert await visitor.evaluate(WIDGET_SEQS) == list(range(1, last + 4))

    # a note is a jump too (visitors never see notes): the sync finds nothing, nothing doubles
    before = len(await syncs(visitor))
    await agent.request("note", cid=cid, text="Internal: VIP", cmid="n1")
    await agent.request("msg", cid=cid, text="Reply 4", cmid="r4")
    await expect(replies).to_have_text(["Reply 1", "Reply 2", "Reply 3", "Reply 4"])
    for _ in range(50):
        if len(await syncs(visitor)) > before:
            break
        await visitor.wait_for_timeout(50)
    assert [s["after"] for s in await syncs(visitor)][before:] == [last + 3]

    # a burst with several losses while the first sync is slow: one follow-up
    note = last + 4
    last += 5
    before = len(await syncs(visitor))
    await visitor.evaluate("window.__spy.holdSync = true")
    await drop(visitor, *({"t": "msg", "seq": last + k} for k in (1, 3, 5)))
    for i in range(1, 7):
        await agent.request("msg", cid=cid, text=f"Burst {i}", cmid=f"b{i}")
    await expect(visitor.locator(W + ".row.agent", has_text="Burst 6")).to_have_count(1)
    for _ in range(50):  # the gap's sync may leave a moment after the rows show
        if len(await syncs(visitor)) > before:
            break
        await visitor.wait_for_timeout(50)
    assert len(await syncs(visitor)) == before + 1
    await visitor.evaluate("window.__spy.release()")
    expected = [f"Reply {i}" for i in range(1, 5)] + [f"Burst {i}" for i in range(1, 7)]
    await expect(replies).to_have_text(expected)
    seqs = await visitor.evaluate(WIDGET_SEQS)
    assert seqs == sorted(set(seqs)) and last + 6 in seqs and note not in seqs
    assert len(await syncs(visitor)) == before + 2


async def test_widget_applies_state(start_server: ServerFactory, pages: Pages, shots: Path) -> None:
    live = await start_server(demo=True)
    await someone_online(live)  # a supervisor, taking no chats: the site is staffed
    visitor = await spied(pages)
    await visitor.goto(live.base + "/")
    await open_widget(visitor)
    await visitor_says(visitor, "Anyone there?")
    title = visitor.locator(W + "header h2")
    await expect(visitor.locator(W + ".queue")).to_be_visible()  # no agent free: queued

    # an agent takes it while the widget hears nothing: `state` says so
    await drop(visitor, {"t": "assigned"})
    agent = await live.agent(name="Bea", online=False)
    waiting = agent.hello["waiting"]
    cid = waiting[0]["cid"]
    await agent.request("claim", cid=cid)
    await agent.request("msg", cid=cid, text="Hello, I am here", cmid="a1")
    await expect(visitor.locator(W + ".row.agent")).to_have_count(1)
    await expect(title).not_to_have_text("Bea")
    await server_state(live)
    await expect(title).to_have_text("Bea")
    await expect(visitor.locator(W + ".queue")).to_be_hidden()
    await expect(visitor.locator(W + ".row.sys", has_text="joined")).to_have_count(1)

    # closed while the widget heard nothing: `state` ends it, with the survey
    await drop(visitor, {"t": "closed"}, {"t": "survey"})
    await agent.request("close", cid=cid, resolved=True)
    await visitor.wait_for_timeout(300)
    await expect(visitor.locator(W + ".survey")).to_have_count(0)
    await server_state(live)
    await expect(visitor.locator(W + ".survey")).to_be_visible()
    await expect(title).not_to_have_text("Bea")
    await expect(visitor.locator(W + "button.end")).to_be_hidden()
    await screenshots(visitor, shots, "widget-state-closed")


# ---- the dashboard ------------------------------------------------------------------------

WATCHED_SEQS = """() => [...document.querySelectorAll('#watch-transcript .m[data-seq]')]
  .map((r) => +r.dataset.seq)"""


async def test_dashboard_watch_fills_jumps_and_applies_state(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    agent = await live.agent(name="Bea")
    visitor = await live.visitor(site="shop", origin="https://shop.example")
    cid = (await visitor.request("start", text="Watched chat"))["conversation"]["id"]
    await agent.event("assigned")
    board = await spied(pages)
    await sign_in(board, live.base, "/dashboard", SUPERVISOR)
    await board.locator("#active tr", has_text="Bea").get_by_role("button").click()
    rows = board.locator("#watch-transcript .m .text")
    await expect(rows).to_have_text(["Watched chat"])
    last = await last_seq(board, WATCHED_SEQS)

    # a lost event: filled by a sync
    await drop(board, {"t": "msg", "seq": last + 2})
    for i in (1, 2, 3):
        await agent.request("msg", cid=cid, text=f"Answer {i}", cmid=f"w{i}")
    await expect(rows).to_have_text(["Watched chat", "Answer 1", "Answer 2", "Answer 3"])
    assert await board.evaluate(WATCHED_SEQS) == list(range(1, last + 4))

    # closed unheard: the state frame says so
    await drop(board, {"t": "closed"})
    await agent.request("close", cid=cid, resolved=True)
    await expect(board.locator("#watch-state")).to_have_text("active")
    await server_state(live)
    await expect(board.locator("#watch-state")).to_have_text("closed")
    await expect(board.locator("#watch-transcript")).to_contain_text("The conversation is closed.")
