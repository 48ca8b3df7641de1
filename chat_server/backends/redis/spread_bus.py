"""The bus of a spread installation (`partitions.py`): a `RedisBus` per partition, and
one under the installation's own prefix.

A conversation's channel and its visitor's are shard channels in their partition's slot,
where the conversation's scripts publish them (`channels.owner`); every other channel (the
queue, agents, supervisors, sites) is the installation's own. Each bus has its own
connection at its slot's primary; the hub hears them as one bus: lost when any is, back
when all are again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from chat_server.backends.base import Event, Handler
from chat_server.backends.redis.bus import RedisBus
from chat_server.backends.redis.partitions import Partitions
from chat_server.backends.redis.spread_roles import each
from chat_server.core import channels


class SpreadBus:
    async_subscribe = True

    def __init__(self, url: str, where: Partitions) -> None:
        self.where = where
        prefixes = (*where.prefixes, where.prefix)
        self.parts = [RedisBus(url, prefix=prefix) for prefix in prefixes]
        """One per partition, then the installation's own (`-1`)."""
        self._on_reconnect: Callable[[], None] | None = None
        self._on_lost: Callable[[], None] | None = None
        self._hearing = [False] * len(self.parts)
        for i, bus in enumerate(self.parts):
            bus.set_reconnect_handler(functools.partial(self._back, i))
            bus.set_lost_handler(functools.partial(self._lost, i))

    def _index(self, channel: str) -> int:
        owner = channels.owner(channel)
        return self.where.of(owner) if owner is not None else len(self.parts) - 1

    def _of(self, channel: str) -> RedisBus:
        return self.parts[self._index(channel)]

    def _back(self, i: int) -> None:
        self._hearing[i] = True
        if all(self._hearing) and self._on_reconnect is not None:
            self._on_reconnect()

    def _lost(self, i: int) -> None:
        was = all(self._hearing)
        self._hearing[i] = False
        if was and self._on_lost is not None:
            self._on_lost()

    def set_handler(self, handler: Handler) -> None:
        for bus in self.parts:
            bus.set_handler(handler)

    def set_reconnect_handler(self, callback: Callable[[], None]) -> None:
        self._on_reconnect = callback

    def set_lost_handler(self, callback: Callable[[], None]) -> None:
        self._on_lost = callback

    def ready(self) -> bool:
        return all(bus.ready() for bus in self.parts)

    async def listening(self, names: Iterable[str]) -> set[str]:
        groups: dict[int, list[str]] = {}
        for name in names:
            groups.setdefault(self._index(name), []).append(name)
        heard = await each(self.parts[p].listening(group) for p, group in groups.items())
        return set().union(*heard)

    async def publish(self, channel: str, event: Event) -> None:
        await self._of(channel).publish(channel, event)

    async def subscribe(self, channel: str) -> None:
        await self._of(channel).subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        await self._of(channel).unsubscribe(channel)

    async def start(self) -> None:
        await each(bus.start() for bus in self.parts)

    async def stop(self) -> None:
        self._on_lost = None
        await each(bus.stop() for bus in self.parts)
