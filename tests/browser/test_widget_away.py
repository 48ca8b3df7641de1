"""A scripted visitor endpoint for the widget's rendering tests: the page, widget.js and the
visitor WebSocket are all served by Playwright (`page.route`, `page.route_web_socket`), so a
test can hand the widget exactly the `hello` it wants (site settings, availability, `last`)
and see every frame it sends. It checks what the widget shows and sends, never the server:
the end-to-end tests run against the real one."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages, shadow_active

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://shop.test"
W = "#chat-widget-host "
NOW = int(time.time() * 1000)

SIMPLE_SITE: dict[str, Any] = {
    "form": [],
    "topics": [],
    "privacy": None,
    "sneak_peek": False,
    "offline_after_s": 120,
}
FORM_SITE: dict[str, Any] = {
    "form": [
        {"name": "order", "label": "Order number", "type": "text", "required": False},
        {
            "name": "plan",
            "label": "Your plan",
            "type": "select",
            "required": True,
            "options": ["Free", "Pro"],
        },
        {"name": "terms", "label": "I accept the terms", "type": "checkbox", "required": True},
    ],
    "topics": [
        {"id": "sales", "label": "Sales"},
        {"id": "billing", "label": "Billing"},
        {"id": "tech", "label": "Technical help"},
    ],
    "privacy": {
        "text": "We keep chats for 30 days: see our privacy policy.",
        "url": "https://shop.test/privacy",
    },
    "sneak_peek": False,
    "offline_after_s": 120,
}


def availability(
    *,
    open_: bool = True,
    online: bool = True,
    reply_s: int | None = None,
    next_change: int | None = None,
) -> dict[str, Any]:
    return {"open": open_, "online": online, "reply_s": reply_s, "next_change": next_change}


def conversation(cid: str, state: str, **more: Any) -> dict[str, Any]:
    conv: dict[str, Any] = {
        "id": cid,
        "state": state,
        "topic": None,
        "created": int(time.time() * 1000) - 500,
        "visitor": {"id": "v_1", "name": None, "email": None, "page": None},
        "agent": None,
        "last_seq": 1,
    }
    conv.update(more)
    return conv


def message(cid: str, seq: int, role: str, text: str, kind: str = "text") -> dict[str, Any]:
    name = "Alice" if role == "agent" else None
    who = {"role": role, "id": None, "name": name}
    return {
        "cid": cid,
        "seq": seq,
        "ts": NOW - 60_000 + seq,
        "kind": kind,
        "from": who,
        "text": text,
    }


@dataclass
class FakeVisitorServer:
    """Answers the widget's frames: `hello` with `hello_extra` merged in, `start` and `leave`
    with a conversation (or with `refuse[t]`, an error), `sync` with `history`."""

    hello_extra: dict[str, Any] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refuse: dict[str, dict[str, str]] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[Any] = field(default_factory=list)

    def frames(self, t: str) -> list[dict[str, Any]]:
        return [f for f in self.sent if f.get("t") == t]

    def push(self, frame: dict[str, Any]) -> None:
        """An event to the widget, on its newest socket."""
        self.sockets[-1].send(msgpack.packb(frame))

    def _answer(self, ws: Any, f: dict[str, Any]) -> None:
        t, rid = f.get("t"), f.get("id")
        if rid is None:
            return
        if t in self.refuse:
            ws.send(msgpack.packb({"t": "error", "re": rid, **self.refuse.pop(t)}))
            return
        ok: dict[str, Any] = {"t": "ok", "re": rid}
        if t == "hello":
            visitor = {"id": "v_1", "name": None, "email": None}
            ok.update(visitor=visitor, token="tok", conversation=None)
            ok.update(self.hello_extra)
        elif t == "start":
            ok["conversation"] = conversation("c_new", "queued", position=1, eta_s=None)
        elif t == "leave":
            email = {"id": "v_1", "name": f.get("name"), "email": f["email"], "page": None}
            ok["conversation"] = conversation(f.get("cid") or "c_new", "pending", visitor=email)
        elif t == "sync":
            got = [m for m in self.history.get(f["cid"], []) if m["seq"] > f["after"]]
            ok.update(messages=got, more=False)
        elif t == "msg":
            ok.update(seq=2, ts=NOW)
        ws.send(msgpack.packb(ok))

    def handle(self, ws: Any) -> None:
        self.sockets.append(ws)

        def on_message(data: str | bytes) -> None:
            f = msgpack.unpackb(data) if isinstance(data, bytes) else json.loads(data)
            self.sent.append(f)
            self._answer(ws, f)

        ws.on_message(on_message)


async def until(check: Any, timeout: float = 5.0) -> None:
    """Wait until `check()` is true (frames the widget sent arrive on their own time)."""
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    assert check()


def host_page() -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Host page</title></head><body><h1>A host page</h1><p>Some text.</p>"
        '<script src="/widget.js" data-site="demo" async></script></body></html>'
    )


async def open_fake(
    pages: Any, fake: FakeVisitorServer, size: tuple[int, int] | None = None, **context: Any
) -> Any:
    """A page (`size`: its viewport, else the desktop's) with the widget talking to `fake`,
    its panel open once `hello` was answered."""
    widget = (ROOT / "static" / "widget" / "widget.js").read_text(encoding="utf-8")
    page = await pages.new(**context)
    if size:
        await page.set_viewport_size({"width": size[0], "height": size[1]})

    async def html(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/html", body=host_page())

    async def script(route: Any) -> None:
        await route.fulfill(status=200, content_type="text/javascript", body=widget)

    await page.route(ORIGIN + "/", html)
    await page.route(ORIGIN + "/widget.js*", script)
    await page.route_web_socket("ws://shop.test/ws/visitor*", fake.handle)
    await page.goto(ORIGIN + "/")
    await page.locator(W + "button.launcher").click()
    await until(lambda: bool(fake.frames("hello")))
    await page.locator(W + ".panel").wait_for()
    return page


# ---- the tests: what the visitor sees before and around an offline message

pytestmark = pytest.mark.browser


def back_at(ts: int) -> str:
    """What the header says of `ts` in a browser set to en-US and UTC (as these pages are)."""
    when = datetime.fromtimestamp(ts / 1000, UTC)
    days = (when.date() - datetime.now(UTC).date()).days
    time_ = when.strftime("%I:%M %p")
    if days <= 0:
        return f"We're away, back at {time_}"
    return f"We're away, back tomorrow at {time_}"


UTC_PAGE: dict[str, Any] = {"locale": "en-US", "timezone_id": "UTC"}


async def test_an_old_server_leaves_the_widget_as_it_was(pages: Pages) -> None:
    """No `site`, `availability` or `last` in hello ok: the constant line, the plain composer,
    and drafts forwarded as before."""
    fake = FakeVisitorServer()
    page = await open_fake(pages, fake)
    await expect(page.locator(W + "header p")).to_have_text("We usually reply in a few minutes")
    await expect(page.locator(W + ".intake")).to_have_count(0)
    await expect(page.locator(W + "#chat-privacy")).to_be_hidden()
    await expect(page.locator(W + "#chat-peek")).to_be_hidden()
    box = page.locator(W + "form.composer textarea")
    await box.fill("Hello")
    await box.press("Enter")
    await expect(page.locator(W + ".row.me:not(.pending)")).to_have_count(1)
    assert fake.frames("start")[0]["text"] == "Hello"
    await box.press_sequentially("and more")
    await until(lambda: "and more" in [f.get("preview") for f in fake.frames("typing")])


async def test_the_header_says_who_can_answer_and_follows_the_events(pages: Pages) -> None:
    opens = NOW + 3 * 3600 * 1000
    fake = FakeVisitorServer(
        {"site": SIMPLE_SITE, "availability": availability(online=True, reply_s=180)}
    )
    page = await open_fake(pages, fake, **UTC_PAGE)
    sub = page.locator(W + "header p")
    await expect(sub).to_have_text("Online, typically replies in ~3 min")
    await expect(page.locator(W + "form.composer textarea")).to_have_attribute(
        "placeholder", "Write a message to start a chat…"
    )
    fake.push({"t": "availability", **availability(reply_s=None)})
    await expect(sub).to_have_text("Online")
    fake.push({"t": "availability", **availability(online=False)})
    await expect(sub).to_have_text("We're away")
    await expect(page.locator(W + ".intake h3")).to_have_text("Leave us a message")
    fake.push({"t": "availability", **availability(open_=False, online=True, next_change=opens)})
    await expect(sub).to_have_text(back_at(opens))
    await expect(page.locator(W + ".intake #in-email")).to_be_visible()
    # someone comes online: the composer is the chat's again
    fake.push({"t": "availability", **availability(online=True, reply_s=60)})
    await expect(sub).to_have_text("Online, typically replies in ~1 min")
    await expect(page.locator(W + ".intake")).to_have_count(0)


async def test_the_offline_form_wants_a_message_and_an_email(pages: Pages) -> None:
    fake = FakeVisitorServer(
        {"site": SIMPLE_SITE, "availability": availability(open_=True, online=False)}
    )
    page = await open_fake(pages, fake)
    send = page.locator(W + ".send")
    await expect(send).to_have_attribute("aria-label", "Send message")
    # no message: said under... above the composer
    await send.click()
    await expect(page.locator(W + "#composer-err")).to_have_text("Please write your message first.")
    box = page.locator(W + "form.composer textarea")
    await expect(box).to_have_attribute("aria-invalid", "true")
    await box.fill("Do you ship to Norway?")
    await box.press("Enter")
    email = page.locator(W + "#in-email")
    await expect(page.locator(W + "#in-email-err")).to_have_text(
        "Please enter a valid email address."
    )
    await expect(email).to_have_attribute("aria-invalid", "true")
    assert await shadow_active(page) == "INPUT."
    await email.fill("ana@example")
    await box.press("Enter")
    await expect(page.locator(W + "#in-email-err")).to_be_visible()
    assert fake.frames("leave") == []
    # right: `leave`, then the conversation shows as pending
    await email.fill("ana@example.com")
    await page.locator(W + "#in-name").fill("Ana")
    await box.press("Enter")
    await expect(page.locator(W + ".queue.pending")).to_have_text(
        "Thanks! We'll answer here and by email at ana@example.com."
    )
    leave = fake.frames("leave")
    assert len(leave) == 1
    assert {k: leave[0][k] for k in ("text", "email", "name")} == {
        "text": "Do you ship to Norway?",
        "email": "ana@example.com",
        "name": "Ana",
    }
    assert isinstance(leave[0]["cmid"], str) and "cid" not in leave[0]
    assert fake.frames("start") == []
    await expect(page.locator(W + "header p")).to_have_text("Message received")
    await expect(page.locator(W + ".intake")).to_have_count(0)
    await expect(page.locator(W + ".row.me:not(.pending) .bubble")).to_have_text(
        "Do you ship to Norway?"
    )


async def test_queued_too_long_offers_to_leave_a_message(pages: Pages) -> None:
    site = dict(SIMPLE_SITE, offline_after_s=2)
    fake = FakeVisitorServer({"site": site, "availability": availability()})
    page = await open_fake(pages, fake)
    box = page.locator(W + "form.composer textarea")
    await box.fill("Hello?")
    await box.press("Enter")
    await expect(page.locator(W + ".queue")).to_contain_text("You are number 1 in line")
    offer = page.locator(W + ".leave-now button")
    await expect(offer).to_be_hidden()
    await expect(offer).to_have_text("Leave a message instead", timeout=5000)
    await offer.click()
    email = page.locator(W + "#leave-email")
    await expect(email).to_be_focused()
    await email.press("Enter")
    await expect(page.locator(W + "#leave-err")).to_have_text("Please enter a valid email address.")
    await email.fill("bo@example.com")
    await email.press("Enter")
    await expect(page.locator(W + ".queue.pending")).to_contain_text("bo@example.com")
    await expect(page.locator(W + ".leave-now")).to_be_hidden()
    assert [{k: f[k] for k in ("cid", "email")} for f in fake.frames("leave")] == [
        {"cid": "c_new", "email": "bo@example.com"}
    ]


async def test_a_returning_visitor_reads_the_closed_chat_then_starts_anew(pages: Pages) -> None:
    closed = {"ts": NOW, "by": "system", "reason": "inactive", "resolved": None}
    last = conversation("c_old", "closed", closed=closed, agent={"name": "Alice"})
    fake = FakeVisitorServer(
        {"site": SIMPLE_SITE, "availability": availability(), "last": last},
        history={
            "c_old": [
                message("c_old", 1, "visitor", "Do you ship to Norway?"),
                message("c_old", 2, "agent", "Yes, in 3 days."),
                message("c_old", 3, "system", "The conversation was closed", "event"),
            ]
        },
    )
    page = await open_fake(pages, fake)
    await expect(page.locator(W + ".row.agent .bubble")).to_have_text("Yes, in 3 days.")
    await expect(page.locator(W + "form.composer")).to_be_hidden()
    bar = page.locator(W + ".ended")
    await expect(bar).to_contain_text("This chat was closed because nobody wrote for a while.")
    await bar.locator("button").click()
    await expect(page.locator(W + "form.composer textarea")).to_be_focused()
    await expect(bar).to_be_hidden()
    await expect(page.locator(W + "form.composer textarea")).to_have_attribute(
        "placeholder", "Write a message to start a new chat…"
    )


async def test_sneak_peek_is_said_and_only_then_sent(pages: Pages) -> None:
    for peek in (False, True):
        site = dict(SIMPLE_SITE, sneak_peek=peek)
        fake = FakeVisitorServer({"site": site, "availability": availability()})
        page = await open_fake(pages, fake)
        note = page.locator(W + "#chat-peek")
        box = page.locator(W + "form.composer textarea")
        await box.fill("Hi")
        await box.press("Enter")
        await expect(page.locator(W + ".row.me:not(.pending)")).to_have_count(1)
        await box.press_sequentially("my card number is")
        await until(lambda f=fake: bool(f.frames("typing")))
        await page.wait_for_timeout(1500)  # the trailing typing frame too
        previews = [f.get("preview") for f in fake.frames("typing") if f.get("on")]
        if peek:
            await expect(note).to_have_text("Agents can see what you type before you send it")
            assert "my card number is" in previews
            assert "chat-peek" in (await box.get_attribute("aria-describedby") or "")
        else:
            await expect(note).to_be_hidden()
            assert previews and all(p is None for p in previews)
