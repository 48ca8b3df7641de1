"""Wire shapes of the domain values (contract §2 Objects), per audience.

The visitor never sees notes, nor an agent's id: only `agent.name`. A bot (issue 17) is
named so to everyone: `bot: true` beside its name, on its messages and as the agent.
"""

from __future__ import annotations

from typing import Any

from chat_server.core.ids import is_bot_id
from chat_server.core.model import AgentRef, Conversation, FileRef, Kind, Message, Role, Visitor


def message(m: Message, *, for_visitor: bool = False) -> dict[str, Any]:
    sender: dict[str, Any] = {"role": m.sender.role.value, "id": m.sender.id, "name": m.sender.name}
    if for_visitor and m.sender.role is Role.AGENT:
        sender = {"role": "agent", "name": m.sender.name}
    if m.sender.role is Role.AGENT and is_bot_id(m.sender.id):
        sender["bot"] = True
    out: dict[str, Any] = {
        "cid": m.cid,
        "seq": m.seq,
        "ts": m.ts,
        "kind": m.kind.value,
        "from": sender,
        "text": m.text,
    }
    if m.cmid is not None:
        out["cmid"] = m.cmid
    if m.files:
        out["files"] = [file_ref(f) for f in m.files]
    return out


def file_ref(f: FileRef) -> dict[str, Any]:
    """An attachment on the wire: read it at `GET /api/files/{id}` (images also at
    `/api/files/{id}/thumb`)."""
    out: dict[str, Any] = {"id": f.id, "name": f.name, "type": f.type, "size": f.size}
    if f.width is not None and f.height is not None:
        out["width"], out["height"] = f.width, f.height
    return out


def msg_event(m: Message, *, for_visitor: bool = False) -> dict[str, Any]:
    return {"t": "msg", **message(m, for_visitor=for_visitor)}


def visible_to_visitor(m: Message) -> bool:
    return m.kind is not Kind.NOTE


def agent_ref(agent: AgentRef | None, *, for_visitor: bool = False) -> dict[str, Any] | None:
    if agent is None:
        return None
    out: dict[str, Any] = {"name": agent.name}
    if not for_visitor:
        out = {"id": agent.id, **out}
    if is_bot_id(agent.id):
        out["bot"] = True
    return out


def visitor_info(v: Visitor | None, visitor_id: str) -> dict[str, Any]:
    page = None
    if v is not None and v.page is not None:
        page = {"url": v.page.url, "title": v.page.title}
    return {
        "id": visitor_id,
        "name": v.name if v else None,
        "email": v.email if v else None,
        "page": page,
    }


def conversation(
    c: Conversation,
    v: Visitor | None,
    *,
    for_visitor: bool = False,
    position: int | None = None,
    eta_s: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "state": c.state.value,
        "topic": c.topic,
        "created": c.created,
        "visitor": visitor_info(v, c.visitor_id),
        "agent": agent_ref(c.agent, for_visitor=for_visitor),
        "last_seq": c.last_seq,
    }
    if position is not None:
        out["position"] = position
        out["eta_s"] = eta_s
    out.update(_offline(c, for_visitor=for_visitor))
    if not for_visitor:
        out["fields"] = dict(c.fields)  # pre-chat answers: agents only (issue 14)
        out["site"] = c.site  # whose hours and form the console shows
    if c.state.value == "closed":
        out["closed"] = {
            "ts": c.closed_at,
            "by": c.closed_by,
            "reason": c.close_reason,
            "resolved": c.resolved,
        }
    return out


def _offline(c: Conversation, *, for_visitor: bool) -> dict[str, Any]:
    """Issue 14: agents see `last_active`; `snoozed_until` only once set."""
    out: dict[str, Any] = {}
    if not for_visitor:
        out["last_active"] = c.last_active
        if c.snoozed_until is not None:
            out["snoozed_until"] = c.snoozed_until
    return out
