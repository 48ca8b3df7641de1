"""REST write API (issue 17): integrations and bots act on conversations with an agent's
API token (`Authorization: Bearer`), as that agent, within the token's sites.

Each route runs what the matching agent frame runs (`service/staff_actions.py`,
`service/tagging.py`): the same rights (own conversations for agents, any for supervisors),
the same audit entries and the same live events; a refusal is the frame's error code with
an HTTP status. Cookies are not read here, so a browser page cannot be made to write.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat_server.core import ids, views
from chat_server.core import tags as rules
from chat_server.core.errors import ChatError, ErrorCode, bad_request
from chat_server.core.model import Agent, Conversation
from chat_server.protocol import frames as f
from chat_server.service import staff_actions, tagging
from chat_server.web import auth
from chat_server.web.api import JSONResponse, chat_error_json, error_json
from chat_server.web.runtime import Runtime, runtime

BODY_MAX = 64 * 1024

Action = Callable[[Runtime, Agent, Conversation, dict[str, Any], Request], Awaitable[Any]]


def routes() -> list[Route]:
    base = "/api/conversations/{cid}"
    return [
        Route(f"{base}/messages", _route(_message), methods=["POST"]),
        Route(f"{base}/notes", _route(_note), methods=["POST"]),
        Route(f"{base}/close", _route(_close), methods=["POST"]),
        Route(f"{base}/transfer", _route(_transfer), methods=["POST"]),
        Route(f"{base}/tags", _route(_tags), methods=["PUT", "POST", "DELETE"]),
    ]


def _route(action: Action) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        caller = await staff_actions.api_caller(rt.node, auth.bearer(request))
        if caller is None:
            return error_json(401, "unauthorized", "an API token is required")
        agent, scope = caller
        try:
            body = await _body(request)
            conv = await staff_actions.conversation(rt.node, request.path_params["cid"])
            scope.require(conv.site)
            return JSONResponse(await action(rt, agent, conv, body, request))
        except ChatError as exc:
            return chat_error_json(exc)

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    """A JSON object (an empty body is `{}`); its strings must be Unicode text."""
    raw = await request.body()
    if len(raw) > BODY_MAX:
        raise ChatError(ErrorCode.TOO_LARGE, "the body is too large")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
        json.dumps(body, ensure_ascii=False).encode()  # a lone surrogate ("\ud800") fails
    except (ValueError, UnicodeError):
        raise bad_request("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return body


def _frame(schema: type, conv: Conversation, body: dict[str, Any], *fields: str) -> Any:
    """The body checked as the agent frame would be (`cmid` made up when not given)."""
    values = {k: body[k] for k in fields if k in body}
    if "cmid" in fields and values.get("cmid") is None:
        values["cmid"] = ids.new_id("api")
    return f.build(schema, {**values, "cid": conv.id})


async def _message(
    rt: Runtime, agent: Agent, conv: Conversation, body: dict[str, Any], _: Request
) -> Any:
    msg = _frame(f.Msg, conv, body, "text", "cmid")
    return {"message": views.message(await staff_actions.post(rt.node, agent, msg))}


async def _note(
    rt: Runtime, agent: Agent, conv: Conversation, body: dict[str, Any], _: Request
) -> Any:
    note = _frame(f.Note, conv, body, "text", "cmid")
    return {"message": views.message(await staff_actions.post(rt.node, agent, note))}


async def _close(
    rt: Runtime, agent: Agent, conv: Conversation, body: dict[str, Any], _: Request
) -> Any:
    close = _frame(f.AgentClose, conv, {"resolved": False, **body}, "resolved")
    await staff_actions.close(rt.node, rt.dispatcher, agent, close)
    return {"ok": True}


async def _transfer(
    rt: Runtime, agent: Agent, conv: Conversation, body: dict[str, Any], _: Request
) -> Any:
    transfer = _frame(f.Transfer, conv, body, "to", "topic")
    note = None
    if body.get("note") is not None:
        note = _frame(
            f.Note, conv, {"text": body["note"], "cmid": body.get("cmid")}, "text", "cmid"
        )
    moved = await staff_actions.transfer(rt.node, rt.dispatcher, agent, transfer, note)
    return {"conversation": await rt.node.conversation_view(moved)}


async def _tags(
    rt: Runtime, agent: Agent, conv: Conversation, body: dict[str, Any], request: Request
) -> Any:
    """PUT `{tags}` sets them; POST `{add?, remove?}` (or `{tags}`: add) changes them;
    DELETE `{tags}` (or `?tag=a&tag=b`) removes them. `{tags}` after, sorted."""
    method = request.method
    if method == "DELETE" and "tags" not in body:
        body = {"tags": request.query_params.getlist("tag")}
    listed = rules.normalise_all(body.get("tags"))
    add = listed if method in ("PUT", "POST") else ()
    remove = listed if method == "DELETE" else ()
    if method == "POST":
        add = (*add, *rules.normalise_all(body.get("add")))
        remove = rules.normalise_all(body.get("remove"))
    elif method == "PUT" and "tags" not in body:
        raise bad_request("PUT needs {tags: [...]}")
    after = await tagging.change(
        rt.node, agent, conv.id, add=add, remove=remove, replace=method == "PUT"
    )
    return {"cid": conv.id, "tags": list(after)}
