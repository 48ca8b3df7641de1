"""The conversations and messages tables: the SQL of the conversations role.

A conversation row keeps the whole conversation as JSON (`data`), plus the columns it is
looked up by. The write builders compute every row on the event loop, when the write is
decided, and return the op that the writer runs later (`sqlite.py`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from chat_server.backends.embedded.audit import insert_audit
from chat_server.backends.embedded.webhooks import insert_events
from chat_server.backends.records import (
    conversation_from_dict,
    conversation_to_dict,
    message_from_row,
    message_row,
)
from chat_server.core.model import AuditEntry, Conversation, Message
from chat_server.core.webhooks import Event

MESSAGE_COLUMNS = "cid, seq, ts, kind, role, sender_id, sender_name, text, cmid, files"
"""Every column of `messages`, in `records.message_row`'s order (`files`: JSON, or NULL)."""
Op = Callable[[sqlite3.Connection], None]


def _dump(conv: Conversation) -> str:
    return json.dumps(conversation_to_dict(conv))


def _load(data: str) -> Conversation:
    return conversation_from_dict(json.loads(data))


# writes ---------------------------------------------------------------------------------


def opened(conv: Conversation, messages: list[Message], events: Sequence[Event] = ()) -> Op:
    """`events`: webhook events, into the outbox in the same transaction (as for each op)."""
    row = (conv.id, conv.visitor_id, conv.state.value, conv.created, _dump(conv))

    def op(c: sqlite3.Connection) -> None:
        c.execute(
            "INSERT INTO conversations (id, visitor_id, state, agent_id, created, data) "
            "VALUES (?, ?, ?, NULL, ?, ?)",
            row,
        )
        _insert_messages(c, messages)
        if events:
            insert_events(c, events)

    return op


def appended(
    conv: Conversation,
    messages: list[Message],
    *,
    row_changed: bool,
    audit: AuditEntry | None,
    sent: Sequence[str] = (),
    events: Sequence[Event] = (),
) -> Op:
    """New messages; the conversation's row only when it changed (most appends leave it);
    the uploads the (one) message sends for the first time are bound to its seq."""
    data = _dump(conv) if row_changed else None
    bound = [(messages[-1].seq, fid) for fid in sent]

    def op(c: sqlite3.Connection) -> None:
        _insert_messages(c, messages)
        if bound:
            c.executemany("UPDATE files SET seq = ? WHERE id = ? AND seq IS NULL", bound)
        if data is not None:
            c.execute("UPDATE conversations SET data = ? WHERE id = ?", (data, conv.id))
        if audit is not None:
            insert_audit(c, audit)
        if events:
            insert_events(c, events)

    return op


def changed(
    conv: Conversation,
    agent_id: str | None,
    messages: list[Message],
    events: Sequence[Event] = (),
) -> Op:
    """A transition: the new state and agent (the last one, once it has none), and its lines."""
    row = (conv.state.value, agent_id, _dump(conv), conv.id)

    def op(c: sqlite3.Connection) -> None:
        c.execute("UPDATE conversations SET state = ?, agent_id = ?, data = ? WHERE id = ?", row)
        _insert_messages(c, messages)
        if events:
            insert_events(c, events)

    return op


def _insert_messages(c: sqlite3.Connection, messages: list[Message]) -> None:
    c.executemany(
        f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_row(m) for m in messages],
    )


def _row(m: Message) -> tuple[Any, ...]:
    """`records.message_row` with its files as JSON text, NULL for none."""
    row = message_row(m)
    return (*row[:9], json.dumps(row[9], separators=(",", ":")) if len(row) > 9 else None)


# reads ----------------------------------------------------------------------------------


def conversation(c: sqlite3.Connection, cid: str) -> Conversation | None:
    row = c.execute("SELECT data FROM conversations WHERE id = ?", (cid,)).fetchone()
    return _load(row[0]) if row else None


def conversations(
    c: sqlite3.Connection, where: str, args: list[str], limit: int
) -> list[Conversation]:
    sql = f"SELECT data FROM conversations{where} ORDER BY created DESC LIMIT ?"
    return [_load(r[0]) for r in c.execute(sql, (*args, limit)).fetchall()]


def history(
    c: sqlite3.Connection, cid: str, after: int, limit: int, *, notes: bool
) -> tuple[list[Message], bool]:
    kinds = "" if notes else " AND kind != 'note'"
    sql = (
        f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE cid = ? AND seq > ?{kinds} "
        "ORDER BY seq LIMIT ?"
    )
    rows = c.execute(sql, (cid, after, limit + 1)).fetchall()
    return [message_from_row(r) for r in rows[:limit]], len(rows) > limit


OPEN_MESSAGES = "conversations v CROSS JOIN messages m ON m.cid = v.id WHERE v.state != 'closed'"
"""The open conversations' messages, read conversation by conversation through the
messages' primary key (`CROSS JOIN` keeps that order): start-up reads what is open, not
every message ever stored."""

TURNS = (
    f"SELECT m.cid, MIN(m.ts) FROM {OPEN_MESSAGES} AND m.kind = 'text' "
    "AND m.role = 'visitor' AND m.seq > COALESCE((SELECT MAX(a.seq) FROM messages a "
    "WHERE a.cid = m.cid AND a.kind = 'text' AND a.role = 'agent'), 0) GROUP BY m.cid"
)
"""Since when each open conversation's visitor awaits an answer: their first text after
the last agent text (`conversation.after_message`), none when an agent spoke last."""


def load_open(c: sqlite3.Connection) -> tuple[list[Conversation], list[Message]]:
    """The open conversations (each at its last stored seq) and their messages with a cmid."""
    rows = c.execute("SELECT data FROM conversations WHERE state != 'closed'").fetchall()
    convs = [_load(r[0]) for r in rows]
    last: dict[str, Any] = dict(
        c.execute(f"SELECT m.cid, MAX(m.seq) FROM {OPEN_MESSAGES} GROUP BY m.cid").fetchall()
    )
    # appends leave the row alone unless more than these moved (conversation.row_changed);
    # the row's `last_active` may be later than any text: an agent took the chat since
    active: dict[str, Any] = dict(
        c.execute(
            f"SELECT m.cid, MAX(m.ts) FROM {OPEN_MESSAGES} AND m.kind = 'text' "
            "AND m.role IN ('visitor', 'agent') GROUP BY m.cid"
        ).fetchall()
    )
    turns: dict[str, Any] = dict(c.execute(TURNS).fetchall())
    convs = [
        replace(
            conv,
            last_seq=last.get(conv.id, conv.last_seq),
            last_active=_latest(active.get(conv.id), conv.last_active),
            visitor_turn_at=turns.get(conv.id),
        )
        for conv in convs
    ]
    cmids = c.execute(
        f"SELECT {', '.join('m.' + col for col in MESSAGE_COLUMNS.split(', '))} "
        f"FROM {OPEN_MESSAGES} AND m.cmid IS NOT NULL"
    ).fetchall()
    return convs, [message_from_row(r) for r in cmids]


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)
