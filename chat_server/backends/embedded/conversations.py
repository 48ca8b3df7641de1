"""The embedded store's conversations: open ones in memory (`memory.py`), everything
durable in SQLite (`transcript.py`).

This process is the only writer, so each check-and-change runs on the event loop without
an `await` in between (that is what makes `claim` and capacity atomic), then the change is
committed (group commit, see `sqlite.py`) and only then published and acknowledged.
Memory changes before the commit, as `Edits` the database undoes if the write does not
commit, for any reason: memory is never ahead of disk. A write that fails is stepped back
and the store goes on; if a commit itself fails, the store stops accepting writes
(`unavailable`, `/readyz` fails), since what that commit left on disk is not known for sure.
A message's files are checked against the files role's memory of unsent uploads and what
was read of the others (`files.py`), on the loop turn that writes the message and binds
them in the same SQLite write.
"""

from __future__ import annotations

import math
import sqlite3

from chat_server.backends.embedded import durable, transcript
from chat_server.backends.embedded.bus import LocalBus
from chat_server.backends.embedded.edits import Edits
from chat_server.backends.embedded.files import EmbeddedFiles
from chat_server.backends.embedded.memory import OpenConversations
from chat_server.backends.embedded.sqlite import Database
from chat_server.backends.embedded.webhooks import insert_events
from chat_server.backends.roles.conversations import AgentLoad, Appended, Changed, Decide, Quiet
from chat_server.core import channels, routing, views
from chat_server.core import conversation as flow
from chat_server.core import webhooks as hooks
from chat_server.core.clock import Clock
from chat_server.core.errors import ChatError, ErrorCode, conflict
from chat_server.core.model import (
    Agent,
    AgentRef,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    Sender,
    State,
    StoredFile,
)
from chat_server.core.webhooks import Event, Wants


class EmbeddedConversations:
    def __init__(self, db: Database, bus: LocalBus, clock: Clock, files: EmbeddedFiles) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._files = files
        self.memory = OpenConversations()

    async def load(self) -> list[Conversation]:
        """Hold the open conversations, and their cmids, that the disk has (at start)."""
        convs, with_cmids = await self._db.read(transcript.load_open)
        self.memory.load(convs, with_cmids)
        return convs

    # reads ------------------------------------------------------------------------------

    async def get(self, cid: str) -> Conversation | None:
        if cid in self.memory.open:
            return self.memory.open[cid]
        return await self._db.read(lambda c: transcript.conversation(c, cid))

    async def open_of(self, visitor_id: str) -> Conversation | None:
        cid = self.memory.by_visitor.get(visitor_id)
        return self.memory.open[cid] if cid else None

    async def find(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        where, args = durable.where(
            state=state.value if state else None, agent_id=agent_id, visitor_id=visitor_id
        )
        stored = await self._db.read(lambda c: transcript.conversations(c, where, args, limit))
        return [self.memory.open.get(c.id, c) for c in stored]

    async def quiet_since(self, limit: int, before: int | None = None) -> list[Quiet]:
        """From memory, where every open conversation is."""
        until = before if before is not None else math.inf
        active = [c for c in self.memory.open.values() if c.state is State.ACTIVE]
        quiet = [c for c in active if (c.last_active or c.created) <= until]
        quiet.sort(key=lambda c: c.created, reverse=True)
        return [Quiet(c.id, c.site, c.last_active or c.created) for c in quiet[:limit]]

    async def waiting(self) -> list[Conversation]:
        return routing.queue_order(self.memory.open.values())

    async def pending(self) -> list[Conversation]:
        return routing.pending_order(self.memory.open.values())

    async def active_of(self, agent_id: str) -> list[Conversation]:
        return [self.memory.open[cid] for cid in sorted(self.memory.active.get(agent_id, ()))]

    async def loads(self) -> dict[str, AgentLoad]:
        active, last = self.memory.active, self.memory.last_assigned
        return {
            aid: AgentLoad(len(active.get(aid, ())), last.get(aid, 0))
            for aid in set(active) | set(last)
        }

    async def history(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        return await self._db.read(lambda c: transcript.history(c, cid, after, limit, notes=notes))

    async def rating(self, cid: str) -> Rating | None:
        row = await self._db.read(
            lambda c: c.execute(
                "SELECT cid, ts, csat, nps, ces, comment, agent_id, topic FROM ratings "
                "WHERE cid = ?",
                (cid,),
            ).fetchone()
        )
        return Rating(*row) if row else None

    # writes -----------------------------------------------------------------------------

    async def open(
        self,
        conv: Conversation,
        first: Draft,
        origin: str | None,
        *,
        webhooks: Wants | None = None,
    ) -> Message:
        if conv.visitor_id in self.memory.by_visitor:
            raise conflict("you already have an open conversation")
        conv, messages = flow.number(conv, [first], conv.created)
        events = hooks.opened(conv, messages[0], webhooks) if webhooks else []
        await self._store(transcript.opened(conv, messages, events), conv, messages, origin)
        return messages[0]

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
        webhooks: Wants | None = None,
    ) -> Appended:
        read: dict[str, StoredFile | None] = {}
        while True:  # until memory and what was read decide every file, with no await left
            conv = await self._require_open(cid, draft.sender if guarded else None)
            if draft.cmid is not None:
                seen = self.memory.seen(cid, draft.sender.id, draft.cmid)
                if seen is not None:
                    message, stored = seen
                    await durable.await_durable(stored)
                    return Appended(message, created=False)
            unread = self._files.unread(draft.files, read)
            if not unread:
                break
            read.update(await self._files.records(unread))
        sent = self._files.sendable(cid, draft.sender, draft.files, read) if draft.files else []
        updated, messages = flow.number(conv, [draft], self._clock.now_ms())
        events = hooks.appended(conv.site, messages[0], webhooks) if webhooks else []
        op = transcript.appended(
            updated,
            messages,
            row_changed=flow.row_changed(conv, updated),
            audit=audit,
            sent=sent,
            events=events,
        )
        await self._store(op, updated, messages, origin, sent=sent)
        return Appended(messages[0], created=True, timing=conv.timing)

    async def claim(
        self, cid: str, agent: Agent, now: int, *, webhooks: Wants | None = None
    ) -> Changed:
        conv = await self._require_open(cid)
        self._require_capacity(agent)
        transition = flow.claim(conv, AgentRef(agent.id, agent.name), now)
        hook = ("claim", webhooks) if webhooks else None
        return await self._apply(conv, transition, assigned=(agent.id, now), hook=hook)

    async def transfer(
        self,
        cid: str,
        agent: Agent,
        now: int,
        *,
        ignore_capacity: bool = False,
        webhooks: Wants | None = None,
    ) -> Changed:
        conv = await self._require_open(cid)
        if not ignore_capacity:
            self._require_capacity(agent)
        transition = flow.transfer(conv, AgentRef(agent.id, agent.name), now)
        hook = ("transfer", webhooks) if webhooks else None
        return await self._apply(conv, transition, assigned=(agent.id, now), hook=hook)

    async def requeue(
        self,
        cid: str,
        now: int,
        *,
        reason: str,
        front: bool,
        topic: str | None = None,
        only_agent: str | None = None,
        webhooks: Wants | None = None,
    ) -> Changed:
        conv = await self._require_open(cid)
        if only_agent is not None and (conv.agent is None or conv.agent.id != only_agent):
            raise conflict("the conversation has moved on")
        transition = flow.requeue(conv, now, reason=reason, front=front, topic=topic)
        hook = (f"requeue:{reason}", webhooks) if webhooks else None
        return await self._apply(conv, transition, hook=hook)

    async def close(
        self,
        cid: str,
        now: int,
        *,
        by: str,
        reason: str,
        resolved: bool | None,
        webhooks: Wants | None = None,
    ) -> Changed:
        conv = await self._require_open(cid)
        transition = flow.close(conv, now, by=by, reason=reason, resolved=resolved)
        return await self._apply(conv, transition, hook=("close", webhooks) if webhooks else None)

    async def transition(
        self, cid: str, decide: Decide, *, webhooks: Wants | None = None
    ) -> Changed:
        conv = await self._require_open(cid)
        hook = ("transition", webhooks) if webhooks else None
        return await self._apply(conv, decide(conv), hook=hook)

    async def rate(self, rating: Rating, *, outbox: list[Event] | None = None) -> None:
        r = rating
        row = (r.cid, r.ts, r.csat, r.nps, r.ces, r.comment, r.agent_id, r.topic)

        def op(c: sqlite3.Connection) -> bool:
            inserted = c.execute(
                "INSERT OR IGNORE INTO ratings (cid, ts, csat, nps, ces, comment, agent_id, "
                "topic) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            if inserted.rowcount == 1 and outbox:
                insert_events(c, outbox)
            return inserted.rowcount == 1  # 0: the conversation was rated before

        if not await durable.write(self._db, op):
            raise ChatError(ErrorCode.ALREADY_RATED, "this conversation was already rated")

    # internals --------------------------------------------------------------------------

    async def _require_open(self, cid: str, author: Sender | None = None) -> Conversation:
        """The open conversation (`not_found`, then `require_author` when given, `closed`).

        Memory holds every open conversation, ahead of the disk: one that is not there is
        closed (perhaps not yet on disk) or unknown, and the disk only tells which. A write
        is never decided on the disk's copy, which a pending close has not reached yet."""
        conv = self.memory.open.get(cid)
        if conv is None:
            stored = await self.get(cid)
            conv = self.memory.open.get(cid)  # a close that failed meanwhile reopened it
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

    def _require_capacity(self, agent: Agent) -> None:
        """Checked on the same loop turn as the write it allows (no `await` in between)."""
        if not flow.has_capacity(len(self.memory.active.get(agent.id, ())), agent.max_chats):
            raise conflict(f"{agent.name} has no free capacity")

    async def _apply(
        self,
        before: Conversation,
        transition: flow.Transition,
        *,
        assigned: tuple[str, int] | None = None,
        hook: tuple[str, Wants] | None = None,
    ) -> Changed:
        """`hook`: the cause of the change and the webhook events the sites want."""
        now = self._clock.now_ms()
        conv, messages = flow.number(transition.conversation, transition.drafts, now)
        agent_id = conv.agent.id if conv.agent else (before.agent.id if before.agent else None)
        events = hooks.changed(hook[0], before, conv, now, hook[1]) if hook else []
        op = transcript.changed(conv, agent_id, messages, events)
        await self._store(op, conv, messages, None, assigned=assigned)
        return Changed(conv, tuple(messages), before)

    async def _store(
        self,
        op: transcript.Op,
        conv: Conversation,
        messages: list[Message],
        origin: str | None,
        *,
        assigned: tuple[str, int] | None = None,
        sent: list[str] | None = None,
    ) -> None:
        """Show `conv` (and its new `messages`' cmids, and the uploads a message `sent`) in
        memory, commit `op` (which writes them), and publish the messages right after the
        commit. If the write does not commit, the database steps memory back, with or
        without anyone waiting here. Meanwhile a resent `cmid` waits for this same commit."""
        durable.refuse_if_failed(self._db)
        edits = Edits()
        try:
            self.memory.remember(conv, edits)
            if assigned is not None:
                self.memory.assigned(*assigned, edits)
            if sent:
                self._files.bind(sent, messages[-1].seq, edits)
            future = self._db.submit(
                op, lambda: self._committed(conv, messages, origin, sent), edits
            )
        except BaseException:
            edits.undo()  # never queued: nothing of it stays
            raise
        # from here `edits` is the database's to undo; the cmids join them (nothing has run)
        self.memory.keep_cmids(conv, messages, future, edits)
        await durable.await_durable(future)

    def _committed(
        self,
        conv: Conversation,
        messages: list[Message],
        origin: str | None,
        sent: list[str] | None,
    ) -> None:
        if sent:
            self._files.bound(sent)
        self._publish(conv, messages, origin)

    def _publish(self, conv: Conversation, messages: list[Message], origin: str | None) -> None:
        for m in messages:
            self._bus.deliver(
                channels.conversation(conv.id), {"frame": views.msg_event(m), "skip": origin}
            )
            if views.visible_to_visitor(m):
                self._bus.deliver(
                    channels.visitor(conv.visitor_id),
                    {"frame": views.msg_event(m, for_visitor=True), "skip": origin},
                )
