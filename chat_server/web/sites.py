"""REST: a site's settings (issue 14): `GET /api/sites/{site}` for any signed-in agent (the
console shows the hours), `PUT /api/sites/{site}/settings` for supervisors."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from chat_server.core.errors import ChatError, ErrorCode
from chat_server.service import sites
from chat_server.web.api import (
    JSONResponse,
    agent_or_401,
    cross_site,
    error_json,
    supervisor_or_error,
)
from chat_server.web.runtime import runtime

SETTINGS_BODY_MAX = 65_536
"""A full form, topics, hours and holidays fit well within it."""


async def site(request: Request) -> Response:
    rt = runtime(request)
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    found = await sites.site_named(rt.node, request.path_params["site"])
    if found is None:
        return error_json(404, "not_found")
    return JSONResponse(sites.settings_view(rt.node, found))


async def put_settings(request: Request) -> Response:
    """Any of the settings fields; 400 `{error, message}` names what is wrong."""
    rt = runtime(request)
    if cross_site(request):
        return error_json(403, "forbidden")
    agent = await supervisor_or_error(request)
    if isinstance(agent, Response):
        return agent
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    try:
        changed = await sites.change_settings(rt.node, agent, request.path_params["site"], body)
    except ChatError as exc:
        if exc.code is ErrorCode.BAD_REQUEST:
            return error_json(400, "bad_request", exc.message)
        raise
    rt.dispatcher.availability.kick()  # the site's visitors hear new hours at once
    return JSONResponse(sites.settings_view(rt.node, changed))


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > SETTINGS_BODY_MAX:
        return error_json(413, "too_large")
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode()  # lone surrogates ("\ud800") refused
    except (ValueError, UnicodeError):
        return error_json(400, "bad_request", "the body is not JSON text")
    if not isinstance(body, dict):
        return error_json(400, "bad_request", "the settings are a JSON object")
    return body
