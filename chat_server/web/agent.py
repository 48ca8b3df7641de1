"""`WS /ws/agent`: a session cookie counts only from this server's own origin (no
cross-site WebSocket hijacking); otherwise `hello.token` must authenticate within the
hello timeout, from any origin."""

from __future__ import annotations

from starlette.websockets import WebSocket

from chat_server.core.errors import ChatError
from chat_server.service.agent import AgentSession
from chat_server.web import auth
from chat_server.web.runtime import client_address, runtime
from chat_server.web.session import SocketEndpoint, accept_and_serve, refuse


@SocketEndpoint
async def agent_socket(ws: WebSocket) -> None:
    rt = runtime(ws)
    if not rt.handshakes.take(client_address(ws)):
        await refuse(ws, 429, "rate_limited")
        return
    settings = rt.node.settings
    agent = None
    if auth.same_origin(ws, settings):
        try:
            agent = await auth.cookie_agent(ws, rt.node)
        except ChatError:
            await refuse(ws, 503, "unavailable")
            return
    hello_timeout_s = None if agent is not None else settings.hello_timeout_s
    await accept_and_serve(ws, rt, AgentSession, agent, hello_timeout_s)
