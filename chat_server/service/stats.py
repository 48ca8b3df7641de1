"""The `stats` frame (contract §6): live figures, pushed every second to the supervisors
on this node who asked for them. Pushed locally, not over the bus, so a supervisor gets
one frame a second however many nodes there are."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from chat_server.core import channels, metrics
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import AgentStatus
from chat_server.service.node import Node

log = logging.getLogger(__name__)
WINDOWS = tuple(metrics.WINDOWS)


async def live_figures(node: Node) -> dict[str, Any]:
    store, now = node.store, node.clock.now_ms()
    waiting = await store.conversations.waiting()
    loads = await store.conversations.loads()
    online = await store.presence.online("agent")
    # people: a bot (issue 17) is not an agent online, away or available
    agents = [a for a in await store.directory.agents() if a.id in online and not a.is_bot]
    available = [
        a
        for a in agents
        if a.status is AgentStatus.ONLINE
        and (loads[a.id].active if a.id in loads else 0) < a.max_chats
    ]
    return {
        "waiting": len(waiting),
        "longest_wait_s": max(((now - c.queued_at) // 1000 for c in waiting), default=0),
        "active": sum(load.active for load in loads.values()),
        "agents_online": sum(a.status is AgentStatus.ONLINE for a in agents),
        "agents_away": sum(a.status is not AgentStatus.ONLINE for a in agents),
        "agents_available": len(available),
    }


async def window_figures(
    node: Node, dim: str = "all", windows: tuple[str, ...] = WINDOWS
) -> dict[str, Any]:
    now = node.clock.now_ms()
    return {w: metrics.window_view(await node.store.figures.read(w, now, dim)) for w in windows}


async def stats_frame(node: Node) -> dict[str, Any]:
    return {
        "t": "stats",
        "ts": node.clock.now_ms(),
        "live": await live_figures(node),
        "windows": await window_figures(node),
    }


class StatsPusher:
    def __init__(self, node: Node, interval_s: float = 1.0) -> None:
        self.node = node
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._away = False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stats")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.node.hub.local(channels.SUPERVISORS):
                continue
            try:
                frame = await stats_frame(self.node)
            except Exception as exc:
                if isinstance(exc, ChatError) and exc.code is ErrorCode.UNAVAILABLE:
                    # the store is away (a Redis restart): said once, not every second
                    if not self._away:
                        log.warning("stats paused: %s", exc)
                    self._away = True
                else:
                    log.exception("stats failed")
                continue
            if self._away:
                log.info("stats resumed")
                self._away = False
            self.node.hub.dispatch(channels.SUPERVISORS, {"frame": frame, "skip": None})
