"""Webhooks (issue 17), the pure part: event types, which change makes which event, the
JSON body of a delivery and its signature, the retry schedule, and endpoint validation.

An event is decided by the write that causes it (the store calls `opened`, `appended`,
`changed`) and stored in the outbox in that same step; the delivery body is rebuilt from
the stored event byte for byte, so a redelivery carries the same id and the same body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from chat_server.core.errors import bad_request
from chat_server.core.ids import new_id
from chat_server.core.model import Conversation, Kind, Message, Rating, State

STARTED = "conversation.started"
ASSIGNED = "conversation.assigned"
TRANSFERRED = "conversation.transferred"
CLOSED = "conversation.closed"
MESSAGE = "message"
NOTE = "note"
RATING = "rating"
OFFLINE = "offline_message"
EVENT_TYPES = (STARTED, ASSIGNED, TRANSFERRED, CLOSED, MESSAGE, NOTE, RATING, OFFLINE)

SIGNATURE = "X-Chat-Signature"
TIMESTAMP = "X-Chat-Timestamp"
EVENT_ID = "X-Chat-Event-Id"
URL_MAX = 2048


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    site: str
    url: str
    secret: str
    events: tuple[str, ...]
    created: int


@dataclass(frozen=True, slots=True)
class Event:
    """One outbox entry. `data` is JSON object text; `seq` (a message's) joins it in the body."""

    id: str
    type: str
    ts: int
    site: str
    cid: str
    data: str
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event on its way to one endpoint. `n` orders the endpoint's queue (and names the
    delivery in `failures` and `replay`)."""

    n: int
    endpoint: str
    event: Event
    attempts: int = 0
    due: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Wants:
    """The event types each site's endpoints take (a per-node cache of the endpoints): a
    write adds an event to the outbox only when its conversation's site takes it."""

    by_site: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def wants(self, site: str, type_: str) -> bool:
        return type_ in self.by_site.get(site, frozenset())

    def sites(self, type_: str) -> frozenset[str]:
        return frozenset(site for site, types in self.by_site.items() if type_ in types)

    def any(self, types: Iterable[str]) -> bool:
        return any(self.sites(t) for t in types)


def wants_of(endpoints: Iterable[Endpoint]) -> Wants:
    by_site: dict[str, frozenset[str]] = {}
    for e in endpoints:
        by_site[e.site] = by_site.get(e.site, frozenset()) | frozenset(e.events)
    return Wants(by_site)


# which change makes which event ------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _conversation(conv: Conversation) -> dict[str, Any]:
    agent = {"id": conv.agent.id, "name": conv.agent.name} if conv.agent else None
    return {
        "state": conv.state.value,
        "visitor_id": conv.visitor_id,
        "topic": conv.topic,
        "agent": agent,
        "created": conv.created,
    }


def message_type(kind: Kind) -> str | None:
    """Visitors', agents' and bots' text is `message`, notes `note`; system lines none."""
    return {Kind.TEXT: MESSAGE, Kind.NOTE: NOTE}.get(kind)


def message_data(message: Message) -> str:
    """The message without its seq, which the store joins (`Event.seq`)."""
    s = message.sender
    return _dumps(
        {
            "kind": message.kind.value,
            "sender": {"role": s.role.value, "id": s.id, "name": s.name},
            "text": message.text,
            "files": [{"id": f.id, "name": f.name, "type": f.type} for f in message.files],
        }
    )


def opened(conv: Conversation, first: Message, wants: Wants) -> list[Event]:
    """A new conversation: `offline_message` when it starts pending, else `started`; then
    its first message, like any other (`message`)."""
    type_ = OFFLINE if conv.state is State.PENDING else STARTED
    events: list[Event] = []
    if wants.wants(conv.site, type_):
        data = _dumps({**_conversation(conv), "text": first.text})
        events.append(Event(new_id("evt"), type_, conv.created, conv.site, conv.id, data))
    return events + appended(conv.site, first, wants)


def appended(site: str, message: Message, wants: Wants) -> list[Event]:
    type_ = message_type(message.kind)
    if type_ is None or not wants.wants(site, type_):
        return []
    data = message_data(message)
    return [Event(new_id("evt"), type_, message.ts, site, message.cid, data, message.seq)]


def changed(
    cause: str, before: Conversation, after: Conversation, now: int, wants: Wants
) -> list[Event]:
    """`cause`: claim, transfer, `requeue:REASON` (back to the queue: a handoff, a transfer
    to the queue, an agent gone), close or transition (any other)."""
    requeued = cause.startswith("requeue:")
    if after.state is State.CLOSED and before.state is not State.CLOSED:
        type_: str | None = CLOSED
    elif cause == "claim":
        type_ = ASSIGNED
    elif cause == "transfer" or requeued:
        type_ = TRANSFERRED
    elif after.state is State.PENDING and before.state is not State.PENDING:
        type_ = OFFLINE
    else:
        type_ = None
    if type_ is None or not wants.wants(after.site, type_):
        return []
    data = _conversation(after)
    if type_ == CLOSED:
        data.update(by=after.closed_by, reason=after.close_reason, resolved=after.resolved)
    if type_ == TRANSFERRED and before.agent is not None:
        data["from"] = {"id": before.agent.id, "name": before.agent.name}
    if type_ == TRANSFERRED and requeued:
        data["reason"] = cause.removeprefix("requeue:")
    return [Event(new_id("evt"), type_, now, after.site, after.id, _dumps(data))]


def rated(rating: Rating, site: str, wants: Wants) -> list[Event]:
    if not wants.wants(site, RATING):
        return []
    r = rating
    data = {
        "csat": r.csat,
        "nps": r.nps,
        "ces": r.ces,
        "comment": r.comment,
        "agent_id": r.agent_id,
    }
    return [Event(new_id("evt"), RATING, r.ts, site, r.cid, _dumps(data))]


# the delivery: body and signature ----------------------------------------------------------


def body(event: Event) -> bytes:
    """`{id, type, ts, site, cid, data}`: the same bytes at every attempt."""
    data = json.loads(event.data)
    if event.seq is not None:
        data["seq"] = event.seq
    e = event
    return _dumps(
        {"id": e.id, "type": e.type, "ts": e.ts, "site": e.site, "cid": e.cid, "data": data}
    ).encode()


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256, keyed by the endpoint's secret, of `{timestamp}.{body}`."""
    signed = f"{timestamp}.".encode() + payload
    return "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def headers(endpoint: Endpoint, event: Event, payload: bytes, now_s: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        EVENT_ID: event.id,
        TIMESTAMP: str(now_s),
        SIGNATURE: signature(endpoint.secret, now_s, payload),
    }


# retries -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential with jitter: attempt k waits `base * 2**(k-1)` (at most `cap`), each wait
    drawn in [half, all] of it; once `total` has passed since the event, it is parked."""

    base_ms: int = 5_000
    cap_ms: int = 3_600_000
    total_ms: int = 86_400_000

    def next_due(self, attempts: int, event_ts: int, now: int, rand: float) -> int | None:
        """When to try again after `attempts` failed ones (`rand` in [0, 1)), or None: park."""
        if now - event_ts >= self.total_ms:
            return None
        step = min(self.cap_ms, self.base_ms * 2 ** min(max(attempts - 1, 0), 40))
        return now + int(step * (0.5 + rand / 2))


def heads(queued: Sequence[Delivery], now: int, limit: int) -> list[Delivery]:
    """The deliveries to try now, from an endpoint's queue in order: each conversation's
    first one (a later one waits for it: order per conversation), when it is due."""
    seen: set[str] = set()
    ready: list[Delivery] = []
    for d in queued:
        if d.event.cid in seen:
            continue
        seen.add(d.event.cid)
        if d.due <= now:
            ready.append(d)
            if len(ready) == limit:
                break
    return ready


# endpoints -----------------------------------------------------------------------------------


def new_endpoint(
    site: str, url: str, events: Sequence[str], secret: str | None, now: int
) -> Endpoint:
    """Checked: an http(s) URL with a host, known event types (none given: all), a secret of
    at least 16 characters (none given: a random one)."""
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise bad_request(
            "the URL must be ASCII without spaces: percent-encode the path, punycode the host"
        )
    parts = urlsplit(url)
    if len(url) > URL_MAX or parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("the URL must be http:// or https:// with a host")
    if parts.username is not None or parts.password is not None:
        raise bad_request("the URL may not carry a user name or password")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise bad_request("the URL's port is not valid") from None
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise bad_request(f"unknown event types: {', '.join(unknown)}")
    chosen = tuple(t for t in EVENT_TYPES if t in events) if events else EVENT_TYPES
    if secret is not None and len(secret) < 16:
        raise bad_request("the secret must have at least 16 characters")
    return Endpoint(new_id("wh"), site, url, secret or secrets.token_hex(32), chosen, now)


def endpoint_to_json(e: Endpoint) -> str:
    return _dumps([e.id, e.site, e.url, e.secret, list(e.events), e.created])


def endpoint_from_json(text: str | bytes) -> Endpoint:
    id_, site, url, secret, events, created = json.loads(text)
    return Endpoint(id_, site, url, secret, tuple(events), created)


def event_fields(e: Event) -> dict[str, str]:
    """As the outbox stores an event (strings; `seq` '' for none)."""
    seq = "" if e.seq is None else str(e.seq)
    return {"id": e.id, "type": e.type, "ts": str(e.ts), "site": e.site, "cid": e.cid,
            "seq": seq, "data": e.data}  # fmt: skip


def event_from_fields(f: Mapping[str, str]) -> Event:
    seq = f["seq"]
    return Event(f["id"], f["type"], int(f["ts"]), f["site"], f["cid"], f["data"],
                 int(seq) if seq else None)  # fmt: skip


def delivery_to_json(d: Delivery) -> str:
    return _dumps([d.endpoint, event_fields(d.event), d.attempts, d.due, d.error])


def delivery_from_json(n: int, text: str | bytes) -> Delivery:
    endpoint, fields_, attempts, due, error = json.loads(text)
    return Delivery(n, endpoint, event_from_fields(fields_), attempts, due, error)
