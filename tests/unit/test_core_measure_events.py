"""`chat_server/core/measure.py`: what opening, assigning, closing, transferring, rating
and a recontact add to the figures, and under which dimensions (all, agent, topic)."""

from __future__ import annotations

from dataclasses import replace

from chat_server.core import conversation as flow
from chat_server.core import measure
from chat_server.core.model import AgentRef, Conversation, Rating, Timing

T0 = 1_000_000
ANN = AgentRef("a_ann", "Ann")
ALL_ANN_BILLING = ("all", "agent:a_ann", "topic:billing")


def opened(topic: str | None = "billing") -> Conversation:
    return flow.open_conversation("c_1", "shop", "v_1", topic, T0)


def active() -> Conversation:
    return flow.claim(opened(), ANN, T0 + 20_000).conversation


def test_dims_are_all_then_the_agent_then_the_topic() -> None:
    assert measure.dims(opened(None)) == ("all",)
    assert measure.dims(opened()) == ("all", "topic:billing")
    assert measure.dims(opened(""), "a_bob") == ("all", "agent:a_bob")
    assert measure.dims(active()) == ALL_ANN_BILLING
    assert measure.dims(active(), "a_bob")[1] == "agent:a_bob"  # the one named wins


def test_opening_counts_a_start_at_the_creation() -> None:
    out = measure.opened(opened())
    assert (out.ts, out.dims, out.figures.counters) == (
        T0,
        ("all", "topic:billing"),
        {"started": 1},
    )


def test_the_first_assignment_measures_the_wait_once() -> None:
    (wait,) = measure.transitioned(opened(), active(), T0 + 20_000)
    assert (wait.ts, wait.dims, wait.samples) == (T0 + 20_000, ALL_ANN_BILLING, (("wait_s", 20.0),))
    moved = flow.transfer(active(), AgentRef("a_bob", "Bob"), T0 + 30_000).conversation
    assert measure.transitioned(active(), moved, T0 + 30_000) == []  # assigned before


def test_a_resolved_close_counts_its_resolution_time() -> None:
    closed = flow.close(active(), T0 + 60_000, by="agent", reason="done", resolved=True)
    (out,) = measure.transitioned(active(), closed.conversation, T0 + 60_000)
    counters = out.figures.counters
    assert counters["closed"] == counters["resolved"] == counters["fcr_ok"] == 1
    assert counters["sum:resolution_s"] == 60.0
    assert "abandoned" not in counters  # closed by the agent: not abandoned


def test_a_close_by_the_visitor_before_any_reply_is_abandoned() -> None:
    for by in ("visitor", "system"):
        closed = flow.close(opened(), T0 + 5_000, by=by, reason="left", resolved=None)
        (out,) = measure.transitioned(opened(), closed.conversation, T0 + 5_000)
        assert out.figures.counters == {"closed": 1, "abandoned": 1}
    answered = replace(active(), first_response_at=T0 + 25_000)
    closed = flow.close(answered, T0 + 90_000, by="visitor", reason="left", resolved=False)
    (out,) = measure.transitioned(answered, closed.conversation, T0 + 90_000)
    assert out.figures.counters == {"closed": 1}


def test_a_conversation_that_stays_closed_adds_nothing() -> None:
    closed = flow.close(active(), T0 + 60_000, by="agent", reason="done", resolved=True)
    assert measure.transitioned(closed.conversation, closed.conversation, T0 + 70_000) == []


def test_a_transfer_counts_for_the_agent_who_handed_it_on() -> None:
    out = measure.transferred(active(), T0 + 40_000)
    assert (out.ts, out.dims, out.figures.counters) == (
        T0 + 40_000,
        ALL_ANN_BILLING,
        {"transfers": 1},
    )


def test_a_rating_files_csat_under_the_frt_band_when_answered() -> None:
    answered = replace(active(), first_response_at=T0 + 30_000)
    out = measure.rated(answered, Rating("c_1", T0 + 99_000, csat=5))
    assert (out.ts, out.dims) == (T0 + 99_000, ALL_ANN_BILLING)
    assert any(name.startswith("band:") for name in out.figures.counters)
    unanswered = measure.rated(opened(), Rating("c_1", T0 + 99_000, csat=5))
    assert not any(name.startswith("band:") for name in unanswered.figures.counters)


def test_a_recontact_corrects_the_original_close() -> None:
    out = measure.recontact(T0, ALL_ANN_BILLING)
    assert (out.ts, out.dims, out.figures.counters) == (T0, ALL_ANN_BILLING, {"fcr_ok": -1})


def test_a_conversations_timing_is_what_message_measures_need() -> None:
    conv = replace(active(), first_response_at=T0 + 1, visitor_turn_at=T0 + 2)
    assert conv.timing == Timing(T0, "billing", T0 + 1, T0 + 2, site="shop")


def test_a_close_shows_the_survey_when_it_is_on_and_an_agent_took_part() -> None:
    closed = flow.close(active(), T0 + 60_000, by="agent", reason="done", resolved=True)
    (out,) = measure.transitioned(active(), closed.conversation, T0 + 60_000, survey=True)
    assert out.figures.counters["survey_shown"] == 1
    assert out.dims == ALL_ANN_BILLING
    (off,) = measure.transitioned(active(), closed.conversation, T0 + 60_000)
    assert "survey_shown" not in off.figures.counters  # the server's survey is off


def test_no_survey_for_a_conversation_no_agent_took() -> None:
    closed = flow.close(opened(), T0 + 5_000, by="visitor", reason="left", resolved=None)
    (out,) = measure.transitioned(opened(), closed.conversation, T0 + 5_000, survey=True)
    assert out.figures.counters == {"closed": 1, "abandoned": 1}


def test_the_survey_is_shown_at_the_close_only() -> None:
    (wait,) = measure.transitioned(opened(), active(), T0 + 20_000, survey=True)
    assert "survey_shown" not in wait.figures.counters
    closed = flow.close(active(), T0 + 60_000, by="agent", reason="done", resolved=True)
    after = closed.conversation
    assert measure.transitioned(after, after, T0 + 70_000, survey=True) == []


def test_a_rating_counts_an_answered_survey_and_its_scores() -> None:
    out = measure.rated(active(), Rating("c_1", T0 + 99_000, csat=3, nps=7, ces=6))
    counters = out.figures.counters
    assert counters["survey_answered"] == 1
    assert (counters["csat:3"], counters["nps:7"], counters["ces:6"]) == (1, 1, 1)
    assert counters["nps_pas"] == 1
