"""`WS /ws/agent`: a session cookie counts only from this server's own origin (no
cross-site WebSocket hijacking); otherwise `hello.token` must authenticate within the
hello timeout, from any origin."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from chat_server.core.errors import ChatError
from chat_server.protocol.codec import choose_subprotocol
from chat_server.service.agent import AgentSession
from chat_server.web import auth
from chat_server.web.runtime import runtime
from chat_server.web.session import refuse_busy, serve


async def agent_socket(ws: WebSocket) -> None:
    rt = runtime(ws)
    settings = rt.node.settings
    agent = None
    if auth.same_origin(ws, settings):
        try:
            agent = await auth.cookie_agent(ws, rt.node.store, rt.node.clock.now_ms())
        except ChatError:
            await ws.send_denial_response(JSONResponse({"error": "unavailable"}, status_code=503))
            return
    with rt.connection_slot(ws) as admitted:
        if not admitted:
            await refuse_busy(ws)
            return
        codec, subprotocol = choose_subprotocol(ws.scope.get("subprotocols", []))
        await ws.accept(subprotocol=subprotocol)
        session = AgentSession(rt.node, rt.dispatcher, codec, agent)
        await serve(ws, session, None if agent is not None else settings.hello_timeout_s)
