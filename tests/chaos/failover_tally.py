"""The figures of the failover scenario (`failover.py`), from what the clients recorded and
what the store holds once everyone has settled.

One effect of a failover is not a fault of the nodes, and is counted apart: a message is
published to the other party (and readable by `sync`) as soon as the primary has it, in
the same script, before any replica does. If the primary dies then, the promoted replica
lacks it: its sender never got an `ok` (with `replicas_ack` the `ok` waits for a replica)
and sends it again, under the next seq; the seq it had goes to another message, which a
client that holds the lost one drops as already held. Conversations where a client holds
a message other than the stored one at some seq ("rewritten") are shown as a figure of
their own and left out of the per-client figures (missing, gaps); everything else,
acknowledged messages above all, is counted in every conversation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from chat_server.core.model import Message
from tests.chaos.figures import Figure, at_most, info, zero
from tests.chaos.load import Crowd, Verdict

SERVE_WITHIN_S = 10.0
"""From the kill to every node answering again: Sentinel's down-after (2 s), the vote and
the promotion (about 1 s, up to 1 s more of Sentinel's own jitter), the other replica
following the new primary before the switch (about 1 s), the nodes' next connect
(at most 0.5 s): 4 to 5.5 s, with room for a loaded machine."""
IN_FLIGHT_S = 1.0
"""An `ok` this soon after the kill may be for a write the primary did before it."""


@dataclass(frozen=True)
class Ack:
    """One `ok` of a message, as its client got it."""

    at: float
    port: int
    """The node that answered (its WebSocket port)."""
    cid: str
    seq: int


@dataclass
class Round:
    killed: int
    """The port of the data node killed."""
    killed_at: float
    promoted_at: float = float("inf")
    """When a replica first answered `ROLE` as master (polled every 20 ms)."""
    serving_at: dict[int, float] = field(default_factory=dict)
    """Per node port: its first `ok` after the promotion."""

    def serving_s(self, ports: list[int]) -> float:
        return max(self.serving_at.get(p, float("inf")) for p in ports) - self.killed_at


def oks_without_primary(
    acks: list[Ack], stored: dict[str, list[Message]], rounds: list[Round]
) -> list[str]:
    """`ok`s that came while no data node was writable, for a write made after the kill
    (its stored `ts`), or too long after it to be one the primary did before it."""
    found = []
    for ack in acks:
        for r in rounds:
            if not r.killed_at < ack.at < r.promoted_at:
                continue
            message = next((m for m in stored.get(ack.cid, []) if m.seq == ack.seq), None)
            made_after = message is None or message.ts / 1000 > r.killed_at
            if made_after or ack.at > r.killed_at + IN_FLIGHT_S:
                found.append(
                    f"ok for {ack.cid} seq {ack.seq} from :{ack.port} "
                    f"{ack.at - r.killed_at:.2f} s after the kill, before the promotion"
                )
    return found


def rewritten(crowd: Crowd, stored: dict[str, list[Message]]) -> dict[str, set[int]]:
    """Per conversation, the seqs some client holds as another message than the stored one
    (it saw it, live or by `sync`, before the failover lost it)."""
    out: dict[str, set[int]] = {}
    for client in crowd.clients:
        for cid, held in client.cmid_at.items():
            by_seq = {m.seq: m.cmid for m in stored.get(cid, [])}
            for seq, cmid in held.items():
                if by_seq.get(seq, "absent") != cmid:
                    out.setdefault(cid, set()).add(seq)
    return out


def without(crowd: Crowd, cids: set[str]) -> Crowd:
    """The crowd as if those conversations were not there (its clients copied)."""
    agents = []
    for agent in crowd.agents:
        twin = copy.copy(agent)
        twin.held = [cid for cid in agent.held if cid not in cids]
        agents.append(twin)
    visitors = [v for v in crowd.visitors if v.cid not in cids]
    return Crowd(visitors, agents, owner=crowd.owner)


@dataclass
class Tally:
    """`full`: `load.verify` of every conversation; `others`: of those not rewritten."""

    full: Verdict
    others: Verdict
    crowd: Crowd
    lost_seen: dict[str, set[int]]

    def held(self) -> list[Figure]:
        """Held to their targets (the installation with `replicas_ack`)."""
        clients = self.crowd.clients
        return [
            zero("acknowledged messages missing after the failover", self.full.lost),
            zero("messages stored twice", self.full.twice),
            zero("conversations taken from their agent", self.full.moved),
            zero("seq gaps or reorderings seen live (1)", self.others.gaps),
            zero("messages a client never received (1)", self.others.unreceived),
            info("(1) conversations left out: a message seen, then lost", len(self.lost_seen)),
            info("    seqs that now hold another message", self.seqs()),
            info("conversations", len(self.crowd.visitors)),
            info("messages sent", sum(c.stats.sent for c in clients)),
            info("messages acknowledged", sum(len(c.acked) for c in clients)),
            info("resends", sum(c.stats.resends for c in clients)),
            info("reconnects", sum(c.stats.reconnects for c in clients)),
        ]

    def shown(self, label: str) -> list[Figure]:
        """Shown for comparison (the installation without it)."""
        return [
            info(f"{label}: acknowledged messages missing", self.full.lost),
            info(f"{label}: stored twice, gaps, never received (1)", self.others_total()),
            info(f"{label}: conversations with a message seen, then lost", len(self.lost_seen)),
            info(f"{label}: messages acknowledged", sum(len(c.acked) for c in self.crowd.clients)),
        ]

    def seqs(self) -> int:
        return sum(len(s) for s in self.lost_seen.values())

    def others_total(self) -> int:
        return self.full.twice + self.others.gaps + self.others.unreceived

    def notes(self) -> list[str]:
        """What explains a figure that fails: the notes of the conversations counted, and
        every acknowledged message missing."""
        left_out = set(self.lost_seen)
        return [n for n in self.full.notes if "acked" in n or not any(cid in n for cid in left_out)]


def serving_figure(rounds: list[Round], ports: list[int]) -> Figure:
    worst = max((r.serving_s(ports) for r in rounds), default=0.0)
    return at_most("kill to every node serving again", worst, SERVE_WITHIN_S, "s")
