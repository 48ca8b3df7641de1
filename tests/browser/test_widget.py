"""The widget on its own: isolation from a hostile host page, Italian, the keyboard, the
pre-chat fields, and its built-in msgpack codec against the vendored @msgpack/msgpack."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from chat_server.core.model import Site
from tests.browser.conftest import (
    Pages,
    open_widget,
    serve_page,
    shadow_active,
    sign_in,
    someone_online,
    visitor_says,
    widget_page,
)
from tests.browser.test_visitor_and_agent import W
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

HOSTILE = """<style>
* { display: block !important; color: red }
html body div, html body button, html body textarea { font: italic 30px/3 serif !important;
  letter-spacing: 6px !important; text-transform: uppercase !important; margin: 40px !important; }
button, textarea, input, h2, p { all: unset !important; }
#chat-widget-host { opacity: .3 !important; filter: invert(1) !important;
  transform: scale(.5) !important; }
div { position: static !important; width: 10px !important; background: lime !important; }
</style>"""

# what the widget looks like: computed styles and sizes of its parts
STYLES = """() => {
  const root = document.getElementById('chat-widget-host').shadowRoot;
  const props = ['display', 'position', 'color', 'background-color', 'font-family', 'font-size',
    'font-style', 'letter-spacing', 'text-transform', 'line-height', 'width', 'height', 'opacity',
    'filter', 'transform', 'border-radius', 'z-index', 'margin-top', 'visibility'];
  const out = {};
  for (const sel of ['.launcher', '.panel', 'header', 'header h2', 'header p', '.list', '.empty',
                     'form.composer textarea', '.send']) {
    const el = root.querySelector(sel);
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    out[sel] = Object.fromEntries(props.map((p) => [p, cs.getPropertyValue(p)]));
    const right = document.documentElement.clientWidth - r.right;
    out[sel].box = [r.width, r.height, right, innerHeight - r.bottom].map(Math.round);
  }
  const host = getComputedStyle(document.getElementById('chat-widget-host'));
  out.host = { opacity: host.opacity, filter: host.filter, transform: host.transform };
  return out;
}"""


async def widget_looks(pages: Pages, base: str, path: str, html: str, shots: Path) -> Any:
    page = await pages.new()
    await serve_page(page, base, path, html)
    await page.goto(base + path)
    await open_widget(page)
    # nobody online on the demo site: the widget says so before the visitor writes
    await expect(page.locator(W + "header p")).to_have_text("We're away")
    await page.mouse.move(0, 0)  # no hover effect on either page
    await page.locator(W + ".list").focus()  # the same focus ring on both pages
    await page.wait_for_timeout(200)  # the launcher's hover transition
    styles = await page.evaluate(STYLES)
    picture = await page.locator(W + ".list").screenshot()
    await page.screenshot(path=str(shots / f"widget{path.replace('/', '-')}.png"))
    return page, styles, picture


async def test_hostile_host_css_does_not_change_the_widget(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    plain_page, plain, plain_png = await widget_looks(
        pages, live.base, "/plain", widget_page(), shots
    )
    _, hostile, hostile_png = await widget_looks(
        pages, live.base, "/hostile", widget_page(head=HOSTILE), shots
    )
    assert hostile == plain
    assert plain["header h2"]["color"] == "rgb(255, 255, 255)"
    assert plain[".launcher"]["position"] == "fixed"
    assert plain["host"] == {"opacity": "1", "filter": "none", "transform": "none"}
    assert hostile_png == plain_png

    # and the widget leaves the host page's styles alone
    assert (
        await plain_page.evaluate(
            "() => document.styleSheets.length + document.adoptedStyleSheets.length"
        )
        == 0
    )
    assert await plain_page.evaluate("() => getComputedStyle(document.body).margin") == "8px"


async def test_italian_page_gets_italian_strings(
    start_server: ServerFactory, pages: Pages, shots: Path
) -> None:
    live = await start_server(demo=True)
    await someone_online(live)
    page = await pages.new()
    await serve_page(page, live.base, "/it", widget_page(lang="it"))
    await page.goto(live.base + "/it")
    launcher = page.locator(W + "button.launcher")
    await expect(launcher).to_have_attribute("aria-label", "Apri la chat")
    await open_widget(page)
    await expect(launcher).to_have_attribute("aria-label", "Chiudi la chat")
    await expect(page.locator(W + "header h2")).to_have_text("Scrivici")
    await expect(page.locator(W + "header p")).to_have_text("Online")
    composer = page.locator(W + "form.composer textarea")
    await expect(composer).to_have_attribute("placeholder", "Scrivi per iniziare la chat…")
    await expect(page.locator(W + ".send")).to_have_attribute("aria-label", "Invia")

    await visitor_says(page, "Buongiorno, avete la tazza in blu?")
    await expect(page.locator(W + ".queue")).to_contain_text("Sei il numero 1 in coda")
    await expect(page.locator(W + ".queue")).to_contain_text("nessun operatore è libero")
    await expect(page.locator(W + "header p")).to_have_text("In attesa di un operatore")
    await page.screenshot(path=str(shots / "widget-italian.png"))

    await page.locator(W + "header button.end").click()
    await expect(page.locator(W + ".confirm")).to_contain_text("Terminare questa chat?")
    await page.locator(W + ".confirm .danger").click()
    await expect(page.locator(W + ".row.sys")).to_have_text("La conversazione è stata chiusa")
    await expect(composer).to_have_attribute("placeholder", "Scrivi per iniziare una nuova chat…")


async def test_keyboard_only(start_server: ServerFactory, pages: Pages) -> None:
    live = await start_server(demo=True)
    await someone_online(live)
    page = await pages.new()
    sockets: list[Any] = []
    page.on("websocket", lambda ws: sockets.append(ws))
    await page.goto(live.base + "/")
    await page.wait_for_timeout(300)
    assert sockets == []  # a first-time visitor connects only when reaching for the chat
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await shadow_active(page) == "BUTTON.launcher":
            break
    else:
        pytest.fail("Tab never reached the chat launcher")
    # the focus is visible
    outline = await page.evaluate(
        "() => getComputedStyle(document.getElementById('chat-widget-host')"
        ".shadowRoot.activeElement).outlineStyle"
    )
    assert outline == "solid"
    for _ in range(40):  # focusing the launcher connects
        if sockets:
            break
        await page.wait_for_timeout(50)
    assert len(sockets) == 1

    await page.keyboard.press("Enter")
    await expect(page.locator(W + ".panel")).to_be_visible()
    assert await shadow_active(page) == "TEXTAREA."
    await page.keyboard.type("Typed without a mouse")
    await page.keyboard.press("Enter")
    await expect(page.locator(W + ".row.me.pending")).to_have_count(0)
    await expect(page.locator(W + ".row.me .bubble")).to_have_text("Typed without a mouse")

    # Escape in the confirmation cancels it, a second Escape closes the panel
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    assert await shadow_active(page) == "BUTTON.end"
    await page.keyboard.press("Enter")
    assert await shadow_active(page) == "BUTTON.btn danger"
    await page.keyboard.press("Escape")
    await expect(page.locator(W + ".confirm")).to_be_hidden()
    assert await shadow_active(page) == "TEXTAREA."
    await page.keyboard.press("Escape")
    await expect(page.locator(W + ".panel")).to_be_hidden()
    assert await shadow_active(page) == "BUTTON.launcher"
    await expect(page.locator(W + "button.launcher")).to_have_attribute("aria-expanded", "false")


async def test_prechat_fields_reach_the_agent(start_server: ServerFactory, pages: Pages) -> None:
    live = await start_server(demo=True)
    await someone_online(live)
    visitor = await pages.new()
    await serve_page(visitor, live.base, "/prechat", widget_page(attrs='data-prechat="name,email"'))
    await visitor.goto(live.base + "/prechat")
    await open_widget(visitor)
    await expect(visitor.locator(W + "header p")).to_have_text("Online")
    name = visitor.locator(W + "input[name=name]")
    email = visitor.locator(W + "input[name=email]")
    await expect(name).to_be_visible()
    assert await shadow_active(visitor) == "INPUT."

    composer = visitor.locator(W + "form.composer textarea")
    await composer.fill("Do you ship to Norway?")
    await composer.press("Enter")
    await expect(visitor.locator(W + "#err-name")).to_have_text("Please enter your name.")
    assert await shadow_active(visitor) == "INPUT."
    await name.fill("Maria Rossi")
    await email.fill("not-an-email")
    await composer.press("Enter")
    await expect(visitor.locator(W + "#err-email")).to_have_text(
        "Please enter a valid email address."
    )
    await expect(email).to_have_attribute("aria-invalid", "true")
    await email.fill("maria@example.com")
    await composer.press("Enter")
    await expect(visitor.locator(W + ".row.me.pending")).to_have_count(0)
    await expect(visitor.locator(W + ".prechat")).to_have_count(0)
    await expect(visitor.locator(W + ".row.me .bubble")).to_have_text("Do you ship to Norway?")

    agent = await pages.new()
    await sign_in(agent, live.base)
    item = agent.locator("#waiting .waiting-item")
    await expect(item).to_contain_text("Maria Rossi")
    await item.get_by_role("button", name="Claim").click()
    await expect(agent.locator("#v-name")).to_have_text("Maria Rossi")
    await expect(agent.locator("#v-email")).to_have_text("maria@example.com")

    # known now: no pre-chat form after a reload
    await visitor.reload()
    await expect(visitor.locator(W + ".row.me .bubble")).to_have_text("Do you ship to Norway?")
    await expect(visitor.locator(W + ".prechat")).to_have_count(0)


async def test_builtin_msgpack_matches_the_vendored_library(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    page = await pages.new(live.base + "/")
    await page.add_script_tag(url="/static/vendor/msgpack.min.js")
    result = await page.evaluate(
        """() => {
      const values = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32,
        Date.now(), 2 ** 53 - 1, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31),
        -(2 ** 31) - 1, -(2 ** 40), -(2 ** 53 - 1), 0.5, -1.25, 1e300, 2 ** 60, true, false,
        null, '', 'a', 'x'.repeat(31), 'x'.repeat(32), 'y'.repeat(255), 'y'.repeat(256),
        'z'.repeat(65535), 'z'.repeat(65536), 'héllo € 𝄞 ✓ <img src=x>', [], [1, 'two', 3.5],
        Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 70000 }, (_, i) => i % 300),
        {}, { t: 'msg', id: 7, cid: 'c_1', text: 'hi', on: true },
        Object.fromEntries(Array.from({ length: 16 }, (_, i) => ['k' + i, i])),
        Object.fromEntries(Array.from({ length: 70000 }, (_, i) => ['k' + i, -i])),
        { nested: { deeper: [{ a: [null, { b: 'c' }] }] } }];
      const { encode, decode } = window.ChatWidget.codec;
      const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
      const problems = [];
      values.forEach((v, i) => {
        const ours = encode(v);
        const theirs = MessagePack.encode(v);
        if (!same(ours, theirs)) problems.push('encode #' + i);
        if (JSON.stringify(decode(theirs)) !== JSON.stringify(v)) problems.push('decode #' + i);
        const back = MessagePack.decode(ours);
        if (JSON.stringify(back) !== JSON.stringify(v)) problems.push('theirs #' + i);
      });
      // what Python's msgpack sends for a timestamp: uint64
      const ts = decode(new Uint8Array([0xcf, 0, 0, 1, 0x9a, 0xb3, 0x4e, 0x2c, 0x10]));
      if (ts !== 0x019ab34e2c10) problems.push('uint64');
      const refused = (bytes) => {
        try { decode(new Uint8Array(bytes)); } catch (e) { return true; }
        return false;
      };
      if (!refused([0xc1])) problems.push('0xc1 accepted');
      if (!refused([0x92, 1])) problems.push('truncated accepted');
      if (!refused([0x01, 0x02])) problems.push('extra bytes accepted');
      return problems;
    }"""
    )
    assert result == []


async def test_signed_in_user_gets_the_same_chat_on_every_device(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    secret = "site-identity-secret"
    await live.store.directory.put_site(Site("members", ("self",), identity_secret=secret))
    await someone_online(live)
    good = hmac.new(secret.encode(), b"user-42", hashlib.sha256).hexdigest()

    async def device(user_hash: str) -> Any:
        page = await pages.new()
        attrs = f'data-user-id="user-42" data-user-hash="{user_hash}"'
        await serve_page(page, live.base, "/account", widget_page(site="members", attrs=attrs))
        await page.goto(live.base + "/account")
        await open_widget(page)
        return page

    laptop = await device(good)
    await visitor_says(laptop, "Hello from my laptop")
    phone = await device(good)
    await expect(phone.locator(W + ".row.me .bubble")).to_have_text("Hello from my laptop")

    impostor = await device("0" * 64)
    await expect(impostor.locator(W + "header p")).to_have_text("Chat is unavailable right now")
    await impostor.wait_for_timeout(300)
    assert await impostor.locator(W + ".row.me").count() == 0
