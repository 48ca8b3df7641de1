"""`WS /ws/visitor?site=SITE`: origin check at the handshake, then the visitor session."""

from __future__ import annotations

from starlette.websockets import WebSocket

from chat_server.core.errors import ChatError
from chat_server.core.model import Site
from chat_server.service.visitor import VisitorSession
from chat_server.web import auth
from chat_server.web.runtime import Runtime, runtime
from chat_server.web.session import SocketEndpoint, accept_and_serve, refuse


@SocketEndpoint
async def visitor_socket(ws: WebSocket) -> None:
    rt = runtime(ws)
    site = await _admitted_site(ws, rt)
    if site is None:
        return
    await accept_and_serve(ws, rt, VisitorSession, site, rt.node.settings.hello_timeout_s)


async def _admitted_site(ws: WebSocket, rt: Runtime) -> Site | None:
    """The site the socket is for, if it allows the page's origin; otherwise the handshake
    is refused and None. (Apart, so that what it reads is not held by the socket's frame.)"""
    site_id = ws.query_params.get("site", "")
    try:
        site = await rt.node.store.site(site_id) if 0 < len(site_id) <= 64 else None
    except ChatError:
        await refuse(ws, 503, "unavailable")
        return None
    own = auth.own_origins(ws, rt.node.settings)
    if site is None or not auth.site_allows(site, ws.headers.get("origin"), own):
        await ws.close(1008)  # before accept: the handshake is refused with HTTP 403
        return None
    return site
