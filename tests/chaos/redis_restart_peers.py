"""The clients of the Redis restart scenario (`redis_restart.py`): what each person knows.

A person (visitor, agent, supervisor) may go through several sockets. The client behaves
like the widget: it keeps every seq it has per conversation (live `msg` events, `assigned`
and `watch` history, its own acknowledged messages, `sync` pages), and syncs a
conversation when a seq below the newest it has is still unknown a scan later (a skipped
seq; contract §4, §5 "State after a gap"). What the server did on each socket is checked
afterwards against the stored history, so no client-side race counts as a server fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chat_server.core.model import Message
from tests.bus_outage import Socket, TimedClient


@dataclass
class Peer:
    """One person across reconnects: its credentials, what it follows and what it has."""

    sock: Socket
    token: str
    codec: str
    follows: set[str] = field(default_factory=set)
    known: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    clients: list[TimedClient] = field(default_factory=list)
    """Every socket this person had, the current one last."""
    scanned: int = 0
    holes: dict[str, set[int]] = field(default_factory=dict)
    absent: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    """Holes a sync did not fill: notes, which a visitor never sees."""
    resyncs: int = 0
    reconnects: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while reconnecting: one new socket per drop, whichever conversation noticed."""

    def __post_init__(self) -> None:
        self.clients.append(self.sock.client)
        for cid, seqs in self.sock.base.items():
            self.follows.add(cid)
            self.known[cid] |= set(seqs)

    @property
    def client(self) -> TimedClient:
        return self.sock.client

    @property
    def agent_id(self) -> str | None:
        agent = self.clients[0].hello.get("agent")
        return agent["id"] if agent else None

    def replace(self, client: TimedClient, node: int) -> None:
        """A new socket (after a reconnect): what the old one got is taken first."""
        self.scan()
        self.sock.client, self.sock.node = client, node
        self.clients.append(client)
        self.scanned = 0
        self.reconnects += 1

    def scan(self) -> set[str]:
        """Take the frames that arrived since the last scan; the cids with a hole that was
        already there at the last scan (the client syncs those)."""
        timeline = self.client.timeline
        for _, frame in timeline[self.scanned :]:
            self._take(frame)
        self.scanned = len(timeline)
        stale = set()
        for cid in self.follows:
            known = self.known[cid]
            holes = set(range(1, max(known, default=0))) - known - self.absent[cid]
            if holes & self.holes.get(cid, set()):
                stale.add(cid)
            self.holes[cid] = holes
        return stale

    def _take(self, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == "msg":
            self.known[frame["cid"]].add(frame["seq"])
        elif (
            t == "assigned" and "conversation" in frame
        ):  # an agent's (a visitor's names the agent)
            cid = frame["conversation"]["id"]
            self.follows.add(cid)
            self.known[cid] |= {m["seq"] for m in frame["messages"]}
        elif t == "state":
            for conv in frame.get("conversations") or ():
                self.follows.add(conv["id"])

    async def sync(self, cid: str) -> None:
        """`sync` from the first seq missing, until `more` is false (contract §6 step 2)."""
        known = self.known[cid]
        after = next(s for s in itertools.count(1) if s not in known) - 1
        top = max(known, default=0)
        more = True
        while more:
            page = await self.client.request("sync", cid=cid, after=after)
            seqs = [m["seq"] for m in page["messages"]]
            known |= set(seqs)
            after, more = (seqs[-1] if seqs else after), page["more"]
        self.absent[cid] |= set(range(1, top)) - known
        self.holes.pop(cid, None)
        self.resyncs += 1

    async def resync_stale(self) -> None:
        for cid in self.scan():
            with contextlib.suppress(Exception):  # Redis away, or the socket closed: next scan
                await self.sync(cid)

    # counting, against the stored history -------------------------------------------

    def visible(self, stored: list[Message]) -> list[Message]:
        return [m for m in stored if self.sock.role != "visitor" or m.kind.value != "note"]

    def never_received(self, cid: str, stored: list[Message]) -> list[int]:
        """Seqs stored, visible to this person, not its own, and never received."""
        own = self.sock.sent
        expected = {m.seq for m in self.visible(stored) if m.cmid not in own}
        return sorted(expected - self.known[cid])

    def misdelivered(self, cid: str, stored: list[Message]) -> int:
        """On each socket, between two `msg` events in a row: seqs skipped (other than its
        own messages and invisible notes), or a seq repeated or out of order."""
        own = self.sock.sent
        quiet = {m.seq for m in stored if m.cmid in own} | (
            {m.seq for m in stored} - {m.seq for m in self.visible(stored)}
        )
        bad = 0
        for client in self.clients:
            seqs = [f["seq"] for _, f in client.timeline if f.get("t") == "msg" and f["cid"] == cid]
            for a, b in itertools.pairwise(seqs):
                if b <= a:
                    bad += 1
                else:
                    bad += sum(1 for s in range(a + 1, b) if s not in quiet)
        return bad

    def states(self) -> int:
        return sum(1 for c in self.clients for _, f in c.timeline if f.get("t") == "state")


async def scan_loop(peers: list[Peer], stop: asyncio.Event, every: float = 0.25) -> None:
    """The clients' own gap repair, every `every` s, until `stop`."""
    while not stop.is_set():
        await asyncio.gather(*(p.resync_stale() for p in list(peers)))
        await asyncio.sleep(every)
