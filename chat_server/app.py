"""`create_app(settings)`: the one wiring point. The lifespan opens the backends and the
services, and closes them in reverse order."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from chat_server import gc_tuning
from chat_server.backends.base import Bus, Store
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.config import Settings
from chat_server.core import files as filetypes
from chat_server.core.clock import Clock, SystemClock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.rollups import Calendar
from chat_server.demo import seed_demo
from chat_server.service import webhooks
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Hub
from chat_server.service.node import Node
from chat_server.service.stats import StatsPusher
from chat_server.web import api, files, ops, reports, search, sites, static, write_api
from chat_server.web import webhooks as webhooks_api
from chat_server.web.agent import agent_socket
from chat_server.web.auth import LoginThrottle
from chat_server.web.edge import BodyLimit, GZipExcept, SecurityHeaders
from chat_server.web.runtime import Runtime
from chat_server.web.visitor import visitor_socket

log = logging.getLogger("chat_server")


def open_backends(settings: Settings, clock: Clock) -> tuple[Store, Bus]:
    """Redis when a URL is given (any number of nodes), else embedded (one process)."""
    calendar = Calendar(settings.reports_tz)
    if settings.redis_url:
        from chat_server.backends.redis.bus import RedisBus
        from chat_server.backends.redis.spread_bus import SpreadBus
        from chat_server.backends.redis.spread_store import SpreadStore, redis_store

        store = redis_store(
            settings.redis_url,
            clock,
            prefix=settings.redis_prefix,
            presence_ttl_s=settings.presence_ttl_s,
            calendar=calendar,
            rollup_days=settings.rollup_days,
            replicas_ack=settings.redis_replicas_ack,
        )
        if isinstance(store, SpreadStore):
            return store, SpreadBus(settings.redis_url, store.where)
        return store, RedisBus(settings.redis_url, prefix=settings.redis_prefix)
    bus = LocalBus()
    embedded = EmbeddedStore(
        settings.data,
        bus,
        clock,
        synchronous=settings.sqlite_synchronous,
        calendar=calendar,
        rollup_days=settings.rollup_days,
    )
    return embedded, bus


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store, bus = open_backends(settings, clock)
        async with contextlib.AsyncExitStack() as stack:
            await store.start()
            stack.push_async_callback(store.stop)
            await stack.enter_async_context(webhooks.running(store, clock, settings))
            hub = Hub(bus)
            await bus.start()
            stack.push_async_callback(bus.stop)
            secret = (
                settings.secret.encode() if settings.secret else await store.secret(os.urandom(32))
            )
            node = Node(settings, store, hub, clock, secret)
            dispatcher = Dispatcher(node)
            if settings.demo:
                await seed_demo(store)
            await dispatcher.start()
            stack.push_async_callback(dispatcher.stop)
            stats = StatsPusher(node)
            await stats.start()
            stack.push_async_callback(stats.stop)
            app.state.runtime = Runtime(
                node, dispatcher, LoginThrottle(settings.login_attempts, settings.login_window_s)
            )
            if settings.gc_freeze:
                gc_tuning.settle()
            yield

    routes = [
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/agent", agent_socket),
        Route("/api/login", api.login, methods=["POST"]),
        Route("/api/logout", api.logout, methods=["POST"]),
        Route("/api/me", api.me),
        Route("/api/stats", api.stats),
        Route("/api/agents", api.agents),
        Route("/api/team", api.team),
        Route("/api/audit", api.audit),
        Route("/api/reports", reports.report),
        Route("/api/search", search.find),
        Route("/api/conversations", api.conversations),
        Route("/api/conversations/{cid}", api.conversation),
        *write_api.routes(),  # issue 17
        Route("/api/sites/{site}", sites.site),
        Route("/api/sites/{site}/settings", sites.put_settings, methods=["PUT"]),
        *webhooks_api.routes(),
        *files.routes(),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics),
        *static.routes(settings.static_dir, demo_shop=settings.demo),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ChatError: _chat_error},
        middleware=[
            Middleware(SecurityHeaders, headers=static.page_headers(static.PAGE_CSP)),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                timeout_s=settings.body_timeout_s,
                per_path=BODY_LIMITS,
                per_path_timeout={UPLOAD_PATH: settings.upload_timeout_s},
            ),
            Middleware(GZipExcept, minimum_size=1024, skip_prefix=f"{UPLOAD_PATH}/"),
        ],
    )


UPLOAD_PATH = "/api/files"
BODY_LIMITS = {"/api/login": 8192, UPLOAD_PATH: filetypes.MAX_BYTES_CAP}
"""Routes whose request bodies have their own bound instead of `max_body_bytes`: uploads
(issue 15) may bring the largest limit a site may set, and each stops at its site's own."""


async def _chat_error(request: Request, exc: Exception) -> Response:
    """A refusal that escaped a REST handler: its code, never a 500 with a traceback."""
    assert isinstance(exc, ChatError)
    status = {
        ErrorCode.UNAVAILABLE: 503,
        ErrorCode.NOT_FOUND: 404,
        ErrorCode.FORBIDDEN: 403,
        ErrorCode.UNAUTHORIZED: 401,
        ErrorCode.CONFLICT: 409,
    }.get(exc.code, 400)
    return JSONResponse({"error": exc.code.value}, status_code=status)
