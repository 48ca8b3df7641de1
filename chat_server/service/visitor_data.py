"""A visitor's data on request (issue 16): `chat-server visitor export` gathers everything
kept about a visitor as JSON, `chat-server visitor erase` removes it.

The export holds staff notes too: a data protection request covers what the staff wrote
about the person. Erase closes the open conversation first (by `system`, reason `erased`,
through the store's close and announced like any close: the agent's console, the queue
and the figures follow), removes every conversation whole (`retention.remove`: messages,
notes, rating, files, co-browse, indexes), then forgets what still finds the visitor: the
FCR mark, their visit history in the rollups, the directory record (name, email, page).
Figures keep their anonymous counts. Every step is atomic and idempotent on both
backends: an erase cut short is finished by running it again.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from chat_server.backends.base import Bus, Store
from chat_server.config import Settings
from chat_server.core import views
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.model import AuditEntry, Conversation, Kind, Message, Rating, Visitor
from chat_server.service.dispatch import Dispatcher
from chat_server.service.hub import Hub
from chat_server.service.node import Node

PAGE = 500
"""Messages read per history page, and conversations per first listing."""
ERASED = "erased"
"""The close reason of a conversation closed by an erase."""
EXPORT, ERASE = "visitor_export", "visitor_erase"
"""The audit actions."""


@dataclass(frozen=True, slots=True)
class Subject:
    """A visitor a request names: its record (None once forgotten) and its conversations,
    oldest first."""

    visitor_id: str
    visitor: Visitor | None
    conversations: list[Conversation]


async def find(
    store: Store, *, visitor_id: str | None = None, email: str | None = None
) -> list[Subject]:
    """The visitor with this id (known by its record or by a conversation), or every
    visitor with this email; empty when there is none."""
    if email is not None:
        return [
            Subject(v.id, v, await conversations_of(store, v.id))
            for v in await store.directory.visitors_by_email(email)
        ]
    if not visitor_id:
        return []
    visitor = await store.directory.visitor(visitor_id)
    convs = await conversations_of(store, visitor_id)
    return [Subject(visitor_id, visitor, convs)] if visitor or convs else []


async def conversations_of(store: Store, visitor_id: str) -> list[Conversation]:
    """All of them, oldest first (`find` lists newest first, up to a limit)."""
    limit = PAGE
    while True:
        found = await store.conversations.find(visitor_id=visitor_id, limit=limit)
        if len(found) < limit:
            return found[::-1]
        limit *= 4


async def transcript(store: Store, cid: str) -> list[Message]:
    """Every message, notes and system lines included, oldest first."""
    out: list[Message] = []
    after = 0
    while True:
        page, more = await store.conversations.history(cid, after, PAGE, notes=True)
        out += page
        if not more or not page:
            return out
        after = page[-1].seq


def said(messages: list[Message]) -> Counter[str]:
    """How many messages and notes (system lines are not counted)."""
    return Counter(
        messages=sum(m.kind is Kind.TEXT for m in messages),
        notes=sum(m.kind is Kind.NOTE for m in messages),
    )


def audit_entry(
    now: int, by: str, action: str, visitor_id: str, counts: Counter[str]
) -> AuditEntry:
    """Who exported or erased which visitor, and how much: never a name or an email."""
    detail = {"visitor": visitor_id, **dict(sorted(counts.items()))}
    return AuditEntry(now, by, action, None, json.dumps(detail, separators=(",", ":")))


# --- export ---------------------------------------------------------------------------------


async def export(
    store: Store, subject: Subject, files_dir: Path | None
) -> tuple[dict[str, Any], Counter[str]]:
    """One visitor's part of the export, and what it holds (counts); with `files_dir`, the
    files' bytes are copied under it (`<cid>/<file id>-<name>`)."""
    counts: Counter[str] = Counter(conversations=len(subject.conversations))
    conversations = [
        await _conversation(store, subject.visitor, conv, files_dir, counts)
        for conv in subject.conversations
    ]
    return {"visitor": visitor_json(subject), "conversations": conversations}, counts


def visitor_json(subject: Subject) -> dict[str, Any]:
    v = subject.visitor
    return {
        "id": subject.visitor_id,
        "site": v.site if v else None,
        "created": v.created if v else None,
        "name": v.name if v else None,
        "email": v.email if v else None,
        "page": {"url": v.page.url, "title": v.page.title} if v and v.page else None,
    }


def rating_json(rating: Rating | None) -> dict[str, Any] | None:
    if rating is None:
        return None
    return {
        "ts": rating.ts,
        "csat": rating.csat,
        "nps": rating.nps,
        "ces": rating.ces,
        "comment": rating.comment,
    }


async def _conversation(
    store: Store,
    visitor: Visitor | None,
    conv: Conversation,
    files_dir: Path | None,
    counts: Counter[str],
) -> dict[str, Any]:
    messages = await transcript(store, conv.id)
    rating = await store.conversations.rating(conv.id)
    files = await _files(store, conv.id, messages, files_dir)
    counts.update(said(messages))
    counts["ratings"] += rating is not None
    counts["files"] += len(files)
    if files_dir is not None:
        counts["files_copied"] += sum(f["path"] is not None for f in files)
    view = views.conversation(conv, visitor)
    del view["visitor"]  # the visitor is given once, above their conversations
    return {
        **view,
        "messages": [views.message(m) for m in messages],
        "rating": rating_json(rating),
        "files": files,
    }


async def _files(
    store: Store, cid: str, messages: list[Message], files_dir: Path | None
) -> list[dict[str, Any]]:
    """The files the messages sent: their records, and `path` where the bytes were copied
    (a file whose bytes are gone has `path: null`)."""
    sent = [(m, ref) for m in messages for ref in m.files]
    if not sent:
        return []
    records = await store.files.many(cid, [ref.id for _, ref in sent])
    out = []
    for (m, ref), stored in zip(sent, records, strict=True):
        entry: dict[str, Any] = {
            **views.file_ref(ref),
            "seq": m.seq,
            "from": m.sender.role.value,
        }
        if files_dir is not None:
            entry["path"] = await _copy(store, cid, ref.id, ref.name, files_dir) if stored else None
        out.append(entry)
    return out


def safe_name(name: str) -> str:
    """A file name from a visitor, usable as one path component (no separators, no dots
    first, bounded)."""
    cleaned = re.sub(r"[^\w.-]", "_", name).lstrip(".")[:100]
    return cleaned or "file"


async def _copy(store: Store, cid: str, file_id: str, name: str, files_dir: Path) -> str:
    relative = Path(safe_name(cid)) / f"{safe_name(file_id)}-{safe_name(name)}"
    target = files_dir / relative
    await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
    out = await asyncio.to_thread(target.open, "wb")
    try:
        async for chunk in store.files.read(file_id):
            await asyncio.to_thread(out.write, chunk)
    finally:
        out.close()
    return relative.as_posix()


# --- erase ----------------------------------------------------------------------------------


def erasing_node(settings: Settings, store: Store, bus: Bus, clock: Clock) -> Node:
    """A node that announces the closes an erase makes like any close, but asks no survey:
    nobody is left to answer it (and no survey is counted as shown)."""
    return Node(replace(settings, survey=()), store, Hub(bus), clock, b"")


async def erase(
    node: Node, subject: Subject, *, close_open: bool
) -> tuple[Counter[str], list[str]]:
    """Erase one visitor: what was removed (counts), and the open conversations left
    (when `close_open` is False: another process holds them; then the visitor's identity
    is kept too, for a later run to finish)."""
    store, vid = node.store, subject.visitor_id
    counts: Counter[str] = Counter()
    left: set[str] = set()
    # listed again until none is left: the visitor may start one meanwhile (Redis)
    while convs := [c for c in await conversations_of(store, vid) if c.id not in left]:
        for conv in convs:
            if conv.is_open and not close_open:
                left.add(conv.id)
                continue
            if conv.is_open:
                counts["closed"] += await _close(node, conv)
            counts.update(await _remove(store, conv.id))
    if left:
        return counts, sorted(left)
    await store.figures.take_resolved(vid, node.clock.now_ms())
    await store.rollups.forget_visitor(vid)
    counts["identity"] += await store.directory.forget_visitor(vid)
    return counts, []


async def route_freed(node: Node) -> None:
    """After closes: the agents they freed take the next waiting conversations now, and
    the queue is announced. A server node's dispatcher runs on what happens on that node:
    it did not see these closes."""
    dispatcher = Dispatcher(node)
    await dispatcher.assign_waiting()
    await dispatcher.announce_queue()


async def _close(node: Node, conv: Conversation) -> bool:
    """False when it closed, or went, meanwhile."""
    try:
        changed = await node.store.conversations.close(
            conv.id, node.clock.now_ms(), by="system", reason=ERASED, resolved=None
        )
    except ChatError as exc:
        if exc.code in (ErrorCode.CLOSED, ErrorCode.NOT_FOUND):
            return False
        raise
    await node.announce_closed(changed)
    return True


async def _remove(store: Store, cid: str) -> Counter[str]:
    """Counted before, removed after: nothing when another process removed it first."""
    counts = said(await transcript(store, cid))
    counts.update(
        conversations=1,
        files=await store.files.count(cid),
        ratings=await store.conversations.rating(cid) is not None,
    )
    if not await store.retention.remove(cid):
        return Counter()
    await store.webhooks.forget(cid)  # deliveries not yet made hold its text
    return counts
