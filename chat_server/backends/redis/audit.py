"""The audit trail: one capped stream (`Keys.audit`), written over the lean `Wire` (or by
append.lua, with the message it records), read newest first."""

from __future__ import annotations

from chat_server.backends.redis import decoded
from chat_server.backends.redis.client import Client, redis_errors
from chat_server.backends.redis.wire import Arg
from chat_server.core.model import AuditEntry

KEPT = 1_000_000
"""About how many entries the stream keeps (`MAXLEN ~`)."""
PAGE = 500


def audit_args(entry: AuditEntry) -> list[Arg]:
    """How many entries the audit stream keeps, "*", then the entry's fields and values:
    the arguments of `XADD <key> MAXLEN ~`, here and in append.lua."""
    return [
        KEPT,
        "*",
        *("ts", entry.ts, "agent_id", entry.agent_id, "action", entry.action),
        *("cid", entry.cid or "", "detail", entry.detail),
    ]


class RedisAudit:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def record(self, entry: AuditEntry) -> None:
        key = self.client.keys.audit()
        async with redis_errors():
            await self.client.wire.execute("XADD", key, "MAXLEN", "~", *audit_args(entry))

    async def log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        found: list[AuditEntry] = []
        end = "+"
        async with redis_errors():
            while len(found) < limit:
                entries = await self.client.redis.xrevrange(
                    self.client.keys.audit(), end, "-", count=PAGE
                )
                for _, raw in entries:
                    f = {decoded(k): decoded(v) for k, v in raw.items()}
                    entry = AuditEntry(
                        int(f["ts"]), f["agent_id"], f["action"], f["cid"] or None, f["detail"]
                    )
                    if (cid is None or entry.cid == cid) and (
                        agent_id is None or entry.agent_id == agent_id
                    ):
                        found.append(entry)
                if len(entries) < PAGE:
                    break
                end = f"({decoded(entries[-1][0])}"
        return found[:limit]
