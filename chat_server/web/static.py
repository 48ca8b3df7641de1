"""The pages and the widget: files from the `static/` folder, with cache headers.

Pages get a Content-Security-Policy without inline scripts, whichever path serves them
(`/console` or `/static/console/index.html`); every other response gets the strictest
page headers from `SecurityHeaders` (`web/edge.py`). The widget is served to any site (it
is the embed), with a short cache so fixes reach visitors quickly.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
# The demo shop runs the widget, which shows attachments from blob: URLs (it fetches them
# with the visitor's token).
DEMO_CSP = PAGE_CSP.replace("frame-ancestors 'none'", "frame-ancestors 'self'").replace(
    "img-src 'self' data:", "img-src 'self' data: blob:"
)
# The console and the dashboard replay a visitor's page (co-browsing) in rrweb's sandboxed
# iframe (`sandbox="allow-same-origin"`, no scripts), which inherits this policy: the
# replayed page's images, fonts, media and cross-origin stylesheets come from the visitor's
# site. Scripts stay 'self' only.
VIEWER_CSP = PAGE_CSP.replace(
    "style-src 'self' 'unsafe-inline'", "style-src 'self' 'unsafe-inline' https:"
).replace(
    "img-src 'self' data:",
    "img-src 'self' data: blob: https:; font-src 'self' data: https:; "
    "media-src 'self' blob: https:",
)


def page_headers(csp: str) -> dict[str, str]:
    """A page's security headers: its CSP, and `X-Frame-Options` saying the same as its
    `frame-ancestors` for browsers that know only the older header."""
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "SAMEORIGIN" if "frame-ancestors 'self'" in csp else "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


STATIC_CSP = {"console": VIEWER_CSP, "dashboard": VIEWER_CSP, "demo": DEMO_CSP}
"""The policy of a page under `static/`, by its folder (the same as its own route's);
PAGE_CSP for any other."""


def _page(path: Path, csp: str) -> Response:
    response = FileResponse(path, media_type="text/html; charset=utf-8")
    response.headers.update({**page_headers(csp), "Cache-Control": "no-cache"})
    return response


class CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "public, max-age=300")
        response.headers["X-Content-Type-Options"] = "nosniff"
        # by name as well as by type: a 304 has no type, and its headers replace the
        # cached page's (the backstop's PAGE_CSP would replace a viewer's policy)
        html = path.endswith((".html", ".htm"))
        if html or response.headers.get("content-type", "").startswith("text/html"):
            parts = Path(path).parts
            response.headers.update(
                page_headers(STATIC_CSP.get(parts[0] if parts else "", PAGE_CSP))
            )
        return response


def routes(static_dir: Path, *, demo_shop: bool) -> list[Route | Mount]:
    """`/` is the demo shop with `--demo`; otherwise it leads to the agent console."""

    async def demo(request: Request) -> Response:
        if not demo_shop:
            return RedirectResponse("/console")
        return _page(static_dir / "demo" / "index.html", DEMO_CSP)

    async def console(request: Request) -> Response:
        return _page(static_dir / "console" / "index.html", VIEWER_CSP)

    async def dashboard(request: Request) -> Response:
        return _page(static_dir / "dashboard" / "index.html", VIEWER_CSP)

    async def reports(request: Request) -> Response:
        return _page(static_dir / "reports" / "index.html", PAGE_CSP)

    async def history(request: Request) -> Response:
        return _page(static_dir / "history" / "index.html", PAGE_CSP)

    def widget_file(path: str, name: str) -> Route:
        """A script of the widget's, which any site loads: served with its type and charset
        whatever the system's MIME table says (its text is not ASCII)."""

        async def serve(request: Request) -> Response:
            response = FileResponse(
                static_dir / "widget" / name, media_type="text/javascript; charset=utf-8"
            )
            response.headers.update(
                {
                    "Cache-Control": "public, max-age=300",
                    "X-Content-Type-Options": "nosniff",
                    "Access-Control-Allow-Origin": "*",
                }
            )
            return response

        return Route(path, serve)

    return [
        Route("/", demo),
        Route("/console", console),
        Route("/dashboard", dashboard),
        Route("/history", history),
        Route("/reports", reports),
        widget_file("/widget.js", "widget.js"),
        # the widget's co-browse part, fetched by the widget once a visitor accepts
        widget_file("/static/widget/cobrowse.js", "cobrowse.js"),
        Mount("/static", CachedStatic(directory=static_dir, check_dir=False), name="static"),
    ]
