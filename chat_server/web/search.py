"""REST: conversation search (issue 16), `GET /api/search`, for the History page."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from chat_server.core import search, tags
from chat_server.core.errors import ChatError
from chat_server.service import search as searching
from chat_server.web.api import JSONResponse, agent_or_401, error_json
from chat_server.web.runtime import runtime


async def find(request: Request) -> Response:
    """Supervisors search every conversation, agents those they held; a bad parameter is a
    400 that says which. Open a result with `GET /api/conversations/{cid}`."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    tag = request.query_params.get("tag", "").strip()
    try:
        asked = search.parse(request.query_params)
        wanted = tags.normalise(tag) if tag else None  # issue 17
    except ChatError as exc:
        return error_json(400, exc.code.value, exc.message)
    page = await searching.find(runtime(request).node, agent, asked, wanted)
    return JSONResponse({"results": page.results, "next": page.next})
