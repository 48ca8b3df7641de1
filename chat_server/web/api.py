"""REST: login and logout, who am I, conversations (contract §1)."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette import responses
from starlette.requests import Request
from starlette.responses import Response

from chat_server.backends.base import Store
from chat_server.core import metrics, tokens, views
from chat_server.core.model import Agent, AuditEntry, State
from chat_server.protocol.codec import is_text, repaired
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


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": code}, status_code=status)


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


def _cross_site(request: Request) -> bool:
    """A cookie-authenticated POST from another site's page (CSRF)."""
    origin = request.headers.get("origin")
    return origin is not None and not auth.same_origin(request, runtime(request).node.settings)


async def login(request: Request) -> Response:
    """Password login. Attempts are throttled per account (unless this browser logged in
    to it before: its device cookie) and per address, counted before the password check;
    an unknown email costs the same argon2 check as a wrong password (docs/security.md)."""
    rt = runtime(request)
    if _cross_site(request):
        return _error(403, "forbidden")
    creds = await _credentials(request)
    if creds is None:
        return _error(400, "bad_request")
    email, password = creds
    node = rt.node
    if auth.known_device(node.secret, email, request.cookies.get(auth.DEVICE_COOKIE)):
        keys: tuple[str, ...] = (f"device:{email}",)
    else:
        keys = (f"account:{email}", f"address:{client_address(request)}")
    if not rt.throttle.begin(*keys):
        return _error(429, "rate_limited")
    try:
        agent = await node.store.agent_by_email(email)
        valid = await auth.verify_password(agent.password_hash if agent else None, password)
    except BaseException:
        rt.throttle.succeeded(clear=(), refund=keys)  # not an attempt that failed
        raise
    if agent is None or not valid:
        rt.throttle.failed(*keys)
        return _error(401, "unauthorized")
    rt.throttle.succeeded(
        clear=(f"account:{email}", f"device:{email}"),
        refund=tuple(k for k in keys if k.startswith("address:")),
    )
    secret = tokens.new_secret_token("cs")
    ttl = node.settings.session_ttl_s
    await node.store.add_credential(
        tokens.hash_secret(secret), agent.id, "session", node.clock.now_ms() + ttl * 1000
    )
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
    if _cross_site(request):
        return _error(403, "forbidden")
    secret = request.cookies.get(auth.SESSION_COOKIE)
    if secret:
        await rt.node.store.revoke_credential(tokens.hash_secret(secret))
    response = JSONResponse({"ok": True})
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


async def _agent_or_401(request: Request) -> Agent | Response:
    rt = runtime(request)
    agent = await auth.request_agent(request, rt.node)
    return agent if agent is not None else _error(401, "unauthorized")


async def me(request: Request) -> Response:
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    return JSONResponse({"agent": agent_json(agent)})


async def conversations(request: Request) -> Response:
    """Supervisors see every conversation; agents their own and the queue."""
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    store = runtime(request).node.store
    q = request.query_params
    try:
        state = State(q["state"]) if q.get("state") else None
        limit = max(1, min(int(q.get("limit", "50")), 500))
    except ValueError:
        return _error(400, "bad_request")
    agent_id = q.get("agent") or None
    visitor_id = q.get("visitor") or None
    if visitor_id is not None and not agent.is_supervisor:
        if not await _serving_visitor(store, agent, visitor_id):
            return _error(403, "forbidden")
        found = await store.conversations(state=state, visitor_id=visitor_id, limit=limit)
        node = runtime(request).node
        return JSONResponse({"conversations": [await node.conversation_view(c) for c in found]})
    if not agent.is_supervisor:
        if state is State.QUEUED and agent_id is None:
            pass
        elif agent_id not in (None, agent.id):
            return _error(403, "forbidden")
        else:
            agent_id = agent.id
    found = await store.conversations(
        state=state, agent_id=agent_id, visitor_id=visitor_id, limit=limit
    )
    node = runtime(request).node
    return JSONResponse({"conversations": [await node.conversation_view(c) for c in found]})


async def _serving_visitor(store: Store, agent: Agent, visitor_id: str) -> bool:
    """An agent sees a visitor's earlier conversations while serving that visitor."""
    return visitor_id in {c.visitor_id for c in await store.active_of(agent.id)}


async def conversation(request: Request) -> Response:
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    node = runtime(request).node
    cid = request.path_params["cid"]
    conv = await node.store.conversation(cid)
    if conv is None:
        return _error(404, "not_found")
    mine = conv.agent is not None and conv.agent.id == agent.id
    if not (
        agent.is_supervisor
        or mine
        or conv.state is State.QUEUED
        or await _serving_visitor(node.store, agent, conv.visitor_id)
    ):
        return _error(403, "forbidden")
    messages, more = await node.store.messages_after(cid, 0, 1000, notes=True)
    rating = await node.store.rating(cid)
    await node.store.audit(AuditEntry(node.clock.now_ms(), agent.id, "view", cid))
    return JSONResponse(
        {
            "conversation": await node.conversation_view(conv),
            "messages": [views.message(m) for m in messages],
            "more": more,
            "rating": None
            if rating is None
            else {
                "csat": rating.csat,
                "nps": rating.nps,
                "ces": rating.ces,
                "comment": rating.comment,
            },
        }
    )


async def stats(request: Request) -> Response:
    """Contract §6 figures: supervisors read everything (optionally one agent's or one
    topic's); agents read their own."""
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    q = request.query_params
    window = q.get("window")
    if window is not None and window not in WINDOWS:
        return _error(400, "bad_request")
    if q.get("agent") and q.get("topic"):
        return _error(400, "bad_request")
    dim = "all"
    if q.get("agent"):
        dim = f"agent:{q['agent']}"
    elif q.get("topic"):
        dim = f"topic:{q['topic']}"
    if not agent.is_supervisor:
        if dim not in ("all", f"agent:{agent.id}"):
            return _error(403, "forbidden")
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
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    if not agent.is_supervisor:
        return _error(403, "forbidden")
    node = runtime(request).node
    now = node.clock.now_ms()
    team = []
    for member, row in await _team(node.store):
        hour = metrics.window_view(await node.store.read_figures("1h", now, f"agent:{member.id}"))
        team.append(
            {**row, "frt_s": hour["frt_s"], "csat": hour["csat"], "answered": hour["answered"]}
        )
    return JSONResponse({"agents": team})


async def _team(store: Store) -> list[tuple[Agent, dict[str, Any]]]:
    """Every agent with their status, presence and load: what both team views show."""
    online, loads = await store.online("agent"), await store.loads()
    return [
        (
            member,
            {
                **agent_json(member),
                "status": member.status.value,
                "connected": member.id in online,
                "active": loads[member.id].active if member.id in loads else 0,
            },
        )
        for member in await store.agents()
    ]


async def audit(request: Request) -> Response:
    """Supervisors: who did what on which conversation (`?cid=&agent=&limit=`)."""
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    if not agent.is_supervisor:
        return _error(403, "forbidden")
    q = request.query_params
    try:
        limit = max(1, min(int(q.get("limit", "100")), 1000))
    except ValueError:
        return _error(400, "bad_request")
    entries = await runtime(request).node.store.audit_log(
        cid=q.get("cid") or None, agent_id=q.get("agent") or None, limit=limit
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
    agent = await _agent_or_401(request)
    if isinstance(agent, Response):
        return agent
    team = await _team(runtime(request).node.store)
    return JSONResponse(
        {"agents": [{**row, "topics": sorted(member.topics)} for member, row in team]}
    )
