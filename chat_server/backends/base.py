"""The two small interfaces every backend implements: `Bus` (fan-out) and `Store` (state,
by role: see `backends/roles/`).

Services import only these protocols; `app.py` picks the concrete backend. Durable events
(messages, notes, system lines) leave through the store, which publishes them in `seq`
order right after they are durably stored; the bus carries only ephemeral events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from chat_server.backends.roles.audit import Audit
from chat_server.backends.roles.cobrowse import Cobrowse
from chat_server.backends.roles.conversations import Conversations
from chat_server.backends.roles.directory import Directory
from chat_server.backends.roles.figures import Figures
from chat_server.backends.roles.files import Files
from chat_server.backends.roles.presence import Presence
from chat_server.backends.roles.retention import Retention
from chat_server.backends.roles.rollups import Rollups
from chat_server.backends.roles.search import Search
from chat_server.backends.roles.tags import Tags
from chat_server.backends.roles.webhooks import Webhooks

Event = dict[str, Any]
"""What travels on the bus: `{"frame": <wire frame>, "skip": <conn id or None>}`."""

Handler = Callable[[str, Event], None]


class Bus(Protocol):
    """Fan-out of events between nodes: at-most-once, no history."""

    async_subscribe: bool
    """True when a subscription takes effect only after `subscribe` returns (over a
    network): sessions then catch up from the store once it is in place."""

    def set_handler(self, handler: Handler) -> None:
        """Called with (channel, event) for every event on a subscribed channel."""

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        """Called once the bus hears again: connected, and every channel subscribed (after
        each loss, and at the first connection)."""

    def set_lost_handler(self, callback: Callable[[], None]) -> None:
        """Called as soon as the bus stops hearing events (before it reconnects): events
        published from then until the reconnect handler runs are lost to this node."""

    def ready(self) -> bool:
        """True while events can flow between nodes."""

    async def listening(self, channels: Iterable[str]) -> set[str]:
        """Those of `channels` that some node hears now (with Redis, `PUBSUB NUMSUB`: a
        channel nobody is subscribed to after a Redis restart or a cut pub/sub connection
        is not heard). Raises `unavailable` when it cannot tell."""

    async def publish(self, channel: str, event: Event) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class Store(Protocol):
    """All shared state, one role per kind. Every read-modify-write that two nodes could
    race on is atomic."""

    conversations: Conversations
    directory: Directory
    audit: Audit
    figures: Figures
    cobrowse: Cobrowse
    presence: Presence
    files: Files
    retention: Retention
    rollups: Rollups
    search: Search
    webhooks: Webhooks
    tags: Tags

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool:
        """True while the backing storage answers."""

    async def secret(self, candidate: bytes) -> bytes:
        """The server secret: `candidate` is kept if none exists yet; the kept one is returned."""
