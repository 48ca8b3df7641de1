"""Clients that resume as the widget and the console do (docs/protocol.md §6 Resume), and
record what they saw, for the chaos scenarios.

Each client connects to a random node of a list, says `hello` (a visitor with the token it
kept, an agent with its API token), `sync`s every conversation from the last seq it holds
until `more` is false, then resends every `msg` that had no `ok` with its original `cmid`.
Any drop (a close, a refused handshake, a 503, an answer that does not come in time) means:
wait the widget's backoff (`static/common/ws.js` backoffDelay, scaled down so CI is quick),
then the same again on a random node.

What it records is what the figures are made of: the seq each acknowledged cmid got, every
seq it holds per conversation and how it came (live, sync, its own `ok`), and per
connection the conversation's seq it started from and the live `msg` seqs in arrival order
(a gap or a reordering among those is the server's fault: it promises none).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from tests.chaos.link import ORIGIN, Codec, Dropped, Link, Refused, backoff_delay

__all__ = ["ORIGIN", "Pending", "ResilientAgent", "ResilientClient", "ResilientVisitor"]

RETRIED = frozenset({"unavailable", "rate_limited"})
"""Error codes a `msg` is resent after (same cmid): nothing was acknowledged."""
SETUP_TIMEOUT = 15.0
"""How long a setup frame (`status`, `start`: no faults yet) may take on a loaded machine."""


@dataclass
class Pending:
    cid: str
    text: str
    cmid: str
    done: asyncio.Future[None]


@dataclass
class Stats:
    sent: int = 0
    resends: int = 0
    reconnects: int = 0
    refused: int = 0
    """Handshakes refused (HTTP status), hello errors, connects that failed."""
    states: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class ResilientClient:
    """What visitors and agents share: the reconnect loop, sync, resends and the records."""

    path = ""
    role: Literal["visitor", "agent"] = "visitor"

    def __init__(
        self,
        name: str,
        urls: list[str],
        rng: random.Random,
        *,
        scale: float = 0.2,
        reply_timeout: float = 5.0,
        codec: Codec = "chat.v1.json",
    ) -> None:
        self.name = name
        self.urls = urls
        self.rng = rng
        self.scale = scale
        self.reply_timeout = reply_timeout
        self.codec: Codec = codec
        self.id: str | None = None
        self.link: Link | None = None
        self.links: list[Link] = []
        self.ready = asyncio.Event()
        self.stopping = False
        self.stats = Stats()
        self.pending: dict[str, Pending] = {}
        self.acked: dict[str, tuple[str, int]] = {}
        """cmid -> (cid, seq) of every acknowledged message."""
        self.had: dict[str, dict[int, str]] = {}
        """cid -> seq -> how it first came: live, sync, own, assigned."""
        self.cmid_at: dict[str, dict[int, str | None]] = {}
        """cid -> seq -> the cmid the message carried as received (checked against the store)."""
        self.notes: list[str] = []
        self._tried: set[str] = set()
        self._cmids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # what the roles add -----------------------------------------------------------------

    def hello_fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def greeted(self, link: Link, hello: dict[str, Any]) -> None:
        """Take the `ok` of `hello`: who we are, the conversations to follow."""
        raise NotImplementedError

    def cids(self) -> list[str]:
        raise NotImplementedError

    def event(self, link: Link, frame: dict[str, Any]) -> None:
        """An event other than `msg`."""

    # the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.stopping = True
        if self.link is not None:
            self.link.abort()
        tasks = [*self._tasks, *([self._runner] if self._runner else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        attempt = 0
        while not self.stopping:
            try:
                if await self._session(self.rng.choice(self.urls)):
                    attempt = 0
            except (OSError, TimeoutError, WebSocketException, Dropped, Refused):
                self.stats.refused += 1
            except Exception as exc:  # a harness bug: say so, and keep resuming
                self.notes.append(f"{self.name}: session failed: {exc!r}")
            if self.stopping:
                return
            await asyncio.sleep(backoff_delay(attempt, self.rng, self.scale))
            attempt += 1
            self.stats.reconnects += 1

    async def _session(self, url: str) -> bool:
        """One connection, until it drops; whether it got as far as `hello`."""
        ws = await connect(
            f"{url}{self.path}",
            subprotocols=[self.codec],  # type: ignore[list-item]
            origin=ORIGIN if self.role == "visitor" else None,  # type: ignore[arg-type]
            compression=None,
            open_timeout=self.reply_timeout,
            close_timeout=1,
            ping_interval=None,
        )
        link = Link(ws, self.codec, len(self.links))
        self.links.append(link)
        self.link = link
        reader = asyncio.create_task(self._read(link))
        try:
            hello = await self._ask(link, "hello", **self.hello_fields())
            self.greeted(link, hello)
            link.greeted = True
            for cid in self.cids():
                await self._sync(link, cid)
            self.ready.set()
            for pending in list(self.pending.values()):
                self._spawn(self._deliver(link, pending))
            await link.gone.wait()
            return True
        finally:
            self.ready.clear()
            link.abort()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _ask(
        self, link: Link, t: str, timeout: float | None = None, **fields: Any
    ) -> dict[str, Any]:
        """A request that must succeed on this link; a late answer drops the link."""
        try:
            answer = await link.request(t, timeout or self.reply_timeout, **fields)
        except TimeoutError:
            link.abort()
            raise
        if answer["t"] == "error":
            self.stats.errors[f"{t}:{answer['code']}"] += 1
            raise Refused(f"{t}: {answer['code']}")
        return answer

    async def _read(self, link: Link) -> None:
        try:
            async for data in link.ws:
                frame = link.decode(data)
                re = frame.get("re")
                if frame.get("t") in {"ok", "error", "pong"} and re in link.replies:
                    future = link.replies.pop(re)
                    if not future.done():
                        future.set_result(frame)
                elif frame.get("t") == "msg":
                    link.live.append((frame["cid"], int(frame["seq"]), False))
                    self._have(frame["cid"], frame, "live")
                else:
                    self.event(link, frame)
        except (ConnectionClosed, OSError):
            pass
        finally:
            link.lost()

    def _have(self, cid: str, message: dict[str, Any], how: str) -> None:
        seq = int(message["seq"])
        self.had.setdefault(cid, {}).setdefault(seq, how)
        self.cmid_at.setdefault(cid, {}).setdefault(seq, message.get("cmid"))

    def holds(self, cid: str) -> int:
        """The seq up to which this client holds every message of `cid`."""
        had = self.had.get(cid, {})
        last = 0
        while last + 1 in had:
            last += 1
        return last

    async def _sync(self, link: Link, cid: str) -> None:
        while True:
            page = await self._ask(link, "sync", cid=cid, after=self.holds(cid))
            for message in page["messages"]:
                self._have(cid, message, "sync")
            if not page["more"] or not page["messages"]:
                return

    # sending ----------------------------------------------------------------------------

    async def say(self, cid: str, text: str) -> None:
        """Send a message and return once it is acknowledged (resent across drops)."""
        cmid = f"{self.name}-{next(self._cmids)}"
        pending = Pending(cid, text, cmid, asyncio.get_running_loop().create_future())
        self.pending[cmid] = pending
        self.stats.sent += 1
        if self.ready.is_set() and self.link is not None:
            self._spawn(self._deliver(self.link, pending))
        await asyncio.shield(pending.done)

    async def _deliver(self, link: Link, pending: Pending) -> None:
        """Send one pending message on this link until it is answered; a drop leaves it
        to the next connection, which resends it."""
        while pending.cmid in self.pending and link is self.link and not link.gone.is_set():
            if pending.cmid in self._tried:
                self.stats.resends += 1
            self._tried.add(pending.cmid)
            try:
                answer = await link.request(
                    "msg", self.reply_timeout, cid=pending.cid, text=pending.text, cmid=pending.cmid
                )
            except Dropped:
                return
            except TimeoutError:
                link.abort()  # as the widget's ping does with a dead link
                return
            if answer["t"] == "ok":
                self._acknowledged(pending, int(answer["seq"]))
                return
            code = answer["code"]
            self.stats.errors[f"msg:{code}"] += 1
            if code not in RETRIED:
                self.notes.append(f"{self.name}: msg {pending.cmid} in {pending.cid} got {code}")
                self._settle(pending)
                return
            await asyncio.sleep(backoff_delay(0, self.rng, self.scale))

    def _acknowledged(self, pending: Pending, seq: int) -> None:
        before = self.acked.get(pending.cmid)
        if before is not None and before != (pending.cid, seq):
            self.notes.append(f"{self.name}: {pending.cmid} acked as {before} then as {seq}")
        self.acked[pending.cmid] = (pending.cid, seq)
        self._have(pending.cid, {"seq": seq, "cmid": pending.cmid}, "own")
        self._settle(pending)

    def _settle(self, pending: Pending) -> None:
        self.pending.pop(pending.cmid, None)
        if not pending.done.done():
            pending.done.set_result(None)

    async def call(self, t: str, **fields: Any) -> dict[str, Any]:
        """A setup frame on the current connection (no faults yet): its `ok`."""
        await asyncio.wait_for(self.ready.wait(), SETUP_TIMEOUT)
        assert self.link is not None
        return await self._ask(self.link, t, max(SETUP_TIMEOUT, self.reply_timeout), **fields)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ResilientVisitor(ResilientClient):
    path = "/ws/visitor?site=shop"
    role = "visitor"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token: str | None = None
        self.cid: str | None = None
        self.assigned = asyncio.Event()

    def hello_fields(self) -> dict[str, Any]:
        return {"token": self.token} if self.token else {"name": self.name}

    def greeted(self, link: Link, hello: dict[str, Any]) -> None:
        self.id = hello["visitor"]["id"]
        self.token = hello["token"]
        conv = hello["conversation"]
        if self.cid is not None and (conv is None or conv["id"] != self.cid):
            self.notes.append(f"{self.name}: hello without its conversation {self.cid}")
        if conv is not None and conv["id"] == self.cid:
            link.base[conv["id"]] = int(conv["last_seq"])

    def cids(self) -> list[str]:
        return [self.cid] if self.cid else []

    async def open(self, text: str) -> str:
        """`start` the conversation (setup, before any fault): its cid."""
        cmid = f"{self.name}-0"
        self.stats.sent += 1
        answer = await self.call("start", text=text, cmid=cmid)
        assert self.link is not None
        cid: str = answer["conversation"]["id"]
        self.cid = cid
        self.link.base[cid] = 1  # the server counts seq 1 as ours
        self.acked[cmid] = (cid, 1)
        self._have(cid, {"seq": 1, "cmid": cmid}, "own")
        return cid

    def event(self, link: Link, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == "assigned":
            self.assigned.set()
        elif t == "state":
            self.stats.states += 1
        elif t == "closed":
            self.notes.append(f"{self.name}: {frame.get('cid')} closed ({frame.get('reason')})")


class ResilientAgent(ResilientClient):
    path = "/ws/agent"
    role = "agent"

    def __init__(self, *args: Any, token: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token = token
        self.held: list[str] = []
        """The conversations this agent holds, in the order it got them."""
        self.lost: list[str] = []
        """Conversations taken from it (grace period over, or moved)."""

    def hello_fields(self) -> dict[str, Any]:
        return {"token": self.token}

    def greeted(self, link: Link, hello: dict[str, Any]) -> None:
        self.id = hello["agent"]["id"]
        mine = {c["id"]: c for c in hello["conversations"]}
        for cid in list(self.held):
            if cid not in mine:
                self._lose(cid, "not in hello")
        for cid, conv in mine.items():
            link.base[cid] = int(conv["last_seq"])
            if cid not in self.held:
                self.held.append(cid)

    def cids(self) -> list[str]:
        return list(self.held)

    def _lose(self, cid: str, why: str) -> None:
        if cid in self.held:
            self.held.remove(cid)
            self.lost.append(cid)
            self.notes.append(f"{self.name}: lost {cid} ({why})")

    def event(self, link: Link, frame: dict[str, Any]) -> None:
        t = frame.get("t")
        if t == "assigned":
            cid = frame["conversation"]["id"]
            seqs = [int(m["seq"]) for m in frame["messages"]]
            link.live.append((cid, max(seqs, default=int(frame["conversation"]["last_seq"])), True))
            for message in frame["messages"]:
                self._have(cid, message, "assigned")
            if cid not in self.held:
                self.held.append(cid)
        elif t == "unassigned":
            self._lose(frame["cid"], str(frame.get("reason")))
        elif t == "closed":
            self._lose(frame["cid"], f"closed {frame.get('reason')}")
        elif t == "state":
            self.stats.states += 1
