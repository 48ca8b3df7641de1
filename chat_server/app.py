"""`create_app(settings)`: the one wiring point. The lifespan opens the backends and the
services, and closes them in reverse order."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.store import EmbeddedStore
from chat_server.config import Settings
from chat_server.core.clock import Clock, SystemClock
from chat_server.demo import seed_demo
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Hub
from chat_server.service.node import Node
from chat_server.service.stats import StatsPusher
from chat_server.web import api, ops, static
from chat_server.web.agent import agent_socket
from chat_server.web.auth import LoginThrottle
from chat_server.web.runtime import Runtime
from chat_server.web.visitor import visitor_socket

log = logging.getLogger("chat_server")


def open_store(settings: Settings, bus: LocalBus, clock: Clock) -> EmbeddedStore:
    if settings.redis_url:
        raise SystemExit("--redis is not available in this release: run without it (embedded)")
    return EmbeddedStore(settings.data, bus, clock, synchronous=settings.sqlite_synchronous)


def create_app(settings: Settings, clock: Clock | None = None) -> Starlette:
    clock = clock or SystemClock()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bus = LocalBus()
        store = open_store(settings, bus, clock)
        async with contextlib.AsyncExitStack() as stack:
            await bus.start()
            stack.push_async_callback(bus.stop)
            await store.start()
            stack.push_async_callback(store.stop)
            secret = (
                settings.secret.encode() if settings.secret else await store.secret(os.urandom(32))
            )
            node = Node(settings, store, Hub(bus), clock, secret)
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
            yield

    routes = [
        WebSocketRoute("/ws/visitor", visitor_socket),
        WebSocketRoute("/ws/agent", agent_socket),
        Route("/api/login", api.login, methods=["POST"]),
        Route("/api/logout", api.logout, methods=["POST"]),
        Route("/api/me", api.me),
        Route("/api/conversations", api.conversations),
        Route("/api/conversations/{cid}", api.conversation),
        Route("/healthz", ops.healthz),
        Route("/readyz", ops.readyz),
        Route("/metrics", ops.metrics),
        *static.routes(settings.static_dir),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
