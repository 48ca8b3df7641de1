"""REST: login and logout, who am I, conversations (contract §1)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette import responses
from starlette.requests import Request
from starlette.responses import Response

from chat_server.core import views
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import Agent, Rating, State
from chat_server.protocol.codec import is_text, repaired
from chat_server.service import records, tagging
from chat_server.service.accounts import Member
from chat_server.service.stats import WINDOWS, live_figures, window_figures
from chat_server.web import auth
from chat_server.web.runtime import client_address, runtime

log = logging.getLogger(__name__)


class JSONResponse(responses.JSONResponse):
    """Starlette's, except that a lone surrogate in stored data (from before they were
    refused at decode) is sent as U+FFFD and logged, instead of failing with a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            log.warning("a REST answer held a lone surrogate: sent as U+FFFD")
            return super().render(repaired(content))


HTTP_STATUS = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CLOSED: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.REFUSED_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
}
"""A refusal's error code -> its HTTP status, for routes that run the frames' code (the
write API, file uploads); any other code (`bad_request`...) is 400."""


def error_json(status: int, code: str, message: str | None = None) -> JSONResponse:
    body = {"error": code} if message is None else {"error": code, "message": message}
    return JSONResponse(body, status_code=status)


def chat_error_json(exc: ChatError) -> JSONResponse:
    return error_json(HTTP_STATUS.get(exc.code, 400), exc.code.value, exc.message)


def agent_json(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "role": agent.role.value,
        "max_chats": agent.max_chats,
    }


async def _credentials(request: Request) -> tuple[str, str] | None:
    """`{email, password}` from a JSON body or an urlencoded form."""
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    if len(raw) > 8192:
        return None
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            body: Any = {k: v[0] for k, v in parse_qs(raw.decode(), max_num_fields=8).items()}
        else:
            body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not isinstance(password, str):
        return None
    if len(email) > 254 or len(password) > 1024:
        return None
    if not (is_text(email) and is_text(password)):  # a lone surrogate ("\ud800" in JSON)
        return None
    return email.strip().lower(), password


def cross_site(request: Request) -> bool:
    """A cookie-authenticated POST from another site's page (CSRF)."""
    origin = request.headers.get("origin")
    return origin is not None and not auth.same_origin(request, runtime(request).node.settings)


async def login(request: Request) -> Response:
    """Password login. Attempts are throttled per account (unless this browser logged in
    to it before: its device cookie) and per address, counted before the password check;
    an unknown email costs the same argon2 check as a wrong password (docs/security.md)."""
    rt = runtime(request)
    if cross_site(request):
        return error_json(403, "forbidden")
    creds = await _credentials(request)
    if creds is None:
        return error_json(400, "bad_request")
    email, password = creds
    node = rt.node
    if auth.known_device(node.secret, email, request.cookies.get(auth.DEVICE_COOKIE)):
        keys: tuple[str, ...] = (f"device:{email}",)
    else:
        keys = (f"account:{email}", f"address:{client_address(request)}")
    if not rt.throttle.begin(*keys):
        return error_json(429, "rate_limited")
    try:
        agent = await rt.accounts.sign_in(email, password)
    except BaseException:
        rt.throttle.succeeded(clear=(), refund=keys)  # not an attempt that failed
        raise
    if agent is None:
        rt.throttle.failed(*keys)
        return error_json(401, "unauthorized")
    rt.throttle.succeeded(
        clear=(f"account:{email}", f"device:{email}"),
        refund=tuple(k for k in keys if k.startswith("address:")),
    )
    secret = await rt.accounts.open_session(agent)
    ttl = node.settings.session_ttl_s
    response = JSONResponse({"agent": agent_json(agent)})
    secure = auth.is_secure(request, node.settings)
    response.set_cookie(
        auth.SESSION_COOKIE, secret, max_age=ttl, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        auth.DEVICE_COOKIE,
        auth.device_cookie(node.secret, email),
        max_age=auth.DEVICE_TTL_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/api/login",
    )
    return response


async def logout(request: Request) -> Response:
    rt = runtime(request)
    if cross_site(request):
        return error_json(403, "forbidden")
    secret = request.cookies.get(auth.SESSION_COOKIE)
    if secret:
        await rt.accounts.end_session(secret)
    response = JSONResponse({"ok": True})
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


async def agent_or_401(request: Request) -> Agent | Response:
    rt = runtime(request)
    agent = await auth.request_agent(request, rt.node)
    return agent if agent is not None else error_json(401, "unauthorized")


async def supervisor_or_error(request: Request) -> Agent | Response:
    """The supervisor asking; an agent gets 403 (before anything else of theirs is read)."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response) or agent.is_supervisor:
        return agent
    return error_json(403, "forbidden")


async def me(request: Request) -> Response:
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    return JSONResponse({"agent": agent_json(agent)})


async def conversations(request: Request) -> Response:
    """Supervisors see every conversation; agents their own and the queue (`records`)."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    q = request.query_params
    try:
        state = State(q["state"]) if q.get("state") else None
        limit = max(1, min(int(q.get("limit", "50")), 500))
    except ValueError:
        return error_json(400, "bad_request")
    if q.get("tag"):  # issue 17: the ones holding a tag, newest first
        try:
            before = int(q["before"]) if q.get("before") else None
        except ValueError:
            return error_json(400, "bad_request")
        found = await tagging.tagged_conversations(
            runtime(request).node, agent, q["tag"], state=state, before=before, limit=limit
        )
        return JSONResponse({"conversations": found})
    found = await records.conversations(
        runtime(request).node,
        agent,
        state=state,
        agent_id=q.get("agent") or None,
        visitor_id=q.get("visitor") or None,
        limit=limit,
    )
    return JSONResponse({"conversations": found})


async def conversation(request: Request) -> Response:
    """One transcript; a refusal (404, 403) is a `ChatError` answered by `app._chat_error`."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    read = await records.transcript(runtime(request).node, agent, request.path_params["cid"])
    return JSONResponse(
        {
            "conversation": read.conversation,
            "messages": [views.message(m) for m in read.messages],
            "more": read.more,
            "rating": _rating_json(read.rating),
        }
    )


def _rating_json(rating: Rating | None) -> dict[str, Any] | None:
    if rating is None:
        return None
    return {"csat": rating.csat, "nps": rating.nps, "ces": rating.ces, "comment": rating.comment}


async def stats(request: Request) -> Response:
    """Contract §6 figures: supervisors read everything (optionally one agent's or one
    topic's); agents read their own."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    q = request.query_params
    window = q.get("window")
    if window is not None and window not in WINDOWS:
        return error_json(400, "bad_request")
    if q.get("agent") and q.get("topic"):
        return error_json(400, "bad_request")
    dim = "all"
    if q.get("agent"):
        dim = f"agent:{q['agent']}"
    elif q.get("topic"):
        dim = f"topic:{q['topic']}"
    if not agent.is_supervisor:
        if dim not in ("all", f"agent:{agent.id}"):
            return error_json(403, "forbidden")
        dim = f"agent:{agent.id}"
    node = runtime(request).node
    return JSONResponse(
        {
            "ts": node.clock.now_ms(),
            "live": await live_figures(node),
            "windows": await window_figures(node, dim, (window,) if window else WINDOWS),
        }
    )


async def agents(request: Request) -> Response:
    """The team for the supervisor dashboard: status, presence, load and the last hour's
    first response time and CSAT of each agent."""
    agent = await supervisor_or_error(request)
    if isinstance(agent, Response):
        return agent
    team = await runtime(request).accounts.team_figures()
    return JSONResponse(
        {
            "agents": [
                {
                    **_member_json(member),
                    "frt_s": hour["frt_s"],
                    "csat": hour["csat"],
                    "answered": hour["answered"],
                }
                for member, hour in team
            ]
        }
    )


def _member_json(member: Member) -> dict[str, Any]:
    """What both team views show of an agent."""
    return {
        **agent_json(member.agent),
        "status": member.agent.status.value,
        "connected": member.connected,
        "active": member.active,
    }


async def audit(request: Request) -> Response:
    """Supervisors: who did what on which conversation (`?cid=&agent=&limit=`)."""
    agent = await supervisor_or_error(request)
    if isinstance(agent, Response):
        return agent
    q = request.query_params
    try:
        limit = max(1, min(int(q.get("limit", "100")), 1000))
    except ValueError:
        return error_json(400, "bad_request")
    entries = await records.audit_log(
        runtime(request).node,
        cid=q.get("cid") or None,
        agent_id=q.get("agent") or None,
        limit=limit,
    )
    return JSONResponse(
        {
            "entries": [
                {
                    "ts": e.ts,
                    "agent": e.agent_id,
                    "action": e.action,
                    "cid": e.cid,
                    "detail": json.loads(e.detail) if e.detail else {},
                }
                for e in entries
            ]
        }
    )


async def team(request: Request) -> Response:
    """Who is on the team, for any agent (transfers): presence and load, no figures."""
    agent = await agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    members = await runtime(request).accounts.team()
    return JSONResponse(
        {"agents": [{**_member_json(m), "topics": sorted(m.agent.topics)} for m in members]}
    )
