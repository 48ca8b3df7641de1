"""REST: a site's webhook endpoints and the parked deliveries (issue 17), for supervisors
(console session, or a supervisor's API token in `Authorization: Bearer`).

`GET /api/sites/{site}/webhooks`, `POST` the same (`{url, events?, secret?}`: 201 with the
endpoint and its secret, shown this once), `DELETE /api/sites/{site}/webhooks/{id}`,
`GET /api/webhooks/failures[?site=S]`."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_server.core import ssrf
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent
from chat_server.core.scopes import Scope
from chat_server.protocol.codec import is_text
from chat_server.service import staff_actions, webhooks
from chat_server.web import auth
from chat_server.web.api import JSONResponse, cross_site, error_json, supervisor_or_error
from chat_server.web.runtime import runtime

BODY_MAX = 16 * 1024


def routes() -> list[Route]:
    return [
        Route("/api/sites/{site}/webhooks", endpoints, methods=["GET", "POST"]),
        Route("/api/sites/{site}/webhooks/{id}", remove, methods=["DELETE"]),
        Route("/api/webhooks/failures", failures),
    ]


async def endpoints(request: Request) -> Response:
    agent = await _supervisor(request)
    if isinstance(agent, Response):
        return agent
    node = runtime(request).node
    site = request.path_params["site"]
    if request.method == "GET":
        found = await node.store.webhooks.endpoints(site)
        return JSONResponse({"webhooks": [webhooks.endpoint_view(e) for e in found]})
    body = await _body(request)
    if isinstance(body, Response):
        return body
    try:
        endpoint = await webhooks.add_endpoint(
            node.store,
            site,
            body["url"],
            body["events"],
            body["secret"],
            node.clock.now_ms(),
            ssrf.networks(node.settings.webhook_allow),
            by=agent.id,
        )
    except ChatError as exc:
        if exc.code is ErrorCode.BAD_REQUEST:
            return error_json(400, "bad_request", exc.message)
        raise
    return JSONResponse(webhooks.endpoint_view(endpoint, secret=True), status_code=201)


async def remove(request: Request) -> Response:
    agent = await _supervisor(request)
    if isinstance(agent, Response):
        return agent
    node = runtime(request).node
    p = request.path_params
    now = node.clock.now_ms()
    removed = await webhooks.remove_endpoint(node.store, p["id"], now, p["site"], by=agent.id)
    return JSONResponse(webhooks.endpoint_view(removed))


async def failures(request: Request) -> Response:
    agent = await _supervisor(request)
    if isinstance(agent, Response):
        return agent
    node = runtime(request).node
    parked = await node.store.webhooks.parked(request.query_params.get("site"), limit=1000)
    scope = await _scope(request)
    return JSONResponse(
        {"failures": [webhooks.delivery_view(d) for d in parked if scope.allows(d.event.site)]}
    )


async def _supervisor(request: Request) -> Agent | Response:
    """Supervisors only; an API token limited to some sites (`core/scopes.py`) only for
    those sites' endpoints."""
    if request.method != "GET" and cross_site(request):
        return error_json(403, "forbidden")
    agent = await supervisor_or_error(request)
    if isinstance(agent, Response):
        return agent
    site = request.path_params.get("site")
    if site is not None and not (await _scope(request)).allows(site):
        return error_json(403, "forbidden", "this token does not act on this site")
    return agent


async def _scope(request: Request) -> Scope:
    """The sites of the API token asking (every site for a console session)."""
    caller = await staff_actions.api_caller(runtime(request).node, auth.bearer(request))
    return caller[1] if caller is not None else Scope(None)


async def _body(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if len(raw) > BODY_MAX:
        return error_json(413, "too_large")
    try:
        body = json.loads(raw)
    except ValueError:
        return error_json(400, "bad_request", "the body is not JSON")
    if not isinstance(body, dict) or not isinstance(body.get("url"), str):
        return error_json(400, "bad_request", "give {url, events?, secret?}")
    events, secret = body.get("events", []), body.get("secret")
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        return error_json(400, "bad_request", "events is a list of event types")
    if secret is not None and not isinstance(secret, str):
        return error_json(400, "bad_request", "secret is a string")
    texts = [body["url"], *events, *([secret] if secret else [])]
    if not all(is_text(t) for t in texts):
        return error_json(400, "bad_request", "not Unicode text")
    return {"url": body["url"], "events": events, "secret": secret}
