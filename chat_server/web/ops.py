"""For operators: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat_server.core.model import State
from chat_server.web.runtime import runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    node = runtime(request).node
    store, bus = await node.store.ready(), node.hub.bus.ready()
    ready = store and bus
    return JSONResponse(
        {"ready": ready, "store": store, "bus": bus}, status_code=200 if ready else 503
    )


async def metrics(request: Request) -> Response:
    node = runtime(request).node
    waiting = await node.store.waiting()
    loads = await node.store.loads()
    node.metrics.conversations.labels(State.QUEUED.value).set(len(waiting))
    node.metrics.conversations.labels(State.ACTIVE.value).set(sum(x.active for x in loads.values()))
    return Response(generate_latest(node.metrics.registry), media_type=CONTENT_TYPE_LATEST)
