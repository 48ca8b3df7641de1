"""One bus reconnect, as operators see it: how long the bus was deaf, how many sockets were
caught up, with how many messages, in how long (logged once the last one is done, and
counted in `/metrics`)."""

from __future__ import annotations

import asyncio
import logging

from chat_server.service.metrics import Metrics

log = logging.getLogger("chat_server.service.hub")


class Resync:
    """Every connection resynced after a reconnect calls `finish` exactly once."""

    __slots__ = ("_metrics", "down_s", "messages", "pending", "sessions", "started")

    def __init__(
        self, sessions: int, down_s: float | None, metrics: Metrics | None, started: float
    ) -> None:
        self.sessions = sessions
        self.pending = sessions
        self.messages = 0
        self.down_s = down_s
        """How long the bus was deaf (None: its first connection, nothing was lost)."""
        self.started = started
        self._metrics = metrics
        if metrics is not None:
            if down_s is not None:
                metrics.bus_reconnects.inc()
            metrics.bus_catching_up.inc(sessions)
        if sessions == 0:
            self._end()

    def finish(self, messages: int) -> None:
        """One connection is caught up (`messages` sent to it) and told the state."""
        self.messages += messages
        self.pending -= 1
        if self._metrics is not None:
            self._metrics.bus_catching_up.dec()
            self._metrics.bus_catchup_messages.inc(messages)
        if self.pending == 0:
            self._end()

    def _end(self) -> None:
        if self.down_s is None and self.sessions == 0:
            return  # the first connection at start: nothing to tell
        elapsed = asyncio.get_running_loop().time() - self.started
        if self._metrics is not None:
            self._metrics.bus_catchup_seconds.observe(elapsed)
        log.warning(
            "caught up %d sessions, %d messages in %.2f s after pub/sub was back%s",
            self.sessions,
            self.messages,
            elapsed,
            "" if self.down_s is None else f" (deaf for {self.down_s:.2f} s)",
        )
