"""What the Redis restart scenario (`redis_restart.py`) records, and its figures.

Every `msg` frame sent is kept with when it was sent and answered, and each outage with
when Redis was killed, last seen down and answered PING again, so "while down" is strict:
a frame sent after the SIGKILL returned and answered before the last failed PING.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from chat_server.core.model import Message
from tests.chaos.figures import Result, at_most, info, zero
from tests.chaos.redis_restart_peers import Peer

SERVE_WITHIN_S = 5.0
ASSIGN_WITHIN_S = 5.0
HANDLER_FAILED = "frame handler failed"
"""What a node logs when a frame's handler raised something other than a refusal: the
client still gets `unavailable`, but the server did not foresee the failure (as with
Redis's LOADING before it was handled)."""


@dataclass(frozen=True)
class Attempt:
    """One `msg` frame sent and what answered it."""

    node: int
    sent: float
    answered: float
    answer: str
    """`ok`, an error code, or `none` (no answer in time, or the socket closed)."""


@dataclass
class Window:
    """One outage: when Redis was killed, started again, last seen down (not answering,
    or LOADING), and answered PING again."""

    killed: float
    restarted: float
    down_until: float
    pong: float
    ready_s: list[float] = field(default_factory=list)
    assigned_s: list[float | None] = field(default_factory=list)
    """Per node, its arriving visitor: seconds to an agent told, None if not in time."""
    presence_missing: int = 0
    dashboard_missing: int = 0


@dataclass
class Tally:
    attempts: list[Attempt] = field(default_factory=list)
    acks: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    """(cid, cmid) -> the seqs its `ok`s carried (one, if resends get the original)."""
    acked_at: dict[tuple[str, str], float] = field(default_factory=dict)
    unacked: list[str] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def first_ok(self, window: Window, node: int) -> float:
        """Seconds from PONG to the node's first `ok` to a `msg` (inf if none)."""
        oks = [
            a.answered
            for a in self.attempts
            if a.node == node and a.answer == "ok" and a.answered >= window.pong
        ]
        return min(oks) - window.pong if oks else float("inf")

    def stored_right(self, history: dict[str, list[Message]]) -> tuple[int, int, int]:
        """Acknowledged messages not stored, stored with another seq, and stored twice."""
        lost = wrong = twice = 0
        for (cid, cmid), seqs in self.acks.items():
            stored = {m.seq for m in history[cid] if m.cmid == cmid}
            if not stored:
                lost += 1
                at = self.acked_at[(cid, cmid)]
                kill = min((w.killed for w in self.windows if w.killed >= at), default=at)
                self.notes.append(
                    f"{cid} {cmid} acknowledged as {seqs} {kill - at:.2f} s before a kill,"
                    " not stored"
                )
            elif seqs != stored:
                wrong += 1
                self.notes.append(f"{cid} {cmid} acknowledged as {seqs}, stored as {stored}")
        for cid, messages in history.items():
            for cmid, n in Counter(m.cmid for m in messages if m.cmid).items():
                if n > 1:
                    twice += n - 1
                    self.notes.append(f"{cid} {cmid} stored {n} times")
        return lost, wrong, twice

    def figures(
        self, result: Result, peers: list[Peer], history: dict[str, list[Message]], logs: list[str]
    ) -> None:
        """`logs`: each node's log, in node order."""
        nodes = len(logs)
        lost, wrong, twice = self.stored_right(history)
        unheard = bad = 0
        for p in peers:
            for cid in p.follows:
                gone = p.never_received(cid, history[cid])
                unheard += len(gone)
                bad += p.misdelivered(cid, history[cid])
                if gone:
                    self.notes.append(f"{p.sock.name} never got {cid} seqs {gone[:10]}")
        windows = self.windows
        down = [
            a
            for a in self.attempts
            for w in windows
            if w.killed <= a.sent < a.answered < w.down_until
        ]
        answers = Counter(a.answer for a in self.attempts)
        heard = [s for w in windows for s in w.assigned_s]
        result.add(
            info("conversations", len(history)),
            info("people", len(peers)),
            info("Redis outages", len(windows)),
            info(
                "restart to PONG (loading), worst", max(w.pong - w.restarted for w in windows), "s"
            ),
            info("msg frames sent (resends included)", len(self.attempts)),
            info("messages acknowledged", len(self.acks)),
            info("msg frames answered unavailable", answers["unavailable"]),
            info("msg frames sent and answered while down", len(down)),
            zero("ok to a msg sent and answered while down", sum(a.answer == "ok" for a in down)),
            zero("acked messages missing from history", lost),
            zero("acked with another seq than stored", wrong),
            zero("messages stored twice", twice),
            zero("messages never acked (resent per §6)", len(self.unacked)),
        )
        for node in range(nodes):
            first = max((self.first_ok(w, node) for w in windows), default=0.0)
            ready = max((w.ready_s[node] for w in windows), default=0.0)
            result.add(
                at_most(f"node{node}: Redis back to first msg ok", first, SERVE_WITHIN_S, "s"),
                at_most(f"node{node}: Redis back to /readyz 200", ready, SERVE_WITHIN_S, "s"),
            )
        result.add(
            zero("arriving visitors not assigned in 5 s", sum(s is None for s in heard)),
            info(
                "arriving visitor to agent told, worst",
                max((s or 0.0 for s in heard), default=0.0),
                "s",
            ),
            zero("online agents missing from presence", sum(w.presence_missing for w in windows)),
            zero("online agents missing from dashboard", sum(w.dashboard_missing for w in windows)),
            zero("msgs never received live or by resync", unheard),
            zero("seqs skipped/repeated on an open socket", bad),
            info("resyncs (gap or reconnect)", sum(p.resyncs for p in peers)),
            info("reconnects", sum(p.reconnects for p in peers)),
            info("state frames", sum(p.states() for p in peers)),
            zero(
                "frames failed unexpectedly (node logs)", sum(t.count(HANDLER_FAILED) for t in logs)
            ),
            info("ERROR lines in the node logs", sum(t.count(" ERROR ") for t in logs)),
        )
        result.notes.extend(self.unacked + self.notes)
