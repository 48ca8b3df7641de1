"""`WS /ws/visitor?site=SITE`: origin check at the handshake, then the visitor session."""

from __future__ import annotations

from starlette.websockets import WebSocket

from chat_server.core.errors import ChatError
from chat_server.service.visitor import VisitorSession
from chat_server.web import auth
from chat_server.web.runtime import runtime
from chat_server.web.session import accept_and_serve, refuse


async def visitor_socket(ws: WebSocket) -> None:
    rt = runtime(ws)
    settings = rt.node.settings
    site_id = ws.query_params.get("site", "")
    try:
        site = await rt.node.store.site(site_id) if 0 < len(site_id) <= 64 else None
    except ChatError:
        await refuse(ws, 503, "unavailable")
        return
    own = auth.own_origins(ws, settings)
    if site is None or not auth.site_allows(site, ws.headers.get("origin"), own):
        await ws.close(1008)  # before accept: the handshake is refused with HTTP 403
        return
    await accept_and_serve(
        ws,
        rt,
        lambda codec: VisitorSession(rt.node, rt.dispatcher, codec, site),
        settings.hello_timeout_s,
    )
