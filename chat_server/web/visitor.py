"""`WS /ws/visitor?site=SITE`: origin check at the handshake, then the visitor session."""

from __future__ import annotations

from typing import NamedTuple

from starlette.websockets import WebSocket

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Site, Visitor
from chat_server.protocol.codec import Codec
from chat_server.service import sites
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.service.visitor import VisitorSession
from chat_server.web import auth
from chat_server.web.runtime import AddressRates, Runtime, client_address, runtime
from chat_server.web.session import SocketEndpoint, accept_and_serve, refuse


@SocketEndpoint
async def visitor_socket(ws: WebSocket) -> None:
    rt = runtime(ws)
    address = client_address(ws)
    if not rt.handshakes.take(address):
        await refuse(ws, 429, "rate_limited")
        return
    site = await _admitted_site(ws, rt)
    if site is None:
        return
    entry = Entry(site, address, rt.new_visitors)
    await accept_and_serve(ws, rt, AddressedVisitorSession, entry, rt.node.settings.hello_timeout_s)


async def _admitted_site(ws: WebSocket, rt: Runtime) -> Site | None:
    """The site the socket is for, if it allows the page's origin; otherwise the handshake
    is refused and None. (Apart, so that what it reads is not held by the socket's frame.)"""
    site_id = ws.query_params.get("site", "")
    try:
        site = await sites.site_named(rt.node, site_id)
    except ChatError:
        await refuse(ws, 503, "unavailable")
        return None
    own = auth.own_origins(ws, rt.node.settings)
    if site is None or not auth.site_allows(site, ws.headers.get("origin"), own):
        await ws.close(1008)  # before accept: the handshake is refused with HTTP 403
        return None
    return site


class Entry(NamedTuple):
    """What a visitor socket is admitted with: its site and its client's address."""

    site: Site
    address: str
    new_visitors: AddressRates


class AddressedVisitorSession(VisitorSession):
    """A visitor session whose `hello` creates a new visitor identity (no token, or one
    that is not valid) only as often as its address's `new_visitor_rate` allows; beyond it
    `hello` is answered `rate_limited` and may be sent again."""

    __slots__ = ("address", "new_visitors")

    def __init__(self, node: Node, dispatcher: Dispatcher, codec: Codec, entry: Entry) -> None:
        super().__init__(node, dispatcher, codec, entry.site)
        self.address = entry.address
        self.new_visitors = entry.new_visitors

    async def _known_visitor(self, token: str | None, now: int) -> Visitor | None:
        visitor = await super()._known_visitor(token, now)
        if visitor is None and not self.new_visitors.take(self.address):
            raise ChatError(ErrorCode.RATE_LIMITED, "too many new visitors from this address")
        return visitor
