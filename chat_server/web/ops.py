"""For operators: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.service import health
from chat_server.web.runtime import runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = await health.readiness(runtime(request).node)
    return JSONResponse(
        {"ready": state.ready, "store": state.store, "bus": state.bus},
        status_code=200 if state.ready else 503,
    )


async def metrics(request: Request) -> Response:
    node = runtime(request).node
    await health.refresh_gauges(node)
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)
