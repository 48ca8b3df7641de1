"""Prometheus counters and gauges for operators (`GET /metrics`).

Each node has its own registry so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from chat_server.core.model import Conversation, Message


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "chat_connections", "Open WebSocket connections", ["role"], registry=self.registry
        )
        self.messages = Counter(
            "chat_messages", "Messages stored", ["kind", "role"], registry=self.registry
        )
        self.conversations_started = Counter(
            "chat_conversations_started", "Conversations opened", registry=self.registry
        )
        self.conversations_closed = Counter(
            "chat_conversations_closed",
            "Conversations closed",
            ["reason"],
            registry=self.registry,
        )
        self.conversations = Gauge(
            "chat_conversations", "Open conversations by state", ["state"], registry=self.registry
        )
        self.frames = Counter(
            "chat_frames_received", "Client frames received", ["role"], registry=self.registry
        )
        buckets = (1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600)
        self.durations = {
            name: Histogram(f"chat_{name}", help_text, registry=self.registry, buckets=buckets)
            for name, help_text in (
                ("wait_seconds", "Conversation start to first assignment"),
                ("first_response_seconds", "Conversation start to the first agent reply"),
                ("response_seconds", "A visitor turn to the agent's reply"),
            )
        }
        self.slow_readers = Counter(
            "chat_slow_readers_disconnected",
            "Sockets closed because their send queue overflowed",
            registry=self.registry,
        )
        self.retention_removed = Counter(
            "chat_retention_removed",
            "Closed conversations removed by retention (retention_days)",
            registry=self.registry,
        )
        self.errors = Counter(
            "chat_errors_sent", "Error frames sent", ["code"], registry=self.registry
        )
        # the bus (Redis pub/sub) losing its connection and hearing again (issue 23)
        self.bus_reconnects = Counter(
            "chat_bus_reconnects",
            "Times this node's bus lost Redis pub/sub and subscribed again",
            registry=self.registry,
        )
        self.bus_catchup_messages = Counter(
            "chat_bus_catchup_messages",
            "Messages sent to open sockets by the catch-up after a bus reconnect",
            registry=self.registry,
        )
        self.bus_catchup_seconds = Histogram(
            "chat_bus_catchup_seconds",
            "From the bus hearing again to every open socket caught up and told the state",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.bus_catching_up = Gauge(
            "chat_bus_sessions_catching_up",
            "Open sockets being caught up after a bus reconnect",
            registry=self.registry,
        )

    def observe(self, sample: str, seconds: float) -> None:
        name = {
            "wait_s": "wait_seconds",
            "frt_s": "first_response_seconds",
            "response_s": "response_seconds",
        }.get(sample)
        if name is not None:
            self.durations[name].observe(seconds)

    def message_stored(self, message: Message) -> None:
        self.messages.labels(message.kind.value, message.sender.role.value).inc()

    def conversation_closed(self, conv: Conversation) -> None:
        self.conversations_closed.labels(conv.close_reason or "unknown").inc()
