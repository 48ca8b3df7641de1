"""Webhooks' pure part (issue 17): which change makes which event, bodies, signatures, the
retry schedule, each conversation's order, endpoint validation and the stored forms."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import pytest

from chat_server.core import webhooks as w
from chat_server.core.errors import ChatError
from chat_server.core.model import (
    AgentRef,
    Conversation,
    FileRef,
    Kind,
    Message,
    Rating,
    Role,
    Sender,
    State,
)

ALL = w.Wants({"shop": frozenset(w.EVENT_TYPES)})
NONE = w.Wants({"shop": frozenset()})
ANN = AgentRef("a_1", "Ann")
BOB = AgentRef("a_2", "Bob")
CONV = Conversation("c_1", "shop", "v_1", State.QUEUED, 1000, topic="sales")
VISITOR = Sender(Role.VISITOR, "v_1", "Vi")


def msg(kind: Kind = Kind.TEXT, seq: int = 2) -> Message:
    files = (FileRef("f_1", "a.png", "png", 3),)
    return Message("c_1", seq, 2000, kind, VISITOR, "hi", files=files)


def data(event: w.Event) -> dict[str, object]:
    return json.loads(w.body(event))["data"]  # type: ignore[no-any-return]


def test_wants() -> None:
    endpoints = [
        w.Endpoint("wh_1", "shop", "https://x", "s" * 16, (w.MESSAGE,), 1),
        w.Endpoint("wh_2", "shop", "https://y", "s" * 16, (w.NOTE,), 2),
        w.Endpoint("wh_3", "blog", "https://z", "s" * 16, (w.MESSAGE,), 3),
    ]
    wants = w.wants_of(endpoints)
    assert wants.wants("shop", w.NOTE) and not wants.wants("blog", w.NOTE)
    assert not wants.wants("nope", w.MESSAGE)
    assert wants.sites(w.MESSAGE) == {"shop", "blog"}
    assert wants.any([w.RATING, w.NOTE]) and not wants.any([w.RATING])


def test_opened() -> None:
    first = msg(seq=1)
    started, message = w.opened(CONV, first, ALL)
    assert (started.type, started.cid, started.site, started.ts) == (w.STARTED, "c_1", "shop", 1000)
    assert data(started)["text"] == "hi" and data(started)["topic"] == "sales"
    assert (message.type, message.seq) == (w.MESSAGE, 1)
    offline, _ = w.opened(replace(CONV, state=State.PENDING), first, ALL)
    assert offline.type == w.OFFLINE
    assert w.opened(CONV, first, NONE) == []
    (only,) = w.opened(CONV, first, w.Wants({"shop": frozenset({w.MESSAGE})}))
    assert only.type == w.MESSAGE


def test_appended() -> None:
    (event,) = w.appended("shop", msg(), ALL)
    assert event.type == w.MESSAGE and event.seq == 2
    body = data(event)
    assert body["seq"] == 2 and body["text"] == "hi"
    assert body["files"] == [{"id": "f_1", "name": "a.png", "type": "png"}]
    assert w.appended("shop", msg(Kind.NOTE), ALL)[0].type == w.NOTE
    assert w.appended("shop", msg(Kind.EVENT), ALL) == []
    assert w.appended("shop", msg(), NONE) == []
    assert w.message_type(Kind.EVENT) is None


def test_changed() -> None:
    active = replace(CONV, state=State.ACTIVE, agent=ANN)
    (assigned,) = w.changed("claim", CONV, active, 5, ALL)
    assert assigned.type == w.ASSIGNED and data(assigned)["agent"] == {"id": "a_1", "name": "Ann"}
    (moved,) = w.changed("transfer", active, replace(active, agent=BOB), 5, ALL)
    assert moved.type == w.TRANSFERRED and data(moved)["from"] == {"id": "a_1", "name": "Ann"}
    (queued,) = w.changed("transfer", CONV, replace(CONV, agent=BOB), 5, ALL)
    assert "from" not in data(queued)
    closed = replace(active, state=State.CLOSED, closed_by="agent", close_reason="done")
    (close,) = w.changed("close", active, closed, 5, ALL)
    assert close.type == w.CLOSED and data(close)["reason"] == "done"
    assert w.changed("transition", active, closed, 5, ALL)[0].type == w.CLOSED
    (pending,) = w.changed("transition", CONV, replace(CONV, state=State.PENDING), 5, ALL)
    assert pending.type == w.OFFLINE
    (handed,) = w.changed("requeue:handoff", active, CONV, 5, ALL)
    assert handed.type == w.TRANSFERRED and data(handed)["reason"] == "handoff"
    assert data(handed)["from"] == {"id": "a_1", "name": "Ann"} and data(handed)["agent"] is None
    assert w.changed("transition", active, replace(active, topic="x"), 5, ALL) == []
    assert w.changed("claim", CONV, active, 5, NONE) == []


def test_rated() -> None:
    (event,) = w.rated(Rating("c_1", 9, csat=5, comment="ok"), "shop", ALL)
    assert event.type == w.RATING and data(event)["csat"] == 5
    assert w.rated(Rating("c_1", 9), "shop", NONE) == []


def test_body_and_signature() -> None:
    (event,) = w.appended("shop", msg(), ALL)
    body = w.body(event)
    assert body == w.body(event)  # the same bytes at every attempt
    parsed = json.loads(body)
    assert set(parsed) == {"id", "type", "ts", "site", "cid", "data"}
    endpoint = w.Endpoint("wh_1", "shop", "https://x", "k" * 16, w.EVENT_TYPES, 1)
    headers = w.headers(endpoint, event, body, 1700)
    expected = hmac.new(b"k" * 16, b"1700." + body, hashlib.sha256).hexdigest()
    assert headers[w.SIGNATURE] == f"v1={expected}"
    assert headers[w.TIMESTAMP] == "1700" and headers[w.EVENT_ID] == event.id


def test_backoff() -> None:
    b = w.Backoff(base_ms=1000, cap_ms=4000, total_ms=60_000)
    assert b.next_due(1, 0, 100, 0.0) == 100 + 500
    assert b.next_due(1, 0, 100, 0.999) == 100 + 999
    assert b.next_due(3, 0, 100, 0.0) == 100 + 2000
    assert b.next_due(10, 0, 100, 0.0) == 100 + 2000  # capped at 4000, half of it
    assert b.next_due(0, 0, 100, 0.0) == 100 + 500
    assert b.next_due(5, 0, 60_000, 0.0) is None  # parked


def test_heads_keep_each_conversation_in_order() -> None:
    def d(n: int, cid: str, due: int = 0) -> w.Delivery:
        return w.Delivery(n, "wh_1", w.Event(f"e{n}", w.MESSAGE, 0, "shop", cid, "{}"), due=due)

    queue = [d(1, "a", due=50), d(2, "a"), d(3, "b"), d(4, "c"), d(5, "b")]
    assert [x.n for x in w.heads(queue, 10, 10)] == [3, 4]  # a's first waits; a's second too
    assert [x.n for x in w.heads(queue, 60, 10)] == [1, 3, 4]
    assert [x.n for x in w.heads(queue, 60, 2)] == [1, 3]


def test_new_endpoint() -> None:
    e = w.new_endpoint("shop", "https://hooks.example/x?y=1", [w.NOTE, w.MESSAGE], None, 7)
    assert e.events == (w.MESSAGE, w.NOTE) and len(e.secret) == 64 and e.id.startswith("wh_")
    assert w.new_endpoint("shop", "http://h:8080", [], "s" * 16, 7).events == w.EVENT_TYPES
    for url in (
        "ftp://h",
        "https://",
        "https://u:p@h",
        "https://h:99999",
        "https://h/" + "x" * 2048,
        "http://h/ho\u00f6k",  # h11 cannot send it: percent-encoded it can
        "http://h/a b",
        "http://h/\x7f",
    ):
        with pytest.raises(ChatError):
            w.new_endpoint("shop", url, [], None, 7)
    with pytest.raises(ChatError, match="unknown event"):
        w.new_endpoint("shop", "https://h", ["nope"], None, 7)
    with pytest.raises(ChatError, match="16"):
        w.new_endpoint("shop", "https://h", [], "short", 7)


def test_stored_forms_round_trip() -> None:
    e = w.new_endpoint("shop", "https://h", [], None, 7)
    assert w.endpoint_from_json(w.endpoint_to_json(e)) == e
    (event,) = w.appended("shop", msg(), ALL)
    assert w.event_from_fields(w.event_fields(event)) == event
    started, _ = w.opened(CONV, msg(seq=1), ALL)
    assert w.event_from_fields(w.event_fields(started)) == started
    d = w.Delivery(3, "wh_1", event, 2, 99, "HTTP 500")
    assert w.delivery_from_json(3, w.delivery_to_json(d)) == d
