"""Plain-dict forms of the domain values, for storage (SQLite columns, Redis hashes)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from chat_server.core import site_settings
from chat_server.core.model import (
    Agent,
    AgentRef,
    AgentRole,
    AgentStatus,
    Conversation,
    FileRef,
    Kind,
    Message,
    Page,
    Role,
    Sender,
    Site,
    State,
    StoredFile,
    Visitor,
)


def conversation_to_dict(c: Conversation) -> dict[str, Any]:
    return {
        "id": c.id,
        "site": c.site,
        "visitor_id": c.visitor_id,
        "state": c.state.value,
        "created": c.created,
        "last_seq": c.last_seq,
        "topic": c.topic,
        "agent": [c.agent.id, c.agent.name] if c.agent else None,
        "queued_at": c.queued_at,
        "queue_rank": c.queue_rank,
        "assigned_at": c.assigned_at,
        "first_response_at": c.first_response_at,
        "closed_at": c.closed_at,
        "closed_by": c.closed_by,
        "close_reason": c.close_reason,
        "resolved": c.resolved,
        "excluded_agents": sorted(c.excluded_agents),
        "visitor_turn_at": c.visitor_turn_at,
        "fields": dict(c.fields),
        **_offline_to_dict(c),
    }


def _offline_to_dict(c: Conversation) -> dict[str, Any]:
    """Issue 14: offline messages and inactivity."""
    return {
        "last_active": c.last_active,
        "warned_at": c.warned_at,
        "snoozed_until": c.snoozed_until,
        "pending_at": c.pending_at,
    }


def conversation_from_dict(d: dict[str, Any]) -> Conversation:
    agent = d.get("agent")
    return Conversation(
        id=d["id"],
        site=d["site"],
        visitor_id=d["visitor_id"],
        state=State(d["state"]),
        created=d["created"],
        last_seq=d["last_seq"],
        topic=d.get("topic"),
        agent=AgentRef(agent[0], agent[1]) if agent else None,
        queued_at=d.get("queued_at", 0),
        queue_rank=d.get("queue_rank", 1),
        assigned_at=d.get("assigned_at"),
        first_response_at=d.get("first_response_at"),
        closed_at=d.get("closed_at"),
        closed_by=d.get("closed_by"),
        close_reason=d.get("close_reason"),
        resolved=d.get("resolved"),
        excluded_agents=frozenset(d.get("excluded_agents", ())),
        visitor_turn_at=d.get("visitor_turn_at"),
        fields=tuple(d.get("fields", {}).items()),
        last_active=d.get("last_active"),
        warned_at=d.get("warned_at"),
        snoozed_until=d.get("snoozed_until"),
        pending_at=d.get("pending_at"),
    )


def message_row(m: Message) -> tuple[Any, ...]:
    """A message as stored; a tenth column, its files, only when it has some."""
    row: tuple[Any, ...] = (
        m.cid,
        m.seq,
        m.ts,
        m.kind.value,
        m.sender.role.value,
        m.sender.id,
        m.sender.name,
        m.text,
        m.cmid,
    )
    return (*row, files_to_json(m.files)) if m.files else row


def message_from_row(row: tuple[Any, ...] | list[Any]) -> Message:
    cid, seq, ts, kind, role, sender_id, sender_name, text, cmid = row[:9]
    files = files_from_json(row[9]) if len(row) > 9 and row[9] else ()
    sender = Sender(Role(role), sender_id, sender_name)
    return Message(cid, seq, ts, Kind(kind), sender, text, cmid, files)


def files_to_json(files: tuple[FileRef, ...]) -> list[list[Any]]:
    """Compact rows: `[id, name, type, size, width, height]`."""
    return [[f.id, f.name, f.type, f.size, f.width, f.height] for f in files]


def files_from_json(data: Any) -> tuple[FileRef, ...]:
    if isinstance(data, str):  # SQLite keeps the column as JSON text
        data = json.loads(data)
    return tuple(FileRef(*item) for item in data)


def stored_file_to_json(f: StoredFile) -> str:
    r = f.ref
    return json.dumps(
        [
            r.id,
            r.name,
            r.type,
            r.size,
            r.width,
            r.height,
            f.cid,
            f.site,
            f.owner,
            f.created,
            f.thumb,
            f.seq,
        ],
        separators=(",", ":"),
    )


def stored_file_from_json(raw: str | bytes) -> StoredFile:
    fid, name, type_id, size, width, height, cid, site, owner, created, thumb, seq = json.loads(raw)
    ref = FileRef(fid, name, type_id, size, width, height)
    return StoredFile(ref, cid, site, owner, created, thumb, seq)


def agent_row(a: Agent) -> tuple[Any, ...]:
    return (
        a.id,
        a.email,
        a.name,
        a.role.value,
        a.max_chats,
        ",".join(sorted(a.topics)),
        a.password_hash,
        a.status.value,
    )


def agent_from_row(row: tuple[Any, ...]) -> Agent:
    aid, email, name, role, max_chats, topics, password_hash, status = row
    return Agent(
        id=aid,
        email=email,
        name=name,
        role=AgentRole(role),
        max_chats=max_chats,
        topics=frozenset(t for t in topics.split(",") if t),
        password_hash=password_hash,
        status=AgentStatus(status),
    )


def visitor_row(v: Visitor) -> tuple[Any, ...]:
    return (
        v.id,
        v.site,
        v.created,
        v.name,
        v.email,
        v.page.url if v.page else None,
        v.page.title if v.page else None,
    )


def visitor_from_row(row: tuple[Any, ...]) -> Visitor:
    vid, site, created, name, email, url, title = row
    return Visitor(vid, site, created, name, email, Page(url, title or "") if url else None)


def site_to_json(site: Site) -> str:
    return json.dumps(
        {
            "origins": list(site.origins),
            "identity_secret": site.identity_secret,
            **site_settings.settings_json(site),
        }
    )


def site_from_json(site_id: str, raw: str | bytes) -> Site:
    data = json.loads(raw)
    if isinstance(data, list):  # the first format: origins only
        return Site(site_id, tuple(data))
    site = Site(site_id, tuple(data["origins"]), data.get("identity_secret"))
    for key in site_settings.SETTINGS:  # absent before issue 14: the defaults
        if key in data:
            with contextlib.suppress(ValueError):  # e.g. a time zone this host lacks
                site = site_settings.apply(site, {key: data[key]})
    return site
