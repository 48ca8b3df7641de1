"""The in-process bus: publishing is delivering, synchronously, to this process's hub.

The hub already knows which channels have local listeners, so subscriptions are no-ops.
"""

from __future__ import annotations

from collections.abc import Callable

from chat_server.backends.base import Event, Handler


class LocalBus:
    async_subscribe = False

    def __init__(self) -> None:
        self._handler: Handler | None = None

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        return None  # never disconnected

    def ready(self) -> bool:
        return True

    def deliver(self, channel: str, event: Event) -> None:
        """Publish without yielding to the loop (the store relies on this for ordering)."""
        if self._handler is not None:
            self._handler(channel, event)

    async def publish(self, channel: str, event: Event) -> None:
        self.deliver(channel, event)

    async def subscribe(self, channel: str) -> None:
        return None

    async def unsubscribe(self, channel: str) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self._handler = None
