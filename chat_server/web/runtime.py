"""What the lifespan builds and the endpoints read from `app.state.runtime`."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.web.auth import LoginThrottle


@dataclass(slots=True)
class Runtime:
    node: Node
    dispatcher: Dispatcher
    throttle: LoginThrottle
    connections: Counter[str] = field(default_factory=Counter)
    """Open WebSockets per client address (contract: connections per address)."""

    @contextlib.contextmanager
    def connection_slot(self, conn: HTTPConnection) -> Iterator[bool]:
        """Whether this address may open another socket; held while the socket lives."""
        address = conn.client.host if conn.client else "unknown"
        if self.connections[address] >= self.node.settings.max_connections_per_address:
            yield False
            return
        self.connections[address] += 1
        try:
            yield True
        finally:
            self.connections[address] -= 1
            if self.connections[address] <= 0:
                del self.connections[address]


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt
