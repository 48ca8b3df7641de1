"""Auto-assignment runs, the waiting-list announcements and the absence timers.

Runs are coalesced: any number of `kick()`s while a run is going cause one more run.
Each assignment is still checked atomically by the store, so two nodes (or a `claim`
racing a run) can never give one conversation to two agents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from chat_server.core import channels, routing
from chat_server.core.errors import ChatError
from chat_server.core.model import Agent, AgentStatus, Conversation, State
from chat_server.service import bots, files, inactivity, retention
from chat_server.service.availability import Availability
from chat_server.service.node import Node
from chat_server.service.offline import PendingList
from chat_server.service.previews import Previews

log = logging.getLogger(__name__)
CHECKPOINT_S = 10.0
RACE_RETRY_S = 0.05
"""After a dispatch run lost a race, how soon to plan again."""
STOP_AGAIN_S = 0.5
"""A loop still running this long after being cancelled is cancelled again."""
FAILED_RETRY_S = (0.25, 5.0)
"""After a dispatch run failed (the store or bus down), how soon to try again: doubling
from the first to the second (a conversation must not wait for the next kick)."""


async def _guarded(work: Awaitable[object], what: str) -> bool:
    """A background loop survives any one failed round (logged; a backend that is down
    is a warning, anything else a bug with its traceback). False when it failed."""
    try:
        await work
    except ChatError as exc:
        log.warning("%s failed: %s", what, exc.message)
    except Exception:
        log.exception("%s failed", what)
    else:
        return True
    return False


class Dispatcher:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._dirty = asyncio.Event()
        self._queue_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._previews = Previews(node.store.conversations)
        self._retention = retention.Sweep(node)
        self._positions: dict[str, tuple[int, int | None]] = {}
        self._inactivity_at: int | None = None
        """When (node time) the inactivity sweep last ran."""
        self._last_queue: list[dict[str, Any]] | None = None
        self.pending = PendingList(node)
        """The offline messages for agents (issue 14), announced with the queue."""
        self.availability = Availability(node)
        """The sites' availability for their visitors (issue 14), checked by the sweep."""

    async def start(self) -> None:
        # this node's agents may have been skipped while its bus was deaf: route again
        self.node.hub.after_resync(self.look_again)
        self._tasks = [
            asyncio.create_task(self._assign_loop(), name="dispatch"),
            asyncio.create_task(self._announce_loop(), name="queue-announcer"),
            asyncio.create_task(self._sweep_loop(), name="sweeper"),
            asyncio.create_task(self._heartbeat_loop(), name="heartbeat"),
            asyncio.create_task(self.availability.run(), name="availability"),
        ]
        self.kick()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            while not task.done():
                await asyncio.wait({task}, timeout=STOP_AGAIN_S)
                if not task.done():  # the cancellation was swallowed below us (seen in
                    task.cancel()  # Redis mode; where is not known): cancel again
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def kick(self) -> None:
        """Something changed (queue, capacity, presence, status): assign and announce soon."""
        self._dirty.set()

    def look_again(self) -> None:
        """This node's agents may have been missed (its bus was deaf, or its presence had
        expired): route again, and read the sites' availability afresh."""
        self.kick()
        self.availability.forget()

    def remember_preview(self, cid: str, text: str) -> None:
        self._previews.remember(cid, text)

    # assignment -------------------------------------------------------------------------

    async def _assign_loop(self) -> None:
        retry = FAILED_RETRY_S[0]
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if await _guarded(self.assign_waiting(), "dispatch run"):
                retry = FAILED_RETRY_S[0]
            else:
                asyncio.get_running_loop().call_later(retry, self.kick)
                retry = min(retry * 2, FAILED_RETRY_S[1])
            self._queue_changed.set()

    async def _announce_loop(self) -> None:
        while True:
            await self._queue_changed.wait()
            self._queue_changed.clear()
            await _guarded(self.announce_queue(), "queue announcement")
            await _guarded(self.pending.announce(), "pending announcement")
            await asyncio.sleep(self.node.settings.queue_interval_s)  # at most 2 a second

    async def candidates(self, agents: list[Agent] | None = None) -> list[routing.Candidate]:
        """Agents connected, `online`, with capacity, and heard by some node right now:
        one whose every node has lost its pub/sub (or not resubscribed since Redis came
        back) would never get `assigned`."""
        store = self.node.store
        online = await store.presence.online("agent")
        if not online:
            return []
        team = [
            a
            for a in (agents if agents is not None else await store.directory.agents())
            if a.id in online
            and a.status is AgentStatus.ONLINE
            and a.max_chats > 0
            and not a.is_bot  # issue 17: bots take only their sites' new conversations
        ]
        if not team:
            return []
        heard = await self.node.hub.bus.listening(channels.agent(a.id) for a in team)
        loads = await store.conversations.loads()
        out = []
        for agent in team:
            if channels.agent(agent.id) not in heard:
                continue
            load = loads.get(agent.id)
            out.append(
                routing.Candidate(
                    agent.id,
                    load.active if load else 0,
                    agent.max_chats,
                    agent.topics,
                    load.last_assigned if load else 0,
                )
            )
        return out

    async def assign_waiting(self) -> None:
        store = self.node.store
        queue = await store.conversations.waiting()
        if not queue:
            return
        team = await store.directory.agents()
        candidates = await self.candidates(team)
        site_bots = await bots.site_bots(self.node, queue, team)
        if not candidates and not site_bots:
            return
        now = self.node.clock.now_ms()
        agents = {a.id: a for a in team}
        raced = False
        for cid, agent_id in routing.plan_assignments(queue, candidates, now, site_bots):
            try:
                changed = await store.conversations.claim(cid, agents[agent_id], now)
            except ChatError:
                raced = True  # claimed or closed meanwhile, or capacity moved
                continue
            await self.node.announce_assigned(changed)
        if raced:  # another node (or a claim) got there first: plan again on fresh loads,
            # even if nothing else kicks (every race lost is someone else's progress)
            asyncio.get_running_loop().call_later(RACE_RETRY_S, self.kick)

    # the waiting list -------------------------------------------------------------------

    async def announce_queue(self) -> None:
        queue = await self.node.store.conversations.waiting()
        now = self.node.clock.now_ms()
        waiting = [await self._waiting_entry(conv, now) for conv in queue]
        self._previews.keep_only(conv.id for conv in queue)
        if waiting != self._last_queue:
            self._last_queue = waiting
            await self.node.hub.publish(channels.QUEUE, {"t": "queue", "waiting": waiting})
        positions = await self.positions(queue)
        for conv in queue:
            place = positions[conv.id]
            if self._positions.get(conv.id) != place:
                self._positions[conv.id] = place
                await self.node.hub.publish(
                    channels.visitor(conv.visitor_id),
                    {
                        "t": "queue",
                        "cid": conv.id,
                        "position": place[0],
                        "eta_s": place[1],
                    },
                )
        for cid in set(self._positions) - set(positions):
            del self._positions[cid]

    async def waiting_list(self) -> list[dict[str, Any]]:
        now = self.node.clock.now_ms()
        return [
            await self._waiting_entry(c, now) for c in await self.node.store.conversations.waiting()
        ]

    async def positions(
        self, queue: list[Conversation] | None = None
    ) -> dict[str, tuple[int, int | None]]:
        if queue is None:
            queue = await self.node.store.conversations.waiting()
        if not queue:
            return {}
        slots = sum(c.max_chats for c in await self.candidates())
        mean = await self.mean_handle_s()
        return {
            conv.id: (i, routing.estimate_wait_s(i, slots, mean))
            for i, conv in enumerate(queue, start=1)
        }

    async def mean_handle_s(self) -> float:
        """The last hour's measured mean handle time (`resolution_s`), else the configured
        one (issue 14: `eta_s` follows how fast chats are really handled)."""
        figures = await self.node.store.figures.read("1h", self.node.clock.now_ms(), "all")
        handled = figures.count("resolution_s")
        if handled <= 0:
            return self.node.settings.mean_handle_s
        return max(1.0, figures.counters.get("sum:resolution_s", 0) / handled)

    async def _waiting_entry(self, conv: Conversation, now: int) -> dict[str, Any]:
        visitor = await self.node.store.directory.visitor(conv.visitor_id)
        entry = {
            "cid": conv.id,
            "topic": conv.topic,
            "visitor": {"name": visitor.name if visitor else None},
            "waited_s": max(0, (now - conv.queued_at) // 1000),
            "preview": await self._previews.of(conv.id),
        }
        if routing.handed_off(conv):
            entry["handoff"] = True  # issue 17: a bot's handoff, its note in the transcript
        return entry

    # absence timers ---------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + CHECKPOINT_S
        next_expiry = loop.time()
        while True:
            await asyncio.sleep(self.node.settings.sweep_interval_s)
            await _guarded(self.sweep(), "sweep")
            self.availability.recheck()  # hours turn, reply times move, other nodes' agents
            if loop.time() >= next_expiry:  # issue 15: uploads that no message sent
                next_expiry = loop.time() + files.EXPIRE_EVERY_S
                await _guarded(files.expire_unsent(self.node), "expire uploads")
            await _guarded(self._retention.due(), "retention")  # issue 16
            if loop.time() >= next_checkpoint:
                next_checkpoint = loop.time() + CHECKPOINT_S
                await _guarded(self.node.store.figures.checkpoint(periodic=True), "checkpoint")

    async def _heartbeat_loop(self) -> None:
        """Its own loop, so a long sweep (many timeouts at once) never lets the node expire."""
        settings = self.node.settings
        interval = min(settings.sweep_interval_s, settings.presence_ttl_s / 3)
        while True:
            await _guarded(self.heartbeat(), "heartbeat")
            await asyncio.sleep(interval)

    async def heartbeat(self) -> None:
        """Keep this node, and so its connections, present: one write whatever their number
        (a node that dies stops doing this). After a stall that got its agents counted gone,
        route again: a chat queued meanwhile waited for them."""
        if await self.node.store.presence.heartbeat(self.node.clock.now_ms()):
            self.look_again()

    async def sweep(self) -> None:
        """Requeue the chats of agents gone past their grace; close those of gone visitors."""
        store, now = self.node.store, self.node.clock.now_ms()
        grace_ms = int(self.node.settings.agent_grace_s * 1000)
        for agent_id in await store.presence.gone_since("agent", now - grace_ms):
            if await store.presence.online("agent", among=[agent_id]):
                continue  # came back since the list was read
            for mine in await store.conversations.active_of(agent_id):
                with contextlib.suppress(ChatError):
                    changed = await store.conversations.requeue(
                        mine.id, now, reason="agent_left", front=True, only_agent=agent_id
                    )
                    await self.node.announce_requeued(changed, "agent_left")
            await store.presence.forget_gone("agent", agent_id)
            self.kick()
        timeout_ms = int(self.node.settings.visitor_timeout_s * 1000)
        for visitor_id in await store.presence.gone_since("visitor", now - timeout_ms):
            if await store.presence.online("visitor", among=[visitor_id]):
                continue
            conv = await store.conversations.open_of(visitor_id)
            # an offline message is left by a visitor who is expected to be gone
            if conv is not None and conv.state is not State.PENDING:
                with contextlib.suppress(ChatError):
                    changed = await store.conversations.close(
                        conv.id, now, by="system", reason="visitor_left", resolved=None
                    )
                    await self.node.announce_closed(changed)
                    self.kick()
            await store.presence.forget_gone("visitor", visitor_id)
        if self._inactivity_at is None or now - self._inactivity_at >= inactivity.EVERY_MS:
            self._inactivity_at = now  # issue 14: auto-close on inactivity
            if await inactivity.sweep(self.node):
                self.kick()
