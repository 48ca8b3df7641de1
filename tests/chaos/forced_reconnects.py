"""Chaos scenario 2, forced reconnects (issue 18): a socket cut right after a `msg` leaves,
before its `ok`, and the message resent with the same `cmid` on a new socket, must be
stored once, and the resend must get the seq it was stored with (docs/protocol.md §6).

N sockets (a tenth of them agents, in a conversation they hold; the rest visitors, each in
its own open conversation) each say `hello`, send one `msg` and abort the TCP connection as
soon as the frame is written (no close handshake: what a dropped network does), noting
whether any byte of an answer had arrived by then. Each reconnects, says `hello` with the
token it kept, looks at the history (`sync`: was the first attempt stored?) and resends
with the same `cmid`. When every socket is done, each conversation's stored history is read
back: every cmid once, at the seq its resend's `ok` named.

Run on a real `chat-server serve` in Redis mode (a real redis-server) and in embedded mode.
All clients come from 127.0.0.1: the per-address limits are lifted
(`reconnect_kit.LIFTED` says which and why).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.chaos.figures import Result, info, zero
from tests.chaos.reconnect_kit import (
    Backend,
    BackendKind,
    Seat,
    Seeded,
    ask,
    bounded,
    encode,
    greeted,
    kinds,
)
from tests.client import Client, ServerError

CI: dict[str, Any] = {"sockets": 1000, "backends": ("redis", "embedded")}
LONG: dict[str, Any] = {"sockets": 1000, "backends": ("redis", "embedded")}

VISITOR_PATH = "/ws/visitor?site=shop"
AGENT_PATH = "/ws/agent"
AT_ONCE = 50
"""Sockets going through their cut and resend at the same time."""


@dataclass
class Cut:
    """One socket's message: cut off before its `ok`, then resent."""

    role: str
    path: str
    token: str
    cid: str
    cmid: str
    ok_arrived: bool = False
    """An answer (or any byte) had reached the client when the connection was aborted."""
    stored_before_resend: int | None = None
    """The seq the first attempt was stored with, seen by `sync` before the resend."""
    resend_seq: int | None = None
    stored_seqs: list[int] | None = None
    """The seqs stored with this cmid, read back at the end (one, or it is a duplicate)."""
    problem: str | None = None
    reader: Client | None = None
    """The second socket, kept open to read the history back at the end."""


def bytes_waiting(sock: Any) -> bool:
    """Whether the kernel holds anything unread on the socket (peeked, not consumed)."""
    with socket.socket(fileno=os.dup(sock.fileno())) as dup:
        try:
            return len(dup.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)) > 0
        except (BlockingIOError, InterruptedError):
            return False


async def stored(client: Client, cid: str) -> list[dict[str, Any]]:
    """The conversation's whole stored history, as `sync` returns it."""
    messages: list[dict[str, Any]] = []
    more, after = True, 0
    while more:
        ok = await ask(client, "sync", cid=cid, after=after, limit=200)
        if ok["t"] != "ok":
            raise ServerError(ok)
        messages.extend(ok["messages"])
        more = bool(ok["more"]) and bool(ok["messages"])
        after = messages[-1]["seq"] if messages else after
    return messages


async def cut_and_resend(ws_base: str, cut: Cut) -> None:
    first = await greeted(ws_base, cut.path, {"token": cut.token})
    try:
        frame = {"t": "msg", "id": "first", "cid": cut.cid, "text": f"once: {cut.cmid}"}
        await first.ws.send(encode({**frame, "cmid": cut.cmid}))
        transport = first.ws.transport
        unsent = transport.get_write_buffer_size()
        cut.ok_arrived = bytes_waiting(transport.get_extra_info("socket")) or any(
            e.get("re") == "first" for e in first.events
        )
        # no close frame: the connection just ends (a reset if an answer was waiting), as
        # when a network drops; the frame itself has left (nothing was left unsent)
        transport.abort()
    finally:
        await first.close()
    if unsent:
        cut.problem = f"{unsent} bytes of the first attempt were still unsent"
    second = await greeted(ws_base, cut.path, {"token": cut.token})
    cut.reader = second
    before = [m for m in await stored(second, cut.cid) if m.get("cmid") == cut.cmid]
    if before:
        cut.stored_before_resend = before[0]["seq"]
    answer = await ask(second, "msg", cid=cut.cid, text=f"once: {cut.cmid}", cmid=cut.cmid)
    if answer["t"] == "ok":
        cut.resend_seq = answer["seq"]
    else:
        cut.problem = f"resend answered {answer.get('code')}: {answer.get('message')}"


def cuts_for(seeded: Seeded, agents: int) -> list[Cut]:
    """A cut per visitor, and one per agent in the first conversation it holds."""
    cuts = [
        Cut("visitor", VISITOR_PATH, seat.token, seat.cid, f"v-{i}")
        for i, seat in enumerate(seeded.seats)
    ]
    firsts: dict[int, Seat] = {}
    for seat in seeded.seats:
        firsts.setdefault(seat.agent, seat)
    for a in range(agents):
        cuts.append(Cut("agent", AGENT_PATH, seeded.agent_tokens[a], firsts[a].cid, f"a-{a}"))
    return cuts


async def forced_once(tmp: Path, kind: BackendKind, sockets: int, agents: bool) -> list[Cut]:
    n_agents = sockets // 10 if agents else 0
    backend = Backend(kind, tmp / kind)
    cuts: list[Cut] = []
    try:
        backend.start_redis()
        seeded = await backend.seed(sockets - n_agents, agents=max(n_agents, 1))
        node = await backend.start_node()
        cuts = cuts_for(seeded, n_agents)
        outcomes = await bounded(AT_ONCE, [cut_and_resend(node.ws, c) for c in cuts])
        for cut, outcome in zip(cuts, outcomes, strict=True):
            if isinstance(outcome, BaseException) and cut.problem is None:
                cut.problem = f"{type(outcome).__name__}: {outcome}"
        await asyncio.sleep(0.5)  # a first attempt still in the server would land by now
        await check_history(cuts)
        return cuts
    finally:
        await bounded(200, [c.reader.close() for c in cuts if c.reader is not None])
        backend.stop()


async def check_history(cuts: list[Cut]) -> None:
    """Read each conversation back once (through a visitor's socket: it sees every message
    but notes, and there are none) and hold each cut to it."""
    readers = {c.cid: c.reader for c in cuts if c.role == "visitor" and c.reader is not None}
    histories = dict(
        zip(
            readers,
            await bounded(AT_ONCE, [stored(r, cid) for cid, r in readers.items()]),
            strict=True,
        )
    )
    for cut in cuts:
        history = histories.get(cut.cid)
        if not isinstance(history, list):
            cut.problem = cut.problem or f"history not read back: {history!r}"
            continue
        cut.stored_seqs = [m["seq"] for m in history if m.get("cmid") == cut.cmid]


def figures(kind: BackendKind, cuts: list[Cut], result: Result) -> None:
    k = kind
    stored_seqs = [c.stored_seqs or [] for c in cuts]
    duplicates = sum(max(0, len(s) - 1) for s in stored_seqs)
    other_seq = sum(
        1
        for c, s in zip(cuts, stored_seqs, strict=True)
        if c.resend_seq is not None
        and (
            (len(s) >= 1 and c.resend_seq != s[0])
            or (c.stored_before_resend is not None and c.resend_seq != c.stored_before_resend)
        )
    )
    lost = sum(1 for c, s in zip(cuts, stored_seqs, strict=True) if c.resend_seq and not s)
    roles = Counter(c.role for c in cuts)
    result.add(
        zero(f"{k}: cmids stored more than once", duplicates),
        zero(f"{k}: resends answered with another seq", other_seq),
        zero(f"{k}: resends without an ok", sum(c.resend_seq is None for c in cuts)),
        zero(f"{k}: acknowledged resends not stored", lost),
        info(f"{k}: sockets cut", len(cuts)),
        info(f"{k}: of which agents", roles["agent"]),
        info(f"{k}: first attempts stored before the resend", _count(cuts)),
        info(f"{k}: answers already arrived at the cut", sum(c.ok_arrived for c in cuts)),
    )
    problems = [f"{c.role} {c.cid} {c.cmid}: {c.problem}" for c in cuts if c.problem]
    problems += [
        f"{c.role} {c.cid} {c.cmid}: stored at {s}, resend got {c.resend_seq}, "
        f"seen before the resend at {c.stored_before_resend}"
        for c, s in zip(cuts, stored_seqs, strict=True)
        if len(s) != 1 or s[0] != c.resend_seq
    ]
    result.notes.extend(f"{k}: {p}" for p in problems[:6])
    if len(problems) > 6:
        result.notes.append(f"{k}: ... and {len(problems) - 6} more")


def _count(cuts: list[Cut]) -> int:
    return sum(c.stored_before_resend is not None for c in cuts)


async def run(
    tmp: Path,
    sockets: int = CI["sockets"],
    backends: tuple[BackendKind, ...] | str = CI["backends"],
    agents: bool = True,
) -> Result:
    result = Result(
        f"forced reconnects: {sockets} sockets cut after a msg, before its ok, then resent",
        "bench/chaos --only forced_reconnects",
    )
    for kind in kinds(backends):
        figures(kind, await forced_once(tmp, kind, sockets, agents), result)
    return result
