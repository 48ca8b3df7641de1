"""What a co-browsed page can make the agent's browser fetch (issue 21, docs/security.md
"Co-browse replay"). The console replays the visitor's page in an iframe that is
same-origin with it, so a URL in the replayed page that points at this server, or a
relative one, would be fetched with the agent's cookie: an `<img src="/api/conversations/C">`
is a `view` in the audit log, in the agent's name. Here the visitor's page carries such
URLs in every form (attributes, srcset, inline and sheet CSS, escaped CSS, image-set with
var(), SVG animation of href, iframes, forms, meta refresh, base), once as rrweb events
forged by a visitor on another site, once recorded by the widget on a page of this server:
the server never sees one of them, and the legitimate URLs resolve against the visitor's
page instead of the console."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.conftest import (
    Pages,
    go_online,
    open_widget,
    serve_page,
    sign_in,
    visitor_says,
    widget_page,
)
from tests.browser.test_visitor_and_agent import W
from tests.conftest import Live, ServerFactory

pytestmark = pytest.mark.browser

VIEW = "#cb-view iframe"
SHOP = "https://shop.example"
PAGE = SHOP + "/account/orders.html"
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class Nodes:
    """rrweb serialized nodes (@rrweb/types), numbered in order."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)

    def el(self, tag: str, attrs: dict[str, Any] | None = None, *children: Any) -> dict[str, Any]:
        return {
            "type": 2,
            "tagName": tag,
            "attributes": attrs or {},
            "childNodes": list(children),
            "id": next(self.ids),
        }

    def text(self, text: str) -> dict[str, Any]:
        return {"type": 3, "textContent": text, "id": next(self.ids)}

    def document(self, head: list[Any], body: list[Any]) -> dict[str, Any]:
        doc_id = next(self.ids)
        doctype = {"type": 1, "name": "html", "publicId": "", "systemId": "", "id": next(self.ids)}
        html = self.el("html", {}, self.el("head", {}, *head), self.el("body", {}, *body))
        return {"type": 0, "childNodes": [doctype, html], "id": doc_id}


def attacks(api: str) -> tuple[list[Any], list[Any], Nodes]:
    """A page whose every URL form points at `api` (relative, or on the server's host), with
    legitimate relative URLs beside them: (head, body, nodes). Each attack has its own
    query, so that the browser fetches each (nothing cached) and a failure names it."""
    n = Nodes()
    css = (
        f"@import url({api}?via=import);"
        f".bg {{ background-image: url({api}?via=style-url); }}"
        f".esc {{ background-image: u\\72l({api}?via=escaped-url); }}"
        f'.set {{ background-image: image-set("{api}?via=image-set" 1x); }}'
        f'.var {{ --u: "{api}?via=var"; background-image: image-set(var(--u) 1x); }}'
        ".logo { background-image: url(img/logo.png); }"
    )
    head = [
        n.el("style", {}, n.text(css)),
        n.el("link", {"rel": "stylesheet", "href": f"{api}?via=link"}),
        n.el("link", {"rel": "stylesheet", "href": "css/site.css"}),
        n.el("meta", {"http-equiv": "refresh", "content": f"0;url={api}?via=refresh"}),
        n.el("base", {"href": "/api/"}),
    ]
    body = [
        n.el("h1", {}, n.text("Forged page")),
        n.el("img", {"id": "direct", "src": f"{api}?via=img", "width": "4", "height": "4"}),
        n.el("img", {"id": "set", "srcset": f"{api}?via=srcset 1x, {api}?via=srcset2 2x"}),
        n.el("img", {"id": "legit", "src": "img/product.png", "width": "4", "height": "4"}),
        n.el("div", {"class": "bg", "style": "width:4px;height:4px"}),
        n.el("div", {"class": "esc", "style": "width:4px;height:4px"}),
        n.el("div", {"class": "set", "style": "width:4px;height:4px"}),
        n.el("div", {"class": "var", "style": "width:4px;height:4px"}),
        n.el("div", {"class": "logo", "style": "width:4px;height:4px"}),
        n.el("div", {"style": f"width:4px;height:4px;background:url('{api}?via=inline-style')"}),
        n.el("video", {"poster": f"{api}?via=poster", "width": "4", "height": "4"}),
        n.el("input", {"type": "image", "src": f"{api}?via=input-image"}),
        n.el("iframe", {"src": f"{api}?via=iframe"}),
        n.el("iframe", {"srcdoc": f"<img src='{api}?via=srcdoc'>"}),
        n.el("object", {"data": f"{api}?via=object"}),
        n.el("form", {"action": f"{api}?via=form"}, n.el("button", {}, n.text("Go"))),
        n.el(
            "svg",
            {"width": "4", "height": "4"},
            n.el("image", {"href": f"{api}?via=svg-image", "width": "4", "height": "4"}),
            n.el(
                "image",
                {"width": "4", "height": "4"},
                n.el(
                    "animate",
                    {
                        "attributeName": "href",
                        "values": f"{api}?via=smil",
                        "dur": "1s",
                        "fill": "freeze",
                    },
                ),
            ),
        ),
    ]
    for node in body[-1]["childNodes"]:
        node["isSVG"] = True
        for child in node["childNodes"]:
            child["isSVG"] = True
    body[-1]["isSVG"] = True
    return head, body, n


def later_attacks(api: str, nodes: Nodes, body: dict[str, Any], img: int, style: Any) -> list[Any]:
    """Incremental events: an added image, attribute changes, a style text change, a rule
    inserted into a sheet, a declaration set."""
    added = nodes.el("img", {"src": f"{api}?via=added", "width": "4", "height": "4"})
    text = style["childNodes"][0]["id"]
    return [
        {
            "type": 3,
            "timestamp": 2,
            "data": {
                "source": 0,
                "adds": [{"parentId": body["id"], "nextId": None, "node": added}],
                "removes": [],
                "texts": [{"id": text, "value": f"h1 {{ background: url({api}?via=text) }}"}],
                "attributes": [
                    {"id": img, "attributes": {"src": f"{api}?via=attribute"}},
                    {"id": img, "attributes": {"style": {"background": f"url({api}?via=prop)"}}},
                ],
            },
        },
        {
            "type": 3,
            "timestamp": 3,
            "data": {
                "source": 8,
                "id": style["id"],
                "adds": [{"rule": f".x {{ background: url({api}?via=rule) }}", "index": 0}],
            },
        },
        {
            "type": 3,
            "timestamp": 4,
            "data": {
                "source": 13,
                "id": style["id"],
                "index": [0],
                "set": {"property": "background", "value": f"url({api}?via=declaration)"},
            },
        },
    ]


class Requests:
    """Every request a page (and its frames) makes."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))

    def to(self, prefix: str) -> list[str]:
        return [u for u in self.urls if u.startswith(prefix)]


async def views_of(live: Live, cid: str) -> list[Any]:
    """The `view` entries of the audit log for this conversation: the server's side."""
    return [e for e in await live.store.audit.log(cid=cid) if e.action == "view"]


async def serve_shop(agent: Any) -> list[str]:
    """Answer for https://shop.example (the visitor's site) in the agent's browser."""
    fetched: list[str] = []

    async def fulfil(route: Any) -> None:
        fetched.append(route.request.url)
        kind = route.request.resource_type
        if kind == "stylesheet":
            await route.fulfill(status=200, content_type="text/css", body="h1 { color: teal; }")
        elif kind == "image":
            await route.fulfill(status=200, content_type="image/png", body=PIXEL)
        else:
            await route.fulfill(status=204)

    await agent.context.route(SHOP + "/**", fulfil)
    return fetched


async def test_forged_events_fetch_nothing_from_the_server(
    start_server: ServerFactory, pages: Pages
) -> None:
    live = await start_server(demo=True)
    agent = await pages.new()
    requests = Requests(agent)
    shop = await serve_shop(agent)
    await sign_in(agent, live.base)
    await go_online(agent)

    # a visitor on another site, speaking the protocol itself
    visitor = await live.visitor(site="shop", origin=SHOP)
    started = await visitor.request("start", text="Please look at my page")
    cid = started["conversation"]["id"]
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    await agent.click("#cobrowse-btn")
    await visitor.event("cobrowse", op="request")
    await visitor.request("cobrowse", cid=cid, op="accept")

    # relative URLs (the console's base would be wrong) and absolute ones to the server
    api = "/api/conversations/" + cid
    head, body, nodes = attacks(api)
    abs_head, abs_body, _ = attacks(live.base + api)
    for node in abs_head + abs_body:
        for n in _walk(node):
            n["id"] += 10_000  # the second copy's ids after the first's
    document = nodes.document(head + abs_head, body + abs_body)
    snapshot = {
        "type": 2,
        "timestamp": 1,
        "data": {"node": document, "initialOffset": {"left": 0, "top": 0}},
    }
    meta = {"type": 4, "timestamp": 0, "data": {"href": PAGE, "width": 800, "height": 600}}
    await visitor.request("cobrowse", cid=cid, op="events", events=[meta, snapshot])
    view = agent.frame_locator(VIEW)
    await expect(view.locator("h1").first).to_have_text("Forged page")

    # then the page changes: added nodes, attributes, texts, sheet rules, declarations
    body_node = next(n for n in _walk(document) if n.get("tagName") == "body")
    for prefix in (api, live.base + api):
        events = later_attacks(prefix, nodes, body_node, _find([document], "direct")["id"], head[0])
        await visitor.request("cobrowse", cid=cid, op="events", events=events)
    for _ in range(50):  # applied: the added image went to the visitor's site
        if SHOP + api + "?via=added" in shop:
            break
        await agent.wait_for_timeout(100)
    await agent.wait_for_timeout(500)

    assert await views_of(live, cid) == []
    assert requests.to(live.base + api) == []
    assert [u for u in requests.to(live.base) if "via=" in u] == []

    # the legitimate relative URLs resolve against the visitor's page
    legit = await view.locator("#legit").first.get_attribute("src")
    assert legit == SHOP + "/account/img/product.png"
    for _ in range(50):
        if SHOP + "/account/img/logo.png" in shop:
            break
        await agent.wait_for_timeout(100)
    assert {SHOP + "/account/img/product.png", SHOP + "/account/css/site.css"} <= set(shop)
    assert SHOP + "/account/img/logo.png" in shop

    # and what went to the visitor's site instead, relative URLs resolved there
    assert SHOP + api + "?via=img" in shop
    assert SHOP + api + "?via=added" in shop


async def test_recorded_page_on_the_servers_own_origin(
    start_server: ServerFactory, pages: Pages
) -> None:
    """The demo case: the visitor's page is on this server, so its URLs are this server's
    own; passive resources under /static/ are replayed, nothing else of the server's."""
    pages.allow_network_errors = True  # the visitor's own page gets 401s for those URLs
    live = await start_server(demo=True)
    agent = await pages.new()
    requests = Requests(agent)
    await sign_in(agent, live.base)
    await go_online(agent)
    visitor = await pages.new()
    await serve_page(visitor, live.base, "/shop", widget_page(body='<div id="spot"></div>'))
    await visitor.goto(live.base + "/shop")
    await open_widget(visitor)
    await visitor_says(visitor, "The page looks odd")
    await expect(agent.locator("#chats .chat-item")).to_have_count(1)
    cid = await agent.locator("#chats .chat-item").first.get_attribute("data-cid")
    assert cid
    await agent.click("#cobrowse-btn")
    await visitor.locator(W + ".cobrowse-ask .cb-accept").click()
    view = agent.frame_locator(VIEW)
    await expect(view.locator("h1")).to_have_text("A host page")

    api = f"/api/conversations/{cid}"
    static = "/static/vendor/LICENSE.msgpack"  # a file of this server's the console never loads
    await visitor.evaluate(
        """([api, static]) => {
          document.getElementById('spot').innerHTML = `
            <style>.bg { background-image: url(${api}?via=style); }</style>
            <img id="static" src="${static}" width="4" height="4">
            <img id="direct" src="${api}?via=img" width="4" height="4">
            <img id="set" srcset="${api}?via=srcset 1x, ${api}?via=srcset2 2x">
            <div class="bg" style="width:4px;height:4px"></div>
            <div id="inline" style="width:4px;height:4px;background:url(${api}?via=inline)"></div>
            <p id="done">Changed</p>`;
          document.getElementById('direct').setAttribute('src', api + '?via=attribute');
        }""",
        [api, static],
    )
    await expect(view.locator("#done")).to_have_text("Changed")
    await agent.wait_for_timeout(1000)
    assert await views_of(live, cid) == []
    assert requests.to(live.base + api) == []
    assert live.base + static in requests.urls  # this server's static files still load
    assert await view.locator("#direct").get_attribute("src") is None
    assert await view.locator("#set").get_attribute("srcset") is None


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = [node]
    for child in node.get("childNodes", []):
        out += _walk(child)
    return out


def _find(nodes: list[Any], element_id: str) -> dict[str, Any]:
    for node in nodes:
        for n in _walk(node):
            if n.get("attributes", {}).get("id") == element_id:
                return n
    raise LookupError(element_id)


# (visitor page URL, CSS in, CSS out), the console being on chat.example
SHOP_A = 'url("https://shop.example/a.png")'
CSS_CASES = [
    (PAGE, "a{background:url(/a.png)}", f"a{{background:{SHOP_A}}}"),
    (PAGE, "a{background:u\\72l(/a.png)}", f"a{{background:{SHOP_A}}}"),
    (PAGE, "a{background:URL( 'https://chat.example/api/x' )}", 'a{background:URL( "" )}'),
    (PAGE, "a{background:url(http://chat.example:81/x)}", 'a{background:url("")}'),
    (PAGE, "a{background:url(//CHAT.example./x)}", 'a{background:url("")}'),
    (PAGE, 'a{b:image-set("/a.png" 1x)}', 'a{b:image-set("https://shop.example/a.png" 1x)}'),
    (
        PAGE,
        "a{--u:'/x';b:image-set(var(--u))}",
        "a{--u:'/x';b:-cobrowse-blocked-image-set(var(--u))}",
    ),
    (PAGE, '@import "/s.css";', '@import "https://shop.example/s.css";'),
    (PAGE, "a{mask:url(#m)}", 'a{mask:url("#m")}'),
    (PAGE, "a{background:url(/x y)}", 'a{background:url("")}'),
    (PAGE, 'a{content:"url(/x)"} /* url(/y) */', 'a{content:"url(/x)"} /* url(/y) */'),
    (PAGE, ".md\\:flex{width:10url(/x)}", ".md\\:flex{width:10url(/x)}"),
    (None, "a{background:url(/x)}", 'a{background:url("")}'),
    (
        "https://chat.example/",
        "a{b:url(/static/a.png)}",
        'a{b:url("https://chat.example/static/a.png")}',
    ),
    ("https://chat.example/", "a{background:url(/%61pi/x)}", 'a{background:url("")}'),
    ("https://chat.example/", "a{background:url(/static/..%2fapi/x)}", 'a{background:url("")}'),
]

RUN_CSS = """(cases) => cases.map(([href, css]) => {
  const s = new window.ChatCobrowseSanitizer('chat.example');
  s.reset(href);
  const once = s.css(css);
  return [once, s.css(once)];
})"""

RUN_EVENTS = """() => {
  const s = new window.ChatCobrowseSanitizer('chat.example');
  const el = (id, tagName, attributes, childNodes = []) =>
    ({ type: 2, id, tagName, attributes, childNodes });
  s.event({ type: 4, data: { href: 'https://shop.example/p/' } });
  const img = el(5, 'IMG', {
    SRC: 'a.png', srcset: '/api/1 1x, https://chat.example/api/2 2x, b.png 3x',
    rr_dataURL: 'https://chat.example/x', alt: 'url(/api)' });
  const style = el(3, 'style', {}, [{ type: 3, id: 4, textContent: 'b{background:url(s.png)}' }]);
  const meta = el(6, 'meta', { 'http-equiv': 'refresh', content: '0;url=/x' });
  const frame = el(7, 'iframe', { src: 'https://shop.example/f', srcdoc: '<b>' });
  const use = el(8, 'use', { href: '#icon' });
  const anim = el(9, 'set', { attributeName: 'HREF', to: '/api/x' });
  const html = el(2, 'html', {}, [style, img, meta, frame, use, anim]);
  s.event({ type: 2, data: { node: { type: 0, id: 1, childNodes: [html] } } });
  const late = { src: 'https://chat.example/api/late',
    style: { background: ['url(/api/p)', 'important'] } };
  const mutation = { type: 3, data: { source: 0, adds: [], removes: [],
    attributes: [{ id: 5, attributes: late },
      { id: 99, attributes: { src: 'https://cdn.example/x.png', title: 'kept' } }],
    texts: [{ id: 4, value: 'c{background:url(/t)}' },
      { id: 98, value: 'd{background:url(/u)}' }] } };
  s.event(mutation);
  return { img: img.attributes, style: style.childNodes[0].textContent, meta: meta.attributes,
    frame: frame.attributes, use: use.attributes, anim: anim.attributes, mutation: mutation.data,
    canvas: s.event({ type: 3, data: { source: 9 } }),
    font: s.event({ type: 3, data: { source: 10 } }) };
}"""


async def test_sanitizer_rules(start_server: ServerFactory, pages: Pages) -> None:
    """The rules one by one, in the page's own script (idempotent: the console replays kept
    events again into a new view)."""
    live = await start_server(demo=True)
    page = await pages.new(live.base + "/console")
    await page.wait_for_function("!!window.ChatCobrowseSanitizer")
    results = await page.evaluate(RUN_CSS, [[href, css] for href, css, _ in CSS_CASES])
    for (href, css, expected), (once, twice) in zip(CSS_CASES, results, strict=True):
        assert once == expected, (href, css)
        assert twice == once, (href, css)

    out = await page.evaluate(RUN_EVENTS)
    shop = "https://shop.example"
    assert out["img"] == {
        "SRC": shop + "/p/a.png",
        "srcset": shop + "/api/1 1x, " + shop + "/p/b.png 3x",
        "alt": "url(/api)",
    }
    assert out["style"] == f'b{{background:url("{shop}/p/s.png")}}'
    assert out["meta"] == {"content": "0;url=/x"}
    assert out["frame"] == {}
    assert out["use"] == {"href": "#icon"}
    assert out["anim"] == {"to": "/api/x"}  # animates nothing without its attributeName
    changes = out["mutation"]["attributes"]
    assert changes[0]["attributes"] == {
        "src": None,
        "style": {"background": [f'url("{shop}/api/p")', "important"]},
    }
    assert changes[1]["attributes"] == {"src": None, "title": "kept"}  # an unknown node: no URL
    assert [t["value"] for t in out["mutation"]["texts"]] == [
        f'c{{background:url("{shop}/t")}}',
        f'd{{background:url("{shop}/u")}}',  # unknown text: read as CSS
    ]
    assert out["canvas"] is None and out["font"] is None
