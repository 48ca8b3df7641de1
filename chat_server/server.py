"""The uvicorn configuration every way of running the app shares (CLI, tests, bench)."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from chat_server.config import Settings


def uvicorn_config(
    settings: Settings, app: Starlette, *, log_level: str | None = None
) -> uvicorn.Config:
    """websockets' sans-I/O protocol, the frame cap enforced by it (close 1009), no
    permessage-deflate (compression bombs; CPU), proxy headers only when asked."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws="websockets-sansio",
        ws_max_size=settings.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ping_interval_s,
        ws_ping_timeout=settings.ping_timeout_s,
        lifespan="on",
        proxy_headers=settings.behind_proxy,
        log_level=log_level or settings.log_level,
        loop="auto",
        http="auto",
    )
