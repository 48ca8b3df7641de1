"""Attachments in real browsers (issue 15, PROTOCOL.md §10): a visitor pastes a screenshot and
sends it, the agent sees it inline and answers with a PDF, which the visitor downloads, bytes
unchanged; the lightbox and the paperclip work from the keyboard; files the site does not
take are refused before uploading, in both UIs, and what the server refuses says why; a drop
onto the console attaches; a message with files waits offline and goes once, and a watching
supervisor sees its files; co-browsing never sees any of it.

Screenshots (desktop and phone sized): files-*.png."""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.async_api import expect

from chat_server.demo import DEMO_SITE
from tests.browser.conftest import (
    AGENT,
    SUPERVISOR,
    Pages,
    go_online,
    open_widget,
    shadow_active,
    sign_in,
)
from tests.browser.test_cobrowse import chatting, share
from tests.browser.test_visitor_and_agent import W, chat_with_agent
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

ACCEPTED = "PNG, JPEG, GIF, WebP, PDF or text"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def screenshot_png() -> bytes:
    """A made-up 800 x 500 screenshot: a title bar, a sidebar and an error box."""
    image = Image.new("RGB", (800, 500), "#f3f4f6")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 800, 40), fill="#1f2937")
    draw.rectangle((0, 40, 180, 500), fill="#e5e7eb")
    draw.rectangle((220, 90, 760, 220), fill="#fee2e2", outline="#dc2626", width=3)
    draw.text((240, 110), "Payment failed: card declined (code 51)", fill="#991b1b")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


SHOT = screenshot_png()

# A File built in the page (its bytes base64, or `size` bytes after a head), handed over
# the way a user would: pasted into an element, or dropped onto one.
HAND_OVER = """async ([how, target, name, type, b64, size]) => {
  const head = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bytes = new Uint8Array(Math.max(size, head.length));
  bytes.set(head);
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  const host = document.getElementById('chat-widget-host');
  const el = target.startsWith('W ')
    ? host.shadowRoot.querySelector(target.slice(2)) : document.querySelector(target);
  if (how === 'paste') {
    el.focus();
    const init = { clipboardData: data, bubbles: true, cancelable: true };
    el.dispatchEvent(new ClipboardEvent('paste', init));
    return null;
  }
  for (const t of ['dragenter', 'dragover']) {
    el.dispatchEvent(new DragEvent(t, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
  const zone = host
    ? host.shadowRoot.querySelector('.drop-zone') : document.getElementById('drop-zone');
  const shown = !zone.hidden;
  el.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  return shown;
}"""

TEXTAREA = "W form.composer textarea"


async def hand_over(
    page: Any, how: str, target: str, name: str, data: bytes, *, type: str = "", size: int = 0
) -> bool | None:
    b64 = base64.b64encode(data).decode()
    shown: bool | None = await page.evaluate(HAND_OVER, [how, target, name, type, b64, size])
    return shown


async def image_loaded(page: Any, selector: str, in_widget: bool = False) -> None:
    """Wait until the image at `selector` (in the widget's shadow root) has pixels."""
    root = "document.getElementById('chat-widget-host').shadowRoot" if in_widget else "document"
    await page.wait_for_function(
        f"""() => {{ const img = {root}.querySelector({selector!r});
                   return !!img && img.complete && img.naturalWidth > 0; }}"""
    )


async def snap(page: Any, shots: Path, name: str, scroll: str | None = None) -> None:
    """files-NAME.png and files-NAME-phone.png (390 x 844)."""
    await page.wait_for_timeout(150)  # transitions
    await page.screenshot(path=str(shots / f"files-{name}.png"))
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.wait_for_timeout(150)
    if scroll:
        await page.locator(scroll).scroll_into_view_if_needed()
        await page.wait_for_timeout(150)  # painted after the scroll
    await page.screenshot(path=str(shots / f"files-{name}-phone.png"))
    await page.set_viewport_size({"width": 1280, "height": 800})


async def walk(visitor: Any, agent: Any, shots: Path | None) -> None:
    """The done-when walk, from a chat that is on: the visitor pastes a screenshot and sends
    it, the agent sees it and answers with a PDF, the visitor downloads it."""
    chip = visitor.locator(W + ".file-chip")
    await hand_over(visitor, "paste", TEXTAREA, "image.png", SHOT, type="image/png")
    await expect(chip).to_have_count(1)
    await expect(chip).to_have_class("file-chip done", timeout=10000)
    await visitor.locator(W + "form.composer textarea").press("Enter")
    mine = visitor.locator(W + ".row.me:not(.pending) .file-img img")
    await expect(mine).to_have_count(1)
    await expect(chip).to_have_count(0)
    await image_loaded(visitor, ".row.me .file-img img", in_widget=True)

    # the agent sees it inline, at the size the server measured
    seen = agent.locator("#transcript .m.visitor .file-img img")
    await expect(seen).to_have_count(1)
    await image_loaded(agent, "#transcript .m.visitor .file-img img")
    assert await seen.get_attribute("width") == "240"
    assert await seen.get_attribute("height") == "150"

    # the agent answers with a PDF and a line of text
    await agent.set_input_files(
        "#file-input", files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    done = agent.locator("#file-tray-slot .file-chip.done")
    await expect(done).to_have_count(1, timeout=10000)
    await expect(done.locator(".chip-name")).to_have_text("invoice.pdf")
    if shots:
        await snap(agent, shots, "console-composer-chips", "#composer")
    await agent.locator("#input").fill("Here is the invoice of that order.")
    await agent.locator("#input").press("Enter")
    sent = agent.locator("#transcript .m.agent:not(.pending)", has_text="Here is the invoice")
    await expect(sent.locator(".file-dl")).to_contain_text("invoice.pdf")
    await expect(agent.locator("#file-tray-slot .file-chip")).to_have_count(0)

    # the visitor downloads it: the bytes that were sent
    link = visitor.locator(W + ".row.agent .file-dl")
    await expect(link).to_have_text(f"invoice.pdf ({len(PDF)} B)")
    async with visitor.expect_download() as got:
        await link.click()
    download = await got.value
    assert download.suggested_filename == "invoice.pdf"
    assert await asyncio.to_thread(Path(await download.path()).read_bytes) == PDF
    if shots:
        await snap(visitor, shots, "widget-sent")
        await snap(agent, shots, "console-transcript", "#transcript")


async def test_paste_a_screenshot_answer_with_a_pdf_and_look_closer(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    visitor, agent = await chat_with_agent(live, pages, "My payment fails, see the screenshot")

    # uploading: a chip with a progress bar, the upload held until the screenshot is taken
    held: list[Any] = []
    uploads = lambda url: "/api/files?" in url  # noqa: E731
    await visitor.route(uploads, lambda route: held.append(route))
    await hand_over(visitor, "paste", TEXTAREA, "image.png", SHOT, type="image/png")
    meter = visitor.locator(W + ".file-chip.uploading [role=progressbar]")
    await expect(meter).to_have_count(1)
    await expect(meter).to_have_attribute("aria-label", "Uploading image.png")
    await expect(visitor.locator(W + ".file-chip .chip-preview img")).to_have_count(1)
    await snap(visitor, shots, "widget-uploading")
    while not held:
        await visitor.wait_for_timeout(20)
    await held[0].continue_()
    await visitor.unroute(uploads)
    await expect(visitor.locator(W + ".file-chip.done")).to_have_count(1, timeout=10000)
    await visitor.locator(W + ".file-chip .chip-remove").click()  # the walk pastes it anew
    await expect(visitor.locator(W + ".file-chip")).to_have_count(0)
    assert await shadow_active(visitor) == "TEXTAREA."

    await walk(visitor, agent, shots)

    # the lightbox: opened from the keyboard, focus inside, Esc closes it and nothing else
    thumb = visitor.locator(W + ".row.me .file-img")
    await thumb.focus()
    await visitor.keyboard.press("Enter")
    box = visitor.locator(W + "dialog.lightbox")
    await expect(box).to_be_visible()
    await expect(box).to_have_attribute("aria-modal", "true")
    await expect(box).to_have_attribute("aria-label", "image.png")
    assert await shadow_active(visitor) == "BUTTON.lb-close"
    await image_loaded(visitor, "dialog.lightbox .lb-img", in_widget=True)
    assert await box.locator(".lb-img").evaluate("(img) => img.naturalWidth") == 800
    await snap(visitor, shots, "widget-lightbox")
    await visitor.keyboard.press("Escape")
    await expect(box).to_have_count(0)
    await expect(visitor.locator(W + ".panel")).to_be_visible()
    assert await shadow_active(visitor) == "BUTTON.file-img"

    # and in the console, with its close button
    await agent.locator("#transcript .m.visitor .file-img").click()
    lightbox = agent.locator("dialog.lightbox")
    await expect(lightbox).to_be_visible()
    await image_loaded(agent, "dialog.lightbox .lb-img")
    await expect(lightbox.locator("a.file-dl")).to_have_attribute("download", "image.png")
    await snap(agent, shots, "console-lightbox")
    await lightbox.get_by_role("button", name="Close").click()
    await expect(lightbox).to_have_count(0)
    await expect(agent.locator("#transcript .m.visitor .file-img")).to_be_focused()


async def test_refused_files_the_keyboard_and_drop(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    pages.allow_network_errors = True  # the refused upload is reported on the console
    live = await start_server(demo=True)
    agent = await pages.new()
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await pages.new(live.base + "/")
    for page in (visitor, agent):  # file choosers are intercepted from now on
        page.on("filechooser", lambda chooser: None)
    await open_widget(visitor)

    # no conversation yet: the paperclip says what to do first
    clip = visitor.locator(W + "button.attach")
    await expect(clip).to_be_visible()
    await expect(clip).to_have_attribute("aria-disabled", "true")
    await clip.hover()
    await expect(visitor.locator(W + ".attach-tip")).to_be_visible()
    await clip.click(force=True)  # aria-disabled: still a button that answers
    error = visitor.locator(W + ".composer-err")
    await expect(error).to_have_text("Send a message first to attach a file")
    await expect(error).to_have_attribute("role", "alert")

    box = visitor.locator(W + "form.composer textarea")
    await box.fill("Hello, a question about my order")
    await box.press("Enter")
    await expect(agent.locator("#transcript .m.visitor")).to_have_count(1)
    await expect(clip).to_have_attribute("aria-disabled", "false")

    # too big, and a type the site does not take: refused before any upload
    uploads: list[str] = []
    visitor.on("request", lambda r: uploads.append(r.url) if "/api/files?" in r.url else None)
    big = 10 * 1024 * 1024 + 1
    await hand_over(visitor, "paste", TEXTAREA, "huge.png", SHOT[:64], type="image/png", size=big)
    await expect(error).to_have_text("This file is too big: the limit is 10 MB")
    await snap(visitor, shots, "widget-error")
    await hand_over(visitor, "drop", "W .panel", "archive.zip", b"PK\x03\x04\x14\x00" + bytes(40))
    await expect(error).to_have_text(f"This type of file can't be sent: {ACCEPTED}")
    assert uploads == []
    await expect(visitor.locator(W + ".file-chip")).to_have_count(0)

    # an image that only looks like one: the server's answer shows on its chip
    await hand_over(visitor, "paste", TEXTAREA, "broken.png", SHOT[:200], type="image/png")
    failed = visitor.locator(W + ".file-chip.failed")
    await expect(failed).to_have_count(1, timeout=10000)
    await expect(failed.locator(".chip-error")).not_to_be_empty()
    await failed.locator(".chip-remove").click()

    # the keyboard: Tab reaches the paperclip, Enter opens the chooser
    await box.focus()
    await visitor.keyboard.press("Tab")
    assert await shadow_active(visitor) == "BUTTON.attach"
    async with visitor.expect_file_chooser() as chooser:
        await visitor.keyboard.press("Enter")
    picked = await chooser.value
    assert picked.is_multiple()
    await picked.set_files(
        [{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Order 1234\n"}]
    )
    await expect(visitor.locator(W + ".file-chip.done")).to_have_count(1, timeout=10000)
    await box.press("Enter")
    await expect(agent.locator("#transcript .m.visitor .file-dl")).to_contain_text("notes.txt")

    # the console refuses the same, in its composer
    agent_error = agent.locator("#file-error")
    await hand_over(agent, "drop", "#transcript", "huge.pdf", b"%PDF-1.4\n", size=big)
    await expect(agent_error).to_have_text("This file is too big: the limit is 10 MB")
    await hand_over(agent, "drop", "#transcript", "setup.exe", b"MZ\x90\x00" + bytes(60))
    await expect(agent_error).to_have_text(f"This type of file can't be sent: {ACCEPTED}")
    await snap(agent, shots, "console-error", "#composer")

    # and takes a drop: the drop target shows while a file is over it
    shown = await hand_over(agent, "drop", "#transcript", "photo.png", SHOT, type="image/png")
    assert shown is True
    await expect(agent.locator("#drop-zone")).to_be_hidden()
    await expect(agent.locator("#file-tray-slot .file-chip.done")).to_have_count(1, timeout=10000)
    await expect(agent_error).to_be_hidden()
    await agent.locator("#input").press("Enter")  # files alone, no text
    await expect(visitor.locator(W + ".row.agent .file-img img")).to_have_count(1)
    await image_loaded(visitor, ".row.agent .file-img img", in_widget=True)

    # Tab reaches the console's paperclip too (after the note toggle)
    await agent.locator("#note-btn").focus()
    await agent.keyboard.press("Tab")
    await expect(agent.locator("#attach-btn")).to_be_focused()
    async with agent.expect_file_chooser():
        await agent.keyboard.press("Enter")


async def test_files_wait_offline_go_once_and_a_supervisor_sees_them(
    start_server: ServerFactory, pages: Pages
) -> None:
    pages.allow_network_errors = True
    live = await start_server(demo=True)
    visitor, agent = await chat_with_agent(live, pages, "One more thing")
    await hand_over(visitor, "paste", TEXTAREA, "receipt.png", SHOT, type="image/png")
    await expect(visitor.locator(W + ".file-chip.done")).to_have_count(1, timeout=10000)

    await visitor.context.set_offline(True)
    await expect(visitor.locator(W + ".banner")).to_contain_text("You are offline")
    box = visitor.locator(W + "form.composer textarea")
    await box.fill("The receipt")
    await box.press("Enter")
    waiting = visitor.locator(W + ".row.me.pending")
    await expect(waiting).to_contain_text("Waiting for connection")
    await expect(waiting.locator(".file-img")).to_have_count(1)
    kept = await visitor.evaluate(
        "Object.entries(localStorage).find(([k]) => k.endsWith(':outbox'))[1]"
    )
    assert "receipt.png" in kept and '"files"' in kept

    # back online, and reloaded at once: the outbox sends it, with its files, once
    await visitor.context.set_offline(False)
    await visitor.reload()
    await expect(visitor.locator(W + ".row.me.pending")).to_have_count(0, timeout=10000)
    got = agent.locator("#transcript .m.visitor", has_text="The receipt")
    await expect(got).to_have_count(1)
    await expect(got.locator(".file-img img")).to_have_count(1)
    await visitor.wait_for_timeout(300)
    assert await got.count() == 1
    mine = visitor.locator(W + ".row.me", has_text="The receipt")
    await expect(mine.locator(".file-img img")).to_have_count(1)

    # a supervisor watching the chat in the dashboard sees it too
    dash = await pages.new()
    await sign_in(dash, live.base, "/dashboard", SUPERVISOR)
    await dash.locator("#active tr", has_text=AGENT.name).get_by_role("button").click()
    watched = "#watch-transcript .m.visitor .file-img img"
    await expect(dash.locator(watched)).to_have_count(1)
    await image_loaded(dash, watched)


async def test_cobrowsing_never_sees_attachments(start_server: ServerFactory, pages: Pages) -> None:
    live = await start_server(demo=True)
    chat = await chatting(live, pages)
    visitor, agent = chat.visitor, chat.agent
    await share(visitor, agent)

    name = "private-statement-7731.png"
    await hand_over(visitor, "paste", TEXTAREA, name, SHOT, type="image/png")
    await expect(visitor.locator(W + ".file-chip.done")).to_have_count(1, timeout=10000)
    await visitor.locator(W + "form.composer textarea").press("Enter")
    await expect(agent.locator("#transcript .m.visitor .file-img img")).to_have_count(1)
    await image_loaded(visitor, ".row.me .file-img img", in_widget=True)
    await visitor.locator(W + ".row.me .file-img").click()
    await image_loaded(visitor, "dialog.lightbox .lb-img", in_widget=True)
    await visitor.wait_for_timeout(600)  # batches go out every 100 ms
    await visitor.keyboard.press("Escape")
    await visitor.wait_for_timeout(300)

    frames = chat.received.cobrowse("events")
    assert frames, "the page was shared"
    raw = [f if isinstance(f, bytes) else f.encode() for f in chat.received.raw]
    text = repr(chat.received.cobrowse()) + repr(chat.sent.cobrowse())
    assert name not in text and "private-statement" not in text
    assert "blob:" not in text
    chunk = SHOT[200:260]
    assert not any(chunk in r for r in raw if b"cobrowse" in r)
    assert base64.b64encode(SHOT[:300])[40:120].decode() not in text


async def test_a_site_that_takes_no_files_shows_no_paperclip(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    site = await live.store.directory.site(DEMO_SITE)
    await live.store.directory.put_site(replace(site, file_max_bytes=0))
    visitor, agent = await chat_with_agent(live, pages, "Can I send you a photo?")
    await expect(visitor.locator(W + "button.attach")).to_be_hidden()
    await expect(agent.locator("#attach-btn")).to_be_hidden()
    await hand_over(visitor, "paste", TEXTAREA, "photo.png", SHOT, type="image/png")
    await visitor.wait_for_timeout(300)
    assert await visitor.locator(W + ".file-chip").count() == 0
