"""Prometheus counters and gauges for operators (`GET /metrics`).

Each node has its own registry so tests can build many apps in one process.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

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
        self.errors = Counter(
            "chat_errors_sent", "Error frames sent", ["code"], registry=self.registry
        )

    def message_stored(self, message: Message) -> None:
        self.messages.labels(message.kind.value, message.sender.role.value).inc()

    def conversation_closed(self, conv: Conversation) -> None:
        self.conversations_closed.labels(conv.close_reason or "unknown").inc()
