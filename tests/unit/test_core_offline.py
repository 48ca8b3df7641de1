"""Issue 14 in the core: the pending state (offline messages), snooze, the inactivity
warning and close, `last_active`, the pending list's order, the agents' view of it, and
the offline figures."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chat_server.core import conversation as flow
from chat_server.core import measure, routing, samples, views
from chat_server.core.errors import ChatError, ErrorCode
from chat_server.core.metrics import Figures, window_view
from chat_server.core.model import (
    AgentRef,
    Conversation,
    Kind,
    Message,
    Role,
    Sender,
    State,
    Timing,
)
from chat_server.protocol import frames as f

T0 = 1_000_000
ANN = AgentRef("a_ann", "Ann")
VERA = Sender(Role.VISITOR, "v_1", "Vera")
ANN_SAYS = Sender(Role.AGENT, "a_ann", "Ann")
WARN_S, CLOSE_S = 600, 120


def queued() -> Conversation:
    return flow.open_conversation("c_1", "shop", "v_1", None, T0)


def pending() -> Conversation:
    return flow.open_conversation("c_1", "shop", "v_1", None, T0, pending=True)


def active(last_active: int | None = T0) -> Conversation:
    conv = flow.claim(queued(), ANN, T0).conversation
    return replace(conv, last_active=last_active)


def code_of(exc: pytest.ExceptionInfo[ChatError]) -> ErrorCode:
    return exc.value.code


# --- pending ------------------------------------------------------------------------------


def test_a_conversation_opens_pending_as_an_offline_message() -> None:
    conv = pending()
    assert conv.state is State.PENDING and conv.is_open
    assert conv.pending_at == T0
    assert queued().pending_at is None and queued().state is State.QUEUED


def test_a_queued_conversation_becomes_pending_with_a_line() -> None:
    t = flow.to_pending(queued(), T0 + 5, "vera@example.com")
    assert t.conversation.state is State.PENDING
    assert t.conversation.pending_at == T0 + 5
    assert [d.text for d in t.drafts] == ["We'll answer here and by email at vera@example.com."]
    assert t.drafts[0].kind is Kind.EVENT


def test_leaving_again_keeps_when_it_first_became_pending() -> None:
    t = flow.to_pending(pending(), T0 + 9, "new@example.com")
    assert t.conversation.pending_at == T0


def test_an_active_or_closed_conversation_cannot_become_pending() -> None:
    with pytest.raises(ChatError) as exc:
        flow.to_pending(active(), T0, "v@example.com")
    assert code_of(exc) is ErrorCode.CONFLICT
    closed = flow.close(queued(), T0, by="visitor", reason="x", resolved=None).conversation
    with pytest.raises(ChatError) as exc:
        flow.to_pending(closed, T0, "v@example.com")
    assert code_of(exc) is ErrorCode.CLOSED


def test_a_pending_conversation_is_claimed_like_a_queued_one() -> None:
    t = flow.claim(pending(), ANN, T0 + 60_000)
    assert t.conversation.state is State.ACTIVE
    assert t.conversation.pending_at == T0  # still an offline message, for its figures
    assert [d.text for d in t.drafts] == ["Ann joined the chat"]


def test_pending_is_never_in_the_queue_and_is_listed_oldest_first() -> None:
    older = replace(pending(), id="c_0", pending_at=T0 - 5)
    no_time = replace(pending(), id="c_2", pending_at=None, created=T0 + 1)
    convs = [pending(), queued(), no_time, older, active()]
    assert routing.queue_order(convs) == [queued()]
    assert [c.id for c in routing.pending_order(convs)] == ["c_0", "c_1", "c_2"]


def test_the_pending_list_is_bounded() -> None:
    many = [replace(pending(), id=f"c_{i:04}") for i in range(routing.PENDING_LIST_MAX + 5)]
    assert len(routing.pending_order(many)) == routing.PENDING_LIST_MAX


# --- last_active ----------------------------------------------------------------------------


def test_text_from_the_visitor_or_an_agent_moves_last_active_and_nothing_else_does() -> None:
    conv = active(last_active=None)
    line = Message("c_1", 3, T0 + 10, Kind.EVENT, Sender(Role.SYSTEM, None, None), "x")
    note = Message("c_1", 3, T0 + 10, Kind.NOTE, ANN_SAYS, "x")
    assert flow.after_message(conv, line).last_active is None
    assert flow.after_message(conv, note).last_active is None
    by_visitor = Message("c_1", 3, T0 + 20, Kind.TEXT, VERA, "x")
    by_agent = Message("c_1", 4, T0 + 30, Kind.TEXT, ANN_SAYS, "x")
    after = flow.after_message(conv, by_visitor)
    assert after.last_active == T0 + 20 and after.visitor_turn_at == T0 + 20
    again = flow.after_message(after, replace(by_visitor, seq=4, ts=T0 + 25))
    assert again.last_active == T0 + 25 and again.visitor_turn_at == T0 + 20
    assert flow.after_message(after, by_agent).last_active == T0 + 30


def test_last_active_alone_does_not_rewrite_the_row() -> None:
    conv = replace(active(), visitor_turn_at=T0)
    moved = replace(conv, last_seq=conv.last_seq + 1, last_active=T0 + 99)
    assert not flow.row_changed(conv, moved)


# --- snooze and inactivity --------------------------------------------------------------------


def test_inactivity_warns_after_warn_s_then_closes_close_s_later() -> None:
    conv = active()
    assert flow.inactivity_due(conv, T0 + WARN_S * 1000 - 1, WARN_S, CLOSE_S) is None
    at = T0 + WARN_S * 1000
    assert flow.inactivity_due(conv, at, WARN_S, CLOSE_S) == "warn"
    t = flow.warn_inactive(conv, at, WARN_S, CLOSE_S)
    assert [d.text for d in t.drafts] == ["This chat will close in 2 minutes if there is no reply."]
    warned = t.conversation
    assert warned.warned_at == at
    assert flow.inactivity_due(warned, at + CLOSE_S * 1000 - 1, WARN_S, CLOSE_S) is None
    closing = flow.close_inactive(warned, at + CLOSE_S * 1000, WARN_S, CLOSE_S).conversation
    assert closing.state is State.CLOSED
    assert (closing.closed_by, closing.close_reason, closing.resolved) == (
        "system",
        "inactive",
        None,
    )


def test_a_text_after_the_warning_rearms_it() -> None:
    at = T0 + WARN_S * 1000
    warned = flow.warn_inactive(active(), at, WARN_S, CLOSE_S).conversation
    answered = replace(warned, last_active=at)  # even in the same millisecond
    assert flow.inactivity_due(answered, at + CLOSE_S * 1000, WARN_S, CLOSE_S) is None
    assert flow.inactivity_due(answered, at + WARN_S * 1000, WARN_S, CLOSE_S) == "warn"


def test_inactivity_counts_from_the_assignment_or_creation_without_text() -> None:
    conv = active(last_active=None)
    assert flow.inactivity_due(conv, T0 + WARN_S * 1000, WARN_S, CLOSE_S) == "warn"
    bare = replace(conv, assigned_at=None)
    assert flow.inactivity_due(bare, T0 + WARN_S * 1000, WARN_S, CLOSE_S) == "warn"


def test_taking_a_chat_restarts_the_quiet_clock() -> None:
    """An offline message picked up 13 hours after it was left, a chat that waited long in
    the queue, or one transferred: the warning comes `warn_s` after the agent took it."""
    left = flow.after_message(
        pending(), Message("c_1", 1, T0, Kind.TEXT, VERA, "Can I return the lamp?")
    )
    morning = T0 + 13 * 3_600_000
    picked = flow.claim(left, ANN, morning).conversation
    assert picked.last_active == morning
    assert flow.inactivity_due(picked, morning + 1000, WARN_S, CLOSE_S) is None
    assert flow.inactivity_due(picked, morning + WARN_S * 1000, WARN_S, CLOSE_S) == "warn"
    later = morning + 2 * WARN_S * 1000
    moved = flow.transfer(picked, AgentRef("a_bo", "Bo"), later).conversation
    assert flow.inactivity_due(moved, later + 1000, WARN_S, CLOSE_S) is None


def test_only_active_conversations_time_out() -> None:
    for conv in (queued(), pending()):
        assert flow.inactivity_due(conv, T0 + 10**9, WARN_S, CLOSE_S) is None


def test_a_snooze_postpones_the_warning_and_forgets_one_given() -> None:
    at = T0 + WARN_S * 1000
    warned = flow.warn_inactive(active(), at, WARN_S, CLOSE_S).conversation
    until = at + 30 * 60_000
    snoozed = flow.snooze(warned, until).conversation
    assert (snoozed.snoozed_until, snoozed.warned_at) == (until, None)
    assert flow.snooze(warned, until).drafts == ()
    assert flow.inactivity_due(snoozed, at + CLOSE_S * 1000, WARN_S, CLOSE_S) is None
    assert flow.inactivity_due(snoozed, until - 1, WARN_S, CLOSE_S) is None
    assert flow.inactivity_due(snoozed, until, WARN_S, CLOSE_S) == "warn"
    # a snooze shorter than the quiet time left does not bring the warning forward
    early = flow.snooze(active(), T0 + 1000).conversation
    assert flow.inactivity_due(early, T0 + 2000, WARN_S, CLOSE_S) is None


def test_only_an_active_conversation_is_snoozed() -> None:
    with pytest.raises(ChatError) as exc:
        flow.snooze(queued(), T0)
    assert code_of(exc) is ErrorCode.CONFLICT


def test_warning_and_close_refuse_when_not_due() -> None:
    with pytest.raises(ChatError) as exc:
        flow.warn_inactive(active(), T0, WARN_S, CLOSE_S)
    assert code_of(exc) is ErrorCode.CONFLICT
    with pytest.raises(ChatError) as exc:
        flow.close_inactive(active(), T0 + WARN_S * 1000, WARN_S, CLOSE_S)
    assert code_of(exc) is ErrorCode.CONFLICT


def test_the_warning_says_minutes_rounded_up() -> None:
    assert flow.warning_line(30) == "This chat will close in 1 minute if there is no reply."
    assert flow.warning_line(61) == "This chat will close in 2 minutes if there is no reply."


# --- the agents' view -------------------------------------------------------------------------


def test_agents_see_last_active_and_a_snooze_visitors_do_not() -> None:
    conv = replace(active(), snoozed_until=T0 + 5)
    agent_view = views.conversation(conv, None)
    assert (agent_view["last_active"], agent_view["snoozed_until"]) == (T0, T0 + 5)
    visitor_view = views.conversation(conv, None, for_visitor=True)
    assert "last_active" not in visitor_view and "snoozed_until" not in visitor_view
    assert "snoozed_until" not in views.conversation(active(), None)
    assert views.conversation(pending(), None)["state"] == "pending"


def test_agents_see_which_site_a_conversation_came_from_visitors_do_not() -> None:
    conv = active()
    assert views.conversation(conv, None)["site"] == conv.site
    assert "site" not in views.conversation(conv, None, for_visitor=True)


# --- figures ------------------------------------------------------------------------------------


def test_opening_pending_counts_an_offline_message() -> None:
    assert measure.opened(pending()).figures.counters == {"started": 1, "offline": 1}
    assert measure.opened(queued()).figures.counters == {"started": 1}


def test_becoming_pending_counts_once() -> None:
    became = flow.to_pending(queued(), T0 + 5, "v@example.com").conversation
    out = measure.transitioned(queued(), became, T0 + 5)
    assert [c.figures.counters for c in out] == [{"offline": 1}]
    again = flow.to_pending(became, T0 + 9, "v@example.com").conversation
    assert measure.transitioned(became, again, T0 + 9) == []


def test_an_offline_first_answer_counts_apart_from_frt() -> None:
    found = Timing(T0 - 60_000, None, None, T0 - 60_000, pending_at=T0)
    answer = Message("c_1", 3, T0 + 3_600_000, Kind.TEXT, ANN_SAYS, "hi")
    (only,) = measure.message_added(found, answer, frt_target_s=60)
    assert only.samples == (("offline_frt_s", 3600.0),)
    assert only.figures.counters["offline_answered"] == 1
    assert "answered" not in only.figures.counters and "sla_total" not in only.figures.counters
    later = Timing(T0, None, T0 + 1, T0 + 2, pending_at=T0)
    assert [c.samples for c in measure.message_added(later, answer, 60)] == [
        (("response_s", 3599.998),)
    ]


def test_an_offline_message_leaves_wait_and_resolution_alone() -> None:
    claimed = flow.claim(pending(), ANN, T0 + 3_600_000).conversation
    assert measure.transitioned(pending(), claimed, T0 + 3_600_000) == []
    done = flow.close(claimed, T0 + 4_000_000, by="agent", reason="r", resolved=True)
    (close,) = measure.transitioned(claimed, done.conversation, T0 + 4_000_000)
    assert "resolution_s" not in close.figures.histograms
    assert close.figures.counters["resolved"] == 1


def test_an_inactive_close_is_counted() -> None:
    at = T0 + WARN_S * 1000
    warned = flow.warn_inactive(active(), at, WARN_S, CLOSE_S).conversation
    done = flow.close_inactive(warned, at + CLOSE_S * 1000, WARN_S, CLOSE_S).conversation
    (close,) = measure.transitioned(warned, done, at + CLOSE_S * 1000)
    assert close.figures.counters["closed_inactive"] == 1


def test_the_window_shows_offline_figures() -> None:
    f = Figures()
    for part in (
        samples.offline(),
        samples.offline(),
        samples.offline_answered(100),
        samples.closed(resolved=False, resolution_s=None, abandoned=False, inactive=True),
    ):
        f.merge(part)
    view = window_view(f)
    assert view["offline"]["count"] == 2 and view["offline"]["answered"] == 1
    assert view["offline"]["frt_p50_s"] == pytest.approx(100, rel=0.05)
    assert view["closed_inactive"] == 1
    assert view["frt_s"]["n"] == 0


# --- the frames -----------------------------------------------------------------------------


def test_leave_and_snooze_frames() -> None:
    leave = f.parse({"t": "leave", "email": "v@example.com", "text": "hi"}, f.VISITOR_FRAMES)
    assert leave.body == f.Leave(email="v@example.com", text="hi")
    with pytest.raises(ChatError) as exc:
        f.parse({"t": "leave", "text": "hi"}, f.VISITOR_FRAMES)
    assert code_of(exc) is ErrorCode.BAD_REQUEST
    assert f.parse({"t": "snooze", "cid": "c_1"}, f.AGENT_FRAMES).body == f.Snooze("c_1")
    with pytest.raises(ChatError) as exc:
        f.parse({"t": "snooze", "cid": "c_1", "minutes": 1441}, f.AGENT_FRAMES)
    assert code_of(exc) is ErrorCode.BAD_REQUEST
