"""REST: attachments (issue 15, docs/protocol.md §10): `POST /api/files`, `GET
/api/files/{id}` and `/api/files/{id}/thumb`, and their CORS preflights.

Who is asking is told here: a visitor by its token (`Authorization: Bearer`, checked
against the conversation's site) from a page of an origin that site allows, or an agent
by its session cookie or API token. What they may do with a file is `service/files.py`.

The session cookie counts for downloads whatever `Sec-Fetch-Dest` says (the console shows
images with `<img>` and offers files with `<a download>`), unlike the other REST routes
(`auth.request_agent`): reading a file changes nothing and is not audited, and a replayed
page cannot read what it loads. It still counts only for requests from this server's own
pages (`Sec-Fetch-Site`), or from no page at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from chat_server.core import files as filetypes
from chat_server.core import tokens, views
from chat_server.core.errors import ChatError
from chat_server.core.model import Conversation, Site
from chat_server.service import files
from chat_server.web import auth
from chat_server.web.api import HTTP_STATUS, JSONResponse, cross_site, error_json
from chat_server.web.runtime import runtime

FILE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
"""A file opened by itself in a browser runs nothing and reaches nothing (inline style
only: Chromium's own image viewer centres the image with it)."""
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": FILE_CSP,
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "private, max-age=3600",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "authorization, content-type",
    "Access-Control-Max-Age": "600",
}
_SAME_SITE_FETCH = {None, "same-origin", "none"}


def routes() -> list[Route]:
    return [
        Route("/api/files", upload, methods=["POST"]),
        Route("/api/files", preflight, methods=["OPTIONS"]),
        Route("/api/files/{fid}", download, methods=["GET"]),
        Route("/api/files/{fid}", preflight, methods=["OPTIONS"]),
        Route("/api/files/{fid}/thumb", thumbnail, methods=["GET"]),
        Route("/api/files/{fid}/thumb", preflight, methods=["OPTIONS"]),
    ]


@dataclass(slots=True)
class Asked:
    """The conversation a request names, its site, and the CORS headers its answer gets
    (`Access-Control-Allow-Origin` only for an `Origin` that site allows)."""

    conv: Conversation | None
    site: Site | None
    cors: dict[str, str] = field(default_factory=lambda: {"Vary": "Origin"})

    @property
    def origin_allowed(self) -> bool:
        return "Access-Control-Allow-Origin" in self.cors

    def error(self, status: int, code: str, message: str | None = None) -> Response:
        response = error_json(status, code, message)
        response.headers.update(self.cors)
        return response

    def refusal(self, exc: ChatError) -> Response:
        return self.error(HTTP_STATUS.get(exc.code, 400), exc.code.value, exc.message)


async def _asked(request: Request, cid: str | None) -> Asked:
    node = runtime(request).node
    conv = await files.conversation(node, cid) if cid else None
    site = await files.site_of(node, conv) if conv is not None else None
    asked = Asked(conv, site)
    origin = request.headers.get("origin")
    own = auth.own_origins(request, node.settings)
    if origin is not None and site is not None and auth.site_allows(site, origin, own):
        asked.cors["Access-Control-Allow-Origin"] = origin
    return asked


def _bearer(request: Request) -> str | None:
    return auth.bearer(request) or None  # an empty token is none


async def _who(request: Request, asked: Asked, *, reading: bool) -> files.Who | None:
    """A visitor whose token is for the conversation's site, else an agent (API token, or
    the session cookie: for `reading`, from this server's pages whatever they load)."""
    node = runtime(request).node
    bearer = _bearer(request)
    if bearer is not None and asked.site is not None:
        now = node.clock.now_ms()
        visitor_id = tokens.verify_visitor(node.secret, bearer, asked.site.id, now)
        if visitor_id is not None:
            return files.Who.visitor(visitor_id)
    if reading and bearer is None:
        fetched_from = request.headers.get("sec-fetch-site")
        agent = await auth.cookie_agent(request, node) if fetched_from in _SAME_SITE_FETCH else None
    else:
        agent = await auth.request_agent(request, node)
    return files.Who.staff(agent) if agent is not None else None


def _unknown(request: Request, asked: Asked) -> Response:
    """No one we know: 401 when no credentials came or the conversation exists (its
    visitor's token could be checked), else 404 (a visitor's token names no site)."""
    sent = _bearer(request) is not None or auth.SESSION_COOKIE in request.cookies
    if sent and asked.conv is None:
        return asked.error(404, "not_found")
    return asked.error(401, "unauthorized")


# upload ---------------------------------------------------------------------------------


async def upload(request: Request) -> Response:
    """`POST /api/files?cid=&name=`, the file's bytes as the body: `201 {file}`."""
    cid = request.query_params.get("cid")
    asked = await _asked(request, cid)
    if not cid:
        return asked.error(400, "bad_request", "give the conversation: ?cid=")
    who = await _who(request, asked, reading=False)
    if who is None:
        return _unknown(request, asked)
    if who.agent is None and not asked.origin_allowed:
        return asked.error(403, "forbidden", "this page's origin is not one of the site's")
    if who.agent is not None and _bearer(request) is None and cross_site(request):
        return asked.error(403, "forbidden")
    if asked.conv is None:
        return asked.error(404, "not_found", "no such conversation")
    node = runtime(request).node
    name = request.query_params.get("name")
    try:
        stored = await files.upload(node, asked.conv, asked.site, who, name, request.stream())
    except ChatError as exc:
        return asked.refusal(exc)
    except ClientDisconnect:  # the client is gone: nothing was kept, nobody reads this
        return Response(status_code=400)
    response = JSONResponse({"file": views.file_ref(stored.ref)}, status_code=201)
    response.headers.update(asked.cors)
    return response


# download -------------------------------------------------------------------------------


async def download(request: Request) -> Response:
    """`GET /api/files/{id}` (`?download=1`: as an attachment, images too)."""
    return await _serve(request, thumb=False)


async def thumbnail(request: Request) -> Response:
    """`GET /api/files/{id}/thumb`: an image's thumbnail (WebP or PNG)."""
    return await _serve(request, thumb=True)


async def _serve(request: Request, *, thumb: bool) -> Response:
    file_id = request.path_params["fid"]
    asked = await _asked(request, filetypes.cid_of(file_id))
    who = await _who(request, asked, reading=True)
    if who is None:
        return _unknown(request, asked)
    if asked.conv is None:
        return asked.error(404, "not_found")
    node = runtime(request).node
    try:
        stored = await files.readable(node, asked.conv, who, file_id)
    except ChatError as exc:
        return asked.refusal(exc)
    if thumb and not stored.thumb:
        return asked.error(404, "not_found")
    chunks = files.read(node, file_id, thumb=thumb)
    first = await anext(chunks, None)
    if first is None and (thumb or stored.ref.size > 0):
        return asked.error(404, "not_found")  # the record outlived its bytes
    file_type = filetypes.TYPES[stored.ref.type]
    attached = not file_type.image or request.query_params.get("download") == "1"
    headers = {
        **FILE_HEADERS,
        **asked.cors,
        "Content-Disposition": _disposition(stored.ref.name, attached=attached and not thumb),
    }
    if thumb:  # at most 320 x 320: small, and its type is told by its bytes
        body = (first or b"") + b"".join([piece async for piece in chunks])
        media = filetypes.TYPES[filetypes.sniff(body) or "png"].mime
        return Response(body, media_type=media, headers=headers)
    headers["Content-Length"] = str(stored.ref.size)
    return StreamingResponse(_chain(first, chunks), media_type=file_type.mime, headers=headers)


async def _chain(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
    async for piece in rest:
        yield piece


def _disposition(name: str, *, attached: bool) -> str:
    return f"{'attachment' if attached else 'inline'}; filename*=UTF-8''{quote(name, safe='')}"


# CORS -----------------------------------------------------------------------------------


async def preflight(request: Request) -> Response:
    """`OPTIONS`: what the widget, on the site's page, may send here."""
    fid = request.path_params.get("fid")
    cid = filetypes.cid_of(fid) if fid is not None else request.query_params.get("cid")
    asked = await _asked(request, cid)
    headers = {**asked.cors, **(PREFLIGHT_HEADERS if asked.origin_allowed else {})}
    return Response(status_code=204, headers=headers)
