"""What the lifespan builds and the endpoints read from `app.state.runtime`."""

from __future__ import annotations

from collections import Counter
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

    def admit(self, conn: HTTPConnection) -> str | None:
        """Take one of this address's socket slots: the address, to `release` when the
        socket ends, or None when it has too many. (Not a context manager: a generator
        frame held by every open socket is memory for nothing.)"""
        address = conn.client.host if conn.client else "unknown"
        if self.connections[address] >= self.node.settings.max_connections_per_address:
            return None
        self.connections[address] += 1
        return address

    def release(self, address: str) -> None:
        self.connections[address] -= 1
        if self.connections[address] <= 0:
            del self.connections[address]


def runtime(conn: HTTPConnection) -> Runtime:
    rt: Runtime = conn.app.state.runtime
    return rt
