"""Which agent actions are audited, and the entry each leaves: every action on a
conversation, reads included, for supervisors to review (never message text)."""

from __future__ import annotations

import json
from typing import Any

from chat_server.core.model import AuditEntry

AUDITED: dict[str, tuple[str, ...]] = {
    "claim": (),
    "msg": ("cmid",),
    "note": ("cmid",),
    "transfer": ("to", "topic"),
    "handoff": ("reason",),
    "close": ("resolved",),
    "assign": ("to",),
    "watch": ("on",),
    "sync": ("after",),
}
"""Frame types audited, with the fields worth keeping (never message text)."""
AUDITED_WITH_MESSAGE = frozenset({"msg", "note"})
"""Audited by `store.conversations.append`, with the message (a resent one is not a
second action)."""


def audit_entry(now: int, agent_id: str, action: str, body: Any) -> AuditEntry:
    """The entry for one frame of type `action`: its conversation and the fields of
    `AUDITED[action]` that are set."""
    detail = {k: getattr(body, k) for k in AUDITED[action] if getattr(body, k, None) is not None}
    return AuditEntry(
        now,
        agent_id,
        action,
        getattr(body, "cid", None),
        json.dumps(detail, separators=(",", ":")) if detail else "",
    )
