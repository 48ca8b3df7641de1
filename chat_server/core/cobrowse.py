"""Co-browsing consent and replay (contract §5), pure.

States: none -> requested -> active -> ended (back to none: a new request may follow).
Only the conversation's agent asks, only the visitor answers, either side ends, and the
server relays nothing outside `active`. The replay buffer keeps the newest rrweb Meta and
FullSnapshot and what follows, up to a byte bound, so a viewer who joins late sees the page
at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chat_server.core.errors import ChatError, ErrorCode, bad_request, conflict

META, FULL_SNAPSHOT = 4, 2
"""rrweb EventType values the replay buffer restarts at."""


class CobrowseState(StrEnum):
    NONE = "none"
    REQUESTED = "requested"
    ACTIVE = "active"


VISITOR_OPS = frozenset({"accept", "decline", "events", "end"})
AGENT_OPS = frozenset({"request", "pointer", "highlight", "resync", "end"})


@dataclass(frozen=True, slots=True)
class Session:
    state: CobrowseState
    agent_id: str | None = None


def next_state(current: Session, op: str, *, by_visitor: bool, agent_id: str | None) -> Session:
    """The state after `op`, or `ChatError(conflict)` when it does not fit (§5 States)."""
    allowed = VISITOR_OPS if by_visitor else AGENT_OPS
    if op not in allowed:
        raise bad_request(f"op {op[:20]!r} is not a co-browse op for this side")
    state = current.state
    if op == "request":
        if state is not CobrowseState.NONE:
            raise conflict("a co-browse request is already pending or active")
        return Session(CobrowseState.REQUESTED, agent_id)
    if op in {"accept", "decline"}:
        if state is not CobrowseState.REQUESTED:
            raise conflict("there is no pending co-browse request")
        return Session(CobrowseState.ACTIVE, current.agent_id) if op == "accept" else NONE
    if op == "end":
        if state is CobrowseState.NONE:
            raise conflict("there is no co-browse to end")
        return NONE
    if state is not CobrowseState.ACTIVE:  # events, pointer, highlight, resync
        raise conflict("co-browsing is not active")
    return current


NONE = Session(CobrowseState.NONE)


# --- checking the payloads (they are relayed, never interpreted) ----------------------


def events_of(raw: dict[str, Any], max_events: int = 5000) -> list[dict[str, Any]]:
    events = raw.get("events")
    if not isinstance(events, list) or not events:
        raise bad_request("'events' must be a non-empty list of rrweb events")
    if len(events) > max_events:
        raise ChatError(ErrorCode.TOO_LARGE, f"at most {max_events} events a batch")
    for event in events:
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("type"), int)
            or isinstance(event.get("type"), bool)
        ):
            raise bad_request("each event must be a map with an integer 'type'")
    return events


def pointer_of(raw: dict[str, Any]) -> dict[str, float]:
    x, y = raw.get("x"), raw.get("y")
    for value in (x, y):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > 1e6
        ):
            raise bad_request("'x' and 'y' must be numbers (CSS pixels)")
    assert isinstance(x, int | float) and isinstance(y, int | float)
    return {"x": x, "y": y}


def highlight_of(raw: dict[str, Any]) -> dict[str, Any]:
    node, selector = raw.get("node"), raw.get("selector")
    if isinstance(node, int) and not isinstance(node, bool) and 0 <= node < 2**31:
        return {"node": node}
    if isinstance(selector, str) and 0 < len(selector) <= 200 and "\x00" not in selector:
        return {"selector": selector}
    raise bad_request("highlight needs 'node' (an rrweb node id) or 'selector' (<= 200 chars)")


# --- the replay buffer ------------------------------------------------------------------


def restart_index(events: list[dict[str, Any]]) -> int | None:
    """Where the newest Meta (or FullSnapshot) in a batch begins, if there is one."""
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("type") == META:
            return i
    for i in range(len(events) - 1, -1, -1):
        if events[i].get("type") == FULL_SNAPSHOT:
            return i
    return None


@dataclass(slots=True)
class ReplayBuffer:
    """Newest snapshot and what follows it, bounded in bytes (the embedded store's form;
    the Redis store keeps the same rule in a list)."""

    max_bytes: int
    batches: list[bytes] = field(default_factory=list)
    size: int = 0
    has_snapshot: bool = False

    def add(self, encoded: bytes, *, restarts: bool) -> bool:
        """Add a batch (its events from the restart point on, when `restarts`).

        Returns False when the bound was passed: the buffer is emptied and the visitor must
        be asked for a fresh snapshot."""
        if restarts:
            self.batches, self.size, self.has_snapshot = [], 0, True
        if not self.has_snapshot:
            return True  # nothing to replay before a snapshot
        if self.size + len(encoded) > self.max_bytes:
            self.batches, self.size, self.has_snapshot = [], 0, False
            return False
        self.batches.append(encoded)
        self.size += len(encoded)
        return True
