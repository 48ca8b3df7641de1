"""What the lifespan builds and the endpoints read from `app.state.runtime`."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.web.auth import LoginThrottle


@dataclass(slots=True)
class Runtime:
    node: Node
    dispatcher: Dispatcher
    throttle: LoginThrottle


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt
