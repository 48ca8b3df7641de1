"""The embedded store: open conversations in memory, everything durable in SQLite.

This process is the only writer, so each check-and-change runs on the event loop without
an `await` in between (that is what makes `claim` and capacity atomic), then the change is
committed (group commit, see `sqlite.py`) and only then published and acknowledged.
Memory changes before the commit, as `Edits` the database undoes if the write does not
commit, for any reason: memory is never ahead of disk. A write that fails is stepped back
and the store goes on; if a commit itself fails, the store stops accepting writes
(`unavailable`, `/readyz` fails), since what that commit left on disk is not known for sure.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from chat_server.backends.base import AgentLoad, Appended, Changed, PresenceKind
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.edits import Edits
from chat_server.backends.embedded.sqlite import Database, WriteFailed
from chat_server.backends.records import (
    agent_from_row,
    agent_row,
    conversation_from_dict,
    conversation_to_dict,
    message_from_row,
    message_row,
    site_from_json,
    site_to_json,
    visitor_from_row,
    visitor_row,
)
from chat_server.core import channels, cobrowse, routing, views
from chat_server.core import conversation as flow
from chat_server.core.clock import Clock
from chat_server.core.cobrowse import Session as CobrowseSession
from chat_server.core.errors import ChatError, ErrorCode, conflict, unavailable
from chat_server.core.metrics import Figures, RollingWindows
from chat_server.core.model import (
    Agent,
    AgentRef,
    AgentStatus,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    Sender,
    Site,
    State,
    Visitor,
)

MESSAGE_COLUMNS = "cid, seq, ts, kind, role, sender_id, sender_name, text, cmid"
AGENT_COLUMNS = "id, email, name, role, max_chats, topics, password_hash, status"
VISITOR_COLUMNS = "id, site, created, name, email, page_url, page_title"
CmidKey = tuple[str | None, str]
"""A message's sender id and cmid, within its conversation."""
Stored = tuple[Message, asyncio.Future[Any]]
"""A message with a cmid, and the commit that stores it (done once committed)."""


class EmbeddedStore:
    def __init__(
        self, data_dir: Path, bus: LocalBus, clock: Clock, *, synchronous: str = "NORMAL"
    ) -> None:
        self.db = Database(data_dir / "chat.sqlite3", synchronous=synchronous)
        self.bus = bus
        self.clock = clock
        self._open: dict[str, Conversation] = {}
        self._by_visitor: dict[str, str] = {}
        self._active: dict[str, set[str]] = {}
        self._last_assigned: dict[str, int] = {}
        self._cmids: dict[str, dict[CmidKey, Stored]] = {}
        """Per open conversation: a resent cmid is answered with its message's seq."""
        self._conns: dict[PresenceKind, dict[str, set[str]]] = {"agent": {}, "visitor": {}}
        self._gone: dict[PresenceKind, dict[str, int]] = {"agent": {}, "visitor": {}}
        self._cobrowse: dict[str, CobrowseSession] = {}
        self._replay: dict[str, cobrowse.ReplayBuffer] = {}
        self._figures = RollingWindows()
        self._resolved: dict[str, tuple[int, tuple[str, ...], int]] = {}

    # lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        await self.db.start()
        open_convs, cmid_rows = await self.db.read(_load_open)
        saved = await self.db.read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = 'figures'").fetchone()
        )
        if saved is not None:
            snapshot = json.loads(saved[0])
            self._figures = RollingWindows.restore(snapshot["windows"])
            self._resolved = {k: (v[0], tuple(v[1]), v[2]) for k, v in snapshot["resolved"].items()}
        now = self.clock.now_ms()
        for conv in open_convs:
            self._remember(conv, Edits())
            self._gone["visitor"][conv.visitor_id] = now
            if conv.agent is not None:
                self._gone["agent"][conv.agent.id] = now
        for row in cmid_rows:
            done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            m = message_from_row(row)
            assert m.cmid is not None
            self._cmids.setdefault(m.cid, {})[(m.sender.id, m.cmid)] = (m, done)

    async def stop(self) -> None:
        if self.db.failed is None:
            await self.save_figures()
        await self.db.stop()

    async def checkpoint(self) -> None:
        await self.save_figures()

    async def save_figures(self) -> None:
        """The rolling figures live in memory; this keeps them across restarts (the sweeper
        calls it every few seconds, and `stop` once more)."""
        self._figures.prune(self.clock.now_ms())
        blob = json.dumps(
            {
                "windows": self._figures.snapshot(),
                "resolved": {k: list(v) for k, v in self._resolved.items()},
            }
        )
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('figures', ?)", (blob,)
            )
        )

    async def ready(self) -> bool:
        if self.db.failed is not None:
            return False
        try:
            await self.db.read(lambda c: c.execute("SELECT 1").fetchone())
        except sqlite3.Error:
            return False
        return True

    async def secret(self, candidate: bytes) -> bytes:
        def op(c: sqlite3.Connection) -> bytes:
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('secret', ?)", (candidate,))
            value: bytes = c.execute("SELECT value FROM meta WHERE key = 'secret'").fetchone()[0]
            return value

        kept: bytes = await self._write(op)
        return kept

    # sites, agents, credentials ---------------------------------------------------------

    async def put_site(self, site: Site) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO sites (id, origins) VALUES (?, ?)",
                (site.id, site_to_json(site)),
            )
        )

    async def site(self, site_id: str) -> Site | None:
        row = await self.db.read(
            lambda c: c.execute("SELECT id, origins FROM sites WHERE id = ?", (site_id,)).fetchone()
        )
        return site_from_json(row[0], row[1]) if row else None

    async def add_agent(self, agent: Agent) -> None:
        def op(c: sqlite3.Connection) -> bool:
            sql = f"INSERT OR IGNORE INTO agents ({AGENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            return c.execute(sql, agent_row(agent)).rowcount == 1

        if not await self._write(op):
            raise conflict(f"an agent with email {agent.email} exists")

    async def agent(self, agent_id: str) -> Agent | None:
        return await self._one_agent("id", agent_id)

    async def agent_by_email(self, email: str) -> Agent | None:
        return await self._one_agent("email", email)

    async def _one_agent(self, column: str, value: str) -> Agent | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {AGENT_COLUMNS} FROM agents WHERE {column} = ?", (value,)
            ).fetchone()
        )
        return agent_from_row(row) if row else None

    async def agents(self) -> list[Agent]:
        rows = await self.db.read(
            lambda c: c.execute(f"SELECT {AGENT_COLUMNS} FROM agents ORDER BY name").fetchall()
        )
        return [agent_from_row(r) for r in rows]

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        await self._write(
            lambda c: c.execute(
                "UPDATE agents SET status = ? WHERE id = ?", (status.value, agent_id)
            )
        )

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO credentials (hash, agent_id, kind, expires) VALUES (?, ?, ?, ?)",
                (secret_hash, agent_id, kind, expires),
            )
        )

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT agent_id, expires FROM credentials WHERE hash = ?", (secret_hash,)
            ).fetchone()
        )
        if row is None or (row[1] is not None and row[1] <= now):
            return None
        agent_id: str = row[0]
        return agent_id

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        def op(c: sqlite3.Connection) -> int:
            return c.execute("DELETE FROM credentials WHERE agent_id = ?", (agent_id,)).rowcount

        revoked: int = await self._write(op)
        return revoked

    async def audit(self, entry: AuditEntry) -> None:
        await self._write(lambda c: _insert_audit(c, entry))

    async def audit_log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        where, args = _where(cid=cid, agent_id=agent_id)
        sql = (
            f"SELECT ts, agent_id, action, cid, detail FROM audit{where} "
            "ORDER BY ts DESC, rowid DESC LIMIT ?"
        )
        rows = await self.db.read(lambda c: c.execute(sql, (*args, limit)).fetchall())
        return [AuditEntry(*row) for row in rows]

    async def revoke_credential(self, secret_hash: str) -> None:
        await self._write(
            lambda c: c.execute("DELETE FROM credentials WHERE hash = ?", (secret_hash,))
        )

    # visitors ---------------------------------------------------------------------------

    async def put_visitor(self, visitor: Visitor) -> None:
        await self._write(
            lambda c: c.execute(
                f"INSERT OR REPLACE INTO visitors ({VISITOR_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                visitor_row(visitor),
            )
        )

    async def visitor(self, visitor_id: str) -> Visitor | None:
        row = await self.db.read(
            lambda c: c.execute(
                f"SELECT {VISITOR_COLUMNS} FROM visitors WHERE id = ?", (visitor_id,)
            ).fetchone()
        )
        return visitor_from_row(row) if row else None

    # conversations: reads ---------------------------------------------------------------

    async def conversation(self, cid: str) -> Conversation | None:
        if cid in self._open:
            return self._open[cid]
        row = await self.db.read(
            lambda c: c.execute("SELECT data FROM conversations WHERE id = ?", (cid,)).fetchone()
        )
        return conversation_from_dict(json.loads(row[0])) if row else None

    async def open_conversation_of(self, visitor_id: str) -> Conversation | None:
        cid = self._by_visitor.get(visitor_id)
        return self._open[cid] if cid else None

    async def conversations(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        where, args = _where(
            state=state.value if state else None, agent_id=agent_id, visitor_id=visitor_id
        )
        sql = f"SELECT data FROM conversations{where} ORDER BY created DESC LIMIT ?"
        rows = await self.db.read(lambda c: c.execute(sql, (*args, limit)).fetchall())
        stored = [conversation_from_dict(json.loads(r[0])) for r in rows]
        return [self._open.get(c.id, c) for c in stored]

    async def waiting(self) -> list[Conversation]:
        return routing.queue_order(self._open.values())

    async def active_of(self, agent_id: str) -> list[Conversation]:
        return [self._open[cid] for cid in sorted(self._active.get(agent_id, ()))]

    async def loads(self) -> dict[str, AgentLoad]:
        ids = set(self._active) | set(self._last_assigned)
        return {
            aid: AgentLoad(len(self._active.get(aid, ())), self._last_assigned.get(aid, 0))
            for aid in ids
        }

    async def messages_after(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        kinds = "" if notes else " AND kind != 'note'"
        sql = (
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE cid = ? AND seq > ?{kinds} "
            "ORDER BY seq LIMIT ?"
        )
        rows = await self.db.read(lambda c: c.execute(sql, (cid, after, limit + 1)).fetchall())
        messages = [message_from_row(r) for r in rows[:limit]]
        return messages, len(rows) > limit

    # conversations: writes --------------------------------------------------------------

    async def open_conversation(
        self, conv: Conversation, first: Draft, origin: str | None
    ) -> Message:
        if conv.visitor_id in self._by_visitor:
            raise conflict("you already have an open conversation")
        message = Message(
            conv.id, 1, conv.created, first.kind, first.sender, first.text, first.cmid
        )
        conv = flow.after_message(conv, message)
        data = json.dumps(conversation_to_dict(conv))

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO conversations (id, visitor_id, state, agent_id, created, data) "
                "VALUES (?, ?, ?, NULL, ?, ?)",
                (conv.id, conv.visitor_id, conv.state.value, conv.created, data),
            )
            _insert_messages(c, [message])

        await self._store(op, conv, [message], origin)
        return message

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
    ) -> Appended:
        conv = await self._require_open(cid, draft.sender if guarded else None)
        if draft.cmid is not None:
            seen = self._cmids.get(cid, {}).get((draft.sender.id, draft.cmid))
            if seen is not None:
                message, stored = seen
                await self._await_durable(stored)
                return Appended(message, created=False)
        message = Message(
            cid,
            conv.last_seq + 1,
            self.clock.now_ms(),
            draft.kind,
            draft.sender,
            draft.text,
            draft.cmid,
        )
        updated = flow.after_message(conv, message)
        data = (
            json.dumps(conversation_to_dict(updated)) if flow.row_changed(conv, updated) else None
        )

        def op(c: sqlite3.Connection) -> None:
            _insert_messages(c, [message])
            if data is not None:
                c.execute("UPDATE conversations SET data = ? WHERE id = ?", (data, cid))
            if audit is not None:
                _insert_audit(c, audit)

        await self._store(op, updated, [message], origin)
        return Appended(message, created=True, timing=conv.timing)

    async def assign(
        self, cid: str, agent: Agent, now: int, *, reassign: bool, enforce_capacity: bool
    ) -> Changed:
        conv = await self._require_open(cid)
        if enforce_capacity and not flow.has_capacity(
            len(self._active.get(agent.id, ())), agent.max_chats
        ):
            raise conflict(f"{agent.name} has no free capacity")
        transition = flow.assign(conv, AgentRef(agent.id, agent.name), now, reassign=reassign)
        return await self._apply(conv, transition, assigned=(agent.id, now))

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None = None,
        only_agent: str | None = None,
    ) -> Changed:
        conv = await self._require_open(cid)
        if only_agent is not None and (conv.agent is None or conv.agent.id != only_agent):
            raise conflict("the conversation has moved on")
        transition = flow.requeue(conv, now, reason=reason, front=front, topic=topic)
        return await self._apply(conv, transition)

    async def close(
        self, cid: str, now: int, *, by: str, reason: str, resolved: bool | None
    ) -> Changed:
        conv = await self._require_open(cid)
        transition = flow.close(conv, now, by=by, reason=reason, resolved=resolved)
        return await self._apply(conv, transition)

    async def rate(self, rating: Rating) -> None:
        r = rating
        row = (r.cid, r.ts, r.csat, r.nps, r.ces, r.comment, r.agent_id, r.topic)

        def op(c: sqlite3.Connection) -> bool:
            inserted = c.execute(
                "INSERT OR IGNORE INTO ratings (cid, ts, csat, nps, ces, comment, agent_id, "
                "topic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return inserted.rowcount == 1  # 0: the conversation was rated before

        if not await self._write(op):
            raise ChatError(ErrorCode.ALREADY_RATED, "this conversation was already rated")

    async def rating(self, cid: str) -> Rating | None:
        row = await self.db.read(
            lambda c: c.execute(
                "SELECT cid, ts, csat, nps, ces, comment, agent_id, topic FROM ratings "
                "WHERE cid = ?",
                (cid,),
            ).fetchone()
        )
        return Rating(*row) if row else None

    # rolling figures --------------------------------------------------------------------

    async def record_figures(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        self._figures.record(ts, dims, figures)

    async def read_figures(self, window: str, now: int, dim: str) -> Figures:
        return self._figures.read(window, now, dim)

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        self._resolved[visitor_id] = (ts, dims, ts + ttl_ms)

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        mark = self._resolved.pop(visitor_id, None)
        for vid in [v for v, m in self._resolved.items() if m[2] <= now]:
            del self._resolved[vid]
        if mark is None or mark[2] <= now:
            return None
        return mark[0], mark[1]

    # co-browsing: held in memory (one process; a restart ends every co-browse) -----------

    async def cobrowse(self, cid: str) -> CobrowseSession:
        return self._cobrowse.get(cid, cobrowse.NONE)

    async def cobrowse_change(
        self, cid: str, expected: CobrowseSession, new: CobrowseSession
    ) -> bool:
        if self._cobrowse.get(cid, cobrowse.NONE) != expected:
            return False
        if new.state is cobrowse.CobrowseState.NONE:
            self._cobrowse.pop(cid, None)
        else:
            self._cobrowse[cid] = new
        return True

    async def cobrowse_record(
        self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int
    ) -> bool:
        buffer = self._replay.setdefault(cid, cobrowse.ReplayBuffer(max_bytes))
        return buffer.add(encoded, restarts=restarts)

    async def cobrowse_replay(self, cid: str) -> list[bytes]:
        buffer = self._replay.get(cid)
        return list(buffer.batches) if buffer else []

    async def cobrowse_forget(self, cid: str) -> None:
        self._replay.pop(cid, None)

    # presence ---------------------------------------------------------------------------

    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None:
        self._conns[kind].setdefault(ident, set()).add(conn_id)
        self._gone[kind].pop(ident, None)

    async def heartbeat(self, now: int) -> None:
        return None  # one process: a connection lives exactly as long as this process

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        conns = self._conns[kind].get(ident, set())
        conns.discard(conn_id)
        if conns:
            return len(conns)
        self._conns[kind].pop(ident, None)
        self._gone[kind][ident] = now
        return 0

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        conns = self._conns[kind]
        return set(conns) if among is None else {ident for ident in among if ident in conns}

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        return [ident for ident, since in self._gone[kind].items() if since < before]

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        self._gone[kind].pop(ident, None)

    # internals --------------------------------------------------------------------------

    async def _require_open(self, cid: str, author: Sender | None = None) -> Conversation:
        """The open conversation (`not_found`, then `require_author` when given, `closed`).

        Memory holds every open conversation, ahead of the disk: one that is not there is
        closed (perhaps not yet on disk) or unknown, and the disk only tells which. A write
        is never decided on the disk's copy, which a pending close has not reached yet."""
        conv = self._open.get(cid)
        if conv is None:
            stored = await self.conversation(cid)
            conv = self._open.get(cid)  # a close that failed meanwhile reopened it
            if conv is None:
                if stored is None:
                    raise flow.unknown_conversation()
                if author is not None:
                    flow.require_author(stored, author)
                raise flow.closed_conversation()
        if author is not None:
            flow.require_author(conv, author)
        flow.ensure_open(conv)
        return conv

    def _remember(self, conv: Conversation, edits: Edits) -> None:
        """Keep the in-memory indexes (open, by visitor, active per agent, cmids) in step,
        as `edits`. Keys: the conversation, its visitor (one open conversation each) and
        each agent whose active set or last assignment changes (capacity, routing)."""
        cid, visitor = conv.id, f"v:{conv.visitor_id}"
        old = self._open.get(cid)
        holder = conv.agent.id if conv.state is State.ACTIVE and conv.agent else None
        if old is not None and old.agent is not None and old.agent.id != holder:
            edits.discard(f"a:{old.agent.id}", self._active, old.agent.id, cid)
        if holder is not None:
            edits.add(f"a:{holder}", self._active, holder, cid)
        if conv.state is State.CLOSED:
            edits.pop(cid, self._open, cid)
            edits.pop(cid, self._cmids, cid)
            edits.pop(visitor, self._by_visitor, conv.visitor_id)
            return
        edits.put(cid, self._open, cid, conv)
        edits.put(visitor, self._by_visitor, conv.visitor_id, cid)

    async def _apply(
        self,
        before: Conversation,
        transition: flow.Transition,
        *,
        assigned: tuple[str, int] | None = None,
    ) -> Changed:
        conv = transition.conversation
        messages: list[Message] = []
        ts = self.clock.now_ms()
        for draft in transition.drafts:
            m = Message(conv.id, conv.last_seq + 1, ts, draft.kind, draft.sender, draft.text)
            conv = flow.after_message(conv, m)
            messages.append(m)
        data = json.dumps(conversation_to_dict(conv))
        agent_id = conv.agent.id if conv.agent else (before.agent.id if before.agent else None)

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE conversations SET state = ?, agent_id = ?, data = ? WHERE id = ?",
                (conv.state.value, agent_id, data, conv.id),
            )
            _insert_messages(c, messages)

        await self._store(op, conv, messages, None, assigned=assigned)
        return Changed(conv, tuple(messages), before)

    async def _store(
        self,
        op: Any,
        conv: Conversation,
        messages: list[Message],
        origin: str | None,
        *,
        assigned: tuple[str, int] | None = None,
    ) -> None:
        """Show `conv` (and its new `messages`' cmids) in memory, commit `op` (which writes
        them), and publish the messages right after the commit. If the write does not
        commit, the database steps memory back, with or without anyone waiting here.
        Meanwhile a resent `cmid` waits for this same commit."""
        if self.db.failed is not None:
            raise unavailable()
        edits = Edits()
        try:
            self._remember(conv, edits)
            if assigned is not None:
                agent_id, now = assigned
                edits.put(f"a:{agent_id}", self._last_assigned, agent_id, now)
            future = self.db.submit(op, lambda: self._publish(conv, messages, origin), edits)
        except BaseException:
            edits.undo()  # never queued: nothing of it stays
            raise
        # from here `edits` is the database's to undo; the cmids join them (nothing has run)
        if conv.is_open:
            for m in messages:
                if m.cmid is not None:
                    cmids = self._cmids.get(conv.id)
                    if cmids is None:
                        edits.put(conv.id, self._cmids, conv.id, cmids := {})
                    edits.put(conv.id, cmids, (m.sender.id, m.cmid), (m, future))
        await self._await_durable(future)

    def _publish(self, conv: Conversation, messages: list[Message], origin: str | None) -> None:
        for m in messages:
            self.bus.deliver(
                channels.conversation(conv.id), {"frame": views.msg_event(m), "skip": origin}
            )
            if views.visible_to_visitor(m):
                self.bus.deliver(
                    channels.visitor(conv.visitor_id),
                    {"frame": views.msg_event(m, for_visitor=True), "skip": origin},
                )

    async def _write(self, op: Any) -> Any:
        """A write that changes nothing in memory (sites, agents, credentials, audit...)."""
        if self.db.failed is not None:
            raise unavailable()
        return await self._await_durable(self.db.submit(op))

    @staticmethod
    async def _await_durable(future: asyncio.Future[Any]) -> Any:
        """The write's result once committed. Cancelling the waiter does not cancel the
        write (a resent cmid may be waiting for it too). Storage failures are `unavailable`;
        any other exception is a bug, raised as it is."""
        try:
            return await asyncio.shield(future)
        except (sqlite3.Error, OSError, WriteFailed):
            raise unavailable() from None


def _where(**equal: str | None) -> tuple[str, list[str]]:
    """` WHERE a = ? AND b = ?` for the filters that are set (column names are ours)."""
    columns = [(column, value) for column, value in equal.items() if value is not None]
    if not columns:
        return "", []
    return " WHERE " + " AND ".join(f"{c} = ?" for c, _ in columns), [v for _, v in columns]


def _insert_audit(c: sqlite3.Connection, entry: AuditEntry) -> None:
    c.execute(
        "INSERT INTO audit (ts, agent_id, action, cid, detail) VALUES (?, ?, ?, ?, ?)",
        (entry.ts, entry.agent_id, entry.action, entry.cid, entry.detail),
    )


def _insert_messages(c: sqlite3.Connection, messages: list[Message]) -> None:
    c.executemany(
        f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [message_row(m) for m in messages],
    )


def _load_open(c: sqlite3.Connection) -> tuple[list[Conversation], list[tuple[Any, ...]]]:
    rows = c.execute("SELECT data FROM conversations WHERE state != 'closed'").fetchall()
    convs = [conversation_from_dict(json.loads(r[0])) for r in rows]
    last = dict(
        c.execute(
            "SELECT m.cid, MAX(m.seq) FROM messages m JOIN conversations v ON v.id = m.cid "
            "WHERE v.state != 'closed' GROUP BY m.cid"
        ).fetchall()
    )
    convs = [replace(conv, last_seq=last.get(conv.id, conv.last_seq)) for conv in convs]
    cmids = c.execute(
        f"SELECT {', '.join('m.' + col for col in MESSAGE_COLUMNS.split(', '))} FROM messages m "
        "JOIN conversations v ON v.id = m.cid WHERE v.state != 'closed' AND m.cmid IS NOT NULL"
    ).fetchall()
    return convs, cmids
