"""The Redis store: all shared state in Redis, so any number of nodes act as one server.

A message is one script (`append.lua`: the checks, cmid dedupe, seq, XADD to the
conversation's stream, whose ids are the seqs, and PUBLISH), sent over the lean `Wire`.
Every other conversation write (start, claim, transfer, requeue, close) is one optimistic
transaction: WATCH the conversation's keys (and what the decision reads, such as an
agent's active set), decide with the same pure transitions as the embedded store
(`core.conversation`), then MULTI/EXEC the new state, its system lines and their PUBLISH.
A concurrent write makes EXEC fail and the decision is taken again on fresh state: that
is what makes seq allocation, claim, capacity and rate-once atomic across nodes, and
publish order equal seq order.

A failed write leaves nothing of itself: rows are built before anything is sent, a
transaction that fails before EXEC is discarded whole, and an append is one script. When
the reply of a write that did run is lost, a retry finds that write and answers as if the
reply had come: by the message's cmid (append), by the conversation (transitions, start),
by the agent's id (add_agent).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace
from typing import Any

import msgpack
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chat_server.backends.base import AgentLoad, Appended, Changed, PresenceKind
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
from chat_server.backends.redis import decoded, lua
from chat_server.backends.redis.batching import FigureBuffer
from chat_server.backends.redis.keys import Keys
from chat_server.backends.redis.presence import NodePresence
from chat_server.backends.redis.wire import Arg, Script, Wire
from chat_server.core import channels, cobrowse, metrics, routing, views
from chat_server.core import conversation as flow
from chat_server.core.clock import Clock
from chat_server.core.cobrowse import Session as CobrowseSession
from chat_server.core.errors import (
    ChatError,
    ErrorCode,
    conflict,
    unavailable,
)
from chat_server.core.metrics import Figures
from chat_server.core.model import (
    Agent,
    AgentRef,
    AgentStatus,
    AuditEntry,
    Conversation,
    Draft,
    Message,
    Rating,
    Site,
    State,
    Timing,
    Visitor,
)

log = logging.getLogger(__name__)
RETRIES = 100
AUDIT_KEPT = 1_000_000
COBROWSE_TTL_MS = 6 * 3_600_000  # a forgotten co-browse cleans itself up
Decide = Callable[[Any, Conversation], Awaitable[flow.Transition]]
APPEND_REFUSED: dict[str, Callable[[], ChatError]] = {
    "not_found": flow.unknown_conversation,
    "forbidden": flow.not_yours,
    "closed": flow.closed_conversation,
}
"""append.lua's refusals: those of `conversation.require_author` and `ensure_open`."""


def connect(url: str, *, retries: int = 2) -> Redis:
    """A client that reconnects by itself; commands fail fast while Redis is away.

    The pool blocks (briefly) when all its connections are busy instead of raising, so a
    burst of load queues up rather than being answered `unavailable`."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=64,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
        health_check_interval=5,
    )
    return Redis(connection_pool=pool, decode_responses=False)


@contextlib.asynccontextmanager
async def redis_errors() -> AsyncIterator[None]:
    """Redis unreachable: `unavailable` (retry later), never a silent drop."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError):
        raise unavailable() from None


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _queue_score(conv: Conversation) -> float:
    return conv.queue_rank * 10**13 + conv.queued_at


class RedisStore:
    def __init__(
        self, url: str, clock: Clock, *, prefix: str = "chat", presence_ttl_s: float = 10.0
    ) -> None:
        # typed Any on purpose: redis-py's response annotations are unions of every shape a
        # command can return; replies are decoded at this edge (`_s`, json, int)
        self.redis: Any = connect(url)
        self.clock = clock
        self.keys = Keys(prefix)
        self.presence_ttl_ms = int(presence_ttl_s * 1000)
        self.presence = NodePresence(self.redis, self.keys, clock, self.presence_ttl_ms)
        self._replay_script = self.redis.register_script(lua("replay.lua"))
        # the per-message writes: one lean auto-pipelined connection (wire.py)
        self.wire = Wire(url)
        self._figures = FigureBuffer(self.wire, self.keys, clock)
        # the visitor's channel name around the visitor id, which only append.lua knows
        head, tail = self.keys.channel(channels.visitor("\0")).split("\0")
        self._visitor_channel = (head, tail)
        self._append_script = Script(self.wire, lua("append.lua"))

    # lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        async with redis_errors():
            await self.redis.ping()
            await self.wire.connect()
        with contextlib.suppress(RedisError):
            config = await self.redis.config_get("appendonly")
            if config.get(b"appendonly", config.get("appendonly")) in (b"no", "no"):
                log.warning(
                    "Redis has AOF off (appendonly no): acknowledged messages are lost "
                    "if Redis restarts; see docs/operations.md"
                )

    async def stop(self) -> None:
        self.wire.close()
        await self.redis.aclose()

    async def ready(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def secret(self, candidate: bytes) -> bytes:
        async with redis_errors():
            await self.redis.set(self.keys.secret(), candidate, nx=True)
            kept: bytes = await self.redis.get(self.keys.secret())
            return kept

    # sites, agents, credentials ---------------------------------------------------------

    async def put_site(self, site: Site) -> None:
        async with redis_errors():
            await self.redis.set(self.keys.site(site.id), site_to_json(site))

    async def site(self, site_id: str) -> Site | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.site(site_id))
        return site_from_json(site_id, raw) if raw else None

    async def add_agent(self, agent: Agent) -> None:
        """The email, the agent and the list of agents in one transaction: an email is never
        taken by an agent that was not stored."""
        emails, row = self.keys.agent_email(), _json(agent_row(agent))
        attempted = False
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(emails)
                    holder = await pipe.hget(emails, agent.email)
                    if holder is not None:
                        if attempted and decoded(holder) == agent.id:
                            return  # our EXEC ran; its reply was lost
                        raise conflict(f"an agent with email {agent.email} exists")
                    pipe.multi()
                    pipe.hset(emails, agent.email, agent.id)
                    pipe.set(self.keys.agent(agent.id), row)
                    pipe.sadd(self.keys.agents(), agent.id)
                    attempted = True
                    await self._execute(pipe)
                    return
                except WatchError:
                    continue
        raise unavailable("too much contention, retry")

    async def agent(self, agent_id: str) -> Agent | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.agent(agent_id))
        return agent_from_row(tuple(json.loads(raw))) if raw else None

    async def agent_by_email(self, email: str) -> Agent | None:
        async with redis_errors():
            agent_id = await self.redis.hget(self.keys.agent_email(), email)
        return await self.agent(decoded(agent_id)) if agent_id else None

    async def agents(self) -> list[Agent]:
        async with redis_errors():
            ids = sorted(decoded(i) for i in await self.redis.smembers(self.keys.agents()))
            raws = await self.redis.mget([self.keys.agent(i) for i in ids]) if ids else []
        found = [agent_from_row(tuple(json.loads(r))) for r in raws if r]
        return sorted(found, key=lambda a: a.name)

    async def set_agent_status(self, agent_id: str, status: AgentStatus) -> None:
        key = self.keys.agent(agent_id)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return
                    row = json.loads(raw)
                    row[7] = status.value
                    pipe.multi()
                    pipe.set(key, _json(row))
                    await self._execute(pipe)
                    return
                except WatchError:
                    continue
        raise unavailable("too much contention, retry")

    async def add_credential(
        self, secret_hash: str, agent_id: str, kind: str, expires: int | None
    ) -> None:
        key = self.keys.credential(secret_hash)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"agent_id": agent_id, "kind": kind})
            pipe.sadd(self.keys.agent_credentials(agent_id), secret_hash)
            if expires is not None:
                pipe.pexpire(key, max(1, expires - self.clock.now_ms()))
            await pipe.execute()

    async def credential_agent(self, secret_hash: str, now: int) -> str | None:
        async with redis_errors():
            agent_id = await self.redis.hget(self.keys.credential(secret_hash), "agent_id")
        return decoded(agent_id) if agent_id else None

    async def revoke_agent_credentials(self, agent_id: str) -> int:
        async with redis_errors():
            hashes = [
                decoded(h) for h in await self.redis.smembers(self.keys.agent_credentials(agent_id))
            ]
            async with self.redis.pipeline(transaction=True) as pipe:
                for secret_hash in hashes:
                    pipe.delete(self.keys.credential(secret_hash))
                pipe.delete(self.keys.agent_credentials(agent_id))
                results = await pipe.execute()
        return sum(int(n) for n in results[:-1])

    async def audit(self, entry: AuditEntry) -> None:
        async with redis_errors():
            await self.wire.execute("XADD", self.keys.audit(), "MAXLEN", "~", *_audit_args(entry))

    async def audit_log(
        self, *, cid: str | None = None, agent_id: str | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        found: list[AuditEntry] = []
        end = "+"
        async with redis_errors():
            while len(found) < limit:
                entries = await self.redis.xrevrange(self.keys.audit(), end, "-", count=500)
                for _, raw in entries:
                    f = {decoded(k): decoded(v) for k, v in raw.items()}
                    entry = AuditEntry(
                        int(f["ts"]), f["agent_id"], f["action"], f["cid"] or None, f["detail"]
                    )
                    if (cid is None or entry.cid == cid) and (
                        agent_id is None or entry.agent_id == agent_id
                    ):
                        found.append(entry)
                if len(entries) < 500:
                    break
                end = f"({decoded(entries[-1][0])}"
        return found[:limit]

    async def revoke_credential(self, secret_hash: str) -> None:
        async with redis_errors():
            await self.redis.delete(self.keys.credential(secret_hash))

    # visitors ---------------------------------------------------------------------------

    async def put_visitor(self, visitor: Visitor) -> None:
        async with redis_errors():
            await self.redis.set(self.keys.visitor(visitor.id), _json(visitor_row(visitor)))

    async def visitor(self, visitor_id: str) -> Visitor | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.visitor(visitor_id))
        return visitor_from_row(tuple(json.loads(raw))) if raw else None

    # conversations: reads ---------------------------------------------------------------

    async def conversation(self, cid: str) -> Conversation | None:
        found = await self._load_many([cid])
        return found[0] if found else None

    async def _load_many(self, cids: list[str]) -> list[Conversation]:
        if not cids:
            return []
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for cid in cids:
                pipe.get(self.keys.conv(cid))
                pipe.hmget(self.keys.live(cid), *LIVE_MOVED)
            raw = await pipe.execute()
        return [
            _with_live(conversation_from_dict(json.loads(raw[i])), raw[i + 1])
            for i in range(0, len(raw), 2)
            if raw[i] is not None
        ]

    async def open_conversation_of(self, visitor_id: str) -> Conversation | None:
        async with redis_errors():
            cid = await self.redis.get(self.keys.visitor_open(visitor_id))
        return await self.conversation(decoded(cid)) if cid else None

    async def conversations(
        self,
        *,
        state: State | None = None,
        agent_id: str | None = None,
        visitor_id: str | None = None,
        limit: int = 100,
    ) -> list[Conversation]:
        if visitor_id:
            source = self.keys.visitor_convs(visitor_id)
        elif agent_id:
            source = self.keys.agent_convs(agent_id)
        else:
            source = self.keys.convs(state.value if state else None)
        found: list[Conversation] = []
        start, batch = 0, max(limit, 50)
        while len(found) < limit:
            async with redis_errors():
                cids = [
                    decoded(c) for c in await self.redis.zrevrange(source, start, start + batch - 1)
                ]
            if not cids:
                break
            for conv in await self._load_many(cids):
                if state is not None and conv.state is not state:
                    continue
                if agent_id is not None and (conv.agent is None or conv.agent.id != agent_id):
                    continue
                if visitor_id is not None and conv.visitor_id != visitor_id:
                    continue
                found.append(conv)
            start += batch
        return found[:limit]

    async def waiting(self) -> list[Conversation]:
        async with redis_errors():
            cids = [decoded(c) for c in await self.redis.zrange(self.keys.queue(), 0, -1)]
        return routing.queue_order(await self._load_many(cids))

    async def active_of(self, agent_id: str) -> list[Conversation]:
        async with redis_errors():
            cids = sorted(
                decoded(c) for c in await self.redis.smembers(self.keys.agent_active(agent_id))
            )
        return [c for c in await self._load_many(cids) if c.state is State.ACTIVE]

    async def loads(self) -> dict[str, AgentLoad]:
        async with redis_errors():
            ids = [decoded(i) for i in await self.redis.smembers(self.keys.agents())]
            async with self.redis.pipeline(transaction=False) as pipe:
                for agent_id in ids:
                    pipe.scard(self.keys.agent_active(agent_id))
                pipe.hgetall(self.keys.last_assigned())
                raw = await pipe.execute()
        last = {decoded(k): int(v) for k, v in raw[-1].items()}
        return {
            agent_id: AgentLoad(int(n), last.get(agent_id, 0))
            for agent_id, n in zip(ids, raw[:-1], strict=True)
        }

    async def messages_after(
        self, cid: str, after: int, limit: int, *, notes: bool
    ) -> tuple[list[Message], bool]:
        out: list[Message] = []
        start = after + 1
        async with redis_errors():
            while True:
                entries = await self.redis.xrange(
                    self.keys.messages(cid), f"{start}-0", "+", count=limit + 1
                )
                for _, fields in entries:
                    m = message_from_row(tuple(json.loads(fields[b"m"])))
                    if notes or m.kind.value != "note":
                        out.append(m)
                if len(out) > limit or len(entries) <= limit:
                    break
                start = int(entries[-1][0].split(b"-")[0]) + 1
        return out[:limit], len(out) > limit

    async def _message(self, cid: str, seq: int) -> Message | None:
        entries = await self.redis.xrange(self.keys.messages(cid), f"{seq}-0", f"{seq}-0")
        return message_from_row(tuple(json.loads(entries[0][1][b"m"]))) if entries else None

    # conversations: writes --------------------------------------------------------------

    async def open_conversation(
        self, conv: Conversation, first: Draft, origin: str | None
    ) -> Message:
        message = Message(
            conv.id, 1, conv.created, first.kind, first.sender, first.text, first.cmid
        )
        conv = flow.after_message(conv, message)
        open_key = self.keys.visitor_open(conv.visitor_id)
        attempted = False
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(open_key)
                    holder = await pipe.get(open_key)
                    if holder is not None:
                        if attempted and decoded(holder) == conv.id:
                            return message  # our EXEC ran; its reply was lost
                        raise conflict("you already have an open conversation")
                    pipe.multi()
                    pipe.set(open_key, conv.id)
                    self._write(pipe, None, conv, [message], origin)
                    attempted = True
                    await self._execute(pipe)
                    return message
                except WatchError:
                    continue
        raise unavailable("too much contention, retry")

    async def append(
        self,
        cid: str,
        draft: Draft,
        origin: str | None = None,
        *,
        guarded: bool = False,
        audit: AuditEntry | None = None,
    ) -> Appended:
        """One round trip: append.lua checks, dedupes, stores, audits and publishes."""
        ts = self.clock.now_ms()
        message = Message(cid, 0, ts, draft.kind, draft.sender, draft.text, draft.cmid)
        row_head, row_tail = _spliced_row(message)
        event_head, event_tail = _spliced_event(views.msg_event(message), origin)
        visitor_channel, visitor_head, visitor_tail = ("", ""), b"", b""
        if views.visible_to_visitor(message):
            visitor_channel = self._visitor_channel
            visitor_head, visitor_tail = _spliced_event(
                views.msg_event(message, for_visitor=True), origin
            )
        sender = draft.sender
        k = self.keys
        async with redis_errors():
            reply = await self._append_script(
                keys=[k.live(cid), k.cmids(cid), k.messages(cid), k.audit()],
                args=[
                    sender.role.value,
                    sender.id or "",
                    1 if guarded else 0,
                    f"{sender.id}|{draft.cmid}" if draft.cmid is not None else "",
                    ts,
                    draft.kind.value,
                    row_head,
                    row_tail,
                    k.channel(channels.conversation(cid)),
                    event_head,
                    event_tail,
                    *visitor_channel,
                    visitor_head,
                    visitor_tail,
                    *(_audit_args(audit) if audit is not None else [""]),
                ],
            )
        status = decoded(reply[0])
        if status == "ok":
            created, topic, frt, turn = (decoded(v) for v in reply[2:6])
            timing = Timing(int(created), topic or None, _int(frt), _int(turn))
            return Appended(replace(message, seq=int(reply[1])), created=True, timing=timing)
        if status == "dup":
            async with redis_errors():
                stored = await self._message(cid, int(reply[1]))
            assert stored is not None
            return Appended(stored, created=False)
        raise APPEND_REFUSED[status]()

    async def assign(
        self, cid: str, agent: Agent, now: int, *, reassign: bool, enforce_capacity: bool
    ) -> Changed:
        active_key = self.keys.agent_active(agent.id)

        async def decide(pipe: Any, conv: Conversation) -> flow.Transition:
            if enforce_capacity and not flow.has_capacity(
                await pipe.scard(active_key), agent.max_chats
            ):
                raise conflict(f"{agent.name} has no free capacity")
            return flow.assign(conv, AgentRef(agent.id, agent.name), now, reassign=reassign)

        return await self._transition(cid, decide, watch=(active_key,))

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
        async def decide(pipe: Any, conv: Conversation) -> flow.Transition:
            if only_agent is not None and (conv.agent is None or conv.agent.id != only_agent):
                raise conflict("the conversation has moved on")
            return flow.requeue(conv, now, reason=reason, front=front, topic=topic)

        return await self._transition(cid, decide)

    async def close(
        self, cid: str, now: int, *, by: str, reason: str, resolved: bool | None
    ) -> Changed:
        async def decide(pipe: Any, conv: Conversation) -> flow.Transition:
            return flow.close(conv, now, by=by, reason=reason, resolved=resolved)

        return await self._transition(cid, decide)

    async def rate(self, rating: Rating) -> None:
        value = _json(
            [
                rating.cid,
                rating.ts,
                rating.csat,
                rating.nps,
                rating.ces,
                rating.comment,
                rating.agent_id,
                rating.topic,
            ]
        )
        key = self.keys.rating(rating.cid)
        async with redis_errors():
            if await self.redis.set(key, value, nx=True):
                return
            if await self.redis.get(key) == value:
                return  # our SET ran, its reply was lost, and redis-py sent it again
        raise ChatError(ErrorCode.ALREADY_RATED, "this conversation was already rated")

    async def rating(self, cid: str) -> Rating | None:
        async with redis_errors():
            raw = await self.redis.get(self.keys.rating(cid))
        return Rating(*json.loads(raw)) if raw else None

    # rolling figures: one hash per window, dimension and bucket, expiring with the window

    async def checkpoint(self) -> None:
        return None  # every write already went to Redis

    async def record_figures(self, ts: int, dims: tuple[str, ...], figures: Figures) -> None:
        """Added up with the other figures of this loop turn and queued, without a round
        trip of its own (`FigureBuffer`)."""
        self._figures.add(ts, dims, figures)

    async def read_figures(self, window: str, now: int, dim: str) -> Figures:
        starts = metrics.window_buckets(window, now)
        await self._figures.settled()  # this node's own figures are in what it reads
        async with redis_errors(), self.redis.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(self.keys.figures(window, dim, start))
            buckets = await pipe.execute()
        total = Figures()
        for fields in buckets:
            if fields:
                total.merge(Figures.from_fields(fields))
        return total

    async def mark_resolved(
        self, visitor_id: str, ts: int, dims: tuple[str, ...], ttl_ms: int
    ) -> None:
        async with redis_errors():
            await self.redis.set(
                self.keys.resolved(visitor_id), _json([ts, list(dims)]), px=max(1, ttl_ms)
            )

    async def take_resolved(self, visitor_id: str, now: int) -> tuple[int, tuple[str, ...]] | None:
        async with redis_errors():
            raw = await self.redis.getdel(self.keys.resolved(visitor_id))
        if raw is None:
            return None
        ts, dims = json.loads(raw)
        return int(ts), tuple(dims)

    # co-browsing -------------------------------------------------------------------------

    async def cobrowse(self, cid: str) -> CobrowseSession:
        async with redis_errors():
            raw = await self.redis.hgetall(self.keys.cobrowse(cid))
        if not raw:
            return cobrowse.NONE
        fields = {decoded(k): decoded(v) for k, v in raw.items()}
        return CobrowseSession(cobrowse.CobrowseState(fields["state"]), fields.get("agent") or None)

    async def cobrowse_change(
        self, cid: str, expected: CobrowseSession, new: CobrowseSession
    ) -> bool:
        key = self.keys.cobrowse(cid)
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                raw = await pipe.hgetall(key)
                current = (
                    cobrowse.NONE
                    if not raw
                    else CobrowseSession(
                        cobrowse.CobrowseState(decoded(raw[b"state"])),
                        decoded(raw.get(b"agent", b"")) or None,
                    )
                )
                if current != expected:
                    return False
                pipe.multi()
                pipe.delete(key)
                if new.state is not cobrowse.CobrowseState.NONE:
                    pipe.hset(key, mapping={"state": new.state.value, "agent": new.agent_id or ""})
                    pipe.pexpire(key, COBROWSE_TTL_MS)
                await pipe.execute()
                return True
            except WatchError:
                return False

    async def cobrowse_record(
        self, cid: str, encoded: bytes, *, restarts: bool, max_bytes: int
    ) -> bool:
        keys = [self.keys.cobrowse_replay(cid), self.keys.cobrowse_replay_meta(cid)]
        async with redis_errors():
            kept = await self._replay_script(
                keys=keys, args=[encoded, 1 if restarts else 0, max_bytes, COBROWSE_TTL_MS]
            )
        return bool(kept)

    async def cobrowse_replay(self, cid: str) -> list[bytes]:
        async with redis_errors():
            return list(await self.redis.lrange(self.keys.cobrowse_replay(cid), 0, -1))

    async def cobrowse_forget(self, cid: str) -> None:
        async with redis_errors():
            await self.redis.delete(
                self.keys.cobrowse_replay(cid), self.keys.cobrowse_replay_meta(cid)
            )

    # presence: per node, see presence.py ------------------------------------------------

    async def connected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> None:
        async with redis_errors():
            await self.presence.connected(kind, ident, conn_id, now)

    async def heartbeat(self, now: int) -> None:
        """One round trip: this node is alive; a node that stops beating has its people go."""
        async with redis_errors():
            await self.presence.heartbeat(now)

    async def disconnected(self, kind: PresenceKind, ident: str, conn_id: str, now: int) -> int:
        async with redis_errors():
            return await self.presence.disconnected(kind, ident, conn_id, now)

    async def online(self, kind: PresenceKind, among: Iterable[str] | None = None) -> set[str]:
        async with redis_errors():
            return await self.presence.online(kind, among)

    async def gone_since(self, kind: PresenceKind, before: int) -> list[str]:
        async with redis_errors():
            return await self.presence.gone_since(kind, before)

    async def forget_gone(self, kind: PresenceKind, ident: str) -> None:
        async with redis_errors():
            await self.presence.forget_gone(kind, ident)

    # internals --------------------------------------------------------------------------

    async def _read(self, pipe: Any, cid: str) -> Conversation | None:
        raw_conv = await pipe.get(self.keys.conv(cid))
        if raw_conv is None:
            return None
        moved = await pipe.hmget(self.keys.live(cid), *LIVE_MOVED)
        return _with_live(conversation_from_dict(json.loads(raw_conv)), moved)

    async def _transition(self, cid: str, decide: Decide, watch: tuple[str, ...] = ()) -> Changed:
        attempted: Changed | None = None
        async with redis_errors(), self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(self.keys.conv(cid), self.keys.live(cid), *watch)
                    before = await self._read(pipe, cid)
                    if attempted is not None and before == attempted.conversation:
                        return attempted  # our EXEC ran; its reply was lost
                    if before is None:
                        raise flow.unknown_conversation()
                    flow.ensure_open(before)
                    transition = await decide(pipe, before)
                    conv, messages = transition.conversation, []
                    ts = self.clock.now_ms()
                    for draft in transition.drafts:
                        m = Message(
                            cid, conv.last_seq + 1, ts, draft.kind, draft.sender, draft.text
                        )
                        conv = flow.after_message(conv, m)
                        messages.append(m)
                    pipe.multi()
                    self._write(pipe, before, conv, messages, None)
                    attempted = Changed(conv, tuple(messages), before)
                    await self._execute(pipe)
                    return attempted
                except WatchError:
                    continue
        raise unavailable("too much contention, retry")

    @staticmethod
    async def _execute(pipe: Any) -> None:
        """EXEC the queued transaction. When the connection drops after EXEC was sent,
        redis-py raises `WatchError` (the watch died with it) whether or not EXEC ran: the
        callers decide again, and recognise their own write if it did."""
        await pipe.execute()

    def _write(
        self,
        pipe: Any,
        before: Conversation | None,
        conv: Conversation,
        messages: list[Message],
        origin: str | None,
    ) -> None:
        """Queue the conversation, its indexes, its new messages and their publication."""
        k, cid = self.keys, conv.id
        pipe.set(k.conv(cid), _json(conversation_to_dict(conv)))
        live, absent = _live_fields(conv)
        pipe.hset(k.live(cid), mapping=live)
        if absent:
            pipe.hdel(k.live(cid), *absent)
        if before is None or before.state is not conv.state:
            if before is not None:
                pipe.zrem(k.convs(before.state.value), cid)
            pipe.zadd(k.convs(conv.state.value), {cid: conv.created})
            pipe.zadd(k.convs(), {cid: conv.created})
            pipe.zadd(k.visitor_convs(conv.visitor_id), {cid: conv.created})
        if conv.state is State.QUEUED:
            pipe.zadd(k.queue(), {cid: _queue_score(conv)})
        else:
            pipe.zrem(k.queue(), cid)
        if before is not None and before.agent is not None:
            pipe.srem(k.agent_active(before.agent.id), cid)
        if conv.state is State.ACTIVE and conv.agent is not None:
            pipe.sadd(k.agent_active(conv.agent.id), cid)
            pipe.zadd(k.agent_convs(conv.agent.id), {cid: conv.created})
            if before is None or before.agent != conv.agent:
                pipe.hset(k.last_assigned(), conv.agent.id, conv.assigned_at or conv.created)
        if conv.state is State.CLOSED:
            pipe.delete(k.visitor_open(conv.visitor_id))
        self._append_messages(pipe, conv, messages, origin)

    def _append_messages(
        self, pipe: Any, conv: Conversation, messages: list[Message], origin: str | None
    ) -> None:
        k, cid = self.keys, conv.id
        for m in messages:
            pipe.xadd(k.messages(cid), {"m": _json(message_row(m))}, id=f"{m.seq}-0")
            if m.cmid is not None:
                pipe.hset(k.cmids(cid), f"{m.sender.id}|{m.cmid}", m.seq)
            pipe.publish(k.channel(channels.conversation(cid)), _event(views.msg_event(m), origin))
            if views.visible_to_visitor(m):
                pipe.publish(
                    k.channel(channels.visitor(conv.visitor_id)),
                    _event(views.msg_event(m, for_visitor=True), origin),
                )


def _event(frame: dict[str, Any], origin: str | None) -> bytes:
    packed: bytes = msgpack.packb({"frame": frame, "skip": origin}, use_bin_type=True)
    return packed


_PACKER = msgpack.Packer(use_bin_type=True)
LIVE_MOVED = ("seq", "frt", "turn")
"""The live fields that messages move (append.lua), read over the conversation's JSON."""


def _audit_args(entry: AuditEntry) -> list[Arg]:
    """How many entries the audit stream keeps, "*", then the entry's fields and values."""
    return [
        AUDIT_KEPT,
        "*",
        *("ts", entry.ts, "agent_id", entry.agent_id, "action", entry.action),
        *("cid", entry.cid or "", "detail", entry.detail),
    ]


def _live_fields(conv: Conversation) -> tuple[dict[str, str | int], list[str]]:
    """The live hash of a conversation (see `Keys.live`), and the fields it lacks."""
    values = {
        "seq": conv.last_seq,
        "state": conv.state.value,
        "visitor": conv.visitor_id,
        "agent": conv.agent.id if conv.agent else None,
        "created": conv.created,
        "topic": conv.topic,
        "frt": conv.first_response_at,
        "turn": conv.visitor_turn_at,
    }
    return {k: v for k, v in values.items() if v is not None}, [
        k for k, v in values.items() if v is None
    ]


def _with_live(conv: Conversation, moved: list[bytes | None]) -> Conversation:
    seq, frt, turn = moved
    if seq is None:
        return conv
    return replace(conv, last_seq=int(seq), first_response_at=_int(frt), visitor_turn_at=_int(turn))


def _int(value: bytes | str | None) -> int | None:
    return int(value) if value else None


def _spliced_row(m: Message) -> tuple[bytes, bytes]:
    """The stored row's JSON before and after its seq, which only append.lua knows."""
    row = message_row(m)
    assert row[1] == m.seq
    return _json(row[:1])[:-1] + b",", b"," + _json(row[2:])[1:]


def _spliced_event(frame: dict[str, Any], origin: str | None) -> tuple[bytes, bytes]:
    """The packed bus event before and after the value of its frame's `seq` (which only
    append.lua knows): head + packb(seq) + tail is `_event(frame with seq, origin)`."""
    pack = _PACKER
    rest = [(key, value) for key, value in frame.items() if key != "seq"]
    head = [pack.pack_map_header(2), pack.pack("frame"), pack.pack_map_header(len(rest) + 1)]
    head += [pack.pack(key) + pack.pack(value) for key, value in rest]
    head.append(pack.pack("seq"))
    return b"".join(head), pack.pack("skip") + pack.pack(origin)
