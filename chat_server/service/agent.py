"""Agent and supervisor frames (contract §4): one `AgentSession` per agent WebSocket."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from chat_server.core import channels, views
from chat_server.core import conversation as flow
from chat_server.core.errors import (
    ChatError,
    ErrorCode,
    bad_request,
    conflict,
    forbidden,
    not_found,
)
from chat_server.core.model import (
    Agent,
    AgentStatus,
    AuditEntry,
    Conversation,
    Draft,
    Kind,
    Role,
    Sender,
    State,
)
from chat_server.protocol import frames as f
from chat_server.protocol.codec import Codec, Frame
from chat_server.protocol.errors import CloseCode, ProtocolClose
from chat_server.protocol.frames import Envelope
from chat_server.service import bots, files, offline, tagging
from chat_server.service.agent_audit import AUDITED, AUDITED_WITH_MESSAGE, audit_entry
from chat_server.service.dispatch import Dispatcher
from chat_server.service.node import ASSIGNED_HISTORY, Node
from chat_server.service.session import FollowUp, Handler, Result, Session
from chat_server.service.stats import stats_frame


class AgentSession(Session):
    role = "agent"
    schemas = f.AGENT_FRAMES

    def __init__(
        self, node: Node, dispatcher: Dispatcher, codec: Codec, agent: Agent | None
    ) -> None:
        super().__init__(node, dispatcher, codec)
        self.agent = agent
        self.watching: set[str] = set()
        self._touched: set[str] | None = None
        """While a `state` is being read: the conversations that live assignment events
        changed meanwhile (newer than what is read, so left as they are)."""

    def handlers(self) -> dict[str, Handler]:
        return {
            "hello": self.hello,
            "status": self.status,
            "claim": self.claim,
            "msg": self.msg,
            "typing": self.typing,
            "read": self.read,
            "sync": self.sync,
            "note": self.note,
            "transfer": partial(bots.transfer, self),  # issue 17: with a note
            "handoff": partial(bots.handoff, self),  # issue 17: a bot's
            "close": self.close,
            "assign": self.assign,
            "watch": self.watch,
            "subscribe": self.subscribe_stats,
            "snooze": partial(offline.snooze, self),  # issue 14
            "tag": partial(tagging.tag, self),  # issue 17
        }

    async def handle(self, envelope: Envelope) -> Result:
        if self.agent is not None:
            bots.require_person_for(self.agent, envelope.t)
        result = await super().handle(envelope)
        if envelope.t in AUDITED and envelope.t not in AUDITED_WITH_MESSAGE:
            await self.store.audit.record(self._audit_entry(envelope.t, envelope.body))
        return result

    def _audit_entry(self, action: str, body: Any) -> AuditEntry:
        return audit_entry(self.node.clock.now_ms(), self.me.id, action, body)

    @property
    def me(self) -> Agent:
        assert self.agent is not None
        return self.agent

    def accept(self, channel: str, frame: Frame) -> bool:
        """Follow this agent's conversations as they are assigned, moved away or closed."""
        t = frame.get("t")
        if self._touched is not None and t in ("assigned", "unassigned", "closed"):
            self._touched.add(frame["conversation"]["id"] if t == "assigned" else frame["cid"])
        if t == "assigned":
            cid = frame["conversation"]["id"]
            for m in frame["messages"]:
                self.mark_seen(cid, m["seq"])
            self.subscribe(channels.conversation(cid))
            self.replay_cobrowse(cid)
        elif t == "unassigned" and frame["cid"] not in self.watching:
            self.unsubscribe(channels.conversation(frame["cid"]))
        elif t == "closed":
            self.watching.discard(frame["cid"])
            self.unsubscribe(channels.conversation(frame["cid"]))
        return self.first_delivery(frame)

    def catch_up_targets(self, channel: str | None) -> list[str]:
        chosen = [channel] if channel is not None else sorted(self.channels)
        return [cid for c in chosen if (cid := channels.conversation_id(c)) is not None]

    async def state(self) -> tuple[Frame, FollowUp] | None:
        """What may have changed while the bus was deaf (`assigned`, `unassigned`,
        `closed`, status, the queue): the `ok` of `hello` as it would be now, plus the
        watched conversations for supervisors. Right after it, the socket follows the
        conversations that became the agent's (their newest messages as `msg` events)
        and leaves those that left (unless watched)."""
        if self.agent is None:
            return None
        touched = self._touched = set()
        try:
            agent = await self.store.directory.agent(self.me.id) or self.me
            mine = await self.store.conversations.active_of(agent.id)
            frame: dict[str, Any] = {
                "t": "state",
                "status": agent.status.value,
                "conversations": [await self.node.conversation_view(c) for c in mine],
                "waiting": await self.dispatcher.waiting_list(),
                "pending": await self.dispatcher.pending.entries(),
            }
            watched: list[Conversation] = []
            if agent.is_supervisor:
                for cid in sorted(self.watching):
                    conv = await self.store.conversations.get(cid)
                    if conv is not None:
                        watched.append(conv)
                frame["watching"] = [await self.node.conversation_view(c) for c in watched]
        finally:
            self._touched = None
        self.agent = agent
        return frame, lambda: self._follow(mine, watched, touched)

    def _follow(
        self, mine: list[Conversation], watched: list[Conversation], touched: set[str]
    ) -> None:
        """Follow the conversations as `assigned`, `unassigned` and `closed` would have
        (those a live event changed during the read are left to it)."""
        for conv in watched:
            if conv.state is State.CLOSED and conv.id not in touched:
                self.watching.discard(conv.id)
        followed = {cid for c in self.channels if (cid := channels.conversation_id(c)) is not None}
        for conv in mine:
            if conv.id in followed or conv.id in touched:
                continue
            self.mark_seen(conv.id, max(0, conv.last_seq - ASSIGNED_HISTORY))
            self.subscribe(channels.conversation(conv.id))
            self.replay_cobrowse(conv.id)
        for cid in followed - {c.id for c in mine} - self.watching - touched:
            self.unsubscribe(channels.conversation(cid))

    async def _kick_when_heard(self, channel: str) -> None:
        """Routing skips agents no node hears: once this one is, route again."""
        await self.hub.ready(channel)
        self.dispatcher.kick()

    async def closed(self) -> None:
        await super().closed()
        if self.agent is not None and self.greeted:
            await self.store.presence.disconnected(
                "agent", self.me.id, self.id, self.node.clock.now_ms()
            )
            self.dispatcher.kick()
            self.dispatcher.availability.kick()  # the last online agent may have gone

    # frames -----------------------------------------------------------------------------

    async def hello(self, hello: f.AgentHello) -> Result:
        if self.greeted:
            raise conflict("hello was already said on this connection")
        agent = await self._authenticate(hello.token)
        self.agent = agent
        mine = await self.store.conversations.active_of(agent.id)
        await self.store.presence.connected("agent", agent.id, self.id, self.node.clock.now_ms())
        self.greet()
        self.subscribe(channels.agent(agent.id))
        self.hub.spawn(self._kick_when_heard(channels.agent(agent.id)))
        if not agent.is_bot:  # issue 17: a bot never takes from the queue
            self.subscribe(channels.QUEUE)
        self.dispatcher.availability.kick()  # an online agent (or a bot) connected
        for conv in mine:
            self.mark_seen(conv.id, conv.last_seq)  # the console syncs up to here itself
            self.subscribe(channels.conversation(conv.id))
            self.replay_cobrowse(conv.id)
        self.dispatcher.kick()
        return {
            "agent": {
                "id": agent.id,
                "name": agent.name,
                "role": agent.role.value,
                "max_chats": agent.max_chats,
            },
            "status": agent.status.value,
            "conversations": [await self.node.conversation_view(c) for c in mine],
            "waiting": await self.dispatcher.waiting_list(),
            "pending": await self.dispatcher.pending.entries(),
        }

    async def _authenticate(self, token: str | None) -> Agent:
        """The cookie's agent (re-read for fresh status), else the agent of `hello.token`."""
        if self.agent is not None:
            agent = await self.store.directory.agent(self.agent.id)
        else:
            agent = await self.node.agent_of_secret(token)
        if agent is None:
            raise ProtocolClose(
                CloseCode.UNAUTHENTICATED,
                "no valid authentication",
                ChatError(ErrorCode.UNAUTHORIZED, "invalid or missing token"),
            )
        return agent

    async def status(self, status: f.Status) -> Result:
        try:
            state = AgentStatus(status.state)
        except ValueError:
            raise bad_request("state must be online, away or offline") from None
        await self.store.directory.set_agent_status(self.me.id, state)
        self.agent = replace(self.me, status=state)
        await self.node.hub.publish(
            channels.agent(self.me.id), {"t": "status", "state": state}, skip=self.id
        )
        self.dispatcher.kick()
        self.dispatcher.availability.kick()
        return {"status": state.value}

    async def claim(self, claim: f.Claim) -> Result:
        await self.require(claim.cid)
        changed = await self.store.conversations.claim(claim.cid, self.me, self.node.clock.now_ms())
        await self.node.announce_assigned(changed)
        self.dispatcher.kick()
        return {"conversation": await self.node.conversation_view(changed.conversation)}

    async def msg(self, msg: f.Msg) -> Result:
        return await self._append("msg", msg, Kind.TEXT, guarded=True)

    async def note(self, note: f.Note) -> Result:
        """Supervisors may leave notes in any conversation; agents in their own."""
        return await self._append("note", note, Kind.NOTE, guarded=not self.me.is_supervisor)

    async def _append(
        self, action: str, body: f.Msg | f.Note, kind: Kind, *, guarded: bool
    ) -> Result:
        """Ownership is checked, and the action audited, by the store in the same step as
        the write: one round trip, one commit."""
        sender = Sender(Role.AGENT, self.me.id, self.me.name)
        sent = body.files if isinstance(body, f.Msg) else None  # issue 15: notes carry none
        refs = await files.attach(self.store, body.cid, sender, sent) if sent else ()
        draft = Draft(kind, sender, body.text, body.cmid, refs)
        appended = await self.store.conversations.append(
            body.cid,
            draft,
            origin=self.id,
            guarded=guarded,
            audit=self._audit_entry(action, body),
        )
        self.mark_sent(body.cid, appended.message.seq)
        if appended.created:
            self.node.metrics.message_stored(appended.message)
            await self.node.measure_message(appended)
        return {"seq": appended.message.seq, "ts": appended.message.ts}

    async def typing(self, typing: f.Typing) -> Result:
        conv = await self.require(typing.cid)
        flow.require_own(conv, self.me)
        flow.ensure_open(conv)
        await self.node.hub.publish(
            channels.visitor(conv.visitor_id), {"t": "typing", "cid": conv.id, "on": typing.on}
        )
        frame: dict[str, Any] = {
            "t": "typing",
            "cid": conv.id,
            "on": typing.on,
            "by": "agent",
            "agent": {"id": self.me.id, "name": self.me.name},
        }
        await self.node.hub.publish(channels.conversation(conv.id), frame, skip=self.id)
        return None

    async def read(self, read: f.Read) -> Result:
        conv = await self.require(read.cid)
        flow.require_own(conv, self.me)
        frame = {"t": "read", "cid": conv.id, "seq": read.seq, "by": "agent"}
        await self.node.hub.publish(channels.visitor(conv.visitor_id), frame)
        await self.node.hub.publish(channels.conversation(conv.id), frame, skip=self.id)
        return None

    async def sync(self, sync: f.Sync) -> Result:
        self._require_readable(await self.require(sync.cid))
        return await self.sync_page(sync, for_visitor=False)

    async def close(self, close: f.AgentClose) -> Result:
        conv = await self.require(close.cid)
        flow.require_own_or_supervisor(conv, self.me)
        changed = await self.store.conversations.close(
            conv.id,
            self.node.clock.now_ms(),
            by="agent",
            reason="resolved" if close.resolved else "unresolved",
            resolved=close.resolved,
        )
        await self.node.announce_closed(changed)
        self.dispatcher.kick()
        return None

    async def assign(self, assign: f.Assign) -> Result:
        self._require_supervisor()
        await self.require(assign.cid)
        target = await self.agent_named(assign.to)
        bots.require_person(target)
        changed = await self.store.conversations.transfer(
            assign.cid, target, self.node.clock.now_ms(), ignore_capacity=True
        )
        await self.node.announce_assigned(changed)
        self.dispatcher.kick()
        return {"conversation": await self.node.conversation_view(changed.conversation)}

    async def watch(self, watch: f.Watch) -> Result:
        self._require_supervisor()
        conv = await self.require(watch.cid)
        channel = channels.conversation(conv.id)
        if not watch.on:
            self.watching.discard(conv.id)
            if conv.agent is None or conv.agent.id != self.me.id:
                self.unsubscribe(channel)
            return None
        self.watching.add(conv.id)
        self.subscribe(channel)
        self.replay_cobrowse(conv.id)
        messages, _ = await self.store.conversations.history(
            conv.id, max(0, conv.last_seq - 200), 200, notes=True
        )
        for m in messages:
            self.mark_seen(conv.id, m.seq)
        return {
            "conversation": await self.node.conversation_view(conv),
            "messages": [views.message(m) for m in messages],
        }

    async def subscribe_stats(self, sub: f.Subscribe) -> Result:
        self._require_supervisor()
        if not sub.stats:
            self.unsubscribe(channels.SUPERVISORS)
            return None
        self.subscribe(channels.SUPERVISORS)
        self.send(await stats_frame(self.node))  # the first one now, not in a second
        return None

    async def cobrowse(self, envelope: Envelope) -> Result:
        frame: f.Cobrowse = envelope.body
        conv = await self.require(frame.cid)
        flow.require_own(conv, self.me)
        await self.node.cobrowse.from_agent(
            conv, frame.op, envelope.raw, self.me.id, self.me.name, self.id
        )
        return None

    # helpers ----------------------------------------------------------------------------

    def _require_supervisor(self) -> None:
        if not self.me.is_supervisor:
            raise forbidden("supervisors only")

    def _require_readable(self, conv: Conversation) -> None:
        """Agents read the queue, offline messages and their own chats; supervisors all."""
        if self.me.is_supervisor or conv.state in (State.QUEUED, State.PENDING):
            return
        flow.require_own(conv, self.me)

    async def agent_named(self, agent_id: str) -> Agent:
        agent = await self.store.directory.agent(agent_id)
        if agent is None:
            raise not_found("no such agent")
        return agent
