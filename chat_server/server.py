"""The uvicorn configuration every way of running the app shares (CLI, tests, bench): the
lean WebSocket protocol (`lean_websocket.py`) and the guarded HTTP protocol
(`guarded_http.py`)."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from chat_server.config import Settings
from chat_server.guarded_http import EdgeConfig, GuardedH11Protocol, HttpEdge
from chat_server.lean_websocket import LeanWebSocketProtocol


def uvicorn_config(
    settings: Settings,
    app: Starlette | Callable[[], Starlette],
    *,
    log_level: str | None = None,
) -> uvicorn.Config:
    """websockets' sans-I/O protocol (lightened, see `LeanWebSocketProtocol`), the frame
    cap enforced by it (close 1009), no permessage-deflate (compression bombs; CPU), h11
    with bounded request heads (see `GuardedH11Protocol`), proxy headers only when asked.

    `app` may be a factory instead: `--workers` pickles the configuration into each worker
    process, which makes its own app with it (`workers.py`)."""
    factory = not isinstance(app, Starlette)
    return EdgeConfig(
        app,  # uvicorn calls a factory once loaded (`factory=True`)
        factory=factory,
        edge=HttpEdge(settings),
        host=settings.host,
        port=settings.port,
        ws=LeanWebSocketProtocol,
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        lifespan="on",
        proxy_headers=settings.behind_proxy,
        log_level=log_level or settings.log_level,
        loop="auto",
        http=GuardedH11Protocol,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )
