"""The audit trail: who did what to which conversation (staff actions, sign-ins)."""

from __future__ import annotations

from typing import Protocol

from chat_server.core.model import AuditEntry


class Audit(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...

    async def log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first."""
