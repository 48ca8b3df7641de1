"""The in-process bus: publishing is delivering, synchronously, to this process's hub.

The hub already knows which channels have local listeners: subscriptions are only noted,
to answer `listening`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chat_server.backends.base import Event, Handler


class LocalBus:
    async_subscribe = False

    def __init__(self) -> None:
        self._handler: Handler | None = None
        self._channels: set[str] = set()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        return None  # never disconnected

    def set_lost_handler(self, callback: Callable[[], None]) -> None:
        return None

    def ready(self) -> bool:
        return True

    async def listening(self, channels: Iterable[str]) -> set[str]:
        return {c for c in channels if c in self._channels}

    def deliver(self, channel: str, event: Event) -> None:
        """Publish without yielding to the loop (the store relies on this for ordering)."""
        if self._handler is not None:
            self._handler(channel, event)

    async def publish(self, channel: str, event: Event) -> None:
        self.deliver(channel, event)

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handler = None
