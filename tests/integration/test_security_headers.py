"""Issue 21, flaw 5: every HTML response carries the pages' security headers, whatever
path serves it: each `.html` file under static/ through every route that serves it (its
own route and the static mount), directory indexes and error pages, so another origin can
never frame a logged-in console."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from chat_server.app import create_app
from tests.conftest import ServerFactory
from tests.http import http_client

STATIC = Path(__file__).resolve().parents[2] / "static"
PAGES = sorted(STATIC.rglob("*.html"))


@pytest.fixture
def backend() -> str:
    """Headers do not depend on the store: the embedded one is enough."""
    return "embedded"


def frame_ancestors(csp: str) -> str:
    for directive in csp.split(";"):
        name, _, value = directive.strip().partition(" ")
        if name == "frame-ancestors":
            return value.strip()
    raise AssertionError(f"no frame-ancestors in {csp!r}")


def assert_protected(response: httpx.Response, where: str) -> str:
    """The page headers are there; returns the frame-ancestors sources."""
    headers = response.headers
    assert "content-security-policy" in headers, where
    sources = frame_ancestors(headers["content-security-policy"])
    assert sources in {"'none'", "'self'"}, where
    assert headers.get("x-frame-options") == ("DENY" if sources == "'none'" else "SAMEORIGIN")
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "same-origin", where
    return sources


def plain_get_routes(app: Starlette) -> list[str]:
    """The app's routes that answer a GET without path parameters."""
    return [
        r.path
        for r in app.routes
        if isinstance(r, Route) and "GET" in (r.methods or ()) and "{" not in r.path
    ]


async def test_every_html_file_through_every_route_that_serves_it(
    start_server: ServerFactory,
) -> None:
    assert {p.parent.name for p in PAGES} >= {"console", "dashboard", "demo"}
    live = await start_server(demo=True)
    routes = plain_get_routes(create_app(live.settings))  # the same routes, not started
    served: dict[Path, dict[str, str]] = {page: {} for page in PAGES}
    async with http_client(base_url=live.base) as http:
        # the static mount serves every file under static/
        for page in PAGES:
            url = "/static/" + page.relative_to(STATIC).as_posix()
            response = await http.get(url)
            assert response.status_code == 200, url
            assert response.content == page.read_bytes(), url
            served[page][url] = assert_protected(response, url)
        # and any route whose answer is one of the files serves it too
        for path in routes:
            response = await http.get(path)
            if response.headers.get("content-type", "").startswith("text/html"):
                for page in PAGES:
                    if response.content == page.read_bytes():
                        served[page][path] = assert_protected(response, path)
    for page, urls in served.items():
        assert len(set(urls.values())) == 1, f"{page}: one policy whatever the route: {urls}"
    assert served[STATIC / "console" / "index.html"].keys() >= {"/console"}
    assert served[STATIC / "dashboard" / "index.html"].keys() >= {"/dashboard"}
    assert served[STATIC / "demo" / "index.html"].keys() >= {"/"}
    assert set(served[STATIC / "console" / "index.html"].values()) == {"'none'"}


async def test_indexes_errors_and_other_responses_are_protected(
    start_server: ServerFactory,
) -> None:
    live = await start_server()
    async with http_client(base_url=live.base) as http:
        for url in (
            "/static/",
            "/static/console/",
            "/static/console",
            "/static/nothing.html",
            "/nothing",
            "/api/me",
            "/healthz",
        ):
            response = await http.get(url)
            assert_protected(response, url)
            assert frame_ancestors(response.headers["content-security-policy"]) == "'none'"


async def test_a_304_keeps_the_pages_own_policy(start_server: ServerFactory) -> None:
    """A 304's headers replace the cached page's: it must carry the page's own policy,
    not the stricter default (which would break co-browsing in the console)."""
    live = await start_server()
    async with http_client(base_url=live.base) as http:
        first = await http.get("/static/console/index.html")
        again = await http.get(
            "/static/console/index.html", headers={"if-none-match": first.headers["etag"]}
        )
    assert again.status_code == 304
    policy = first.headers["content-security-policy"]
    assert again.headers["content-security-policy"] == policy
