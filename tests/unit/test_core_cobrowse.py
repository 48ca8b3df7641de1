"""`chat_server/core/cobrowse.py`: the consent state machine (contract §5), the checks of
relayed payloads, and the bounded replay buffer."""

from __future__ import annotations

import math
from typing import Any

import pytest

from chat_server.core import cobrowse
from chat_server.core.cobrowse import (
    FULL_SNAPSHOT,
    META,
    NONE,
    CobrowseState,
    ReplayBuffer,
    Session,
    next_state,
)
from chat_server.core.errors import ChatError, ErrorCode

REQUESTED = Session(CobrowseState.REQUESTED, "a_ann")
ACTIVE = Session(CobrowseState.ACTIVE, "a_ann")


def refused(code: ErrorCode, current: Session, op: str, *, by_visitor: bool) -> None:
    with pytest.raises(ChatError) as info:
        next_state(current, op, by_visitor=by_visitor, agent_id="a_ann")
    assert info.value.code is code


# --- states ------------------------------------------------------------------------------


def test_a_full_session_request_accept_end() -> None:
    asked = next_state(NONE, "request", by_visitor=False, agent_id="a_ann")
    assert asked == REQUESTED
    accepted = next_state(asked, "accept", by_visitor=True, agent_id=None)
    assert accepted == ACTIVE  # the requesting agent is kept
    assert next_state(accepted, "end", by_visitor=True, agent_id=None) is NONE


def test_a_declined_request_goes_back_to_none() -> None:
    assert next_state(REQUESTED, "decline", by_visitor=True, agent_id=None) is NONE


def test_either_side_ends_a_pending_or_active_session() -> None:
    for current in (REQUESTED, ACTIVE):
        assert next_state(current, "end", by_visitor=False, agent_id="a_ann") is NONE
        assert next_state(current, "end", by_visitor=True, agent_id=None) is NONE


@pytest.mark.parametrize(
    ("op", "by_visitor"),
    [("events", True), ("pointer", False), ("highlight", False), ("resync", False)],
)
def test_relayed_ops_keep_an_active_session_and_need_one(op: str, by_visitor: bool) -> None:
    assert next_state(ACTIVE, op, by_visitor=by_visitor, agent_id="a_ann") is ACTIVE
    for current in (NONE, REQUESTED):
        refused(ErrorCode.CONFLICT, current, op, by_visitor=by_visitor)


@pytest.mark.parametrize(
    ("op", "by_visitor"),
    [("request", True), ("accept", False), ("decline", False), ("events", False), ("x", True)],
)
def test_an_op_of_the_other_side_is_a_bad_request(op: str, by_visitor: bool) -> None:
    refused(ErrorCode.BAD_REQUEST, ACTIVE, op, by_visitor=by_visitor)


def test_out_of_order_ops_are_conflicts() -> None:
    refused(ErrorCode.CONFLICT, REQUESTED, "request", by_visitor=False)
    refused(ErrorCode.CONFLICT, ACTIVE, "request", by_visitor=False)
    refused(ErrorCode.CONFLICT, NONE, "accept", by_visitor=True)
    refused(ErrorCode.CONFLICT, ACTIVE, "decline", by_visitor=True)
    refused(ErrorCode.CONFLICT, NONE, "end", by_visitor=False)


# --- payloads ----------------------------------------------------------------------------


def test_events_are_a_bounded_non_empty_list_of_typed_maps() -> None:
    events = [{"type": META}, {"type": 3, "data": {}}]
    assert cobrowse.events_of({"events": events}) == events
    assert cobrowse.events_of({"events": events}, max_events=2) == events


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"events": []},
        {"events": {"type": 4}},
        {"events": [4]},
        {"events": [{"type": "4"}]},
        {"events": [{"type": True}]},
        {"events": [{"data": {}}]},
    ],
)
def test_malformed_events_are_bad_requests(raw: dict[str, Any]) -> None:
    with pytest.raises(ChatError) as info:
        cobrowse.events_of(raw)
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_too_many_events_are_too_large() -> None:
    with pytest.raises(ChatError) as info:
        cobrowse.events_of({"events": [{"type": 3}] * 3}, max_events=2)
    assert info.value.code is ErrorCode.TOO_LARGE


def test_a_pointer_is_two_finite_bounded_numbers() -> None:
    assert cobrowse.pointer_of({"x": 10, "y": -2.5}) == {"x": 10, "y": -2.5}
    assert cobrowse.pointer_of({"x": 1e6, "y": -1e6}) == {"x": 1e6, "y": -1e6}


@pytest.mark.parametrize(
    "raw",
    [
        {"x": 1},
        {"y": 1},
        {"x": True, "y": 1},
        {"x": 1, "y": "2"},
        {"x": math.nan, "y": 1},
        {"x": 1, "y": math.inf},
        {"x": 1e6 + 1, "y": 0},
    ],
)
def test_a_bad_pointer_is_a_bad_request(raw: dict[str, Any]) -> None:
    with pytest.raises(ChatError) as info:
        cobrowse.pointer_of(raw)
    assert info.value.code is ErrorCode.BAD_REQUEST


def test_a_highlight_names_a_node_or_else_a_selector() -> None:
    assert cobrowse.highlight_of({"node": 0}) == {"node": 0}
    assert cobrowse.highlight_of({"node": 2**31 - 1, "selector": "#a"}) == {"node": 2**31 - 1}
    assert cobrowse.highlight_of({"node": -1, "selector": "#a"}) == {"selector": "#a"}
    assert cobrowse.highlight_of({"selector": "x" * 200}) == {"selector": "x" * 200}


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"node": True},
        {"node": 2**31},
        {"node": "1"},
        {"selector": ""},
        {"selector": "x" * 201},
        {"selector": "a\x00b"},
        {"selector": 5},
    ],
)
def test_a_bad_highlight_is_a_bad_request(raw: dict[str, Any]) -> None:
    with pytest.raises(ChatError) as info:
        cobrowse.highlight_of(raw)
    assert info.value.code is ErrorCode.BAD_REQUEST


# --- replay ------------------------------------------------------------------------------


def test_replay_restarts_at_the_newest_meta_else_the_newest_full_snapshot() -> None:
    t = [{"type": n} for n in (META, FULL_SNAPSHOT, 3, META, FULL_SNAPSHOT, 3)]
    assert cobrowse.restart_index(t) == 3
    assert cobrowse.restart_index(t[1:3] + t[4:]) == 2  # no Meta: the last FullSnapshot
    assert cobrowse.restart_index([{"type": 3}, {"type": 5}]) is None
    assert cobrowse.restart_index([]) is None


def test_the_buffer_keeps_nothing_before_a_snapshot() -> None:
    buffer = ReplayBuffer(max_bytes=10)
    assert buffer.add(b"abc", restarts=False)
    assert buffer.batches == [] and buffer.size == 0 and not buffer.has_snapshot


def test_the_buffer_keeps_the_newest_snapshot_and_what_follows() -> None:
    buffer = ReplayBuffer(max_bytes=10)
    assert buffer.add(b"old", restarts=True)
    assert buffer.add(b"12", restarts=False)
    assert buffer.add(b"snap", restarts=True)  # a new snapshot drops the older batches
    assert buffer.add(b"123456", restarts=False)  # exactly at the bound
    assert buffer.batches == [b"snap", b"123456"] and buffer.size == 10


def test_passing_the_bound_empties_the_buffer_until_the_next_snapshot() -> None:
    buffer = ReplayBuffer(max_bytes=5)
    assert buffer.add(b"snap", restarts=True)
    assert not buffer.add(b"12", restarts=False)  # the visitor must send a fresh snapshot
    assert buffer.batches == [] and buffer.size == 0 and not buffer.has_snapshot
    assert buffer.add(b"later", restarts=False)  # dropped: nothing to replay it after
    assert buffer.batches == []
    assert not buffer.add(b"too large", restarts=True)  # even a snapshot must fit
    assert not buffer.has_snapshot
