"""Chaos scenario 4a: redis-server SIGKILLed under load and brought back on its AOF.

Two `chat-server serve` nodes on one redis-server (AOF everysec) and the load of
`tests/bus_outage.py` (visitors and agents sending in turn, two watching supervisors),
but with clients that resume as contract §6 says: a `msg` answered `unavailable`, or not
at all, is sent again with the same cmid (on a new socket, synced first, if the old one
closed), and a conversation is synced when a seq is skipped. Redis is SIGKILLed, `drops`
people lose their socket meanwhile, it stays down `outage_s`, and restarts on its AOF,
answering LOADING for about `loading_s` first (`redis_restart_aof.py`), `outages` times.
The nodes run with a presence ttl shorter than the outage, so the reap of their agents
and the rewrite after it are part of what must recover, without a node restart.

Why these figures: while Redis is down nothing may be acknowledged (an `ok` would be a
lie), once it is back every node must serve within 5 s, nothing acknowledged may be lost or
stored twice, routing and presence must come back by themselves, and a client following
§6 must end up with every message. Sizes: CI and LONG below (`run(tmp, **LONG)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import shutil
import time
from pathlib import Path
from typing import Any

from chat_server.core.model import AgentStatus, Message
from tests.bus_outage import ORIGIN, Scenario, Socket, TimedClient, _heard_of
from tests.chaos.figures import Result
from tests.chaos.redis_restart_aof import compact, fill, slow_restarts, wait_pong
from tests.chaos.redis_restart_peers import Peer, scan_loop
from tests.chaos.redis_restart_tally import (
    ASSIGN_WITHIN_S,
    SERVE_WITHIN_S,
    Attempt,
    Tally,
    Window,
)
from tests.client import open_ws

CI: dict[str, Any] = {
    "conversations": 20,
    "outages": 1,
    "after_s": 2.5,
    "loading_s": 0.5,
    "drops": 2,
}
LONG: dict[str, Any] = {
    "conversations": 30,
    "outages": 3,
    "after_s": 5.0,
    "loading_s": 1.0,
    "drops": 4,
}
GIVE_UP_S = 20.0
"""How long a client keeps resending an unacknowledged message after the load stops."""


class RedisRestart(Scenario):
    """`bus_outage.Scenario`'s nodes, people and load, with resuming clients."""

    def __init__(
        self,
        redis_binary: str,
        tmp: Path,
        *,
        conversations: int = 20,
        outages: int = 1,
        rate: float = 5.0,
        warm_s: float = 2.0,
        outage_s: float = 3.0,
        after_s: float = 3.0,
        presence_ttl_s: float = 2.0,
        loading_s: float = 1.0,
        drops: int = 2,
    ) -> None:
        super().__init__(
            redis_binary,
            tmp,
            conversations=conversations,
            rate=rate,
            warm_s=warm_s,
            outage_s=outage_s,
            after_s=after_s,
        )
        self.outages = outages
        self.presence_ttl_s = presence_ttl_s
        self.loading_s = loading_s
        self.binary = redis_binary
        self.drops = drops
        self.keys = 0
        """Keys in Redis at the last AOF rewrite (what a restart loads first)."""
        self.creds: dict[int, tuple[str, str]] = {}
        self.peers: list[Peer] = []
        self.by_name: dict[str, Peer] = {}
        self.tally = Tally()
        self.give_up_at = float("inf")

    def node_env(self) -> dict[str, str]:
        return {**super().node_env(), "CHAT_PRESENCE_TTL_S": str(self.presence_ttl_s)}

    async def start(self) -> None:
        """As `Scenario.start`, with the presence ttl set on the nodes, and a Redis slow to
        load its data when restarted."""
        self.redis.start()
        if self.loading_s > 0:
            await fill(self.redis.url, self.prefix)
        await self.start_nodes()

    async def _connect_agent(self, node: int, token: str, codec: str) -> TimedClient:
        client = await super()._connect_agent(node, token, codec)
        self.creds[id(client)] = (token, codec)
        return client

    def _add_peer(self, peer: Peer) -> Peer:
        self.peers.append(peer)
        self.by_name[peer.sock.name] = peer
        return peer

    async def _meet(self) -> None:
        """Everyone `populate` connected becomes a resuming client; supervisors watch the
        live figures (the dashboard's data)."""
        for s in self.sockets:
            if s.role == "visitor":
                token, codec = s.client.hello["token"], s.client.codec
            else:
                token, codec = self.creds[id(s.client)]
            self._add_peer(Peer(s, token, codec))
        for cid, visitor, agent in self.pairs:
            for name in (visitor.name, agent.name):
                self.by_name[name].follows.add(cid)
            self.by_name[visitor.name].known[cid].add(1)  # its `start` text
        for peer in self.peers:
            if peer.sock.role == "supervisor":
                await peer.client.request("subscribe", stats=True)

    # the load -----------------------------------------------------------------------------

    async def _talk(self, index: int, cid: str, visitor: Socket, agent: Socket) -> None:
        """Visitor and agent in turn, `rate` a second; one message in flight at a time."""
        period = 1 / self.rate
        loop = asyncio.get_running_loop()
        tick = loop.time() + (index / self.n_conversations) * period
        people = (self.by_name[visitor.name], self.by_name[agent.name])
        for turn in itertools.count():
            await asyncio.sleep(max(0.0, tick - loop.time()))
            if self._stop.is_set():
                return
            tick = max(tick + period, loop.time())
            await self._deliver(people[turn % 2], cid, f"{cid}-{turn}", f"m{turn}")

    async def _deliver(self, peer: Peer, cid: str, cmid: str, text: str) -> None:
        """Send until `ok`: after `unavailable`, any other refusal, no answer or a closed
        socket (reconnecting first), the same cmid again (contract §6)."""
        peer.sock.sent.add(cmid)
        pause = 0.05
        while True:
            if peer.client.closed.done() and not await self._reconnect(peer):
                self.tally.unacked.append(f"{peer.sock.name} {cmid}: could not reconnect")
                return
            node, sent = peer.sock.node, time.time()
            frame, answer = {}, "none"  # no answer: the socket closed, or 5 s went by
            asked = asyncio.ensure_future(peer.client.reply("msg", cid=cid, text=text, cmid=cmid))
            await asyncio.wait([asked, peer.client.closed], return_when=asyncio.FIRST_COMPLETED)
            if not asked.done():
                asked.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                frame = await asked
                answer = "ok" if frame["t"] == "ok" else str(frame.get("code"))
            self.tally.attempts.append(Attempt(node, sent, time.time(), answer))
            if answer == "ok":
                self.tally.acks[(cid, cmid)].add(frame["seq"])
                self.tally.acked_at[(cid, cmid)] = time.time()
                peer.known[cid].add(frame["seq"])
                return
            if time.time() > self.give_up_at:
                self.tally.unacked.append(f"{peer.sock.name} {cmid}: last answer {answer}")
                return
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.25)

    async def _reconnect(self, peer: Peer) -> bool:
        """A new socket on the other node (as through a balancer), `hello` with the kept
        token, then `sync` of every conversation followed (§6). Once per drop: a person's
        conversations share it."""
        node, deadline = 1 - peer.sock.node, time.time() + 60
        async with peer.lock:
            while peer.client.closed.done() and time.time() < min(self.give_up_at, deadline):
                client: TimedClient | None = None
                visitor = peer.sock.role == "visitor"
                path, origin = ("visitor?site=shop", ORIGIN) if visitor else ("agent", None)
                try:
                    ws = await open_ws(
                        f"{self.nodes[node].ws}/ws/{path}", codec=peer.codec, origin=origin
                    )
                    client = TimedClient(ws, peer.codec)
                    client.hello = await client.request("hello", token=peer.token)
                except Exception:  # Redis still away (HTTP 503, or `unavailable`): again
                    if client is not None:
                        await client.close()
                    await asyncio.sleep(0.3)
                    continue
                peer.replace(client, node)
                for cid in list(peer.follows):
                    with contextlib.suppress(Exception):  # the gap shows later: synced then
                        await peer.sync(cid)
        return not peer.client.closed.done()

    # the outages --------------------------------------------------------------------------

    async def _outage(self) -> None:
        """SIGKILL redis-server, keep it down, restart it on its AOF; then what recovers."""
        self.redis.stop(kill=True)
        killed = time.time()
        await self._drop(len(self.tally.windows))
        if self.loading_s > 0:
            slow_restarts(self.redis, self.binary, self.loading_s, self.keys)
        await asyncio.sleep(self.outage_s)
        restarted = time.time()
        (down_until, pong), _ = await asyncio.gather(
            wait_pong(self.redis.port), asyncio.to_thread(self.redis.start)
        )
        window = Window(killed, restarted, down_until, pong)
        self.tally.windows.append(window)
        base = len(self.tally.windows) * len(self.nodes)
        newcomers = [
            asyncio.create_task(self._newcomer(node, base + node))
            for node in range(len(self.nodes))
        ]
        window.ready_s = await self._ready_times(pong)
        window.assigned_s = list(await asyncio.gather(*newcomers))
        window.presence_missing, window.dashboard_missing = await self._presence()

    async def _compact(self) -> None:
        """The AOF rewritten `warm_s` or `after_s` before the next SIGKILL, not just before:
        with everysec, Redis postpones its AOF writes (up to 2 s) while a background fsync
        runs, replying all the same, and the rewrite's fsyncs would make a kill right after
        it lose acknowledged writes: Redis's own limit, not what this scenario measures."""
        if self.loading_s > 0:
            self.keys = await compact(self.redis.url)

    async def _drop(self, outage: int) -> None:
        """`drops` visitors and agents lose their socket while Redis is down (a network
        drop, a reloaded page): they resume when they next send."""
        people = [
            self.by_name[s.name] for _, v, a in self.pairs[: self.n_conversations] for s in (v, a)
        ]
        chosen = random.Random(outage).sample(people, min(self.drops, len(people)))
        await asyncio.gather(*(p.client.ws.close() for p in chosen))

    async def _newcomer(self, node: int, n: int) -> float | None:
        """A new visitor on `node` as soon as Redis answers again, retrying the handshake
        as the widget does: seconds from its `start` to an online agent's socket hearing of
        the conversation, None if not within ASSIGN_WITHIN_S."""
        began = time.time()
        deadline = time.time() + 20
        while True:
            client: TimedClient | None = None
            try:
                url = f"{self.nodes[node].ws}/ws/visitor?site=shop"
                client = TimedClient(
                    await open_ws(url, codec="chat.v1.json", origin=ORIGIN), "chat.v1.json"
                )
                client.hello = await client.request("hello")
                began = time.time()
                started = await client.request("start", text="arriving", cmid=f"arriving-{n}")
                break
            except Exception:
                if client is not None:
                    await client.close()
                if time.time() > deadline:
                    self.tally.notes.append(f"arriving visitor {n} on node{node} could not start")
                    return None
                await asyncio.sleep(0.2)
        cid = started["conversation"]["id"]
        sock = Socket(f"arriving{n}@node{node}", node, client, "visitor", {f"arriving-{n}"})
        self.sockets.append(sock)
        self._add_peer(Peer(sock, client.hello["token"], "chat.v1.json", {cid})).known[cid].add(1)
        try:
            owner = await self._owner(cid, timeout=ASSIGN_WITHIN_S)
        except AssertionError:
            self.tally.notes.append(f"{sock.name}: {cid} not assigned within {ASSIGN_WITHIN_S:g} s")
            return None
        agent = next((p for p in self.peers if p.agent_id == owner), None)
        if agent is None or agent.sock.role != "agent":
            self.tally.notes.append(f"{sock.name}: {cid} went to {owner}, not an online agent")
            return None
        heard = await _heard_of(agent.client, cid, max(0.1, began + ASSIGN_WITHIN_S - time.time()))
        if heard is None:
            self.tally.notes.append(f"{sock.name}: {agent.sock.name} never heard of {cid}")
            return None
        return heard[0] - began

    async def _presence(self) -> tuple[int, int]:
        """Connected online agents that the store's presence (with their status) does not
        list, polled up to SERVE_WITHIN_S; then how many the dashboard's next live figures
        (`stats.live.agents_online`) leave out."""
        assert self.store is not None
        expected = {
            p.agent_id for p in self.peers if p.sock.role == "agent" and not p.client.closed.done()
        }
        deadline = time.time() + SERVE_WITHIN_S
        missing = set(expected)
        while missing and time.time() < deadline:
            with contextlib.suppress(Exception):
                online = await self.store.presence.online("agent")
                status = {a.id: a.status for a in await self.store.directory.agents()}
                missing = {
                    a for a in expected if a not in online or status.get(a) != AgentStatus.ONLINE
                }
            await asyncio.sleep(0.1)
        for a in missing:
            self.tally.notes.append(f"agent {a} online and connected, not in the store's presence")
        since, shown = time.time(), None
        supervisors = [p for p in self.peers if p.sock.role == "supervisor"]
        while shown is None and time.time() < since + 3:
            await asyncio.sleep(0.1)
            for p in supervisors:
                for when, frame in p.client.timeline:
                    if frame.get("t") == "stats" and when > since:
                        shown = frame["live"]["agents_online"]
        return len(missing), max(0, len(expected) - (shown or 0))

    async def drive(self) -> None:
        await self.populate()
        await self._meet()
        talkers = [
            asyncio.create_task(self._talk(i, cid, v, a))
            for i, (cid, v, a) in enumerate(self.pairs)
        ]
        done = asyncio.Event()
        scanner = asyncio.create_task(scan_loop(self.peers, done))
        try:
            await self._compact()
            await asyncio.sleep(self.warm_s)
            for _ in range(self.outages):
                await self._outage()
                await self._compact()
                await asyncio.sleep(self.after_s)
        finally:
            self._stop.set()
            self.give_up_at = time.time() + GIVE_UP_S
            for failed in await asyncio.gather(*talkers, return_exceptions=True):
                if isinstance(failed, BaseException):
                    self.tally.notes.append(f"a conversation's load failed: {failed!r}")
            await asyncio.sleep(2.0)  # the last events arrive, skipped seqs are synced
            done.set()
            await scanner

    async def count(self, result: Result) -> None:
        assert self.store is not None
        t = self.tally
        cids = set().union(*(p.follows for p in self.peers)) | {cid for cid, _ in t.acks}
        history: dict[str, list[Message]] = {}
        for cid in cids:
            history[cid], _ = await self.store.conversations.history(cid, 0, 100_000, notes=True)
        logs = [(n.data / "server.log").read_text(errors="replace") for n in self.nodes]
        t.figures(result, self.peers, history, logs)


async def run(tmp: Path, **sizes: Any) -> Result:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found (apt-get install redis-server)")
    result = Result(
        "redis_restart: Redis SIGKILLed under load, back on its AOF",
        "bench/chaos --only redis_restart",
    )
    scenario = RedisRestart(binary, tmp, **sizes)
    try:
        await scenario.start()
        await scenario.drive()
        await scenario.count(result)
    finally:
        await scenario.stop()
    return result
