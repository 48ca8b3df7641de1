"""What the lifespan builds and the endpoints read from `app.state.runtime`."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from chat_server.core.limits import TokenBucket
from chat_server.service.accounts import Accounts
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import Node
from chat_server.web.auth import LoginThrottle, verify_password


def client_address(conn: HTTPConnection) -> str:
    """The client's address: behind a proxy (`behind_proxy`), the one it forwarded
    (uvicorn's proxy headers middleware puts it in the scope)."""
    return conn.client.host if conn.client else "unknown"


class AddressRates:
    """A token bucket per client address (`rate` per second, `burst`), in bounded memory:
    at most `max_addresses`, the least recently seen forgotten first (a forgotten bucket
    comes back full, which is what an address idle that long would have anyway)."""

    __slots__ = ("_buckets", "burst", "max_addresses", "rate")

    def __init__(self, rate: float, burst: int, max_addresses: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, address: str) -> bool:
        bucket = self._buckets.pop(address, None)  # re-inserted last: in order of use
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst)
        self._buckets[address] = bucket
        while len(self._buckets) > self.max_addresses:
            del self._buckets[next(iter(self._buckets))]
        return bucket.take(time.monotonic_ns() // 1_000_000)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(slots=True)
class Runtime:
    node: Node
    dispatcher: Dispatcher
    throttle: LoginThrottle
    connections: Counter[str] = field(default_factory=Counter)
    """Open WebSockets per client address (contract: connections per address)."""
    handshakes: AddressRates = field(init=False)
    """WebSocket handshakes per client address (`handshake_rate`, `handshake_burst`)."""
    new_visitors: AddressRates = field(init=False)
    """Visitor identities created per client address (`new_visitor_rate`, `_burst`)."""
    accounts: Accounts = field(init=False)
    """Sign-in, sessions and the team, checking passwords with argon2 (`web/auth`)."""

    def __post_init__(self) -> None:
        settings = self.node.settings
        self.accounts = Accounts(self.node, verify_password)
        self.handshakes = AddressRates(settings.handshake_rate, settings.handshake_burst)
        self.new_visitors = AddressRates(settings.new_visitor_rate, settings.new_visitor_burst)

    def admit(self, conn: HTTPConnection) -> str | None:
        """Take one of this address's socket slots: the address, to `release` when the
        socket ends, or None when it has too many. (Not a context manager: a generator
        frame held by every open socket is memory for nothing.)"""
        address = client_address(conn)
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
